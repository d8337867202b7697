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

Those intervals take the seeds as given; differences over seed pairs, with both
the seeds' and the test set's parts, are ``study.intervals``'s.
"""

from dataclasses import dataclass
from typing import Optional

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
