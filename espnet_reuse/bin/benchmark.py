"""Benchmark an ESPnet encoder against its reuse layouts, side by side.

Example::

    python -m espnet_reuse.bin.benchmark --device cpu --layouts 1x16 2x8 4x4 \\
        --seconds 5 15 30 --batch_sizes 1 8 --out_dir exp/benchmark_cpu
    python -m espnet_reuse.bin.benchmark --shape e_branchformer_librispeech \\
        --layouts 1x17 1,4,4,4,4 --out_dir exp/benchmark_e_branchformer
    python -m espnet_reuse.bin.benchmark --preset gpu --device cuda:0 --out_dir exp/benchmark_gpu
"""

import argparse
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("recipe")

from espnet_reuse.benchmark.models import SHAPES
from espnet_reuse.benchmark.suite import DTYPES, PRESETS, Benchmark, Settings
from espnet_reuse.espnet_api import str2bool


def get_parser() -> argparse.ArgumentParser:
    """Command-line options (the fields of ``benchmark.suite.Settings``)."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    default = Settings()
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="cpu",
        help="defaults for the options below; gpu: bfloat16 autocast, TF32, 5 warm-up "
        "and 20 timed rounds, 10/20/30 s inputs, the training configs' dropout",
    )
    p.add_argument("--device", default=default.device, help="cpu, cuda or cuda:N")
    p.add_argument(
        "--layouts",
        nargs="+",
        default=default.layouts,
        help="reuse_groups: SxN (N groups of S) or comma-separated sizes",
    )
    p.add_argument("--seconds", type=float, nargs="+", default=default.seconds)
    p.add_argument("--batch_sizes", type=int, nargs="+", default=default.batch_sizes)
    p.add_argument("--train_seconds", type=float, default=default.train_seconds)
    p.add_argument(
        "--train_batch", type=int, default=default.train_batch, help="0: no training step"
    )
    p.add_argument("--repeats", type=int, default=default.repeats)
    p.add_argument("--warmup", type=int, default=default.warmup)
    p.add_argument(
        "--dtype",
        default=default.dtype,
        choices=list(DTYPES),
        help="autocast dtype (bfloat16/float16: mixed precision)",
    )
    p.add_argument("--tf32", type=str2bool, default=default.tf32, help="TF32 matmuls on CUDA")
    p.add_argument(
        "--threads", type=int, default=default.threads, help="torch CPU threads (0: default)"
    )
    p.add_argument(
        "--compile",
        type=str2bool,
        default=default.compile,
        help="torch.compile the reuse and ideal models (in the warm-up "
        "rounds); ESPnet's Conformer stays eager, as ESPnet runs it",
    )
    p.add_argument("--memory", type=str2bool, default=default.memory, help="measure peak memory")
    p.add_argument(
        "--memory_budget_gb",
        type=float,
        default=default.memory_budget_gb,
        help="also train each model at the largest batch of --train_seconds utterances whose "
        "activations kept for backward fit this budget, and compare throughputs (0: off)",
    )
    p.add_argument(
        "--time_budget",
        type=float,
        default=default.time_budget,
        help="seconds; input shapes not started by then are skipped and listed (0: none)",
    )
    p.add_argument("--input_size", type=int, default=default.input_size)
    p.add_argument(
        "--shape",
        choices=list(SHAPES),
        default="conformer_m",
        help="the encoder and its sizes; the options below override single sizes",
    )
    for key, value in _encoder_options().items():
        p.add_argument(
            f"--{key}",
            type=str2bool if isinstance(value, bool) else type(value),
            default=None,
            help="default: the shape's",
        )
    p.add_argument("--out_dir", type=Path, default=default.out_dir)
    return p


def _encoder_options() -> dict:
    """Every encoder option of the shapes, with an example value (its type)."""
    return {key: value for _, conf in SHAPES.values() for key, value in conf.items()}


def parse_settings(cmd: Optional[List[str]] = None) -> Settings:
    """Options to ``Settings``; ``--preset`` sets the defaults, explicit options win."""
    parser = get_parser()
    preset, _ = parser.parse_known_args(cmd)
    parser.set_defaults(**PRESETS[preset.preset])
    args = vars(parser.parse_args(cmd))
    args.pop("preset")
    encoder, shape = SHAPES[args.pop("shape")]
    overrides = {key: args.pop(key) for key in _encoder_options()}
    unknown = [key for key, value in overrides.items() if value is not None and key not in shape]
    if unknown:
        raise ValueError(f"{encoder} has no option {', '.join(unknown)}")
    encoder_conf = {
        key: overrides[key] if overrides[key] is not None else v for key, v in shape.items()
    }
    return Settings(**args, encoder=encoder, encoder_conf=encoder_conf)


def main(cmd: Optional[List[str]] = None) -> None:
    """Measure, print the table; Markdown, JSON and a plot go to ``--out_dir`` as cases finish."""
    try:
        benchmark = Benchmark(parse_settings(cmd))
    except ValueError as error:
        get_parser().error(str(error))
    benchmark.run()
    print(benchmark.table())


if __name__ == "__main__":
    main()
