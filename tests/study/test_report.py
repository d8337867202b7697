import pytest

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.study.report import (
    LayoutResult,
    comparison_table,
    cost_table,
    error_matrices,
    error_matrix,
    score_sets,
    wer_table,
)


def write(path, lines):
    path.write_text("".join(f"{utt} {text}\n" for utt, text in lines.items()))
    return path


@pytest.fixture
def sets(tmp_path):
    ref = write(tmp_path / "text", {"u1": "A B C", "u2": "D E", "u3": "F G H I"})
    write(tmp_path / "utt2spk", {"u1": "s1", "u2": "s1", "u3": "s2"})
    hyps = {
        "base0": {"u1": "A B C", "u2": "D", "u3": "F G H I"},
        "base1": {"u1": "A X C", "u2": "D E", "u3": "F G H I"},
        "reuse0": {"u1": "A B C", "u2": "D E", "u3": "F G"},
        "reuse1": {"u1": "A B C", "u2": "D E", "u3": "F G H I J"},
    }
    paths = {name: write(tmp_path / name, h) for name, h in hyps.items()}
    return ref, paths


def test_error_matrix_counts_each_seed_and_utterance(sets):
    ref, paths = sets
    errors, words, utts, speakers = error_matrix(ref, [paths["base0"], paths["base1"]])
    assert errors.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert words.tolist() == [3, 2, 4]
    assert utts == ["u1", "u2", "u3"] and speakers == ["s1", "s1", "s2"]


def test_scores_pool_seeds_and_pair_with_the_baseline(sets):
    ref, paths = sets
    matrices = error_matrices(
        {"test": ref},
        {
            "baseline": {"test": [paths["base0"], paths["base1"]]},
            "[3]": {"test": [paths["reuse0"], paths["reuse1"]]},
        },
    )
    scores = score_sets(matrices, "baseline")
    base, reuse = scores["baseline"]["test"], scores["[3]"]["test"]
    assert base.wer.value == pytest.approx(100 * 2 / 18)
    assert reuse.wer.value == pytest.approx(100 * 3 / 18)
    assert reuse.per_seed == pytest.approx([100 * 2 / 9, 100 * 1 / 9])
    assert base.difference is None
    assert reuse.difference.value == pytest.approx(100 * 1 / 18)
    table = wer_table(
        [LayoutResult("baseline", 3, 3, [0, 1], scores["baseline"])]
        + [LayoutResult("[3]", 1, 3, [0, 1], scores["[3]"])]
    )
    assert "|baseline|3 / 3|2|test|3|9|11.1 [" in table
    assert "|[3]|1 / 3|2|test|3|9|16.7 [" in table and "|+5.6 [" in table
    assert "|22.2 / 11.1|" in table
    comparison = comparison_table(matrices, [("[3]", "baseline")])
    assert comparison.splitlines()[0] == "|layout|against|Δ WER test [95 % CI]|"
    assert comparison.splitlines()[2].startswith(f"|[3]|baseline|{reuse.difference.signed}")


def test_missing_hypotheses_are_an_error(sets, tmp_path):
    ref, _ = sets
    short = write(tmp_path / "short", {"u1": "A B C"})
    with pytest.raises(ValueError, match="lacks 2 utterances"):
        error_matrix(ref, [short])


def test_cost_table_gives_each_seed_and_the_paired_speedups():
    rows = [
        LayoutResult("baseline", 6, 6, [0, 1], {}, [[0.2] * 5, [0.3] * 5], [[60.0], [70.0]]),
        LayoutResult("[6]", 1, 6, [0, 1], step_seconds=[[0.1] * 5, []], epoch_seconds=[[50.0], []]),
    ]
    speed = {"30 s": {"baseline": Ratio(1.0, 1.0, 1.0), "[6]": Ratio(1.5, 1.4, 1.6)}}
    table = cost_table(rows, speed)
    assert "speed-up: 30 s|" in table.splitlines()[0]
    assert "|baseline|6 / 6|0.200 [0.200, 0.200] / 0.300 [0.300, 0.300]|60.0 / 70.0|1.00x" in table
    assert "|[6]|1 / 6|0.100 [0.100, 0.100] / -|50.0 / -|1.50x [1.40, 1.60]|" in table
