"""Seed-paired differences to the baseline: does an arm cost accuracy, within a margin?

A seed gives the baseline and every arm the same initial shared parameters and
data order, so an arm's and the baseline's models trained with one seed form a
pair. Each arm's difference to the baseline is estimated per test set and on the
endpoints (``ENDPOINTS``: clean = test_clean, other = test_other; the dev sets choose
checkpoints, so they are compared but decide nothing) with an interval over seed
pairs and speakers (``intervals.paired_interval``). The margin is fixed before the
numbers are seen (``MARGIN``, WER points): an arm is non-inferior on an endpoint when
the one-sided test of its cost reaching the margin rejects, Holm's procedure across
the arms compared on that endpoint (``intervals.verdicts``).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.study.intervals import PairedInterval, PairedSet, paired_interval, pairs_for
from espnet_reuse.study.intervals import verdicts as interval_verdicts
from espnet_reuse.study.report import Matrices, Panels, plot_speed_panels

MARGIN = 0.5
ENDPOINTS = {"clean": ("test_clean",), "other": ("test_other",)}


@dataclass
class ArmComparison:
    """An arm's seed-paired differences to the baseline, per set and endpoint."""

    row: str
    seeds: List[int]
    sets: Dict[str, PairedInterval] = field(default_factory=dict)


def _paired_sets(
    matrices: Matrices,
    seeds: Dict[str, List[int]],
    row: str,
    baseline: str,
    common: List[int],
    names: Sequence[str],
    baseline_scale: float,
) -> List[PairedSet]:
    """``row`` and ``baseline`` on ``names``, their models of the ``common`` seeds in
    the same order, the baseline's errors times ``baseline_scale``."""
    arm = [seeds[row].index(s) for s in common]
    base = [seeds[baseline].index(s) for s in common]
    sets = []
    for name in names:
        errors, words, _, speakers = matrices[row][name]
        base_errors = baseline_scale * matrices[baseline][name].errors[base]
        sets.append((errors[arm], base_errors, words, speakers))
    return sets


def compare_arms(
    matrices: Matrices,
    seeds: Dict[str, List[int]],
    baseline: str,
    endpoints: Dict[str, Tuple[str, ...]] = ENDPOINTS,
    baseline_scale: float = 1.0,
) -> List[ArmComparison]:
    """Every row but ``baseline`` against it, on each test set (an endpoint of one set
    under the endpoint's name) and on the ``endpoints`` whose sets it has; rows sharing
    no seed with the baseline are left out. ``baseline_scale`` multiplies the
    baseline's errors: 1.05 asks about ``WER(arm) - 1.05 WER(baseline)``, so a margin
    of 5 % of the baseline's WER becomes a margin of zero."""
    comparisons = []
    for row in matrices:
        if row == baseline:
            continue
        names = list(matrices[row])
        groups = {p: sets for p, sets in endpoints.items() if all(s in names for s in sets)}
        single = {sets[0] for sets in groups.values() if len(sets) == 1}
        groups.update({name: (name,) for name in names if name not in single})
        common = [s for s in seeds[row] if s in seeds[baseline]]
        if not common:
            continue
        comparison = ArmComparison(row, common)
        for label, members in groups.items():
            comparison.sets[label] = paired_interval(
                _paired_sets(matrices, seeds, row, baseline, common, members, baseline_scale)
            )
        comparisons.append(comparison)
    return comparisons


def endpoint_verdicts(
    comparisons: List[ArmComparison],
    margin: float = MARGIN,
    endpoints: Dict[str, Tuple[str, ...]] = ENDPOINTS,
) -> Dict[str, Dict[str, str]]:
    """endpoint -> arm -> verdict, Holm across the arms compared on that endpoint."""
    return {
        name: interval_verdicts(
            {c.row: c.sets[name] for c in comparisons if name in c.sets}, margin
        )
        for name in endpoints
        if any(name in c.sets for c in comparisons)
    }


def paired_table(
    comparisons: List[ArmComparison],
    margin: float = MARGIN,
    endpoints: Dict[str, Tuple[str, ...]] = ENDPOINTS,
) -> str:
    """Per arm: endpoints first, then sets; difference, interval, its two parts,
    per-pair values, verdict (endpoints), pairs a half-width of ``margin`` needs."""
    said = endpoint_verdicts(comparisons, margin, endpoints)
    lines = [
        "|arm|seed pairs|set|Δ WER vs baseline [95 % CI, t over pairs and speakers]"
        "|half-width|sd: seeds / test set|Δ WER per seed pair|verdict (endpoints, Holm)"
        f"|seed pairs for half-width {margin:g}|",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        for name in sorted(c.sets, key=lambda n: (n not in endpoints, n)):
            r = c.sets[name]
            label = f"{name} ({' + '.join(endpoints[name])})" if name in endpoints else name
            needed = "-"
            if name in endpoints:
                count = pairs_for(r, margin)
                needed = str(count) if count else "more speakers"
            lines.append(
                f"|{c.row}|{len(c.seeds)} ({', '.join(map(str, c.seeds))})|{label}"
                f"|{r.signed}|{r.half_width:.2f}"
                f"|{r.seed_variance**0.5:.2f} / {r.test_variance**0.5:.2f}"
                f"|{' / '.join(f'{d:+.2f}' for d in r.per_pair)}"
                f"|{said[name][c.row] if name in endpoints else '-'}|{needed}|"
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
    per endpoint, zero and the margin drawn."""
    panels: Panels = {}
    for pool, sets in ENDPOINTS.items():
        points = [
            (f"{c.row} ({len(c.seeds)} pairs)", speed[c.row], c.sets[pool].interval)
            for c in comparisons
            if c.row in speed and pool in c.sets
        ]
        if points:
            panels[f"{pool}: {' + '.join(sets)}"] = points
    if panels:
        lines = [(0.0, ""), (margin, f"margin {margin:g}")]
        plot_speed_panels(panels, path, title, "Δ WER vs baseline (points)", lines)
