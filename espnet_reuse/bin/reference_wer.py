"""Whisper tiny.en's WER on data dirs: how hard each test set is for a model trained
on real speech (``espnet_reuse.corpus.reference``).

    python -m espnet_reuse.bin.reference_wer --data_dirs dump/raw/test_clean ... \\
        --out_dir exp/reference_whisper_tiny_en

Prints a Markdown table (set, utterances, WER with its 95 % bootstrap interval over
utterances) and keeps each set's words and per-utterance errors under ``--out_dir``;
with ``--manifest`` (a books corpus's ``manifest.tsv``), the WER per engine and voice too.
"""

import argparse
import json
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("reference", "corpus", "recipe")

from espnet_reuse.corpus.reference import by_group, engines_of, load_whisper, score_data_dir
from espnet_reuse.kaldi_data import read_table


def get_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dirs", type=Path, nargs="+", required=True, help="sets to score")
    p.add_argument("--out_dir", type=Path, required=True, help="where words and errors go")
    p.add_argument("--threads", type=int, default=2, help="CPU threads of the model")
    p.add_argument("--manifest", type=Path, help="a books corpus's manifest.tsv: WER per voice")
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Score every set and print the table."""
    args = get_parser().parse_args(cmd)
    model = load_whisper(args.threads)
    lines = ["|set|utterances|Whisper tiny.en WER [95 % interval]|", "|---|---|---|"]
    voices = ["", "|set|voice|words|Whisper tiny.en WER|", "|---|---|---|---|"]
    for data_dir in args.data_dirs:
        interval = score_data_dir(model, data_dir, args.out_dir / data_dir.name)
        lines.append(f"|{data_dir.name}|{len(read_table(data_dir / 'text'))}|{interval}|")
        print(lines[-1], flush=True)
        if args.manifest:
            errors = json.loads((args.out_dir / data_dir.name / "errors.json").read_text())
            words = {}
            group_of = engines_of(args.manifest)
            for utt, counts in errors.items():
                words[group_of[utt]] = words.get(group_of[utt], 0) + counts["words"]
            for voice, wer in by_group(errors, group_of).items():
                voices.append(f"|{data_dir.name}|{voice}|{words[voice]}|{wer}|")
    if args.manifest:
        lines += voices
    (args.out_dir / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
