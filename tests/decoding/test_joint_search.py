"""The batched joint CTC/attention beam search (``espnet_reuse.decoding.joint_search``): ESPnet's
hypotheses and scores at every batch size, its CTC prefix scores, its n-best, one host
synchronisation a step, and models it cannot decode refused with a reason."""

import pytest
import torch

from espnet_reuse import espnet_api
from espnet_reuse.decoding.attention_search import EspnetJointBeamSearch
from espnet_reuse.decoding.ctc_prefix_score import CTCPrefixScorer
from espnet_reuse.decoding.decoder_step import DecoderStep, _embed_last, _embeds_by_position
from espnet_reuse.decoding.inference import encoded_batches, load_asr_model, load_batch, recognise
from espnet_reuse.decoding.joint_search import BatchJointSearch
from espnet_reuse.registration import speech2text

from helpers import TINY_CONFIG, write_model


def decoded(model, wav, lengths, batch_size, search):
    """Utterance id -> (token ids, score)."""
    hyps = recognise(model, wav, lengths, batch_size, "cpu", search)
    return {utt: (hyp.token_ids, hyp.score) for utt, hyp in hyps.items()}


OPTIONS = [  # beam sizes, CTC weights, length bonus, maxlenratio 0 (end detection) and > 0
    dict(beam_size=4, ctc_weight=0.3, penalty=0.5),
    dict(beam_size=3, ctc_weight=0.5),
    dict(beam_size=4, ctc_weight=1.0),
    dict(beam_size=4, ctc_weight=0.0),
    dict(beam_size=5, ctc_weight=0.3, maxlenratio=0.3),
    dict(beam_size=2, ctc_weight=0.3, maxlenratio=0.5, minlenratio=0.2),
]


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_batched_search_gives_espnets_hypotheses_at_every_batch_size(varied_data, hybrid, options):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    espnet = decoded(model, wav, lengths, 1, EspnetJointBeamSearch(model, **options))
    search = BatchJointSearch(model, **options)
    for batch_size in (1, 2, len(wav)):  # all: lengths from 0.3 to 3 s in one batch
        ours = decoded(model, wav, lengths, batch_size, search)
        assert {u: ids for u, (ids, _) in ours.items()} == {
            u: ids for u, (ids, _) in espnet.items()
        }, batch_size
        for utt, (_, score) in ours.items():
            assert score == pytest.approx(espnet[utt][1], rel=1e-5, abs=1e-3), utt
    assert any(ids for ids, _ in espnet.values())  # an untrained model still says something


def test_batched_search_gives_speech2texts_words(varied_data, hybrid):
    _, _, wav, lengths = varied_data
    model, exp = hybrid
    options = dict(beam_size=3, ctc_weight=0.3, penalty=0.2)
    ours = decoded(model, wav, lengths, len(wav), BatchJointSearch(model, **options))
    espnet = speech2text()(
        str(exp / "config.yaml"), str(exp / "model.pth"), device="cpu", lm_weight=0.0, **options
    )
    for utt in sorted(wav):
        speech, _ = load_batch(wav, [utt])
        assert ours[utt][0] == espnet(speech[0])[0][2], utt


def test_nbest_is_espnets_nbest(varied_data, hybrid):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    search = BatchJointSearch(model, beam_size=4, ctc_weight=0.3, nbest=3)
    espnet = espnet_api.joint_beam_search(model, 4, 0.3, 0.0)
    with torch.inference_mode():
        for _, enc, enc_lengths in encoded_batches(model, wav, lengths, len(wav), "cpu"):
            for found, x, length in zip(search.nbest(enc, enc_lengths), enc, enc_lengths):
                expected = espnet(x=x[:length], maxlenratio=0.0, minlenratio=0.0)[:3]
                assert [h.token_ids for h in found] == [h.yseq[1:-1].tolist() for h in expected]
                scores = [h.score for h in found]
                assert scores == pytest.approx([float(h.score) for h in expected], abs=1e-3)
                assert len(found) == 3 and scores == sorted(scores, reverse=True)


def espnet_prefix_scores(log_probs, steps, scoring_ids, eos):
    """ESPnet's CTCPrefixScoreTH on one utterance: the scores of ``steps`` successive
    extensions of one hypothesis by the tokens 1, 2, ..."""
    scorer = espnet_api.backend_module("ctc_prefix_score", espnet_api.NETS_ROOTS)
    impl = scorer.CTCPrefixScoreTH(log_probs[None].clone(), torch.tensor([len(log_probs)]), 0, eos)
    yseq, state, scores = [eos], None, []
    for step in range(steps):
        ids = scoring_ids[step][None] if scoring_ids is not None else None
        score, full = impl([torch.tensor(yseq)], state, ids)
        scores.append(score[0])
        token = step + 1
        r, log_psi, f_min, f_max, idmap = full
        column = idmap[0, token] if idmap is not None else token
        state = (r[:, :, 0, column][:, :, None], log_psi[0, token][None, None], f_min, f_max)
        yseq.append(token)
    return scores


@pytest.mark.parametrize("pre_beam", [None, 4])
def test_prefix_scores_of_a_padded_batch_are_espnets_per_utterance(pre_beam):
    generator = torch.Generator().manual_seed(0)
    vocab, eos, steps, frames = 9, 8, 4, [13, 7, 10]
    log_probs = torch.randn(len(frames), max(frames), vocab, generator=generator).log_softmax(-1)
    scoring_ids = None
    if pre_beam:  # the tokens scored at each step: the next token among them, never blank
        scoring_ids = torch.stack(
            [
                torch.tensor([s + 1, *[t for t in range(1, vocab) if t != s + 1][: pre_beam - 1]])
                for s in range(steps)
            ]
        )
    scorer = CTCPrefixScorer(log_probs, torch.tensor(frames), 1, 0, eos)
    state = scorer.init_state()
    yseq = torch.full((len(frames), 1), eos)  # <sos> is <eos> in ESPnet
    for step in range(steps):
        ids = scoring_ids[step].expand(len(frames), -1) if pre_beam else None
        scores, full = scorer.score(yseq, state, ids)
        for b, length in enumerate(frames):
            expected = espnet_prefix_scores(log_probs[b, :length], steps, scoring_ids, eos)[step]
            torch.testing.assert_close(scores[b], expected, rtol=1e-6, atol=1e-4)
        tokens = torch.full((len(frames),), step + 1)
        state = scorer.select(full, ids, torch.arange(len(frames)), tokens)
        yseq = torch.cat((yseq, tokens[:, None]), 1)


def test_a_step_synchronises_with_the_host_once(varied_data, hybrid, monkeypatch):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    search = BatchJointSearch(model, beam_size=3, ctc_weight=0.3)
    counts = {"sync": 0, "steps": 0}
    step = DecoderStep.score

    def counted_step(*args, **kwargs):
        counts["steps"] += 1
        return step(*args, **kwargs)

    def counted(name):
        method = getattr(torch.Tensor, name)

        def call(self, *args, **kwargs):
            counts["sync"] += 1
            return method(self, *args, **kwargs)

        return call

    with torch.inference_mode():
        ((_, enc, enc_lengths),) = encoded_batches(model, wav, lengths, len(wav), "cpu")
        monkeypatch.setattr(DecoderStep, "score", counted_step)
        for name in ("tolist", "item", "cpu", "numpy", "__bool__", "__int__", "__float__"):
            monkeypatch.setattr(torch.Tensor, name, counted(name))
        search.nbest(enc, enc_lengths)
    assert counts["steps"] > 10
    # one per step, the lengths at the start, five arrays of ended hypotheses at the end
    # (cpu and numpy each): a second synchronisation a step would double the count
    assert counts["sync"] <= counts["steps"] + 1 + 2 * 5


def test_a_ctc_model_is_refused_with_a_reason(varied_data, tmp_path):
    exp = write_model(varied_data[0], TINY_CONFIG, tmp_path / "exp")
    model = load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu")
    with pytest.raises(ValueError, match="no attention decoder"):
        BatchJointSearch(model)


def test_bad_options_and_decoders_are_refused_with_a_reason(hybrid):
    model = hybrid[0]
    with pytest.raises(ValueError, match="ctc_weight must lie in"):
        BatchJointSearch(model, ctc_weight=-0.1)
    with pytest.raises(ValueError, match="beam_size must lie in"):
        BatchJointSearch(model, beam_size=len(model.token_list) + 1)
    with pytest.raises(ValueError, match="nbest must be"):
        BatchJointSearch(model, nbest=0)
    decoder = model.decoder
    try:
        model.decoder = torch.nn.Linear(2, 2)
        with pytest.raises(ValueError, match="needs a Transformer-type decoder.*espnet_joint_beam"):
            BatchJointSearch(model)
    finally:
        model.decoder = decoder


def test_decoder_step_scores_as_espnets_decoder_step(hybrid):
    model = hybrid[0]
    generator = torch.Generator().manual_seed(0)
    lengths, hyps = [17, 9], 3
    memory = torch.randn(2, 17, model.encoder.output_size(), generator=generator)
    valid = torch.arange(17)[None, :] < torch.tensor(lengths)[:, None]
    yseq = torch.randint(1, len(model.token_list), (2 * hyps, 5), generator=generator)
    yseq[:, 0] = model.sos
    step, cache, espnet_caches = (
        DecoderStep(model.decoder, memory, valid[:, None], hyps),
        None,
        [None, None],
    )
    with torch.inference_mode():
        for length in range(1, yseq.size(1) + 1):
            ours, cache = step.score(yseq[:, :length], cache)
            for b in range(2):  # ESPnet's step on each utterance's own frames, unpadded
                rows = slice(b * hyps, (b + 1) * hyps)
                theirs, espnet_caches[b] = model.decoder.forward_one_step(
                    yseq[rows, :length],
                    espnet_api.subsequent_mask(length).unsqueeze(0),
                    memory[b : b + 1, : lengths[b]].expand(hyps, -1, -1),
                    cache=espnet_caches[b],
                )
                torch.testing.assert_close(ours[rows], theirs, rtol=1e-5, atol=1e-5)


def test_the_last_position_alone_is_embedded_as_in_the_whole_prefix(hybrid):
    embed = hybrid[0].decoder.embed
    assert _embeds_by_position(embed)  # ESPnet's default decoder input takes the short path
    generator = torch.Generator().manual_seed(0)
    yseq = torch.randint(0, len(hybrid[0].token_list), (6, 9), generator=generator)
    with torch.inference_mode():
        for length in (1, 2, 9):
            assert torch.equal(
                _embed_last(embed, yseq[:, :length]), embed(yseq[:, :length])[:, -1:]
            )


def test_without_the_key_value_cache_the_hypotheses_are_the_same(varied_data, hybrid):
    _, _, wav, lengths = varied_data
    model = hybrid[0]
    options = dict(beam_size=3, ctc_weight=0.3)
    plain = BatchJointSearch(model, **options, cache_keys_values=False)
    assert not plain.cache and BatchJointSearch(model, **options).cache
    cached = decoded(model, wav, lengths, len(wav), BatchJointSearch(model, **options))
    uncached = decoded(model, wav, lengths, len(wav), plain)
    # the same tokens; the scores to float tolerance (keys and values are projected in
    # other shapes, which a matmul may sum in another order)
    assert {u: ids for u, (ids, _) in uncached.items()} == {
        u: ids for u, (ids, _) in cached.items()
    }
    for utt, (_, score) in cached.items():
        assert uncached[utt][1] == pytest.approx(score, rel=1e-6)


def test_an_utterance_without_frames_gets_an_empty_hypothesis(hybrid):
    model = hybrid[0]
    encoder_output = torch.randn(3, 12, model.encoder.output_size())
    search = BatchJointSearch(model, beam_size=3)
    with torch.inference_mode():
        alone = search(encoder_output[:1], torch.tensor([12]))
        found = search(encoder_output, torch.tensor([12, 0, 7]))
    assert found[0].token_ids == alone[0].token_ids and found[0].score == alone[0].score
    assert found[1].token_ids == [] and found[1].score == float("-inf")
