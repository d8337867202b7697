"""Seed-paired WER differences with intervals that cover at few pairs.

A study trains the baseline and an arm with the same seeds; the two models of one
seed form a pair, and all pairs are scored on the same test utterances. The
difference ``D`` (WER points) of the arm to the baseline then varies for two reasons,
each counted once:

- **seeds**: another set of pairs gives other models. Its part is the spread of the
  per-pair differences ``D_p`` over the test set, ``s**2 / P`` with ``P - 1`` degrees
  of freedom (Student's t, not the normal: at 4 pairs a normal interval is about half
  as wide as it should be);
- **the test set**: other speakers give other utterances. Its part does not shrink
  with more pairs; it is the variance of the ratio estimator with the mean difference
  of each utterance over the pairs, speakers as clusters (utterances of one speaker
  are not independent) and each test set a stratum (linearisation; Cochran 1977,
  sections 6.11 and 9A), with ``sum(speakers - 1)`` degrees of freedom.

The interval is ``D +- t(df) * sqrt(seed part + test-set part)`` with Welch and
Satterthwaite's degrees of freedom. Non-inferiority at margin ``M`` is the one-sided
test of ``D >= M`` at 2.5 % (the 95 % interval's upper bound below ``M``); across the
arms compared with one baseline, Holm's step-down procedure keeps the family's error
at 2.5 %. ``pairs_for`` projects the pairs a half-width needs from the seed part
alone, the test set's part held fixed.
"""

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from espnet_reuse.bootstrap import Interval

LEVEL = 0.95
# one test set of a paired comparison: errors of the arm (pairs, U), errors of the
# baseline with the same seeds in the same order (pairs, U), reference words (U,),
# speaker of each utterance (U,)
PairedSet = Tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[str]]


@dataclass
class PairedInterval:
    """An arm's WER difference to the baseline (points) with its ``LEVEL`` interval and
    the two parts of its variance."""

    value: float
    low: float
    high: float
    per_pair: List[float]  # D_p of each pair
    seed_variance: float  # s**2 / P (points**2); 0 with one pair (not measured)
    test_variance: float  # the test set's part (points**2)
    test_df: int  # its degrees of freedom: speakers - 1 summed over the sets
    df: float
    speakers: int
    utterances: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.seed_variance + self.test_variance)

    @property
    def interval(self) -> Interval:
        return Interval(self.value, self.low, self.high)

    @property
    def signed(self) -> str:
        return f"{self.value:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"

    def p_noninferior(self, margin: float) -> float:
        """One-sided p-value of ``D >= margin`` (small: the arm is non-inferior)."""
        if self.standard_error == 0:
            return 0.0 if self.value < margin else 1.0
        return float(stats.t.cdf((self.value - margin) / self.standard_error, self.df))


def _satterthwaite(parts: Sequence[Tuple[float, float]]) -> float:
    """Degrees of freedom of a sum of variance estimates ``(variance, df)``."""
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / df for v, df in parts if df > 0 and v > 0)
    return total * total / denominator if denominator > 0 else math.inf


def _quantile(df: float, level: float = LEVEL) -> float:
    """Student's t quantile of a two-sided ``level`` interval (the normal's at df = inf)."""
    return float(
        stats.t.ppf(0.5 + level / 2, df) if math.isfinite(df) else stats.norm.ppf(0.5 + level / 2)
    )


def paired_interval(sets: Sequence[PairedSet], level: float = LEVEL) -> PairedInterval:
    """The arm's difference to the baseline over ``sets`` pooled (words-weighted), with
    its interval counting seed pairs and speakers (module docstring)."""
    differences, total_words = [], 0.0
    for arm, base, words, speakers in sets:
        arm, base = np.atleast_2d(arm).astype(float), np.atleast_2d(base).astype(float)
        words = np.asarray(words, float)
        if arm.shape != base.shape or arm.shape[1] != words.shape[0]:
            raise ValueError(
                f"paired sets need equal shapes: {arm.shape}, {base.shape}, {words.shape}"
            )
        if len(speakers) != words.shape[0]:
            raise ValueError(f"{len(speakers)} speakers for {words.shape[0]} utterances")
        differences.append((arm - base, words, np.asarray(speakers)))
        total_words += words.sum()
    pairs = {d.shape[0] for d, _, _ in differences}
    if len(pairs) != 1:
        raise ValueError(f"every set needs the same seed pairs, got {sorted(pairs)} pairs")
    (count,) = pairs
    per_pair = 100.0 * sum(d.sum(axis=1) for d, _, _ in differences) / total_words  # (pairs,)
    value = float(per_pair.mean())
    seed_variance = float(per_pair.var(ddof=1) / count) if count > 1 else 0.0
    test_variance, test_df, speakers = 0.0, 0, 0
    for difference, words, who in differences:
        # linearised ratio: each utterance's share of the pooled difference
        z = 100.0 * (difference.mean(axis=0) - value / 100.0 * words) / total_words
        labels, index = np.unique(who, return_inverse=True)
        clusters = np.bincount(index, weights=z)  # (speakers,)
        k = len(labels)
        if k > 1:
            test_variance += k / (k - 1) * float(((clusters - clusters.mean()) ** 2).sum())
            test_df += k - 1
        speakers += k
    df = _satterthwaite([(seed_variance, count - 1), (test_variance, test_df)])
    half = _quantile(df, level) * math.sqrt(seed_variance + test_variance)
    return PairedInterval(
        value,
        value - half,
        value + half,
        [round(float(d), 3) for d in per_pair],
        seed_variance,
        test_variance,
        test_df,
        df,
        speakers,
        int(sum(d.shape[1] for d, _, _ in differences)),
    )


def holm(p_values: Dict[str, float], alpha: float = (1 - LEVEL) / 2) -> Dict[str, bool]:
    """Holm's step-down procedure: which hypotheses are rejected with the family's
    error at most ``alpha``."""
    rejected = {name: False for name in p_values}
    ordered = sorted(p_values, key=p_values.get)
    for rank, name in enumerate(ordered):
        if p_values[name] > alpha / (len(ordered) - rank):
            break
        rejected[name] = True
    return rejected


def verdicts(
    results: Dict[str, PairedInterval], margin: float, alpha: float = (1 - LEVEL) / 2
) -> Dict[str, str]:
    """Per arm, what its interval says against ``margin`` (WER points), Holm across the
    arms: "non-inferior at margin M" (a lower bound above zero named too), "inferior"
    (lower bound above zero), or "not resolved, upper bound U"."""
    noninferior = holm({a: r.p_noninferior(margin) for a, r in results.items()}, alpha)
    said = {}
    for arm, r in results.items():
        if noninferior[arm]:
            said[arm] = f"non-inferior at margin {margin:g}"
            if r.low > 0:
                said[arm] += f"; worse than the baseline (lower bound {r.low:+.2f})"
        elif r.low > 0:
            said[arm] = f"inferior (lower bound {r.low:+.2f})"
        else:
            said[arm] = f"not resolved, upper bound {r.high:+.2f}"
    return said


def pairs_for(result: PairedInterval, half_width: float, limit: int = 10_000) -> Optional[int]:
    """Seed pairs an interval of ``half_width`` would need: the seed part shrinks with
    the pairs, the test set's part does not; None when the test set's part alone is
    too wide (more speakers, not more pairs, would narrow it)."""
    spread = result.seed_variance * len(result.per_pair)  # s**2
    for candidate in range(2, limit + 1):
        seed = spread / candidate
        df = _satterthwaite([(seed, candidate - 1), (result.test_variance, result.test_df)])
        if _quantile(df) * math.sqrt(seed + result.test_variance) <= half_width:
            return candidate
    return None
