"""Benchmark results as Markdown tables, JSON and a speed-up plot."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from espnet_reuse.benchmark.measure import Timing

BASELINE = "espnet"


@dataclass
class Case:
    """One input shape measured for every model."""

    kind: str  # "inference" or "train step"
    seconds: float
    batch: int
    timings: Dict[str, Timing]
    peak_bytes: Optional[Dict[str, int]] = None
    flops: Optional[Dict[str, int]] = None


def _layouts(case: Case) -> List[str]:
    return [name.split(" ", 1)[1] for name in case.timings if name.startswith("reuse ")]


def ratios(case: Case, layout: str) -> Dict[str, Optional[float]]:
    """Speed-up over ESPnet, ideal speed-up, and achieved / ideal for a layout."""
    base = case.timings[BASELINE].median
    reuse = case.timings[f"reuse {layout}"].median
    ideal_timing = case.timings.get(f"ideal {layout}", case.timings[BASELINE])
    ideal = ideal_timing.median
    return {"speedup": base / reuse, "ideal_speedup": base / ideal, "achieved": ideal / reuse}


def markdown(cases: List[Case], device: str, title: str) -> str:
    """One table row per input and layout; times are medians over the repeats."""
    lines = [
        f"### {title}",
        "",
        f"Device: {device}. Times are medians (± inter-quartile range / median) of "
        "interleaved repeats; speed-ups are ESPnet's time over the model's; "
        "achieved/ideal = ideal time / reuse time (1.00: nothing left on the table; "
        "for `1x16`, no reuse, the ideal is ESPnet's Conformer itself).",
        "",
        "|step|input|layout|ESPnet ms|reuse ms|ideal ms|speed-up|ideal speed-up|achieved/ideal|GFLOPs ESPnet / reuse|peak MB ESPnet / reuse|",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        for layout in _layouts(case):
            r = ratios(case, layout)
            base = case.timings[BASELINE]
            reuse = case.timings[f"reuse {layout}"]
            ideal = case.timings.get(f"ideal {layout}", base)
            flops = (
                f"{case.flops[BASELINE] / 1e9:.1f} / {case.flops[f'reuse {layout}'] / 1e9:.1f}"
                if case.flops
                else "-"
            )
            peak = (
                f"{case.peak_bytes[BASELINE] / 2**20:.0f} / "
                f"{case.peak_bytes[f'reuse {layout}'] / 2**20:.0f}"
                if case.peak_bytes
                else "-"
            )
            lines.append(
                f"|{case.kind}|{case.seconds:g} s × {case.batch}|{layout}"
                f"|{1e3 * base.median:.1f} ±{base.spread:.0%}"
                f"|{1e3 * reuse.median:.1f} ±{reuse.spread:.0%}"
                f"|{1e3 * ideal.median:.1f} ±{ideal.spread:.0%}"
                f"|{r['speedup']:.2f}|{r['ideal_speedup']:.2f}|{r['achieved']:.3f}"
                f"|{flops}|{peak}|"
            )
    return "\n".join(lines) + "\n"


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
                    "peak_bytes": c.peak_bytes,
                    "flops": c.flops,
                    "ratios": {layout: ratios(c, layout) for layout in _layouts(c)},
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
            ax.plot(x, [ratios(c, layout)["speedup"] for c in shown], "o-", color=color, label=f"{layout}")
            ax.plot(x, [ratios(c, layout)["ideal_speedup"] for c in shown], "--", color=color, alpha=0.6)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("utterance length (s)")
        ax.set_ylabel("encoder speed-up over ESPnet")
        ax.set_title(f"inference, batch {batch} ({device})")
        ax.legend(title="reuse_groups (dashed: ideal)", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
