"""Error counts against hand-worked alignments, and ESPnet's table format."""

import pytest

from espnet_reuse.error_counts import (
    align,
    characters,
    count_errors,
    utterance_errors,
    word_error_rate,
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


def test_utterance_errors_add_up_to_the_set_counts():
    refs = [["a", "b", "c"], ["x", "y"], ["p", "q", "r", "s"]]
    hyps = [["a", "c", "d", "e"], ["x", "y"], ["q"]]
    output = align(refs, hyps)
    per_utt = utterance_errors(output)
    assert per_utt == [(3, 3), (0, 2), (3, 4)]
    total = count_errors(output)
    assert sum(e for e, _ in per_utt) == total.substitutions + total.deletions + total.insertions
    assert sum(n for _, n in per_utt) == total.words


def test_word_error_rate_of_id_keyed_tables():
    references = {"u1": "THE CAT SAT", "u2": "A BIG DOG", "u3": "NOT DECODED"}
    hypotheses = {"u2": "A DOG", "u1": "THE CAT SAT"}
    assert word_error_rate(references, hypotheses) == pytest.approx(100 / 6)
