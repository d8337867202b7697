"""Seed-paired differences to the baseline: does an arm cost accuracy, within a margin?

A seed gives the baseline and every arm the same initial shared parameters and
data order, so an arm's and the baseline's models trained with one seed form a
pair. Each arm's difference to the baseline is estimated per test set and on the
pooled sets (``POOLS``: clean = dev_clean + test_clean, other = dev_other +
test_other) with a hierarchical bootstrap over seed pairs and utterances
(``bootstrap.hierarchical_difference``). The margin is fixed before the numbers
are seen (``MARGIN``, WER points): an arm is as accurate as the baseline on a
pooled set only when the upper end of its interval is below the margin.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.bootstrap import (
    Interval,
    PairedSet,
    hierarchical_difference,
    per_pair_differences,
)

MARGIN = 0.5
POOLS = {"clean": ("dev_clean", "test_clean"), "other": ("dev_other", "test_other")}
# row -> test set -> (errors (seeds, utterances), words (utterances)), with each row's seeds
Matrices = Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]]


@dataclass
class PairedDifference:
    """One arm against the baseline on one set or pool, over the seed pairs."""

    difference: Interval
    per_pair: List[float]

    @property
    def half_width(self) -> float:
        return (self.difference.high - self.difference.low) / 2


@dataclass
class ArmComparison:
    """An arm's seed-paired differences to the baseline, per set and pool."""

    row: str
    seeds: List[int]
    sets: Dict[str, PairedDifference] = field(default_factory=dict)


def verdict(difference: Interval, margin: float = MARGIN) -> str:
    """What the interval says about the arm against the baseline, given ``margin``."""
    if difference.low > 0:
        return "worse" + (f", by less than {margin:g}" if difference.high < margin else "")
    if difference.high < 0:
        return "better"
    if difference.high < margin:
        return f"as accurate (within {margin:g})"
    return "not resolved"


def seeds_for(result: PairedDifference, pairs: int, half_width: float = MARGIN) -> int:
    """Seed pairs an interval of ``half_width`` would need, projected from this one's
    as if its width shrank with the square root of the pairs (the seeds' spread
    dominating, as it does here)."""
    if result.half_width <= half_width:
        return pairs
    return math.ceil(pairs * (result.half_width / half_width) ** 2)


def _paired_sets(
    matrices: Matrices, seeds: Dict[str, List[int]], row: str, baseline: str, names: Sequence[str]
) -> Tuple[List[int], List[PairedSet]]:
    common = [s for s in seeds[row] if s in seeds[baseline]]
    arm = [seeds[row].index(s) for s in common]
    base = [seeds[baseline].index(s) for s in common]
    sets = []
    for name in names:
        errors, words = matrices[row][name]
        sets.append((errors[arm], matrices[baseline][name][0][base], words))
    return common, sets


def compare_arms(
    matrices: Matrices,
    seeds: Dict[str, List[int]],
    baseline: str,
    resamples: int = 10_000,
) -> List[ArmComparison]:
    """Every row but ``baseline`` against it, on its test sets and on the ``POOLS`` whose
    sets it has; rows sharing no seed with the baseline are left out."""
    comparisons = []
    for row in matrices:
        if row == baseline:
            continue
        names = list(matrices[row])
        groups = {name: (name,) for name in names}
        groups.update({p: sets for p, sets in POOLS.items() if all(s in names for s in sets)})
        comparison = None
        for label, members in groups.items():
            common, sets = _paired_sets(matrices, seeds, row, baseline, members)
            if not common:
                break
            comparison = comparison or ArmComparison(row, common)
            comparison.sets[label] = PairedDifference(
                hierarchical_difference(sets, resamples),
                [round(float(d), 2) for d in per_pair_differences(sets)],
            )
        if comparison is not None:
            comparisons.append(comparison)
    return comparisons


def paired_table(comparisons: List[ArmComparison], margin: float = MARGIN) -> str:
    """Per arm: pools first, then sets; difference, interval, per-pair values, verdict."""
    lines = [
        "|arm|seed pairs|set|Δ WER vs baseline [95 % CI, seeds and utterances]"
        "|half-width|Δ WER per seed pair|verdict (pools)|seed pairs for half-width "
        f"{margin:g}|",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        for name in sorted(c.sets, key=lambda n: (n not in POOLS, n)):
            r = c.sets[name]
            pooled = name in POOLS
            lines.append(
                f"|{c.row}|{len(c.seeds)} ({', '.join(map(str, c.seeds))})|{name}"
                f"|{r.difference.signed}|{r.half_width:.2f}"
                f"|{' / '.join(f'{d:+.1f}' for d in r.per_pair)}"
                f"|{verdict(r.difference, margin) if pooled else '-'}"
                f"|{seeds_for(r, len(c.seeds), margin) if pooled else '-'}|"
            )
    return "\n".join(lines) + "\n"


def plot_differences(
    comparisons: List[ArmComparison],
    speed: Dict[str, Ratio],
    path: Path,
    title: str,
    margin: Optional[float] = MARGIN,
) -> None:
    """Speed-up against the seed-paired WER difference, one point per arm with both
    intervals, one panel per pool, the margin drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = [p for p in POOLS if any(p in c.sets for c in comparisons)]
    if not pools:
        return
    fig, axes = plt.subplots(1, len(pools), figsize=(6 * len(pools), 4.4), squeeze=False)
    for ax, pool in zip(axes.flat, pools):
        for idx, c in enumerate(comparisons):
            ratio, r = speed.get(c.row), c.sets.get(pool)
            if ratio is None or r is None:
                continue
            d = r.difference
            ax.errorbar(
                ratio.median,
                d.value,
                xerr=[[ratio.median - ratio.low], [ratio.high - ratio.median]],
                yerr=[[d.value - d.low], [d.high - d.value]],
                fmt="os^Dv<>p*"[idx % 9],
                capsize=3,
                label=f"{c.row} ({len(c.seeds)} pairs)",
            )
        ax.axhline(0.0, color="black", linewidth=0.8)
        if margin is not None:
            ax.axhline(margin, color="tab:red", linestyle="--", linewidth=0.8, label="margin")
        ax.set_xlabel("encoder speed-up over the baseline (x)")
        ax.set_ylabel("Δ WER vs baseline (points)")
        ax.set_title(f"{pool}: {' + '.join(POOLS[pool])}")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
