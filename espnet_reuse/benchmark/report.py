"""Benchmark results as Markdown tables, JSON and a speed-up plot."""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet_reuse.benchmark.measure import Ratio, Timing

BASELINE = "espnet"
FUSED = "fused"
# achieved / ideal targets: no reuse within 2 % of its bound, reuse within 5 %
TARGET_NO_REUSE = 0.98
TARGET_REUSE = 0.95


@dataclass
class Case:
    """One input shape measured for every model."""

    kind: str  # "inference" or "train step"
    seconds: float
    batch: int
    timings: Dict[str, Timing]
    peak_bytes: Optional[Dict[str, int]] = None
    flops: Optional[Dict[str, int]] = None
    saved_bytes: Optional[Dict[str, int]] = None  # kept for backward (train steps)
    sdpa_backend: Optional[str] = None  # the kernel the fused baseline's attention ran


def _layouts(case: Case) -> List[str]:
    return [name.split(" ", 1)[1] for name in case.timings if name.startswith("reuse ")]


def ratios(case: Case, layout: str) -> Dict[str, Ratio]:
    """Speed-ups over ESPnet and over the fused baseline, ideal speed-up, and achieved /
    ideal, round by round."""
    base = case.timings[BASELINE]
    reuse = case.timings[f"reuse {layout}"]
    ideal = case.timings[f"ideal {layout}"]
    return {
        "speedup": Ratio.paired(base, reuse),
        "speedup_over_fused": Ratio.paired(case.timings[FUSED], reuse),
        "ideal_speedup": Ratio.paired(base, ideal),
        "achieved": Ratio.paired(ideal, reuse),
    }


def target(groups: Sequence[int]) -> float:
    """The achieved / ideal a layout must reach."""
    return TARGET_REUSE if len(groups) < sum(groups) else TARGET_NO_REUSE


def verdict(achieved: Ratio, goal: float) -> str:
    """``met`` when the whole interval clears the target, ``missed`` when it lies below
    (``-`` when a model has no time)."""
    if math.isnan(achieved.median):
        return "-"
    if achieved.low >= goal:
        return "met"
    if achieved.high < goal:
        return "missed"
    return "unclear"


def markdown(cases: List[Case], device: str, title: str, layouts: Dict[str, List[int]]) -> str:
    """One table row per input and layout."""
    lines = [
        f"### {title}",
        "",
        f"Device: {device}. Times are medians (± inter-quartile range / median) over "
        "rounds that run every model once, in random order. Ratios are medians of "
        "per-round ratios, with a distribution-free 95 % interval in brackets: "
        "speed-up = ESPnet's time / reuse time (over fused: the fused baseline's time / "
        "reuse time), achieved/ideal = ideal time / "
        "reuse time (1.00: nothing left on the table). Target: achieved/ideal "
        f">= {TARGET_NO_REUSE} without reuse, >= {TARGET_REUSE} with reuse; `met` "
        "when the whole interval clears it, `missed` when the whole interval lies "
        "below, else `unclear`. A model that ran out of memory shows `OOM`. fused "
        "kernel: the `scaled_dot_product_attention` backend the fused baseline ran.",
        "",
        "|step|input|layout|ESPnet ms|fused ms|reuse ms|ideal ms|speed-up|speed-up over fused"
        "|ideal speed-up"
        "|achieved/ideal|target|GFLOPs ESPnet / reuse|peak MB ESPnet / reuse"
        "|saved for backward MB ESPnet / reuse|fused kernel|",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        for layout in _layouts(case):
            r = ratios(case, layout)
            achieved = r["achieved"]
            times = "|".join(
                _milliseconds(case.timings[name])
                for name in (BASELINE, FUSED, f"reuse {layout}", f"ideal {layout}")
            )
            lines.append(
                f"|{case.kind}|{case.seconds:g} s × {case.batch}|{layout}|{times}"
                f"|{r['speedup'].median:.2f}|{r['speedup_over_fused'].median:.2f}"
                f"|{r['ideal_speedup'].median:.2f}"
                f"|{achieved.median:.3f} [{achieved.low:.3f}, {achieved.high:.3f}]"
                f"|{verdict(achieved, target(layouts[layout]))}"
                f"|{_pair(case.flops, layout, 1e9, 1)}|{_pair(case.peak_bytes, layout)}"
                f"|{_pair(case.saved_bytes, layout)}|{case.sdpa_backend or '-'}|"
            )
    return "\n".join(lines) + "\n"


@dataclass
class EqualMemory:
    """Training at equal memory: each model at the largest batch whose activations kept
    for backward (``saved_for_backward_bytes``, linear in the batch) fit the budget."""

    seconds: float
    budget_bytes: int
    batches: Dict[str, int]
    timings: Dict[str, Timing]  # one training step at that batch

    def throughput_ratio(self, name: str) -> Ratio:
        """Audio seconds trained a second, relative to ESPnet's, round by round."""
        ratio = Ratio.paired(self.timings[BASELINE], self.timings[name])
        scale = self.batches[name] / self.batches[BASELINE]
        return Ratio(ratio.median * scale, ratio.low * scale, ratio.high * scale)


def equal_memory_markdown(result: EqualMemory) -> str:
    """One row per model: batch that fits, step time, throughput and its ratio to ESPnet's."""
    lines = [
        f"### Training at equal memory: {result.seconds:g} s utterances, "
        f"{result.budget_bytes / 2**30:g} GiB of activations kept for backward",
        "",
        "|model|batch that fits|step s|audio s trained / s|throughput vs ESPnet|",
        "|---|---|---|---|---|",
    ]
    for name, timing in result.timings.items():
        batch = result.batches[name]
        ratio = result.throughput_ratio(name)
        lines.append(
            f"|{name}|{batch}|{timing.median:.2f} ±{timing.spread:.0%}"
            f"|{batch * result.seconds / timing.median:.1f}"
            f"|{ratio.median:.2f} [{ratio.low:.2f}, {ratio.high:.2f}]|"
        )
    return "\n".join(lines) + "\n"


def _milliseconds(timing: Timing) -> str:
    """Median ms ± relative spread, or ``OOM``."""
    if timing.error:
        return "OOM"
    return f"{1e3 * timing.median:.1f} ±{timing.spread:.0%}"


def _pair(
    values: Optional[Dict[str, int]], layout: str, unit: float = 2**20, digits: int = 0
) -> str:
    """``ESPnet / reuse`` in ``unit`` (MiB by default), ``-`` where not measured."""
    if not values:
        return "-"
    return " / ".join(
        f"{values[name] / unit:.{digits}f}" if name in values else "-"
        for name in (BASELINE, f"reuse {layout}")
    )


def _finite(values: Dict[str, float]) -> Dict[str, Optional[float]]:
    return {k: None if math.isnan(v) else v for k, v in values.items()}


def to_json(cases: List[Case], meta: dict) -> str:
    """Every sample, for later analysis."""
    return json.dumps(
        {
            "meta": meta,
            "cases": [
                {
                    "kind": c.kind,
                    "seconds": c.seconds,
                    "batch": c.batch,
                    "timings": {k: t.samples for k, t in c.timings.items()},
                    "errors": {k: t.error for k, t in c.timings.items() if t.error},
                    "sdpa_backend": c.sdpa_backend,
                    "peak_bytes": c.peak_bytes,
                    "flops": c.flops,
                    "saved_bytes": c.saved_bytes,
                    "ratios": {
                        layout: {k: _finite(asdict(v)) for k, v in ratios(c, layout).items()}
                        for layout in _layouts(c)
                    },
                }
                for c in cases
            ],
        },
        indent=1,
    )


def plot_speedup(cases: List[Case], path: Path, device: str) -> None:
    """Speed-up over ESPnet against utterance length, achieved (solid) and ideal (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inference = [c for c in cases if c.kind == "inference"]
    batches = sorted({c.batch for c in inference})
    fig, axes = plt.subplots(1, len(batches), figsize=(5 * len(batches), 4), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        shown = sorted((c for c in inference if c.batch == batch), key=lambda c: c.seconds)
        for idx, layout in enumerate(_layouts(shown[0])):
            color = f"C{idx}"
            x = [c.seconds for c in shown]
            ax.plot(
                x,
                [ratios(c, layout)["speedup"].median for c in shown],
                "o-",
                color=color,
                label=f"{layout}",
            )
            ax.plot(
                x,
                [ratios(c, layout)["ideal_speedup"].median for c in shown],
                "--",
                color=color,
                alpha=0.6,
            )
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("utterance length (s)")
        ax.set_ylabel("encoder speed-up over ESPnet")
        ax.set_title(f"inference, batch {batch} ({device})")
        ax.legend(title="reuse_groups (dashed: ideal)", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
