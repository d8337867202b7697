"""The speed-up in ONNX Runtime beside PyTorch's: reuse encoders against ESPnet's, all
exported the same way, timed side by side in one run.

ESPnet's encoder and a reuse encoder of each layout (``benchmark.models``, the same
weights) are exported (``onnx_export.export_module``: features in, output and lengths
out) and each input shape is timed interleaved (``measure.time_interleaved``): every
round runs every encoder once in PyTorch (eval, inference mode) and once in ONNX
Runtime, in a new random order, so each ratio is a median of per-round ratios with
its 95 % interval. ONNX Runtime gets as many threads as PyTorch.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from espnet_reuse.benchmark.measure import (
    Ratio,
    Timing,
    inference_step,
    make_input,
    time_interleaved,
)
from espnet_reuse.benchmark.models import CONFORMER_M, build_models
from espnet_reuse.benchmark.suite import describe, device_name, processor_name
from espnet_reuse.export.onnx_export import OnnxRuntimeGraph, export_module

RUNTIMES = ("PyTorch", "ONNX Runtime")
REPORT = "onnx_speed.md"


@dataclass
class OnnxSpeedSettings:
    """What to time: an encoder family and its options, layouts, input shapes."""

    encoder: str = "conformer"
    encoder_conf: dict = field(default_factory=lambda: dict(CONFORMER_M))
    layouts: List[str] = field(default_factory=lambda: ["4x4", "2x8"])
    seconds: List[float] = field(default_factory=lambda: [2.5, 15, 30])
    batch_sizes: List[int] = field(default_factory=lambda: [1, 8])
    repeats: int = 9
    warmup: int = 2
    input_size: int = 80
    device: str = "cpu"  # cuda:N: PyTorch on that GPU, ONNX Runtime's CUDA provider
    out_dir: Path = Path("exp/onnx_speed")


class EncoderOnly(torch.nn.Module):
    """An ESPnet encoder's output (batch, time, dim) and lengths (batch,) (the exported
    graph; ESPnet's third output, the intermediate CTC states, is dropped)."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(
        self, feats: torch.Tensor, feats_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        out, lengths, _ = self.encoder(feats, feats_lengths)
        return out, lengths


def _file(name: str) -> str:
    return name.replace(" ", "_")


def _runtime_step(session: OnnxRuntimeGraph, feats: torch.Tensor, lengths: torch.Tensor):
    def step() -> None:
        session(feats, lengths)

    return step


def run_onnx_speed(settings: OnnxSpeedSettings) -> str:
    """Export, time every shape, write ``REPORT`` and ``onnx_speed.json`` into
    ``settings.out_dir`` after every shape; return the Markdown table."""
    built = build_models(
        settings.input_size, settings.encoder_conf, settings.layouts, encoder=settings.encoder
    )
    names = ["espnet", *(f"reuse {layout}" for layout in built.layouts)]
    models = {name: EncoderOnly(built.models[name]).eval() for name in names}
    threads = torch.get_num_threads()
    cuda = settings.device.startswith("cuda")
    providers = ("CUDAExecutionProvider",) if cuda else ("CPUExecutionProvider",)
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    sessions = {
        name: OnnxRuntimeGraph(
            export_module(model, settings.input_size, settings.out_dir / f"{_file(name)}.onnx"),
            providers,
            threads,
        )
        for name, model in models.items()
    }
    models = {name: model.to(settings.device) for name, model in models.items()}
    where = device_name(settings.device) if cuda else f"{processor_name()}, {threads} threads"
    header = [
        f"# ONNX Runtime beside PyTorch: {describe(settings.encoder, settings.encoder_conf)}",
        "",
        f"{where} in both runtimes, {settings.repeats} rounds (median of per-round "
        "ratios, 95 % interval); below 1: reuse is faster. ONNX Runtime's inputs and "
        "outputs cross to and from the host every call.",
        "",
        "|input|batch|layout|PyTorch: reuse / ESPnet|ONNX Runtime: reuse / ESPnet"
        "|ESPnet's encoder: ONNX Runtime / PyTorch|ESPnet ms (PyTorch, ONNX Runtime)|",
        "|---|---|---|---|---|---|---|",
    ]
    rows: List[str] = []
    results: List[dict] = []
    for seconds in settings.seconds:
        for batch in settings.batch_sizes:
            feats, lengths = make_input(seconds, batch, settings.input_size, settings.device)
            steps = {f"PyTorch {n}": inference_step(m, feats, lengths) for n, m in models.items()}
            steps.update(
                {f"ONNX Runtime {n}": _runtime_step(s, feats, lengths) for n, s in sessions.items()}
            )
            timings = time_interleaved(steps, settings.repeats, settings.warmup, settings.device)
            rows += _rows(seconds, batch, names[1:], timings)
            results.append(
                {"seconds": seconds, "batch": batch, **{k: asdict(t) for k, t in timings.items()}}
            )
            table = "\n".join(header + rows) + "\n"
            (settings.out_dir / REPORT).write_text(table)
            (settings.out_dir / "onnx_speed.json").write_text(json.dumps(results, indent=1))
    return table


def _rows(seconds: float, batch: int, layouts: List[str], timings: Dict[str, Timing]) -> List[str]:
    """One table row a layout."""
    espnet = {runtime: timings[f"{runtime} espnet"] for runtime in RUNTIMES}
    across = Ratio.paired(espnet["ONNX Runtime"], espnet["PyTorch"])
    milliseconds = ", ".join(f"{1000 * espnet[r].median:.0f}" for r in RUNTIMES)
    rows = []
    for layout in layouts:
        ratios = [Ratio.paired(timings[f"{r} {layout}"], espnet[r]) for r in RUNTIMES]
        cells = [_ratio(r) for r in ratios]
        rows.append(
            f"|{seconds:g} s|{batch}|{layout.removeprefix('reuse ')}|{cells[0]}|{cells[1]}"
            f"|{_ratio(across)}|{milliseconds}|"
        )
    return rows


def _ratio(ratio: Ratio) -> str:
    return f"{ratio.median:.3f} [{ratio.low:.3f}, {ratio.high:.3f}]"
