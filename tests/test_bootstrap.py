import numpy as np
import pytest

from espnet_reuse.bootstrap import bootstrap_wer


def test_pooled_wer_is_errors_over_words_across_seeds():
    words = np.array([4, 6, 10])
    errors = np.array([[1, 0, 2], [3, 0, 0]])  # two seeds
    result = bootstrap_wer(errors, words, resamples=200)
    assert result.value == pytest.approx(100 * 6 / 40)
    assert result.low <= result.value <= result.high


def test_interval_narrows_with_more_utterances():
    rng = np.random.default_rng(0)

    def width(n):
        words = rng.integers(3, 10, n)
        result = bootstrap_wer(rng.binomial(words, 0.2)[None], words, resamples=2000)
        return result.high - result.low

    assert width(2000) < width(50) / 3


def test_paired_difference_cancels_shared_utterance_difficulty():
    rng = np.random.default_rng(1)
    words = rng.integers(3, 10, 300)
    hard = rng.random(300) < 0.3  # the same utterances are hard for both systems
    base = np.where(hard, words // 2, 0)[None]
    other = base + (rng.random(300) < 0.05)[None]  # a few more errors
    paired = bootstrap_wer(other, words, base)
    alone = bootstrap_wer(other, words)
    assert paired.value == pytest.approx(alone.value - bootstrap_wer(base, words).value)
    assert paired.low > 0  # the small but consistent difference is detected
    assert paired.high - paired.low < (alone.high - alone.low) / 3


def test_identical_systems_differ_by_exactly_zero():
    words = np.array([5, 5, 5, 5])
    errors = np.array([[1, 0, 2, 0]])
    diff = bootstrap_wer(errors, words, errors)
    assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0)


def test_mismatched_utterances_are_an_error():
    with pytest.raises(ValueError, match="utterances"):
        bootstrap_wer(np.zeros((1, 3)), np.ones(4))
    with pytest.raises(ValueError, match="same utterances"):
        bootstrap_wer(np.zeros((1, 3)), np.ones(3), np.zeros((1, 2)))
