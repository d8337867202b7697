"""Whisper tiny.en's WER on clean sentences heard in fixed rooms and noise: what chose
the "other" parts' ranges (espnet_reuse.corpus.plan.hard_condition).

    .venv/bin/python egs/librispeech_reuse/books_corpus_pilot/calibrate_conditions.py \
        CORPUS CACHE OUT.json

CORPUS: a books corpus (its dev-clean and test-clean); CACHE: its package cache (the
babble talkers and music). 48 sentences of Kokoro, flite and festival voices (espeak-ng
is left out: Whisper reads it badly even dry), each condition the same sentences; the
noise kind cycles through the five, a room per sentence.
"""

import json
import random
import sys
from pathlib import Path

import soundfile

from espnet_reuse.corpus import acoustics, build, reference
from espnet_reuse.corpus.acoustics import Condition
from espnet_reuse.error_counts import align, utterance_errors, words

CONDITIONS = (
    [(None, None)]
    + [(rt60, None) for rt60 in (0.3, 0.5, 0.7, 0.9)]
    + [(None, snr) for snr in (0, 5, 10, 15, 20)]
    + [(0.5, 10), (0.4, 15)]
)


def main(corpus: Path, cache: Path, out: Path, count: int = 48) -> None:
    rows = [line.split("\t") for line in (corpus / "manifest.tsv").read_text().splitlines()[1:]]
    rows = [r for r in rows if r[1] in ("test-clean", "dev-clean") and r[3] != "espeak"]
    random.Random(0).shuffle(rows)
    rows = rows[:count]
    refs, audio = {}, {}
    for utt, part, *_ in rows:
        speaker, chapter, _ = utt.split("-")
        folder = corpus / "LibriSpeech" / part / speaker / chapter
        trans = (folder / f"{speaker}-{chapter}.trans.txt").read_text()
        refs.update(line.split(" ", 1) for line in trans.splitlines())
        audio[utt] = soundfile.read(folder / f"{utt}.flac", dtype="float32")[0]
    bank = build._bank(cache)
    model = reference.load_whisper(2)
    results = {}
    for rt60, snr in CONDITIONS:
        errors = total = 0
        for i, (utt, *_) in enumerate(rows):
            noise = acoustics.NOISES[i % len(acoustics.NOISES)] if snr is not None else None
            condition = Condition(rt60=rt60, noise=noise, snr=snr)
            response = acoustics.room_response(rt60, i) if rt60 else None
            heard = acoustics.apply(audio[utt], condition, response, bank, utt)
            hyp = reference.transcribe(model, heard)
            ((e, n),) = utterance_errors(align([words(refs[utt])], [words(hyp)]))
            errors, total = errors + e, total + n
        name = f"rt60={rt60 or 'dry'},snr={snr if snr is not None else 'quiet'}"
        results[name] = round(100 * errors / total, 1)
        print(name, results[name], flush=True)
    out.write_text(json.dumps({"sentences": len(rows), "wer": results}, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
