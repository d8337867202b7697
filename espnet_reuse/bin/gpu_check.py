"""The prepared GPU check: machine, PASS/FAIL self-checks, benchmark tables (``--out_dir``).

On a GPU machine (docs/speed.md, "GPU check", says how to carry ESPnet there)::

    python -m espnet_reuse.bin.gpu_check --device cuda --out_dir exp/gpu_check

``--tiny true --device cpu`` runs the same code at toy sizes in seconds (CI does).
The exit status is 1 when a self-check failed.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import torch

from espnet_reuse.benchmark.gpu_check import run
from espnet_reuse.espnet_api import str2bool


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out_dir", type=Path, default=Path("exp/gpu_check"))
    p.add_argument("--tiny", type=str2bool, default=False, help="toy sizes (a CPU smoke run)")
    p.add_argument(
        "--benchmark_seconds",
        type=float,
        default=300,
        help="time budget of the two benchmark runs (bf16 60 %%, fp32 40 %%); input "
        "shapes not started within it are listed as not measured",
    )
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Run the check; exit 1 when a self-check failed."""
    args = get_parser().parse_args(cmd)
    if not run(args.device, args.out_dir, args.tiny, args.benchmark_seconds):
        sys.exit(1)


if __name__ == "__main__":
    main()
