"""Arms with map adaptation, and their seed-paired comparison with the baseline."""

import numpy as np
import pytest

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.bootstrap import Interval
from espnet_reuse.encoder.reuse_groups import adapted_layout_name, parse_adapted_layout
from espnet_reuse.study.experiments import Experiment, experiment_config, parse_arm
from espnet_reuse.study.paired import (
    PairedDifference,
    compare_arms,
    paired_table,
    plot_differences,
    seeds_for,
    verdict,
)

BASELINE = {"encoder": "conformer", "encoder_conf": {"num_blocks": 6}}


def test_arms_are_typed_as_layouts_with_adaptation_options():
    assert parse_arm("baseline", 6) == (None, ())
    assert parse_arm("2,2,2", 6) == ((2, 2, 2), ())
    mixed = parse_arm("2,2,2+reuse_head_mixing", 6)
    assert mixed == ((2, 2, 2), (("reuse_head_mixing", True),))
    both = parse_arm("3x2+reuse_score_rank=4+reuse_head_mixing", 6)
    assert both == ((3, 3), (("reuse_head_mixing", True), ("reuse_score_rank", 4)))
    for wrong in ("2,2,2+reuse_score_rank=0", "2,2,2+mixing", "2,2,2+reuse_head_mixing=no"):
        with pytest.raises(ValueError, match="reuse_head_mixing or \\+reuse_score_rank=R"):
            parse_arm(wrong, 6)
    with pytest.raises(ValueError, match="sums to 4"):
        parse_arm("2,2+reuse_head_mixing", 6)
    with pytest.raises(ValueError, match="no reuse layers to adapt"):
        parse_arm("baseline+reuse_head_mixing", 6)
    # the benchmark's name of an adapted layout reads back as the same arm
    groups, adaptation = parse_adapted_layout("2,2,2+reuse_score_rank=4+reuse_head_mixing")
    assert adapted_layout_name(groups, adaptation) == "2x3+reuse_head_mixing+reuse_score_rank=4"
    assert parse_adapted_layout(adapted_layout_name(groups, adaptation)) == (groups, adaptation)


def test_adapted_arms_have_their_own_names_rows_and_configs():
    arms = [
        parse_arm(s, 6) for s in ("2,2,2", "2,2,2+reuse_head_mixing", "2,2,2+reuse_score_rank=4")
    ]
    experiments = [Experiment(g, 0, adaptation=a) for g, a in arms]
    assert [e.name for e in experiments] == [
        "train_2-2-2_seed0",
        "train_2-2-2_mix_seed0",
        "train_2-2-2_rank4_seed0",
    ]
    assert [e.row for e in experiments] == [
        "[2, 2, 2]",
        "[2, 2, 2] + head mixing",
        "[2, 2, 2] + rank-4 scores",
    ]
    config = experiment_config(BASELINE, experiments[2])
    assert config["encoder"] == "conformer_reuse" and config["seed"] == 0
    assert config["encoder_conf"] == {
        "num_blocks": 6,
        "reuse_groups": [2, 2, 2],
        "reuse_score_rank": 4,
    }


def test_verdicts_follow_the_margin_and_the_interval():
    assert verdict(Interval(0.1, -0.3, 0.4)) == "as accurate (within 0.5)"
    assert verdict(Interval(0.1, -0.3, 0.6)) == "not resolved"
    assert verdict(Interval(-0.6, -1.0, -0.2)) == "better"
    assert verdict(Interval(0.9, 0.3, 1.5)) == "worse"
    assert verdict(Interval(0.2, 0.1, 0.4)) == "worse, by less than 0.5"
    assert verdict(Interval(0.1, -0.3, 0.6), margin=1.0) == "as accurate (within 1)"


def test_seeds_needed_grow_with_the_square_of_the_half_width():
    narrow = PairedDifference(Interval(0.0, -0.4, 0.4), [])
    wide = PairedDifference(Interval(0.0, -1.0, 1.0), [])
    assert seeds_for(narrow, 4) == 4
    assert seeds_for(wide, 4) == 16  # half-width 1.0 -> 0.5: four times the pairs


def _matrix(rng, seeds, words, rate):
    return rng.binomial(words, rate, size=(seeds, len(words))), words


def test_arms_are_paired_with_the_baseline_on_the_seeds_they_share():
    rng = np.random.default_rng(0)
    words = rng.integers(3, 9, 100)
    sets = ("dev_clean", "test_clean", "dev_other")  # no test_other: no "other" pool
    baseline = {s: _matrix(rng, 3, words, 0.1) for s in sets}
    arm = {s: _matrix(rng, 2, words, 0.1) for s in sets}
    matrices = {"baseline": baseline, "[2, 2, 2]": arm}
    seeds = {"baseline": [0, 1, 2], "[2, 2, 2]": [2, 0]}  # arm seed 1 not finished
    (comparison,) = compare_arms(matrices, seeds, "baseline", resamples=500)
    assert comparison.row == "[2, 2, 2]" and comparison.seeds == [2, 0]
    assert set(comparison.sets) == {*sets, "clean"}
    clean = comparison.sets["clean"]
    errors = [
        sum(arm[s][0][i].sum() - baseline[s][0][b].sum() for s in ("dev_clean", "test_clean"))
        for i, b in ((0, 2), (1, 0))
    ]
    expected = [round(100 * e / (2 * words.sum()), 2) for e in errors]
    assert clean.per_pair == expected
    assert clean.difference.value == pytest.approx(np.mean(errors) * 100 / (2 * words.sum()))
    table = paired_table([comparison])
    assert "|[2, 2, 2]|2 (2, 0)|clean|" in table
    assert table.index("|clean|") < table.index("|dev_clean|")  # pools first
    unpaired = {"baseline": [0], "[2, 2, 2]": [5, 6]}
    assert compare_arms(matrices, unpaired, "baseline", resamples=10) == []


def test_the_speed_difference_figure_has_a_panel_per_pool(tmp_path):
    rng = np.random.default_rng(1)
    words = rng.integers(3, 9, 50)
    sets = ("dev_clean", "test_clean", "dev_other", "test_other")
    matrices = {
        row: {s: _matrix(rng, 2, words, 0.1) for s in sets} for row in ("baseline", "[3, 3]")
    }
    seeds = {"baseline": [0, 1], "[3, 3]": [0, 1]}
    comparisons = compare_arms(matrices, seeds, "baseline", resamples=100)
    assert {"clean", "other"} <= set(comparisons[0].sets)
    path = tmp_path / "speed_difference.png"
    plot_differences(comparisons, {"[3, 3]": Ratio(1.4, 1.3, 1.5)}, path, "demo")
    assert path.stat().st_size > 10_000
    nothing = tmp_path / "none.png"
    plot_differences(comparisons, {}, nothing, "no speed measured")
    assert not nothing.exists()
