"""Benchmark ESPnet's Conformer against ``conformer_reuse`` layouts, side by side.

Example::

    python -m espnet_reuse.bin.benchmark --device cpu --layouts 1x16 2x8 4x4 \\
        --seconds 5 15 30 --batch_sizes 1 8 --out_dir exp/benchmark_cpu
"""

import argparse
import contextlib
import json
import platform
from functools import partial
from pathlib import Path
from typing import List, Optional

import torch

from espnet_reuse.benchmark.measure import (
    cpu_peak_memory,
    cuda_peak_memory,
    forward_flops,
    inference_step,
    make_input,
    saved_for_backward_bytes,
    time_interleaved,
    training_step,
)
from espnet_reuse.benchmark.models import CONFORMER_M, build_models
from espnet_reuse.benchmark.report import (
    BASELINE,
    Case,
    EqualMemory,
    equal_memory_markdown,
    markdown,
    plot_speedup,
    to_json,
)
from espnet_reuse.espnet_api import str2bool

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument(
        "--layouts",
        nargs="+",
        default=["1x16", "2x8", "4x4"],
        help="reuse_groups: SxN (N groups of S) or comma-separated sizes",
    )
    p.add_argument("--seconds", type=float, nargs="+", default=[5, 15, 30])
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--train_seconds", type=float, default=15)
    p.add_argument("--train_batch", type=int, default=4, help="0: no training step")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument(
        "--dtype",
        default="float32",
        choices=list(DTYPES),
        help="autocast dtype (bfloat16/float16: mixed precision)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument(
        "--compile",
        type=str2bool,
        default=False,
        help="torch.compile the reuse and ideal models (in the warm-up "
        "rounds); ESPnet's Conformer stays eager, as ESPnet runs it",
    )
    p.add_argument("--memory", type=str2bool, default=True, help="measure peak memory (true/false)")
    p.add_argument(
        "--memory_budget_gb",
        type=float,
        default=0.0,
        help="also train each model at the largest batch of --train_seconds utterances whose "
        "activations kept for backward fit this budget, and compare throughputs (0: off)",
    )
    p.add_argument("--input_size", type=int, default=80)
    for key, value in CONFORMER_M.items():
        p.add_argument(
            f"--{key}", type=str2bool if isinstance(value, bool) else type(value), default=value
        )
    p.add_argument("--out_dir", type=Path, default=Path("exp/benchmark"))
    return p


def _build_one(input_size: int, encoder_conf: dict, layouts: List[str], name: str):
    """Rebuild one benchmark model (for memory measurement in a fresh process)."""
    return build_models(input_size, encoder_conf, layouts).models[name]


def main(cmd: Optional[List[str]] = None) -> None:
    """Measure, print the table and write Markdown, JSON and a plot to ``--out_dir``."""
    parser = get_parser()
    args = parser.parse_args(cmd)
    if args.compile and args.warmup < 1:
        parser.error("--compile true needs --warmup >= 1 (compilation happens there)")
    if args.threads:
        torch.set_num_threads(args.threads)
    encoder_conf = {key: getattr(args, key) for key in CONFORMER_M}
    built = build_models(args.input_size, encoder_conf, args.layouts)
    models = {name: m.to(args.device) for name, m in built.models.items()}
    timed = {
        name: torch.compile(m) if args.compile and name != BASELINE else m
        for name, m in models.items()
    }
    autocast = (
        partial(torch.autocast, device_type=args.device.split(":")[0], dtype=DTYPES[args.dtype])
        if args.dtype != "float32"
        else contextlib.nullcontext
    )

    def with_autocast(step):
        def run() -> None:
            with autocast():
                step()

        return run

    cases = []
    shapes = [(s, b, "inference") for s in args.seconds for b in args.batch_sizes]
    if args.train_batch > 0:
        shapes.append((args.train_seconds, args.train_batch, "train step"))
    for seconds, batch, kind in shapes:
        feats, lengths = make_input(seconds, batch, args.input_size, args.device)
        make_step = inference_step if kind == "inference" else training_step
        steps = {n: with_autocast(make_step(m, feats, lengths)) for n, m in timed.items()}
        timings = time_interleaved(steps, args.repeats, args.warmup, args.device)
        flops = peaks = saved = None
        if kind == "inference" and batch == 1:
            flops = {n: forward_flops(m, feats, lengths) for n, m in models.items()}
        if kind == "train step":
            with autocast():
                saved = {n: saved_for_backward_bytes(m, feats, lengths) for n, m in models.items()}
        if args.memory and kind == "train step":
            if args.device.startswith("cuda"):
                peaks = {n: cuda_peak_memory(s) for n, s in steps.items()}
            else:
                peaks = {
                    n: cpu_peak_memory(
                        partial(_build_one, args.input_size, encoder_conf, args.layouts, n),
                        "train",
                        (seconds, batch, args.input_size),
                    )
                    for n in models
                }
        cases.append(Case(kind, seconds, batch, timings, peaks, flops, saved))
        print(f"measured {kind} {seconds:g} s × {batch}", flush=True)

    if args.device.startswith("cuda"):
        device = torch.cuda.get_device_name(args.device)
    else:
        cpu = platform.processor() or platform.machine()
        device = f"CPU ({cpu}, {torch.get_num_threads()} threads)"
    compiled = ", torch.compile (ESPnet eager)" if args.compile else ""
    title = (
        f"Conformer encoder ({args.num_blocks} blocks, {args.output_size}, "
        f"{args.attention_heads} heads, FFN {args.linear_units}, kernel "
        f"{args.cnn_module_kernel}), {args.dtype}{compiled}"
    )
    table = markdown(cases, device, title, built.layouts)
    equal_memory = None
    if args.memory_budget_gb > 0 and cases and cases[-1].saved_bytes:
        equal_memory = _train_at_equal_memory(args, timed, cases[-1], with_autocast)
        table += "\n" + equal_memory_markdown(equal_memory)
    print(table)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "benchmark.md").write_text(table)
    meta = {
        "device": device,
        "torch": torch.__version__,
        "args": vars(args) | {"out_dir": str(args.out_dir)},
    }
    if equal_memory is not None:
        meta["equal_memory"] = {
            "budget_bytes": equal_memory.budget_bytes,
            "batches": equal_memory.batches,
            "step_seconds": {n: t.samples for n, t in equal_memory.timings.items()},
        }
    (args.out_dir / "benchmark.json").write_text(
        to_json(cases, json.loads(json.dumps(meta, default=str)))
    )
    plot_speedup(cases, args.out_dir / "speedup.png", device)


def _train_at_equal_memory(args, models, train: Case, with_autocast) -> EqualMemory:
    """Time each model's training step at the largest batch within the budget."""
    budget = int(args.memory_budget_gb * 2**30)
    batches = {
        name: max(1, budget * train.batch // saved) for name, saved in train.saved_bytes.items()
    }
    steps = {}
    for name, model in models.items():
        feats, lengths = make_input(train.seconds, batches[name], args.input_size, args.device)
        steps[name] = with_autocast(training_step(model, feats, lengths))
    timings = time_interleaved(steps, args.repeats, args.warmup, args.device)
    print(f"measured training at equal memory ({args.memory_budget_gb:g} GiB)", flush=True)
    return EqualMemory(train.seconds, budget, batches, timings)


if __name__ == "__main__":
    main()
