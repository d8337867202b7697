"""Adapted reuse (``reuse_head_mixing``, ``reuse_score_rank``) in every family: plain reuse at
initialisation, learnable, distributions over valid keys, batch-invariant, bf16, and
converted from a baseline."""

import pytest
import torch
import yaml

from espnet_reuse.convert import convert_experiment
from espnet_reuse.decoding.inference import load_asr_model
from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.encoder.map_adaptation import HeadMixing, ScoreCorrectionFunction
from espnet_reuse.encoder.shared_map_attention import SharedMapAttention

from helpers import CONF, SMALL_CONFORMER, SMALL_FAMILIES, write_model

SMALL = {"conformer": {k: v for k, v in SMALL_CONFORMER.items() if k != "input_size"}}
SMALL.update(SMALL_FAMILIES)
OPTIONS = {"mixing": {"reuse_head_mixing": True}, "rank": {"reuse_score_rank": 2}}
CASES = [(family, option) for family in SMALL for option in OPTIONS]


def build(family, seed=0, **options):
    torch.manual_seed(seed)
    return FAMILIES[family][1](20, **SMALL[family], reuse_groups=[2, 2], **options).eval()


def reuse_layers(encoder):
    attentions = (encoder.convention.attention_of(layer) for layer in encoder.encoders)
    return [a for a in attentions if isinstance(a, SharedMapAttention)]


def perturb(encoder) -> None:
    """Move every adaptation off its identity."""
    generator = torch.Generator().manual_seed(3)
    for attention in reuse_layers(encoder):
        if attention.head_mixing is not None:
            attention.head_mixing.weight.data.fill_(0.7)
            attention.head_mixing.logits.data.normal_(generator=generator)
        if attention.score_correction is not None:
            attention.score_correction.linear_k.weight.data.normal_(generator=generator)


@pytest.mark.parametrize("family, option", CASES)
def test_at_initialisation_adapted_reuse_is_plain_reuse(family, option, padded_batch):
    plain, adapted = build(family), build(family, **OPTIONS[option])
    missing, unexpected = adapted.load_state_dict(plain.state_dict(), strict=False)
    assert (
        not unexpected
        and missing
        and all(".head_mixing." in k or ".score_correction." in k for k in missing)
    )
    with torch.no_grad():
        expected, adapted_out = plain(*padded_batch)[0], adapted(*padded_batch)[0]
    if option == "mixing":  # exactly the identity
        assert torch.equal(adapted_out, expected)
    else:  # one renormalisation's rounding
        torch.testing.assert_close(adapted_out, expected, rtol=1e-5, atol=1e-6)
    perturb(adapted)
    with torch.no_grad():
        assert not torch.allclose(adapted(*padded_batch)[0], expected, atol=1e-4)


@pytest.mark.parametrize("family, option", CASES)
def test_applied_maps_are_distributions_over_valid_keys(family, option, padded_batch):
    encoder = build(family, **OPTIONS[option])
    perturb(encoder)
    feats, lengths = padded_batch
    with torch.no_grad():
        _, out_lengths, _ = encoder(feats, lengths)
    for attention in reuse_layers(encoder):
        attn = attention.attn.float()  # (batch, head, time1, time2)
        assert (attn >= 0).all()
        for b, n in enumerate(out_lengths.tolist()):
            assert attn[b, :, :n, n:].abs().sum() == 0  # padded keys
            sums = attn[b, :, :n, :n].sum(dim=-1)
            torch.testing.assert_close(sums, torch.ones_like(sums), rtol=0, atol=1e-5)


@pytest.mark.parametrize("option", OPTIONS)
def test_gradients_reach_the_new_parameters(option, padded_batch):
    encoder = build("conformer", **OPTIONS[option]).train()
    out, _, _ = encoder(*padded_batch)
    out.pow(2).mean().backward()
    for attention in reuse_layers(encoder):
        learnable = (
            attention.head_mixing.weight
            if option == "mixing"
            else attention.score_correction.linear_k.weight
        )
        assert learnable.grad is not None and learnable.grad.abs().sum() > 0


@pytest.mark.parametrize("option", OPTIONS)
def test_a_padded_batch_gives_each_utterance_its_own_output(option, padded_batch):
    encoder = build("e_branchformer", mask_padding=True, **OPTIONS[option])
    perturb(encoder)
    feats, lengths = padded_batch
    with torch.no_grad():
        batched, out_lengths, _ = encoder(feats, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone, alone_lengths, _ = encoder(feats[b : b + 1, :n], lengths[b : b + 1])
            frames = int(alone_lengths[0])
            assert frames == int(out_lengths[b])
            torch.testing.assert_close(batched[b, :frames], alone[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("option", OPTIONS)
def test_bf16_autocast_trains_with_finite_values(option, padded_batch):
    encoder = build("conformer", **OPTIONS[option]).train()
    perturb(encoder)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _, _ = encoder(*padded_batch)
    assert all(a.attn.dtype == torch.bfloat16 for a in reuse_layers(encoder))
    out.float().pow(2).mean().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in encoder.parameters())


@pytest.mark.parametrize("option", OPTIONS)
def test_conversion_from_a_baseline_with_each_option(option, varied_data, tmp_path):
    base = write_model(varied_data[0], CONF / "tiny_ctc.yaml", tmp_path / "base")
    outputs = {}
    for name, adaptation in (("plain", {}), (option, OPTIONS[option])):
        out = tmp_path / name
        _, initialised = convert_experiment(
            base / "config.yaml", base / "model.pth", [1, 2], out, adaptation=adaptation
        )
        assert all(i.endswith("(identity)") for i in initialised) and bool(initialised) == (
            name != "plain"
        )
        model = load_asr_model(out / "config.yaml", out / "model.pth", "cpu")
        speech = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            outputs[name] = model.encode(speech, torch.tensor([16000, 11000]))[0]
    torch.testing.assert_close(outputs[option], outputs["plain"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option", [None, *OPTIONS])
def test_one_seed_gives_a_baseline_and_a_reuse_arm_the_same_shared_parameters(
    option, varied_data, tmp_path
):
    config = yaml.safe_load((CONF / "tiny_ctc_reuse.yaml").read_text())
    config["encoder_conf"].update(OPTIONS[option] if option else {})
    (tmp_path / "reuse.yaml").write_text(yaml.safe_dump(config))
    arms = {
        name: torch.load(write_model(varied_data[0], path, tmp_path / name) / "model.pth")
        for name, path in (("base", CONF / "tiny_ctc.yaml"), ("reuse", tmp_path / "reuse.yaml"))
    }
    shared = [k for k in arms["reuse"] if k in arms["base"]]
    assert "ctc.ctc_lo.weight" in shared and len(shared) > 100
    assert [k for k in shared if not torch.equal(arms["base"][k], arms["reuse"][k])] == []


@pytest.mark.parametrize("option", OPTIONS)
def test_a_reuse_layers_attn_is_the_map_it_applied(option, padded_batch):
    """What the analysis reads (``.attn``) is the adapted map the layer multiplied V by."""
    encoder = build("conformer", **OPTIONS[option])
    perturb(encoder)
    layer = encoder.convention.attention_of(encoder.encoders[1])
    source = encoder.convention.attention_of(encoder.encoders[0])
    seen = {}
    layer.register_forward_hook(lambda module, args, out: seen.update(value=args[2], out=out))
    with torch.no_grad():
        encoder(*padded_batch)
        value = seen["value"]
        v = layer.linear_v(value).view(value.size(0), -1, layer.h, layer.d_k).transpose(1, 2)
        applied = (
            torch.matmul(layer.attn, v)
            .transpose(1, 2)
            .reshape(value.size(0), -1, layer.h * layer.d_k)
        )
        torch.testing.assert_close(layer.linear_out(applied), seen["out"], rtol=0, atol=1e-6)
    assert not torch.allclose(layer.attn, source.attn, atol=1e-4)


@pytest.mark.parametrize("option", OPTIONS)
def test_stochastic_depth_and_the_fused_path_with_each_option(option, padded_batch):
    def encoder(**extra):
        torch.manual_seed(0)
        return FAMILIES["conformer"][1](
            20, **SMALL["conformer"], reuse_groups=[1, 3], **OPTIONS[option], **extra
        )

    eager = encoder(stochastic_depth_rate=0.5)
    perturb(eager)
    fused = encoder(stochastic_depth_rate=0.5, fused_attention=True)
    fused.load_state_dict(eager.state_dict())
    with torch.no_grad():  # the single-layer group runs fused; the same function
        expected = eager.eval()(*padded_batch)[0]
        torch.testing.assert_close(fused.eval()(*padded_batch)[0], expected, rtol=1e-4, atol=1e-5)
    for seed in range(4):  # layers skipped at random in training: finite, learning
        torch.manual_seed(seed)
        out, _, _ = fused.train()(*padded_batch)
        out.pow(2).mean().backward()
        assert torch.isfinite(out).all()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in fused.parameters())
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0
        for name, p in fused.named_parameters()
        if ".head_mixing." in name or ".score_correction." in name
    )


def _reweighted(attn, q, k, valid, scale):
    """The score correction written out with autograd's own operations."""
    scores = (q @ k.transpose(-2, -1) * scale).masked_fill(~valid, float("-inf"))
    weighted = attn * (scores - scores.amax(dim=-1, keepdim=True)).exp()
    return weighted / weighted.sum(dim=-1, keepdim=True)


def test_the_score_corrections_backward_matches_autograd_and_keeps_one_map():
    generator = torch.Generator().manual_seed(0)
    valid = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    valid[1, ..., 5:] = False  # the second utterance has 5 frames
    logits = torch.randn(2, 3, 7, 7, generator=generator, dtype=torch.float64)
    attn = logits.masked_fill(~valid, float("-inf")).softmax(dim=-1).requires_grad_()
    q = torch.randn(2, 3, 7, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 3, 7, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    reweight = ScoreCorrectionFunction.apply
    assert torch.autograd.gradcheck(lambda a, q, k: reweight(a, q, k, valid, 0.7), (attn, q, k))
    out = reweight(attn, q, k, valid, 0.7)
    torch.testing.assert_close(out, _reweighted(attn, q, k, valid, 0.7))
    upstream = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    ours = torch.autograd.grad(out, (attn, q, k), upstream)
    theirs = torch.autograd.grad(_reweighted(attn, q, k, valid, 0.7), (attn, q, k), upstream)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a[a.isfinite()], b[a.isfinite()])
    # kept for backward: the inputs and the result, no (time1, time2) scores of its own
    maps = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: maps.append(t.shape) or t, lambda t: t):
        reweight(attn, q, k, valid, 0.7)
    assert sorted(maps).count(attn.shape) == 2  # attn and the result


def test_head_mixing_keeps_no_copy_of_the_map_for_backward():
    mixing = HeadMixing(4)
    mixing.weight.data.fill_(0.5)
    attn = torch.rand(3, 4, 5, 6).softmax(dim=-1).requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        mixed = mixing(attn)
    large = [t for t in saved if t.numel() >= attn.numel()]
    assert large and all(
        t.untyped_storage().data_ptr() == attn.untyped_storage().data_ptr() for t in large
    )
    expected = torch.einsum("gh,bhqk->bgqk", mixing.matrix(), attn)
    torch.testing.assert_close(mixed, expected)
