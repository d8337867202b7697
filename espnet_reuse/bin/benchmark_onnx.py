"""The speed-up in ONNX Runtime beside PyTorch's: reuse against ESPnet's encoder, exported
the same way, timed side by side (``espnet_reuse.benchmark.onnx_speed``).

    python -m espnet_reuse.bin.benchmark_onnx --encoder conformer --layouts 4x4 2x8
    python -m espnet_reuse.bin.benchmark_onnx --encoder e_branchformer --layouts 1,4,4,4,4
"""

import argparse
from pathlib import Path
from typing import List, Optional

import torch

from espnet_reuse.extras import command_needs

command_needs("onnx", "recipe")

from espnet_reuse.benchmark.models import CONFORMER_M, E_BRANCHFORMER_LIBRISPEECH
from espnet_reuse.benchmark.onnx_speed import OnnxSpeedSettings, run_onnx_speed

SIZES = {"conformer": CONFORMER_M, "e_branchformer": E_BRANCHFORMER_LIBRISPEECH}


def get_parser() -> argparse.ArgumentParser:
    """The command's options."""
    default = OnnxSpeedSettings()
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--encoder",
        choices=list(SIZES),
        default=default.encoder,
        help="Conformer-M, or ESPnet's LibriSpeech E-Branchformer",
    )
    p.add_argument("--layouts", nargs="+", default=default.layouts, help="e.g. 4x4 or 1,4,4,4,4")
    p.add_argument("--seconds", type=float, nargs="+", default=default.seconds)
    p.add_argument("--batch_sizes", type=int, nargs="+", default=default.batch_sizes)
    p.add_argument("--repeats", type=int, default=default.repeats)
    p.add_argument("--warmup", type=int, default=default.warmup)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out_dir", type=Path, default=default.out_dir)
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Export, time and print the table."""
    args = get_parser().parse_args(cmd)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = OnnxSpeedSettings(
        encoder=args.encoder,
        encoder_conf=dict(SIZES[args.encoder]),
        layouts=args.layouts,
        seconds=args.seconds,
        batch_sizes=args.batch_sizes,
        repeats=args.repeats,
        warmup=args.warmup,
        out_dir=args.out_dir,
    )
    print(run_onnx_speed(settings))


if __name__ == "__main__":
    main()
