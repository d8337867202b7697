"""The synthesizers behind one interface: a voice and texts in, 16 kHz audio out.

=========  ===========================================  ============  ============
engine     voices                                       rate          phone times
=========  ===========================================  ============  ============
kokoro     Kokoro-82M's 28 English styles and blends    ``speed``     no
flite      slt, rms, awb, kal16                         duration      no
festival   kal_diphone, ked_diphone, cmu_us_slt_arctic  duration      yes
espeak     espeak-ng voice+variant                      words/min     yes
=========  ===========================================  ============  ============

Every voice also has a ``warp``: the audio is resampled by that factor after
synthesis, moving pitch and formants together (a longer or shorter vocal tract), so
one voice of an engine gives several speakers.
"""

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile
from scipy.signal import resample_poly

from espnet_reuse import extras
from espnet_reuse.corpus import packages
from espnet_reuse.demo.espeak import SAMPLE_RATE, Espeak, PhoneSegment, normalise_phone


@dataclass(frozen=True)
class Voice:
    """One speaker's voice: ``name`` is the engine's voice (Kokoro: ``a+b@w``, a blend
    ``(1-w)*a + w*b``), ``rate`` its speaking rate relative to the voice's own, ``warp``
    the resampling factor applied afterwards (1.0: none)."""

    engine: str
    name: str
    rate: float = 1.0
    warp: float = 1.0


@dataclass
class Spoken:
    """16 kHz float32 audio (T,) and, where the engine gives them, its phones."""

    audio: np.ndarray
    phones: Optional[List[PhoneSegment]] = None


def to_16k(audio: np.ndarray, rate: int, warp: float = 1.0) -> np.ndarray:
    """``audio`` at ``rate`` Hz as 16 kHz float32, played ``warp`` times faster."""
    source = round(rate * warp)
    if source == SAMPLE_RATE:
        return audio.astype(np.float32)
    divisor = np.gcd(SAMPLE_RATE, source)
    return resample_poly(audio, SAMPLE_RATE // divisor, source // divisor).astype(np.float32)


def _warped(phones: Optional[List[PhoneSegment]], warp: float):
    if phones is None or warp == 1.0:
        return phones
    return [PhoneSegment(p.phone, p.start / warp, p.end / warp) for p in phones]


class Engine:
    """A synthesizer; ``synthesize`` says each text with one voice."""

    name = ""

    def synthesize(self, texts: Sequence[str], voice: Voice) -> List[Spoken]:
        return [self._one(text, voice) for text in texts]

    def _one(self, text: str, voice: Voice) -> Spoken:
        raise NotImplementedError


class EspeakEngine(Engine):
    """espeak-ng through its library (phone events give the phone times)."""

    name = "espeak"

    def __init__(self) -> None:
        self._espeak = Espeak()

    def _one(self, text: str, voice: Voice) -> Spoken:
        spoken = self._espeak.synthesize(text, voice.name, round(175 * voice.rate), 50)
        return Spoken(
            to_16k(spoken.audio, SAMPLE_RATE, voice.warp), _warped(spoken.phones, voice.warp)
        )


class FliteEngine(Engine):
    """Debian's flite (one process per text: it starts in milliseconds)."""

    name = "flite"
    VOICES = ("slt", "rms", "awb", "kal16")

    def __init__(self) -> None:
        packages.require_program("flite", "flite")

    def _one(self, text: str, voice: Voice) -> Spoken:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            subprocess.run(
                ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / voice.rate:.4f}"]
                + ["-t", text, "-o", str(wav)],
                check=True,
                capture_output=True,
            )
            audio, rate = soundfile.read(wav, dtype="float32")
        return Spoken(to_16k(audio, rate, voice.warp))


class FestivalEngine(Engine):
    """Debian's festival, one process per speaker's texts; phone times from its
    ``Segment`` relation."""

    name = "festival"
    VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")

    def __init__(self) -> None:
        packages.require_program(
            "festival", "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
        )

    def synthesize(self, texts: Sequence[str], voice: Voice) -> List[Spoken]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            script = [
                f"(voice_{voice.name})",
                f"(Parameter.set 'Duration_Stretch {1 / voice.rate:.4f})",
            ]
            for idx, text in enumerate(texts):
                quoted = text.replace("\\", " ").replace('"', " ")
                script += [
                    f'(set! u (utt.synth (Utterance Text "{quoted}")))',
                    f'(utt.save.wave u "{folder}/{idx}.wav" \'riff)',
                    f'(utt.save.segs u "{folder}/{idx}.segs")',
                ]
            (folder / "say.scm").write_text("\n".join(script) + "\n")
            subprocess.run(
                ["festival", "-b", str(folder / "say.scm")], check=True, capture_output=True
            )
            spoken = []
            for idx in range(len(texts)):
                audio, rate = soundfile.read(folder / f"{idx}.wav", dtype="float32")
                phones = read_segs(folder / f"{idx}.segs", len(audio) / rate)
                spoken.append(Spoken(to_16k(audio, rate, voice.warp), _warped(phones, voice.warp)))
        return spoken


def read_segs(path: Path, duration: float) -> List[PhoneSegment]:
    """Festival's ``utt.save.segs`` file (``end 100 phone`` lines after ``#``) as phones
    tiling ``[0, duration]``; its pause ``pau`` becomes ``sil``."""
    lines = path.read_text().split("#", 1)[1].split("\n")
    segments: List[PhoneSegment] = []
    start = 0.0
    for line in lines:
        fields = line.split()
        if len(fields) != 3:
            continue
        end, phone = float(fields[0]), fields[2]
        phone = "sil" if phone in ("pau", "h#") else normalise_phone(phone)
        if end > start:
            segments.append(PhoneSegment(phone, start, end))
            start = end
    if segments:
        segments[-1].end = duration
    return segments


class KokoroEngine(Engine):
    """Kokoro-82M (int8 ONNX) through ``kokoro-onnx``, on one thread per process."""

    name = "kokoro"

    def __init__(self, cache: Path) -> None:
        extras.require("corpus", "kokoro_onnx")
        import onnxruntime
        from kokoro_onnx import Kokoro

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(packages.kokoro_model(cache)), options, providers=["CPUExecutionProvider"]
        )
        self._kokoro = Kokoro.from_session(session, str(packages.kokoro_voices(cache)))

    def style(self, name: str) -> np.ndarray:
        """The style vectors (510, 1, 256) of a voice or ``a+b@w`` blend."""
        match = re.fullmatch(r"(\w+)\+(\w+)@([\d.]+)", name)
        if not match:
            return self._kokoro.voices[name]
        first, second, weight = match.group(1), match.group(2), float(match.group(3))
        return (1 - weight) * self._kokoro.voices[first] + weight * self._kokoro.voices[second]

    def _one(self, text: str, voice: Voice) -> Spoken:
        lang = "en-gb" if voice.name.startswith("b") else "en-us"
        audio, rate = self._kokoro.create(
            text, voice=self.style(voice.name), speed=voice.rate, lang=lang
        )
        return Spoken(to_16k(audio, rate, voice.warp))


def make_engine(name: str, cache: Path) -> Engine:
    """The engine called ``name``."""
    if name == "kokoro":
        return KokoroEngine(cache)
    engines: Dict[str, type] = {
        "flite": FliteEngine,
        "festival": FestivalEngine,
        "espeak": EspeakEngine,
    }
    if name not in engines:
        raise ValueError(f"no engine {name!r}: one of kokoro, {', '.join(engines)}")
    return engines[name]()
