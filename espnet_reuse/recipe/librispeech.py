"""Stage 1: a LibriSpeech tree -> Kaldi-style ``data/<set>`` directories.

Each part found (or asked for) becomes ``data/<part with _>``; ``train_960`` joins
the training parts present and ``dev`` joins dev-clean and dev-other, so a tree
with only some parts (train-clean-100 alone, mini LibriSpeech, the demo corpus)
works unchanged; the realistic corpus's ``test-real`` becomes ``data/test_real``.
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet_reuse.kaldi_data import DataError, write_data_dir
from espnet_reuse.recipe.bad_utterances import BadUtterance, keys, settle

TRAIN_PARTS = ["train-clean-100", "train-clean-360", "train-other-500"]
DEV_PARTS = ["dev-clean", "dev-other"]
EVAL_PARTS = ["test-clean", "test-other"]
REAL_PARTS = ["test-real"]  # recorded prompts of the realistic corpus (espnet_reuse.corpus)
STANDARD_PARTS = TRAIN_PARTS + DEV_PARTS + EVAL_PARTS + REAL_PARTS
UNION_SETS = {"train_960": TRAIN_PARTS, "dev": DEV_PARTS}


def set_name(part: str) -> str:
    """``dev-clean`` -> ``dev_clean``."""
    return part.replace("-", "_")


def find_corpus_root(path: Path) -> Path:
    """The folder holding the parts: ``path`` itself or ``path/LibriSpeech``."""
    if not str(path):
        raise DataError("LIBRISPEECH is not set (egs/librispeech_reuse/db.sh)")
    if not path.is_dir():
        raise DataError(f"LIBRISPEECH={path} does not exist or is not a folder")
    for root in (path / "LibriSpeech", path):
        if any((root / part).is_dir() for part in STANDARD_PARTS):
            return root
    raise DataError(
        f"LIBRISPEECH={path} holds none of the LibriSpeech parts "
        f"({', '.join(STANDARD_PARTS)}), neither directly nor under LibriSpeech/"
    )


def select_parts(root: Path, requested: Optional[Sequence[str]]) -> List[str]:
    """The requested parts (all of them must exist), or every standard part found."""
    present = [part for part in STANDARD_PARTS if (root / part).is_dir()]
    if not requested:
        return present
    missing = [part for part in requested if not (root / part).is_dir()]
    if missing:
        raise DataError(f"{root} has no part {', '.join(missing)}; it has {', '.join(present)}")
    return list(requested)


def read_part(part_dir: Path) -> Tuple[Dict[str, Dict[str, str]], List[BadUtterance]]:
    """``wav.scp``, ``text`` and ``utt2spk`` of one part, and what fails pairing.

    Every transcript line needs its audio file and every audio file its transcript
    line; the speaker of an utterance is ``<speaker>-<chapter>``. Unpaired and
    repeated utterances are returned as problems, not read.
    """
    wav, text, utt2spk = {}, {}, {}
    bad = []
    for trans in sorted(part_dir.glob("*/*/*.trans.txt")):
        for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            utt, _, transcript = line.partition(" ")
            audio = trans.parent / f"{utt}.flac"
            if not audio.is_file():
                bad.append(BadUtterance(utt, f"{trans}:{lineno}: no audio file {audio}"))
            elif utt in text:
                bad.append(BadUtterance(utt, f"{trans}:{lineno}: appears twice"))
            else:
                wav[utt] = str(audio.resolve())
                text[utt] = transcript.strip()
                utt2spk[utt] = "-".join(utt.split("-")[:2])
    reported = set(keys(bad))
    for audio in sorted(part_dir.glob("*/*/*.flac")):
        if audio.stem not in text and audio.stem not in reported:
            bad.append(BadUtterance(audio.stem, f"{audio} has no transcript line"))
    if not wav:
        raise DataError(f"{part_dir} holds no utterances (<spk>/<chapter>/*.trans.txt)")
    return {"wav.scp": wav, "text": text, "utt2spk": utt2spk}, bad


def prepare(
    corpus: Path, parts: Optional[Sequence[str]], data_dir: Path, skip_bad: bool = False
) -> List[str]:
    """Write ``data/<set>`` for every part and union set; return the set names.

    Every part is checked before anything fails, so one run names every problem;
    with ``skip_bad`` the bad utterances are left out and listed in each part's
    ``bad_utterances.txt``.
    """
    root = find_corpus_root(corpus)
    selected = select_parts(root, parts)
    read = {part: read_part(root / part) for part in selected}
    everything = [b for _, bad in read.values() for b in bad]
    settle(everything, f"LibriSpeech tree {root}", skip_bad)
    written = []
    for part, (part_tables, bad) in read.items():
        write_data_dir(data_dir / set_name(part), part_tables, settle(bad, part, skip_bad))
        written.append(set_name(part))
    tables = {part: part_tables for part, (part_tables, _) in read.items()}
    for union, members in UNION_SETS.items():
        present = [tables[p] for p in members if p in tables]
        if present:
            merged = {
                name: {k: v for t in present for k, v in t[name].items()} for name in present[0]
            }
            write_data_dir(data_dir / union, merged)
            written.append(union)
    return written
