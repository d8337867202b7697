"""Rooms and noise: what makes the "other" parts harder.

A room is a shoebox with a reverberation time (RT60); ``pyroomacoustics`` computes
its impulse response by the image method for one source and one microphone placed
at random. Noise is added at a signal-to-noise ratio measured on the reverberant
speech: coloured (white, pink, brown), babble (four other talkers at once) or
music (Debian's ``asterisk-moh-opsound-wav``).
"""

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import soundfile

from espnet_reuse import extras
from espnet_reuse.corpus import packages
from espnet_reuse.corpus.engines import to_16k
from espnet_reuse.demo.espeak import SAMPLE_RATE

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1/f**exponent
NOISES = tuple(COLOURS) + ("babble", "music")


@dataclass(frozen=True)
class Condition:
    """How a speaker is heard: a room of ``rt60`` seconds (``None``: dry) and ``noise``
    of one of ``NOISES`` at ``snr`` dB (``None``: none)."""

    rt60: Optional[float] = None
    noise: Optional[str] = None
    snr: Optional[float] = None

    def __str__(self) -> str:
        room = f"rt60={self.rt60:.2f}" if self.rt60 is not None else "dry"
        noise = f"{self.noise}@{self.snr:.0f}dB" if self.noise else "quiet"
        return f"{room},{noise}"


def room_response(rt60: float, seed: int) -> np.ndarray:
    """Impulse response (T,) of a random shoebox room with reverberation time ``rt60``,
    its direct path at full scale."""
    extras.require("corpus", "pyroomacoustics")
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    size = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
    absorption, max_order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(
        size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, 40)
    )
    margin = 0.5
    room.add_source(rng.uniform(margin, size - margin))
    room.add_microphone(rng.uniform(margin, size - margin))
    room.compute_rir()
    response = np.asarray(room.rir[0][0], dtype=np.float32)
    return response / np.max(np.abs(response))


def reverberate(audio: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``audio`` (T,) heard through ``response``, at the dry audio's peak level."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(audio, response)[: len(audio) + len(response) // 4]
    return (wet * (np.max(np.abs(audio)) / max(np.max(np.abs(wet)), 1e-9))).astype(np.float32)


def coloured_noise(length: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise (T,) whose power spectrum falls as ``1 / f**exponent``."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length)
    frequencies[0] = frequencies[1] if length > 1 else 1.0
    noise = np.fft.irfft(spectrum / frequencies ** (exponent / 2), n=length)
    return (noise / (np.std(noise) + 1e-12)).astype(np.float32)


def _excerpt(source: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if len(source) < length:
        source = np.tile(source, length // max(len(source), 1) + 1)
    start = rng.integers(0, len(source) - length + 1)
    return source[start : start + length]


class NoiseBank:
    """Where babble and music come from: recordings of other speakers (``babble``,
    16 kHz, given) and Debian's music-on-hold (read on first use)."""

    def __init__(self, babble: Sequence[np.ndarray], cache: Path) -> None:
        self.babble = list(babble)
        self._cache = cache
        self._music: List[np.ndarray] = []

    def music(self) -> List[np.ndarray]:
        if not self._music:
            root = packages.debian_package("asterisk-moh-opsound-wav", self._cache)
            for path in sorted(root.glob("usr/share/asterisk/moh/*.wav")):
                audio, rate = soundfile.read(path, dtype="float32")
                self._music.append(to_16k(audio, rate))
        return self._music

    def noise(self, kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
        """Noise (T,) of ``kind``, unit variance."""
        if kind in COLOURS:
            return coloured_noise(length, COLOURS[kind], rng)
        if kind == "babble":
            if not self.babble:
                raise ValueError("babble needs recordings of other speakers")
            talkers = rng.choice(len(self.babble), size=min(4, len(self.babble)), replace=False)
            mixed = sum(_excerpt(self.babble[i], length, rng) for i in talkers)
        elif kind == "music":
            music = self.music()
            mixed = _excerpt(music[rng.integers(len(music))], length, rng)
        else:
            raise ValueError(f"no noise {kind!r}: one of {', '.join(NOISES)}")
        return (mixed / (np.std(mixed) + 1e-12)).astype(np.float32)


def apply(
    audio: np.ndarray,
    condition: Condition,
    response: Optional[np.ndarray],
    bank: NoiseBank,
    key: str,
) -> np.ndarray:
    """``audio`` (T,) in ``condition``: through ``response`` (the speaker's room), then
    noise at the condition's SNR drawn from a generator seeded by ``key``."""
    if response is not None:
        audio = reverberate(audio, response)
    if condition.noise is not None:
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        noise = bank.noise(condition.noise, len(audio), rng)
        scale = np.sqrt(np.mean(audio**2) / 10 ** (condition.snr / 10))
        audio = audio + scale * noise
    peak = np.max(np.abs(audio))
    return (audio * (0.9 / peak) if peak > 0.9 else audio).astype(np.float32)
