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
from typing import Dict, List, Sequence, Tuple

import numpy as np

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.bootstrap import (
    Interval,
    PairedSet,
    hierarchical_difference,
    per_pair_differences,
)
from espnet_reuse.study.report import Panels, plot_speed_panels

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
    margin: float = MARGIN,
) -> None:
    """Speed-up against the seed-paired WER difference, one point per arm, one panel
    per pool, zero and the margin drawn."""
    panels: Panels = {}
    for pool, sets in POOLS.items():
        points = [
            (f"{c.row} ({len(c.seeds)} pairs)", speed[c.row], c.sets[pool].difference)
            for c in comparisons
            if c.row in speed and pool in c.sets
        ]
        if points:
            panels[f"{pool}: {' + '.join(sets)}"] = points
    if panels:
        lines = [(0.0, ""), (margin, f"margin {margin:g}")]
        plot_speed_panels(panels, path, title, "Δ WER vs baseline (points)", lines)
