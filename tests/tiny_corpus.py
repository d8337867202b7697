"""A few seconds of synthetic speech-like audio with transcripts, for entry-point tests."""

from pathlib import Path
from typing import Dict

import numpy as np
import soundfile

SAMPLE_RATE = 16000
TRANSCRIPTS = ["A CAT", "THE DOG", "A DOG SAT", "CATS", "THE CAT SAT", "DOGS"]


def write_tiny_corpus(root: Path) -> Dict[str, Path]:
    """Write wav files, ``wav.scp``, ``text`` and a character token list."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    wav_lines, text_lines = [], []
    for idx, transcript in enumerate(TRANSCRIPTS):
        utt = f"utt{idx:02d}"
        seconds = 0.4 + 0.1 * len(transcript) / 3
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        pitch = 120 + 20 * idx
        audio = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.size)
        path = root / f"{utt}.wav"
        soundfile.write(path, audio.astype(np.float32), SAMPLE_RATE)
        wav_lines.append(f"{utt} {path}\n")
        text_lines.append(f"{utt} {transcript}\n")
    (root / "wav.scp").write_text("".join(wav_lines))
    (root / "text").write_text("".join(text_lines))
    chars = sorted({c for line in TRANSCRIPTS for c in line.replace(" ", "")})
    tokens = ["<blank>", "<unk>", "<space>", *chars, "<sos/eos>"]
    (root / "tokens.txt").write_text("".join(f"{t}\n" for t in tokens))
    return {
        "wav_scp": root / "wav.scp",
        "text": root / "text",
        "token_list": root / "tokens.txt",
    }
