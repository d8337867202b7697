"""Word error rates with bootstrap confidence intervals, over utterances and seeds.

A model trained with ``S`` seeds (``S`` = 1 for one model) has made ``S``
hypotheses of every test utterance. Its pooled WER is
``sum_s sum_u e[s, u] / (S * sum_u n[u])`` (``e``: word errors, ``n``: reference
words). The 95 % interval resamples utterances
with replacement (10,000 times by default) and takes the 2.5 and 97.5
percentiles of the pooled WER; a paired difference between two models scores
both on the *same* resampled utterances, so what the two sets of models share
(hard utterances) cancels (Bisani and Ney 2004, "Bootstrap estimates for
confidence intervals in ASR performance evaluation").

Those intervals take the seeds as given. ``hierarchical_difference`` counts the
seeds' variation too: two models trained with the same seed form a pair, and each
resample draws the seed pairs with replacement and then, for those pairs, the
utterances of every test set (stratified: each set's own, so pooling sets keeps
their sizes), paired on utterances (Davison and Hinkley 1997, section 3.8, on
resampling both stages of a two-stage design).
"""

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np


@dataclass
class Interval:
    """An estimate with its 95 % bootstrap interval, in percent."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.1f} [{self.low:.1f}, {self.high:.1f}]"

    @property
    def signed(self) -> str:
        """The estimate and interval with explicit signs (for differences)."""
        return f"{self.value:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def _resamples(utterances: int, resamples: int, seed: int) -> np.ndarray:
    """How often each utterance is drawn in each resample: (resamples, utterances)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(utterances, np.full(utterances, 1.0 / utterances), size=resamples)


def _pooled_wer(errors: np.ndarray, words: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pooled WER (%) for each row of utterance ``weights``."""
    return 100.0 * (weights @ errors.mean(axis=0)) / (weights @ words)


def bootstrap_wer(
    errors: np.ndarray,
    words: np.ndarray,
    other_errors: Optional[np.ndarray] = None,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Pooled WER of ``errors`` (seeds, utterances) over ``words`` (utterances),
    or, given ``other_errors``, the paired difference WER(errors) - WER(other)."""
    errors, words = np.atleast_2d(np.asarray(errors, float)), np.asarray(words, float)
    if errors.shape[1] != words.shape[0]:
        raise ValueError(f"errors cover {errors.shape[1]} utterances, words {words.shape[0]}")
    ones = np.ones((1, words.shape[0]))
    weights = _resamples(words.shape[0], resamples, seed)
    value, samples = _pooled_wer(errors, words, ones), _pooled_wer(errors, words, weights)
    if other_errors is not None:
        other = np.atleast_2d(np.asarray(other_errors, float))
        if other.shape[1] != words.shape[0]:
            raise ValueError("both layouts must be scored on the same utterances")
        value = value - _pooled_wer(other, words, ones)
        samples = samples - _pooled_wer(other, words, weights)
    low, high = np.percentile(samples, [2.5, 97.5])
    return Interval(float(value[0]), float(low), float(high))


# one test set of a paired comparison: (errors of the arm (seed pairs, utterances),
# errors of the reference with the same seeds in the same order, reference words)
PairedSet = Tuple[np.ndarray, np.ndarray, np.ndarray]


def hierarchical_difference(
    sets: Sequence[PairedSet], resamples: int = 10_000, seed: int = 0
) -> Interval:
    """WER(arm) - WER(reference) in percent over ``sets`` pooled, with a 95 % interval
    that resamples seed pairs and, within each set, utterances."""
    checked = []
    for errors, other, words in sets:
        errors, other = np.atleast_2d(errors).astype(float), np.atleast_2d(other).astype(float)
        words = np.asarray(words, float)
        if errors.shape != other.shape or errors.shape[1] != words.shape[0]:
            raise ValueError(
                f"paired sets need equal shapes: {errors.shape}, {other.shape}, {words.shape}"
            )
        checked.append((errors - other, words))
    pairs = {d.shape[0] for d, _ in checked}
    if len(pairs) != 1:
        raise ValueError(f"every set needs the same seed pairs, got {sorted(pairs)} pairs")
    (count,) = pairs
    rng = np.random.default_rng(seed)
    # how often each seed pair is drawn in each resample: (resamples, pairs)
    drawn = rng.multinomial(count, np.full(count, 1.0 / count), size=resamples)
    numerator, denominator = np.zeros(resamples), np.zeros(resamples)
    value_errors, value_words = 0.0, 0.0
    for difference, words in checked:
        utterances = _resamples(words.shape[0], resamples, int(rng.integers(2**31)))
        # (resamples, pairs): each pair's errors summed over the resampled utterances
        per_pair = utterances @ difference.T
        numerator += (drawn * per_pair).sum(axis=1) / count
        denominator += utterances @ words
        value_errors += difference.mean(axis=0).sum()
        value_words += words.sum()
    samples = 100.0 * numerator / denominator
    low, high = np.percentile(samples, [2.5, 97.5])
    return Interval(100.0 * value_errors / value_words, float(low), float(high))


def per_pair_differences(sets: Sequence[PairedSet]) -> np.ndarray:
    """WER(arm) - WER(reference) in percent of each seed pair, ``sets`` pooled: (pairs,)."""
    errors = sum((np.atleast_2d(a) - np.atleast_2d(b)).sum(axis=1) for a, b, _ in sets)
    return 100.0 * np.asarray(errors, float) / sum(float(np.sum(w)) for _, _, w in sets)
