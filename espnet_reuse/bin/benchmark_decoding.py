"""Recognition speed at equal accuracy: the recipe's decoders against ESPnet's Speech2Text.

What is timed and how the table reads: ``espnet_reuse.benchmark.decoding``.

Example::

    python -m espnet_reuse.bin.benchmark_decoding \\
        --asr_train_config exp/asr_x/config.yaml --asr_model_file exp/asr_x/valid.loss.ave.pth \\
        --data_dir dump/raw/test_clean --max_utts 0
"""

import argparse
from pathlib import Path
from typing import List, Optional

import torch

from espnet_reuse.extras import command_needs

command_needs("recipe")

from espnet_reuse import safe_load
from espnet_reuse.benchmark.decoding import (
    JOINT_ROW,
    compare_decoders,
    differences_markdown,
    markdown,
)
from espnet_reuse.espnet_api import str2bool


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--asr_train_config", type=Path, required=True, help="the experiment's config.yaml"
    )
    p.add_argument("--asr_model_file", type=Path, required=True, help="its model (.pth)")
    p.add_argument(
        "--data_dir", type=Path, required=True, help="a formatted data directory (dump/raw/...)"
    )
    p.add_argument("--max_utts", type=int, default=40, help="first N utterances by id; 0: all")
    p.add_argument("--beam_size", type=int, default=10, help="beam of both beam searches")
    p.add_argument("--batch_size", type=int, default=16, help="batch of the batched rows")
    p.add_argument(
        "--joint_batch_sizes",
        type=int,
        nargs="*",
        default=[64],
        help="further batch sizes of the batched joint search (hybrid models)",
    )
    p.add_argument(
        "--ctc_weight", type=float, default=0.3, help="CTC's weight where a decoder is used"
    )
    p.add_argument(
        "--joint_only",
        type=str2bool,
        default=False,
        help="only the batched joint search beside Speech2Text (hybrid models)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--fs", type=int, default=16000, help="sampling rate")
    safe_load.add_trust_option(p)
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Decode the same utterances with each decoder and print a Markdown table."""
    args = get_parser().parse_args(cmd)
    safe_load.set_trusted(args.trust_model_file)
    if args.threads:
        torch.set_num_threads(args.threads)
    comparison = compare_decoders(
        args.asr_train_config,
        args.asr_model_file,
        args.data_dir,
        args.max_utts,
        args.beam_size,
        args.batch_size,
        args.fs,
        args.ctc_weight,
        args.joint_batch_sizes,
        args.joint_only,
    )
    print(markdown(comparison))
    joint = f"{JOINT_ROW} {args.beam_size}"
    if any(row.name == joint for row in comparison.rows):
        print(f"Utterances whose tokens from the {joint} differ from Speech2Text's:\n")
        print(differences_markdown(comparison, joint))


if __name__ == "__main__":
    main()
