"""Paired WER differences of scored experiments against a baseline, with intervals.

For every decoding and test set both scored (stage 13), the difference of each
experiment's WER to the baseline's on the same utterances, with its 95 % bootstrap
interval over utterances. Example::

    python -m espnet_reuse.bin.compare_experiments \\
        --baseline exp/asr_train_asr_conformer_hybrid_raw_en_bpe60 \\
        exp/asr_train_asr_conformer_reuse_hybrid_raw_en_bpe60
"""

import argparse
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("recipe")

from espnet_reuse.recipe.results import paired_differences


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, required=True, help="the baseline's experiment folder")
    p.add_argument("experiments", type=Path, nargs="+", help="experiment folders to compare")
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Print the Markdown table."""
    args = get_parser().parse_args(cmd)
    print(paired_differences(args.baseline, args.experiments))


if __name__ == "__main__":
    main()
