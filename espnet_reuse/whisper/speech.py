"""Utterances of a LibriSpeech-layout part as Whisper's encoder takes them."""

from pathlib import Path
from typing import Iterator, Tuple

import soundfile
import torch

from espnet_reuse import extras

extras.require("whisper")
import whisper  # noqa: E402

FRAMES_PER_SECOND = 50  # Whisper's encoder frames
SAMPLE_RATE = 16000


def utterances(part: Path) -> Iterator[Tuple[str, torch.Tensor, int, str]]:
    """(utt, log-mel (n_mels, 3000), encoder frames of speech, reference words) of every
    ``.flac`` under ``part`` with its ``*.trans.txt`` line, in path order."""
    refs = {}
    for trans in part.rglob("*.trans.txt"):
        for line in trans.read_text().splitlines():
            utt, words = line.split(" ", 1)
            refs[utt] = words
    for flac in sorted(part.rglob("*.flac")):
        audio, rate = soundfile.read(flac, dtype="float32")
        if rate != SAMPLE_RATE:
            raise ValueError(f"{flac}: {rate} Hz, Whisper takes {SAMPLE_RATE}")
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)))
        frames = min(1500, int(len(audio) / SAMPLE_RATE * FRAMES_PER_SECOND) + 1)
        yield flac.stem, mel, frames, refs[flac.stem]
