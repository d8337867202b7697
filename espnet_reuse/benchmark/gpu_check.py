"""The prepared GPU check: the machine (``gpu_environment``), PASS/FAIL self-checks
(``self_checks``), then the benchmark.

Made for a GPU lent for a few minutes (``bin/gpu_check``): it names the GPU,
driver and libraries, checks on that device what the CPU tests check on the
CPU (attention against ESPnet's in float32, bfloat16 and float16 on a padded
batch with an empty utterance; training steps under bf16 and fp16 autocast with
finite losses and gradients; batch-16 greedy decoding equal to batch 1; bytes
kept for backward; the batched joint CTC/attention search against ESPnet's, timed),
then runs the benchmark in bf16 and fp32 (``PRESETS["gpu"]``)
within a time budget. Every part is written to ``out_dir`` as soon as it is done.
``tiny=True`` runs the same code at toy sizes (CI runs it on the CPU).
"""

import json
import time
from pathlib import Path
from typing import Callable, List, Tuple

import torch

from espnet_reuse.benchmark import self_checks
from espnet_reuse.benchmark.gpu_environment import environment, onnx_runtime_missing
from espnet_reuse.benchmark.joint_search_check import joint_search_checks
from espnet_reuse.benchmark.onnx_speed import OnnxSpeedSettings, run_onnx_speed
from espnet_reuse.benchmark.self_checks import Check, Sizes
from espnet_reuse.benchmark.suite import PRESETS, Benchmark, Settings
from espnet_reuse.devices import named

REPORT = "gpu_check.md"
DROPOUTS = ("dropout_rate", "positional_dropout_rate", "attention_dropout_rate")


def _timed(section: Callable[[], List[Check]]) -> Tuple[List[Check], float]:
    start = time.monotonic()
    return section(), time.monotonic() - start


def _onnx_runtime(device: str, sizes: Sizes, out_dir: Path) -> List[str]:
    """ONNX Runtime's CUDA provider beside PyTorch on the GPU (``onnx_speed``), or the
    reason it is skipped; the report's lines."""
    missing = onnx_runtime_missing(device)
    if missing is not None:
        line = f"SKIP ONNX Runtime on CUDA: {missing}"
        print(line, flush=True)
        return [f"- {line}", ""]
    settings = OnnxSpeedSettings(
        encoder_conf=dict(sizes.encoder_conf),
        layouts=sizes.layouts[1:],
        seconds=sizes.seconds,
        batch_sizes=sizes.batch_sizes,
        repeats=sizes.repeats,
        warmup=sizes.warmup,
        input_size=sizes.input_size,
        device=device,
        out_dir=out_dir / "onnx_runtime",
    )
    table = run_onnx_speed(settings)
    print(table, flush=True)
    return [table, ""]


def run(device: str, out_dir: Path, tiny: bool = False, benchmark_seconds: float = 300) -> bool:
    """Environment, self-checks, benchmark (bf16, then fp32); True when every check passed."""
    sizes = Sizes.tiny() if tiny else Sizes()
    device = named(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / REPORT
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    info = environment(device)
    lines = ["# GPU check", "", "|what|value|", "|---|---|"]
    lines += [f"|{k}|{v}|" for k, v in info.items()]
    lines += ["", "## Self-checks", ""]
    for key, value in info.items():
        print(f"{key}: {value}", flush=True)
    report.write_text("\n".join(lines) + "\n")
    conf = sizes.encoder_conf
    sections = [
        lambda: self_checks.attention_checks(device),
        lambda: self_checks.training_checks(device, conf, sizes.input_size),
        lambda: [self_checks.batch_invariance_check(device, conf, sizes.input_size)],
        lambda: self_checks.saved_bytes_check(device, sizes),
        lambda: [Check(*c) for c in joint_search_checks(device, **sizes.joint_search)],
    ]
    checks: List[Check] = []
    for section in sections:
        done, seconds = _timed(section)
        for check in done:
            print(check.line(), flush=True)
        checks += done
        lines += [f"- {check.line()}" for check in done]
        lines.append(f"- ({seconds:.1f} s)")
        report.write_text("\n".join(lines) + "\n")
    passed = all(check.passed for check in checks)
    lines += ["", f"**{sum(c.passed for c in checks)}/{len(checks)} checks passed.**", ""]
    report.write_text("\n".join(lines) + "\n")
    lines += _onnx_runtime(device, sizes, out_dir)
    report.write_text("\n".join(lines) + "\n")

    gpu = PRESETS["gpu"]
    runs = [  # out folder, encoder, its options and layouts, dtype, share of the time
        ("bfloat16", "conformer", conf, sizes.layouts, "bfloat16", 0.45),
        (
            "e_branchformer_bfloat16",
            "e_branchformer",
            sizes.e_branchformer_conf,
            sizes.e_branchformer_layouts,
            "bfloat16",
            0.3,
        ),
        ("float32", "conformer", conf, sizes.layouts, "float32", 0.25),
    ]
    for folder, encoder, encoder_conf, layouts, dtype, share in runs:
        settings = Settings(
            device=device,
            layouts=layouts,
            seconds=sizes.seconds,
            batch_sizes=sizes.batch_sizes,
            train_seconds=sizes.train_seconds,
            train_batch=sizes.train_batch,
            repeats=sizes.repeats,
            warmup=sizes.warmup,
            dtype=dtype,
            tf32=True,
            memory=device.startswith("cuda"),
            time_budget=share * benchmark_seconds,
            input_size=sizes.input_size,
            encoder=encoder,
            encoder_conf={**encoder_conf, **{key: gpu[key] for key in DROPOUTS}},
            out_dir=out_dir / folder,
        )
        start = time.monotonic()
        benchmark = Benchmark(settings)
        benchmark.run()
        lines += [benchmark.table(), f"({time.monotonic() - start:.0f} s)", ""]
        report.write_text("\n".join(lines) + "\n")
        print(benchmark.table(), flush=True)
    (out_dir / "checks.json").write_text(
        json.dumps({"environment": info, "checks": [vars(c) for c in checks]}, indent=1)
    )
    return passed
