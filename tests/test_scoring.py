"""Error counts against hand-worked alignments, and ESPnet's table format."""

import pytest

from espnet_reuse.recipe.kaldi_data import DataError
from espnet_reuse.recipe.scoring import (
    align,
    characters,
    count_errors,
    score_decode_dir,
    words,
)


def counts_of(refs, hyps, units=words):
    return count_errors(align([units(r) for r in refs], [units(h) for h in hyps]))


def test_substitution_and_insertion():
    c = counts_of(["A B C D"], ["A X C D E"])
    assert (c.words, c.correct, c.substitutions, c.deletions, c.insertions) == (4, 3, 1, 0, 1)
    assert c.error_rate == pytest.approx(50.0)
    assert c.sentence_errors == 1


def test_deletions_and_sentence_errors_over_several_utterances():
    c = counts_of(["A B C", "D E", "F"], ["A C", "D E", ""])
    assert (c.sentences, c.words, c.correct) == (3, 6, 4)
    assert (c.substitutions, c.deletions, c.insertions) == (0, 2, 0)
    assert c.sentence_errors == 2


def test_characters_count_spaces_as_units():
    assert characters("AB  C") == ["A", "B", "<space>", "C"]
    c = counts_of(["AB C"], ["ABC"], units=characters)
    assert (c.words, c.correct, c.deletions) == (4, 3, 1)


def test_row_is_espnet_results_format():
    c = counts_of(["A B C D", "E F"], ["A X C D E", "E F"])
    assert c.row("decode/test") == "|decode/test|2|6|83.3|16.7|0.0|16.7|33.3|50.0|\n"


def test_score_decode_dir_writes_result_files(tmp_path):
    decode = tmp_path / "decode_x" / "test_clean"
    decode.mkdir(parents=True)
    (decode / "text").write_text("u1 THE CAT SAT\nu2 A DOG\n")
    (decode / "token").write_text("u1 ▁THE ▁CAT ▁SAT\nu2 ▁A ▁DOG\n")
    ref = tmp_path / "ref"
    ref.write_text("u1 THE CAT SAT\nu2 A BIG DOG\n")
    results = score_decode_dir(decode, ref, lambda t: ["▁" + w for w in t.split()])
    assert results["wer"].deletions == 1 and results["wer"].words == 6
    assert results["ter"].deletions == 1
    assert results["cer"].words == len("THE CAT SAT") + len("A BIG DOG")
    report = (decode / "score_wer" / "result.txt").read_text()
    assert "id: u2" in report and "id: u1" not in report
    assert "REF: A BIG DOG" in report and "HYP: A *** DOG" in report
    (decode / "text").write_text("u1 THE CAT SAT\n")
    with pytest.raises(DataError, match="lacks 1 utterances"):
        score_decode_dir(decode, ref, None)
