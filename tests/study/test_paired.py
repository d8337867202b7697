"""Arms with map adaptation, and their seed-paired comparison with the baseline."""

import hashlib
import json

import numpy as np
import pytest

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.encoder.reuse_groups import adapted_layout_name, parse_adapted_layout
from espnet_reuse.study.experiments import Experiment, experiment_config, parse_arm
from espnet_reuse.study.paired import (
    compare_arms,
    endpoint_verdicts,
    paired_table,
    plot_differences,
)
from espnet_reuse.study.report import (
    SetErrors,
    per_utterance,
    pool_per_utterance,
    read_per_utterance,
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


def _matrix(rng, seeds, words, rate):
    speakers = [f"s{i % 10}" for i in range(len(words))]
    utts = [f"{s}-1-{i:04d}" for i, s in enumerate(speakers)]
    return SetErrors(rng.binomial(words, rate, size=(seeds, len(words))), words, utts, speakers)


def test_arms_are_paired_with_the_baseline_on_the_seeds_they_share():
    rng = np.random.default_rng(0)
    words = rng.integers(3, 9, 100)
    sets = ("dev_clean", "test_clean", "dev_other")  # no test_other: no "other" endpoint
    baseline = {s: _matrix(rng, 3, words, 0.1) for s in sets}
    arm = {s: _matrix(rng, 2, words, 0.1) for s in sets}
    matrices = {"baseline": baseline, "[2, 2, 2]": arm}
    seeds = {"baseline": [0, 1, 2], "[2, 2, 2]": [2, 0]}  # arm seed 1 not finished
    (comparison,) = compare_arms(matrices, seeds, "baseline")
    assert comparison.row == "[2, 2, 2]" and comparison.seeds == [2, 0]
    # the endpoint of one set is named by the endpoint; dev sets are compared, not decisive
    assert set(comparison.sets) == {"dev_clean", "clean", "dev_other"}
    clean = comparison.sets["clean"]
    errors = [
        arm["test_clean"].errors[i].sum() - baseline["test_clean"].errors[b].sum()
        for i, b in ((0, 2), (1, 0))
    ]
    assert clean.per_pair == [round(100 * e / words.sum(), 3) for e in errors]
    assert clean.value == pytest.approx(np.mean(errors) * 100 / words.sum())
    assert clean.speakers == 10
    table = paired_table([comparison])
    assert "|[2, 2, 2]|2 (2, 0)|clean (test_clean)|" in table
    assert table.index("|clean (test_clean)|") < table.index("|dev_clean|")  # endpoints first
    verdict = endpoint_verdicts([comparison])["clean"]["[2, 2, 2]"]
    assert verdict in table and verdict.startswith(("non-inferior", "not resolved", "inferior"))
    # a relative margin: the baseline's errors scaled
    relative = compare_arms(matrices, seeds, "baseline", baseline_scale=1.05)[0].sets["clean"]
    scaled = [
        arm["test_clean"].errors[i].sum() - 1.05 * baseline["test_clean"].errors[b].sum()
        for i, b in ((0, 2), (1, 0))
    ]
    assert relative.value == pytest.approx(np.mean(scaled) * 100 / words.sum())
    unpaired = {"baseline": [0], "[2, 2, 2]": [5, 6]}
    assert compare_arms(matrices, unpaired, "baseline") == []


def test_the_per_utterance_record_gives_back_the_same_comparison(tmp_path):
    rng = np.random.default_rng(2)
    words = rng.integers(3, 9, 40)
    matrices = {
        row: {s: _matrix(rng, n, words, 0.1) for s in ("test_clean", "test_other")}
        for row, n in (("baseline", 3), ("[3, 3]", 3))
    }
    seeds = {"baseline": [0, 1, 2], "[3, 3]": [1, 2, 0]}
    wav_scps = {}
    for name in ("test_clean", "test_other"):
        lines = []
        for utt in matrices["baseline"][name].utts:
            audio = tmp_path / f"{name}-{utt}.flac"
            audio.write_bytes(utt.encode())
            lines.append(f"{utt} {audio}\n")
        wav_scps[name] = tmp_path / f"{name}.scp"
        wav_scps[name].write_text("".join(lines))
    kept = json.loads(json.dumps(per_utterance(matrices, seeds, wav_scps)))
    assert kept["test_clean"]["sha256"][0] == hashlib.sha256(b"s0-1-0000").hexdigest()
    again, again_seeds = read_per_utterance(kept)
    assert again_seeds == seeds
    assert paired_table(compare_arms(again, again_seeds, "baseline")) == paired_table(
        compare_arms(matrices, seeds, "baseline")
    )


def test_the_speed_difference_figure_has_a_panel_per_pool(tmp_path):
    rng = np.random.default_rng(1)
    words = rng.integers(3, 9, 50)
    sets = ("dev_clean", "test_clean", "dev_other", "test_other")
    matrices = {
        row: {s: _matrix(rng, 2, words, 0.1) for s in sets} for row in ("baseline", "[3, 3]")
    }
    seeds = {"baseline": [0, 1], "[3, 3]": [0, 1]}
    comparisons = compare_arms(matrices, seeds, "baseline")
    assert {"clean", "other"} <= set(comparisons[0].sets)
    path = tmp_path / "speed_difference.png"
    plot_differences(comparisons, {"[3, 3]": Ratio(1.4, 1.3, 1.5)}, path, "demo")
    assert path.stat().st_size > 10_000
    nothing = tmp_path / "none.png"
    plot_differences(comparisons, {}, nothing, "no speed measured")
    assert not nothing.exists()


def test_studies_pool_only_where_their_test_audio_is_identical(tmp_path):
    rng = np.random.default_rng(3)
    words = rng.integers(3, 9, 20)

    def record(seeds):
        matrices = {r: {"test_clean": _matrix(rng, 2, words, 0.1)} for r in ("baseline", "[6]")}
        return per_utterance(matrices, {"baseline": seeds, "[6]": seeds}, scp)

    scp = {"test_clean": tmp_path / "wav.scp"}
    audio = [tmp_path / f"{i}.flac" for i in range(20)]
    for i, path in enumerate(audio):
        path.write_bytes(bytes([i]))
    utts = _matrix(rng, 1, words, 0.1).utts
    scp["test_clean"].write_text("".join(f"{u} {a}\n" for u, a in zip(utts, audio)))
    first, rerun = record([0, 1]), record([0, 1])  # the same seeds on another machine
    pooled = pool_per_utterance({"study": first, "rerun": rerun})
    matrices, seeds = read_per_utterance(pooled)
    assert seeds["[6]"] == ["study:0", "study:1", "rerun:0", "rerun:1"]
    assert matrices["[6]"]["test_clean"].errors.shape == (4, 20)
    (comparison,) = compare_arms(matrices, seeds, "baseline")
    assert len(comparison.seeds) == 4
    audio[3].write_bytes(b"other audio")
    with pytest.raises(ValueError, match="test_clean: the audio of other and study differs"):
        pool_per_utterance({"study": first, "other": record([0, 1])})
