"""Speech with true phoneme alignments from libespeak-ng, through ctypes.

``espeak_Initialize`` with the phoneme-events option makes the library report,
with every chunk of audio, the sample at which each phoneme starts.
"""

import ctypes
import ctypes.util
import zlib
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from scipy.signal import resample_poly

SAMPLE_RATE = 16000
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
PAUSE = "sil"


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class PhoneSegment:
    """One phone and its time span in seconds."""

    phone: str
    start: float
    end: float


@dataclass
class SpokenText:
    """16 kHz float32 audio and the phones it says."""

    audio: np.ndarray
    phones: List[PhoneSegment]


def normalise_phone(name: str) -> str:
    """espeak-ng phoneme mnemonic to the demo phone set (pauses become ``sil``)."""
    return PAUSE if name.startswith("_") else name


def library_path() -> str:
    """The system's libespeak-ng by its full path (``ldconfig -p``), so that dlopen loads
    it even where another copy with the same soname is loaded already (Kokoro's
    phonemizer brings one, with its own data folder)."""
    import subprocess

    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if line.strip().startswith(name + " ") and "=>" in line:
            return line.split("=>")[1].strip()
    return name


class Espeak:
    """One libespeak-ng engine (the library is global state: one per process)."""

    def __init__(self) -> None:
        try:
            self._lib = ctypes.cdll.LoadLibrary(library_path())
        except OSError as error:
            raise RuntimeError(
                "libespeak-ng is missing: install Debian's espeak-ng (apt-get install espeak-ng)"
            ) from error
        self.native_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS
        )
        if self.native_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._chunks: List[np.ndarray] = []
        self._starts: List[tuple] = []
        self._callback = _SynthCallback(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples: int, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        idx = 0
        while events[idx].type != _EVENT_LIST_TERMINATED:
            event = events[idx]
            if event.type == _EVENT_PHONEME:
                name = event.id.string.decode("utf-8", errors="replace")
                self._starts.append((name, event.sample))
            idx += 1
        return 0

    def synthesize(
        self, text: str, voice: str, rate: int, pitch: int, noise: Optional[float] = None
    ) -> SpokenText:
        """Say ``text`` with an espeak-ng voice, rate (words/min) and pitch (0-99).

        ``noise``, when given, adds white noise at that signal-to-noise ratio (dB),
        drawn from a generator seeded by the text.
        """
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self._chunks, self._starts = [], []
        data = text.encode()
        self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self._lib.espeak_Synchronize()
        native = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        audio = resample_poly(native, SAMPLE_RATE, self.native_rate).astype(np.float32)
        if noise is not None:
            rng = np.random.default_rng(zlib.crc32(f"{text}|{voice}|{rate}|{pitch}".encode()))
            power = np.mean(audio**2) / 10 ** (noise / 10)
            audio = audio + rng.normal(0, np.sqrt(power), audio.size).astype(np.float32)
        return SpokenText(audio, self._segments(native.size))

    def _segments(self, native_length: int) -> List[PhoneSegment]:
        scale = 1.0 / self.native_rate
        bounds = [sample for _, sample in self._starts] + [native_length]
        segments = []
        if bounds[0] > 0:
            segments.append(PhoneSegment(PAUSE, 0.0, bounds[0] * scale))
        for (name, start), end in zip(self._starts, bounds[1:]):
            if end > start:
                phone = normalise_phone(name)
                if segments and segments[-1].phone == phone == PAUSE:
                    segments[-1].end = end * scale
                else:
                    segments.append(PhoneSegment(phone, start * scale, end * scale))
        return segments
