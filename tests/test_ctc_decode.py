"""Greedy and prefix-beam CTC decoding on hand-built posteriors."""

import math

import pytest
import torch

from espnet_reuse.recipe.ctc_decode import DecodeConfig, PrefixBeamSearch, greedy_search

TOKENS = ["<blank>", "<unk>", "▁A", "B", "C", "<sos/eos>"]


def one_hot_log_probs(ids, vocab=len(TOKENS), peak=0.97):
    probs = torch.full((len(ids), vocab), (1 - peak) / (vocab - 1))
    probs[torch.arange(len(ids)), torch.tensor(ids)] = peak
    return probs.log()


def test_greedy_collapses_repeats_drops_blanks_and_ignores_padding():
    first = one_hot_log_probs([0, 2, 2, 0, 2, 3, 3, 0])
    second = one_hot_log_probs([4, 0, 4, 4, 2, 2, 2, 2])  # valid length 3
    hyps = greedy_search(torch.stack([first, second]), torch.tensor([8, 3]))
    assert hyps[0].token_ids == [2, 2, 3]
    assert hyps[1].token_ids == [4, 4]
    assert hyps[0].score == pytest.approx(8 * math.log(0.97), rel=1e-5)


def test_prefix_beam_agrees_with_greedy_on_peaked_posteriors():
    log_probs = torch.stack(
        [one_hot_log_probs([0, 2, 2, 0, 2, 3, 3, 0]), one_hot_log_probs([4, 0, 4, 4, 1, 0, 0, 0])]
    )
    lengths = torch.tensor([8, 6])
    beam = PrefixBeamSearch(TOKENS, beam_size=4)(log_probs, lengths)
    greedy = greedy_search(log_probs, lengths)
    assert [h.token_ids for h in beam] == [h.token_ids for h in greedy]


def test_prefix_beam_finds_the_likelier_labelling_that_greedy_misses():
    # two frames of P(blank)=0.6, P(A)=0.4: the best path is blank-blank (0.36)
    # but the labelling "A" sums to 0.64 over its three paths
    frame = torch.tensor([0.6, 0.0, 0.4, 0.0, 0.0, 0.0]).clamp_min(1e-8).log()
    log_probs = frame.repeat(1, 2, 1)
    lengths = torch.tensor([2])
    assert greedy_search(log_probs, lengths)[0].token_ids == []
    assert PrefixBeamSearch(TOKENS, beam_size=4)(log_probs, lengths)[0].token_ids == [2]


def test_decode_config_rejects_unknown_keys_and_decoders(tmp_path):
    path = tmp_path / "decode.yaml"
    path.write_text("decoder: prefix_beam\nbeam_size: 4\n")
    assert DecodeConfig.from_yaml(path).beam_size == 4
    path.write_text("decoder: greedy\nbeam: 4\n")
    with pytest.raises(ValueError, match="unknown keys \\['beam'\\]"):
        DecodeConfig.from_yaml(path)
    path.write_text("decoder: attention\n")
    with pytest.raises(ValueError, match="decoder must be one of"):
        DecodeConfig.from_yaml(path)


def test_lexicon_constrained_beam_outputs_only_lexicon_words(tmp_path):
    # frames: "▁A", then B (0.6) or C (0.4): greedy spells "AB", a word the
    # lexicon lacks; constrained to {AC, CB} the search must say "AC"
    probs = torch.full((3, len(TOKENS)), 1e-4)
    probs[0, 2] = 0.97
    probs[1, 3], probs[1, 4] = 0.6, 0.4
    probs[2, 0] = 0.97
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()[None]
    lengths = torch.tensor([3])
    assert greedy_search(log_probs, lengths)[0].token_ids == [2, 3]
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("AC ▁A C\nCB C B\n")
    hyp = PrefixBeamSearch(TOKENS, beam_size=4, lexicon=lexicon)(log_probs, lengths)[0]
    assert [TOKENS[i] for i in hyp.token_ids] == ["▁A", "C"]
    path = tmp_path / "decode.yaml"
    path.write_text("decoder: greedy\nlexicon: true\n")
    with pytest.raises(ValueError, match="lexicon: true needs decoder: prefix_beam"):
        DecodeConfig.from_yaml(path)
