"""Reading, checking and speed-perturbing audio files."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from espnet_reuse import atomic
from espnet_reuse.kaldi_data import DataError


def read_audio(path: str, utt: str, fs: int) -> np.ndarray:
    """Decode a whole mono file at sample rate ``fs``; anything else is a ``DataError``."""
    try:
        audio, rate = soundfile.read(path, dtype="float32")
    except Exception as error:  # soundfile raises several types for bad files
        raise DataError(f"cannot read audio of '{utt}' from {path}: {error}") from None
    if rate != fs:
        raise DataError(f"audio of '{utt}' ({path}) is {rate} Hz, expected {fs} Hz")
    if audio.ndim != 1:
        raise DataError(f"audio of '{utt}' ({path}) has {audio.shape[1]} channels")
    return audio


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``audio`` ``factor`` times faster (pitch moves too, like sox ``speed``)."""
    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(audio, ratio.denominator, ratio.numerator).astype(np.float32)


def write_flac(path: Path, audio: np.ndarray, fs: int) -> None:
    """Write 16-bit FLAC, creating the folder; whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flac = atomic.encoded(lambda f: soundfile.write(f, audio, fs, format="FLAC", subtype="PCM_16"))
    atomic.write_bytes(path, flac)
