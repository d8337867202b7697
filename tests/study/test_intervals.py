"""Seed-paired intervals: they cover what they claim at 4, 8 and 16 pairs; Holm's
procedure; the pairs a half-width needs."""

import numpy as np
import pytest
from scipy import stats

from espnet_reuse.study.intervals import (
    PairedInterval,
    holm,
    paired_interval,
    pairs_for,
    verdicts,
)

TRUE = 0.5  # the arm's cost in WER points, in the population of seeds and speakers


def simulated_study(rng, pairs, sets=1, seed_sd=1.2, speaker_sd=0.6, speakers=10, per=20):
    """Paired sets of a study with known parts: each pair's seed shifts the difference by
    N(0, seed_sd) points on every utterance, each speaker by N(0, speaker_sd), each
    utterance by N(0, 2), each model's hypothesis of it by N(0, 4); errors are word
    counts times the difference rate (only differences enter the interval)."""
    seed = rng.normal(0, seed_sd, (pairs, 1))
    out = []
    for _ in range(sets):
        count = speakers * per
        words = 5 + rng.poisson(10, count)
        who = np.repeat([f"{k}" for k in range(speakers)], per)
        shared = TRUE + np.repeat(rng.normal(0, speaker_sd, speakers), per)
        rate = shared + rng.normal(0, 2.0, count) + seed + rng.normal(0, 4.0, (pairs, count))
        arm = rate / 100 * words
        out.append((arm, np.zeros_like(arm), words, who))
    return out


@pytest.mark.parametrize("pairs", [4, 8, 16])
@pytest.mark.parametrize("sets", [1, 2])
def test_the_interval_covers_95_percent_at_few_pairs(pairs, sets):
    rng = np.random.default_rng(pairs * 10 + sets)
    runs = 1500
    covered = 0
    for _ in range(runs):
        result = paired_interval(simulated_study(rng, pairs, sets))
        covered += result.low <= TRUE <= result.high
    assert abs(covered / runs - 0.95) <= 0.02, covered / runs


def test_the_seed_part_alone_covers_when_the_test_set_hardly_varies():
    rng = np.random.default_rng(3)
    covered = sum(
        (r := paired_interval(simulated_study(rng, 4, speaker_sd=0.05))).low <= TRUE <= r.high
        for _ in range(1500)
    )
    assert abs(covered / 1500 - 0.95) <= 0.02


def test_value_is_the_pooled_difference_and_both_parts_are_kept():
    rng = np.random.default_rng(0)
    sets = simulated_study(rng, 4, sets=2)
    result = paired_interval(sets)
    words = sum(w.sum() for _, _, w, _ in sets)
    assert result.value == pytest.approx(100 * sum(a.sum() for a, *_ in sets) / (4 * words))
    assert result.value == pytest.approx(np.mean(result.per_pair), abs=1e-3)
    assert result.speakers == 20 and result.utterances == 400 and result.test_df == 18
    assert result.seed_variance > 0 and result.test_variance > 0
    assert result.low < result.value < result.high
    # one pair: the seed part cannot be measured and is not made up
    single = paired_interval([(a[:1], b[:1], w, s) for a, b, w, s in sets])
    assert single.seed_variance == 0 and single.df == 18


def test_unpaired_input_is_refused():
    arm = np.ones((3, 4))
    with pytest.raises(ValueError, match="equal shapes"):
        paired_interval([(arm, arm[:2], np.ones(4), "aabb")])
    with pytest.raises(ValueError, match="3 speakers for 4 utterances"):
        paired_interval([(arm, arm, np.ones(4), "aab")])
    with pytest.raises(ValueError, match="same seed pairs"):
        paired_interval([(arm, arm, np.ones(4), "aabb"), (arm[:2], arm[:2], np.ones(4), "aabb")])


def test_holm_steps_down():
    # alpha 0.025 over three: 0.0083, then 0.0125, then 0.025
    assert holm({"a": 0.001, "b": 0.011, "c": 0.03}) == {"a": True, "b": True, "c": False}
    assert holm({"a": 0.009, "b": 0.011}) == {"a": True, "b": True}
    assert holm({"a": 0.02, "b": 0.001}) == {"a": True, "b": True}
    assert holm({"a": 0.02, "b": 0.02, "c": 0.001}) == {"a": False, "b": False, "c": True}


def _interval(value, half, df=7, test_variance=0.0):
    """A result whose interval is value +- half."""
    se = half / stats.t.ppf(0.975, df)
    pairs = [value] * (df + 1)
    return PairedInterval(
        value, value - half, value + half, pairs, se**2, test_variance, 0, df, 0, 0
    )


def test_verdicts_read_the_upper_bound_against_the_margin_with_holm():
    said = verdicts({"a": _interval(0.1, 0.3), "b": _interval(0.2, 0.6)}, margin=0.5)
    assert said["a"] == "non-inferior at margin 0.5"
    assert said["b"].startswith("not resolved, upper bound +0.8")
    said = verdicts({"c": _interval(1.5, 0.4), "e": _interval(0.4, 0.3)}, margin=0.5)
    assert said["c"] == "inferior (lower bound +1.10)"
    assert said["e"] == "inferior (lower bound +0.10)"
    said = verdicts({"d": _interval(0.3, 0.15)}, margin=0.5)
    assert said["d"] == "non-inferior at margin 0.5; worse than the baseline (lower bound +0.15)"


def test_pairs_for_shrinks_only_the_seed_part():
    # seeds only: the smallest P with t(P - 1) * s / sqrt(P) <= h
    seeds_only = _interval(0.0, 1.0, df=3)  # 4 pairs
    spread = seeds_only.seed_variance * 4
    classic = next(
        p for p in range(2, 1000) if stats.t.ppf(0.975, p - 1) * np.sqrt(spread / p) <= 0.5
    )
    assert pairs_for(seeds_only, 0.5) == classic
    # the test set's part does not shrink with pairs: more of them are needed
    rng = np.random.default_rng(0)
    result = paired_interval(simulated_study(rng, 4, speaker_sd=0.05))
    assert result.test_variance > 0
    target = 0.75 * result.half_width
    with_test = pairs_for(result, target)
    seeds_part = PairedInterval(0.0, 0, 0, [0.0] * 4, result.seed_variance, 0.0, 0, 3, 0, 0)
    as_if_seeds_only = pairs_for(seeds_part, target)
    assert with_test is not None and with_test > as_if_seeds_only
    assert pairs_for(result, result.half_width * 1.01) <= 4  # what it has suffices
    # narrower than the test set's part alone allows: more speakers, not pairs
    assert pairs_for(result, 1.96 * np.sqrt(result.test_variance) * 0.9) is None
