import numpy as np
import pytest

from espnet_reuse.bootstrap import bootstrap_wer, hierarchical_difference, per_pair_differences


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


def _pairs(rng, pairs, utterances, seed_effects):
    """Errors of an arm and a reference over ``pairs`` seed pairs: the arm's error rate
    on every utterance moved by each pair's ``seed_effects``."""
    words = rng.integers(3, 10, utterances)
    rate = rng.uniform(0.05, 0.2, utterances)
    base = rng.binomial(words, rate, size=(pairs, utterances))
    arm = rng.binomial(words, np.clip(rate + np.asarray(seed_effects)[:, None], 0, 1))
    return arm, base, words


def test_hierarchical_difference_is_the_mean_of_the_seed_pairs_and_counts_their_spread():
    rng = np.random.default_rng(2)
    spread = _pairs(rng, 4, 400, [-0.04, 0.04, -0.04, 0.04])  # seeds disagree
    steady = _pairs(rng, 4, 400, [0.0, 0.0, 0.0, 0.0])
    for sets in ([spread], [steady]):
        result = hierarchical_difference(sets, resamples=2000)
        assert result.value == pytest.approx(per_pair_differences(sets).mean())
        assert result.low <= result.value <= result.high
    wide = hierarchical_difference([spread], resamples=2000)
    narrow = hierarchical_difference([steady], resamples=2000)
    utterances_only = bootstrap_wer(spread[0], spread[2], spread[1], resamples=2000)
    assert wide.high - wide.low > 1.5 * (utterances_only.high - utterances_only.low)
    assert wide.high - wide.low > 1.5 * (narrow.high - narrow.low)


def test_pooled_sets_weigh_every_word_once():
    rng = np.random.default_rng(3)
    clean, other = _pairs(rng, 3, 200, [0.0] * 3), _pairs(rng, 3, 300, [0.02] * 3)
    pooled = hierarchical_difference([clean, other], resamples=500)
    errors = sum((a - b).sum() / 3 for a, b, _ in (clean, other))
    assert pooled.value == pytest.approx(100 * errors / (clean[2].sum() + other[2].sum()))


def test_hierarchical_difference_refuses_unpaired_input():
    rng = np.random.default_rng(4)
    arm, base, words = _pairs(rng, 3, 50, [0.0] * 3)
    with pytest.raises(ValueError, match="equal shapes"):
        hierarchical_difference([(arm, base[:2], words)])
    with pytest.raises(ValueError, match="same seed pairs"):
        hierarchical_difference([(arm, base, words), (arm[:2], base[:2], words)])
