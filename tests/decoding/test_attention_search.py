"""Decoding with the attention decoder (``espnet_reuse.decoding.attention_search``): ESPnet's
joint CTC/attention beam search gives ``Speech2Text``'s words, attention rescoring
scores as the decoder does step by step, and neither depends on the batch."""

import pytest
import torch

from espnet_reuse.decoding.attention_search import (
    AttentionRescoring,
    EspnetJointBeamSearch,
    attention_scores,
)
from espnet_reuse.decoding.inference import (
    PrefixBeamSearch,
    encoded_batches,
    load_asr_model,
    load_batch,
    recognise,
)
from espnet_reuse.registration import speech2text

from helpers import TINY_CONFIG, write_model


def token_ids(model, wav, lengths, batch_size, search):
    hyps = recognise(model, wav, lengths, batch_size, "cpu", search)
    return {utt: hyp.token_ids for utt, hyp in hyps.items()}


def test_joint_beam_search_gives_speech2text_words(varied_data, hybrid):
    _, _, wav, lengths = varied_data
    model, exp = hybrid
    options = dict(beam_size=4, ctc_weight=0.3, penalty=0.5)
    ours = token_ids(model, wav, lengths, 1, EspnetJointBeamSearch(model, **options))
    espnet = speech2text()(
        str(exp / "config.yaml"), str(exp / "model.pth"), device="cpu", lm_weight=0.0, **options
    )
    for utt in sorted(wav):
        speech, _ = load_batch(wav, [utt])
        assert ours[utt] == espnet(speech[0])[0][2], utt
    assert any(ours.values())  # an untrained model still says something


@pytest.mark.parametrize("search", [EspnetJointBeamSearch, AttentionRescoring])
def test_attention_decoders_do_not_depend_on_the_batch(varied_data, hybrid, search):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    decode = search(model, beam_size=4)
    alone = token_ids(model, wav, lengths, 1, decode)
    assert token_ids(model, wav, lengths, len(wav), decode) == alone
    assert token_ids(model, wav, lengths, 2, decode) == alone


def stepwise_score(model, memory, ids):
    """Log-probability of ``ids`` then ``<eos>``, one decoder step at a time (the path
    ESPnet's beam search takes)."""
    total, state, prefix = 0.0, None, [model.sos]
    for token in [*ids, model.eos]:
        log_probs, state = model.decoder.score(torch.tensor(prefix), state, memory)
        total += float(log_probs[token])
        prefix.append(token)
    return total


def test_rescoring_pass_equals_the_decoder_step_by_step(hybrid):
    model = hybrid[0]
    memory = torch.randn(
        17, model.encoder.output_size(), generator=torch.Generator().manual_seed(0)
    )
    sequences = [[5, 7, 7, 9], [], [3], [11, 4, 6, 8, 10, 12, 2]]  # padded to the longest
    with torch.no_grad():
        scores = attention_scores(model, memory, sequences)
        expected = [stepwise_score(model, memory, ids) for ids in sequences]
    torch.testing.assert_close(scores, torch.tensor(expected), rtol=1e-5, atol=1e-4)


def test_rescoring_weights_pick_the_ctc_or_the_attention_best(varied_data, hybrid):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    ctc_only = token_ids(model, wav, lengths, 2, AttentionRescoring(model, 4, ctc_weight=1.0))
    assert ctc_only == token_ids(model, wav, lengths, 2, PrefixBeamSearch(model.token_list, 4))
    attention_only = token_ids(model, wav, lengths, 2, AttentionRescoring(model, 4, ctc_weight=0.0))
    with torch.no_grad():
        for utts, enc, enc_lengths in encoded_batches(model, wav, lengths, 2, "cpu"):
            nbests = PrefixBeamSearch(model.token_list, 4, nbest=4).nbest(
                model.ctc.log_softmax(enc), enc_lengths
            )
            for i, (utt, candidates) in enumerate(zip(utts, nbests)):
                ids = [c.token_ids for c in candidates]
                scores = attention_scores(model, enc[i, : enc_lengths[i]], ids)
                assert attention_only[utt] == ids[int(scores.argmax())]
    assert attention_only != ctc_only  # the weights make a difference on this model


def test_prefix_nbest_is_distinct_and_best_first(varied_data, hybrid):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    search = PrefixBeamSearch(model.token_list, 8, nbest=8)
    speech, speech_lengths = load_batch(wav, sorted(wav))
    with torch.no_grad():
        enc, enc_lengths = model.encode(speech[:1, : speech_lengths[0]], speech_lengths[:1])
        (candidates,) = search.nbest(model.ctc.log_softmax(enc), enc_lengths)
    assert len(candidates) > 1
    assert len({tuple(c.token_ids) for c in candidates}) == len(candidates)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)


@pytest.mark.parametrize("search", [EspnetJointBeamSearch, AttentionRescoring])
def test_a_ctc_model_is_refused_with_a_reason(varied_data, tmp_path, search):
    exp = write_model(varied_data[0], TINY_CONFIG, tmp_path / "exp")
    model = load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu")
    with pytest.raises(ValueError, match="no attention decoder"):
        search(model)


@pytest.mark.parametrize("search", [EspnetJointBeamSearch, AttentionRescoring])
def test_a_ctc_weight_outside_0_1_is_refused(hybrid, search):
    with pytest.raises(ValueError, match="ctc_weight must lie in"):
        search(hybrid[0], ctc_weight=1.5)
