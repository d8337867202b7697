"""Tiny synthetic corpora (tones, not speech) for tests that need audio files."""

import random
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import soundfile

from espnet_reuse.demo.sentences import sentence

SAMPLE_RATE = 16000
TRANSCRIPTS = ["A CAT", "THE DOG", "A DOG SAT", "CATS", "THE CAT SAT", "DOGS"]


def tone(idx: int, seconds: float) -> np.ndarray:
    """A noisy sine wave, different for every ``idx``."""
    rng = np.random.default_rng(idx)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = 0.3 * np.sin(2 * np.pi * (120 + 20 * idx) * t)
    return (audio + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def write_tiny_corpus(root: Path) -> Dict[str, Path]:
    """Write wav files, ``wav.scp``, ``text`` and a character token list."""
    root.mkdir(parents=True, exist_ok=True)
    wav_lines, text_lines = [], []
    for idx, transcript in enumerate(TRANSCRIPTS):
        utt = f"utt{idx:02d}"
        path = root / f"{utt}.wav"
        soundfile.write(path, tone(idx, 0.4 + 0.1 * len(transcript) / 3), SAMPLE_RATE)
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


def write_librispeech_tree(root: Path, parts: Dict[str, Tuple[int, int]]) -> Path:
    """A LibriSpeech-shaped tree: part -> (speakers, utterances per speaker).

    The first utterance of a chapter is "A CAT", the others sentences of the
    demo grammar.
    """
    rng = random.Random(0)
    idx = 0
    for part, (speakers, utterances) in parts.items():
        for _ in range(speakers):
            spk, chapter = 10 + idx, 100 + idx
            chapter_dir = root / "LibriSpeech" / part / str(spk) / str(chapter)
            chapter_dir.mkdir(parents=True)
            lines = []
            for u in range(utterances):
                utt = f"{spk}-{chapter}-{u:04d}"
                transcript = sentence(rng) if u else "A CAT"
                soundfile.write(chapter_dir / f"{utt}.flac", tone(idx + u, 0.8), SAMPLE_RATE)
                lines.append(f"{utt} {transcript}\n")
            (chapter_dir / f"{spk}-{chapter}.trans.txt").write_text("".join(lines))
            idx += 1
    return root / "LibriSpeech"


PHONES = ["a", "b", "sil"]


def write_ctm(dump_dir: Path, path: Path, seconds_per_phone: float = 0.1) -> None:
    """A phone CTM that cycles through ``PHONES`` over every utterance of a dump dir."""
    lines = []
    for line in (dump_dir / "utt2num_samples").read_text().splitlines():
        utt, samples = line.split()
        duration, start, idx = int(samples) / SAMPLE_RATE, 0.0, 0
        while start < duration - 1e-6:
            end = min(start + seconds_per_phone, duration)
            lines.append(f"{utt} 1 {start:.3f} {end - start:.3f} {PHONES[idx % 3]}\n")
            start, idx = end, idx + 1
    path.write_text("".join(lines))


VARIED_SECONDS = [2.1, 0.35, 1.3, 0.6, 0.9]


def write_varied_data_dir(
    root: Path, seconds=VARIED_SECONDS
) -> Tuple[Dict[str, str], Dict[str, int]]:
    """A formatted data directory (``wav.scp``, ``utt2num_samples``, ``text``) of
    utterances of very different lengths; returns ``wav.scp`` and the lengths."""
    root.mkdir(parents=True, exist_ok=True)
    wav, lengths = {}, {}
    for idx, duration in enumerate(seconds):
        utt, audio = f"utt{idx}", tone(idx, duration)
        soundfile.write(root / f"{utt}.wav", audio, SAMPLE_RATE)
        wav[utt], lengths[utt] = str(root / f"{utt}.wav"), len(audio)
    (root / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in wav.items()))
    (root / "utt2num_samples").write_text("".join(f"{u} {n}\n" for u, n in lengths.items()))
    (root / "text").write_text("".join(f"{u} A CAT\n" for u in wav))
    return wav, lengths
