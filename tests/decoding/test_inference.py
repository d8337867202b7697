"""Batched inference (``espnet_reuse.decoding.inference``): CTC search on hand-built posteriors,
and whole ESPnet ASR models encoding padded batches exactly as one by one."""

import math

import pytest
import torch

from espnet_reuse.decoding.inference import (
    PrefixBeamSearch,
    encoded_batches,
    greedy_search,
    load_asr_model,
    load_batch,
)
from espnet_reuse.encoder.padding import encode_batch

from helpers import CONF, TINY_REUSE_CONFIG, write_model

TOKENS = ["<blank>", "<unk>", "▁A", "B", "C", "<sos/eos>"]


def one_hot_log_probs(ids, peak=0.97):
    vocab = len(TOKENS)
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


@pytest.mark.parametrize("config", ["tiny_ctc.yaml", "tiny_ctc_reuse.yaml"])
def test_encode_batch_equals_encoding_alone(varied_data, config, tmp_path):
    corpus, _, wav, lengths = varied_data
    exp = write_model(corpus, CONF / config, tmp_path / "exp")
    model = load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu")
    utts = sorted(wav)
    speech, speech_lengths = load_batch(wav, utts)
    with torch.no_grad():
        batch, batch_lengths = encode_batch(model, speech, speech_lengths)
        for i, utt in enumerate(utts):
            alone, alone_lengths = model.encode(
                speech[i : i + 1, : lengths[utt]], speech_lengths[i : i + 1]
            )
            assert int(batch_lengths[i]) == int(alone_lengths[0])
            torch.testing.assert_close(
                batch[i, : int(alone_lengths[0])], alone[0], atol=2e-5, rtol=1e-5
            )
        # ESPnet's own batched encode differs: padding leaks into shorter utterances
        leaky, leaky_lengths = model.encode(speech, speech_lengths)
    shared = min(leaky.size(1), batch.size(1))
    assert not torch.equal(leaky_lengths, batch_lengths) or not torch.allclose(
        leaky[:, :shared], batch[:, :shared], atol=1e-3
    )


def test_greedy_hypotheses_do_not_depend_on_the_batch(varied_data, tmp_path):
    corpus, _, wav, lengths = varied_data
    exp = write_model(corpus, TINY_REUSE_CONFIG, tmp_path / "exp")
    model = load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu")

    def hypotheses(batch_size):
        hyps = {}
        with torch.no_grad():
            for utts, enc, enc_lengths in encoded_batches(model, wav, lengths, batch_size, "cpu"):
                for utt, hyp in zip(utts, greedy_search(model.ctc.log_softmax(enc), enc_lengths)):
                    hyps[utt] = hyp.token_ids
        return hyps

    alone = hypotheses(1)
    assert any(alone.values())  # an untrained model still says something
    assert hypotheses(len(wav)) == alone == hypotheses(2)


def test_lexicon_beam_with_characters_separates_words_by_space(tmp_path):
    chars = ["<blank>", "<unk>", "<space>", "A", "C", "D", "G", "O", "T", "<sos/eos>"]
    path = ["C", "A", "T", "<space>", "D", "O", "G"]
    probs = torch.full((len(path), len(chars)), 1e-3)
    for t, token in enumerate(path):
        probs[t, chars.index(token)] = 0.9
    probs[5, chars.index("A")] = 0.95  # "DAG" is likelier, but not a word
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()[None]
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("CAT C A T\nDOG D O G\n")
    hyp = PrefixBeamSearch(chars, beam_size=8, lexicon=lexicon)(log_probs, torch.tensor([7]))[0]
    assert [chars[i] for i in hyp.token_ids] == path
