"""Attention maps under mixed precision: one map per group, finite everywhere.

CPU autocast runs softmax in bfloat16, CUDA autocast in float32; the
``cuda_softmax_policy`` fixture reproduces CUDA's policy on the CPU, the case in
which every matmul reading a float32 map would make its own half-precision copy.
"""

import copy

import pytest
import torch

from espnet_reuse.benchmark.models import ideal_encoder
from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
)
from espnet_reuse.espnet_api import (
    ConformerEncoder,
    RelPositionalEncoding,
    RelPositionMultiHeadedAttention,
)

from helpers import SMALL_CONFORMER, SMALL_FAMILIES

HEADS = SMALL_CONFORMER["attention_heads"]


@pytest.fixture
def cuda_softmax_policy(monkeypatch):
    """``torch.softmax`` in float32 while autocast is on, as CUDA's autocast runs it."""
    softmax = torch.softmax

    def float32_softmax(x, dim, *args, **kwargs):
        if torch.is_autocast_enabled(x.device.type):
            return softmax(x.float(), dim)
        return softmax(x, dim, *args, **kwargs)

    monkeypatch.setattr(torch, "softmax", float32_softmax)


def attention_inputs(lengths, dtype=torch.float32):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(len(lengths), max(lengths), 32, generator=generator)
    x, pos_emb = RelPositionalEncoding(32, 0.0)(x)
    mask = (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None])[:, None, :]
    return x.to(dtype), pos_emb.to(dtype), mask


def attentions():
    torch.manual_seed(0)
    espnet = RelPositionMultiHeadedAttention(4, 32, 0.0)
    strided = StridedRelPositionAttention.convert_in_place(copy.deepcopy(espnet))
    fused = FusedRelPositionAttention.convert_in_place(copy.deepcopy(espnet))
    return espnet, {"strided": strided, "fused": fused}


@pytest.mark.parametrize("kind", ["strided", "fused"])
def test_float16_rows_without_keys_are_zero_not_nan(kind):
    espnet, ours = attentions()
    x, pos_emb, mask = attention_inputs([12, 0, 7])
    # make the empty utterance's scores all negative: the dtype's minimum added to
    # them overflows to -inf in float16, a row of -inf is NaN after softmax
    generator = torch.Generator().manual_seed(2)
    for _ in range(100):
        u = torch.randn(32, generator=generator)
        if espnet.linear_q(u) @ espnet.linear_k(u) < -1:
            break
    x[1] = 8 * u
    module = ours[kind].half()
    x16, pos16 = x.half().requires_grad_(), pos_emb.half()
    out = module(x16, x16, x16, pos16, mask)
    assert torch.isfinite(out).all()
    # the empty utterance's rows get no attention output: its context is zero
    context = module.linear_out.bias.expand_as(out[1])
    assert torch.equal(out[1], context)
    out.float().pow(2).sum().backward()
    assert torch.isfinite(x16.grad).all()
    with torch.no_grad():
        expected = espnet(x, x, x, pos_emb, mask)
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=2e-2)


def training_pass(module, x, pos_emb, mask, dtype=None):
    """Output, input gradient and parameter gradients of one training forward/backward."""
    xi = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = module.train()(xi, xi, xi, pos_emb, mask)
    out.float().pow(2).sum().backward()
    grads = {n: p.grad.float() for n, p in module.named_parameters()}
    module.zero_grad(set_to_none=True)
    return [out.float(), xi.grad.float(), *grads.values()]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", ["strided", "fused"])
def test_autocast_outputs_and_gradients_are_finite_and_as_close_as_espnets(
    kind, dtype, cuda_softmax_policy
):
    """Against float32, ours errs no more than ESPnet's own attention under autocast."""
    espnet, ours = attentions()
    x, pos_emb, mask = attention_inputs([40, 31, 0])
    reference = training_pass(espnet, x, pos_emb, mask)
    espnets = training_pass(espnet, x, pos_emb, mask, dtype)
    actual = training_pass(ours[kind], x, pos_emb, mask, dtype)
    for ref, theirs, mine in zip(reference, espnets, actual):
        assert torch.isfinite(mine).all()
        scale = ref.abs().max()
        assert (mine - ref).abs().max() <= 2 * (theirs - ref).abs().max() + 1e-3 * scale


def test_fused_attention_hands_the_kernel_a_compute_dtype_mask(monkeypatch):
    _, ours = attentions()
    x, pos_emb, mask = attention_inputs([40, 31, 9])
    seen = {}
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(query, key, value, attn_mask=None, **kwargs):
        seen.update(query=query.dtype, mask=attn_mask.dtype)
        return sdpa(query, key, value, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours["fused"](x, x, x, pos_emb, mask)
    assert seen == {"query": torch.bfloat16, "mask": torch.bfloat16}


def saved_maps(encoder, feats, lengths):
    """(B, H, T, T) tensors kept for backward by one training forward under bf16 autocast:
    dtype name -> number of distinct storages."""
    kept = {}
    frames = encoder.embed(feats, None)[0][0].size(1)
    map_size = feats.size(0) * HEADS * frames * frames

    def pack(tensor):  # matmul may save a map as a (B * H, T, T) view
        if tensor.numel() == map_size:
            kept[tensor.untyped_storage().data_ptr()] = str(tensor.dtype).split(".")[-1]
        return tensor

    encoder.train()
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast("cpu", dtype=torch.bfloat16),
    ):
        encoder(feats, lengths)
    return {dtype: list(kept.values()).count(dtype) for dtype in set(kept.values())}


def build(cls, **overrides):
    torch.manual_seed(0)
    return cls(**{**SMALL_CONFORMER, "num_blocks": 8, "use_cnn_module": False, **overrides})


@pytest.mark.parametrize(
    "groups, learned", [([4, 4], []), ([2, 2, 2, 2], []), ([1, 3, 4], [2])], ids=str
)
def test_one_map_per_group_is_kept_under_autocast(
    groups, learned, padded_batch, cuda_softmax_policy
):
    # softmax keeps its float32 output; the matmuls share one bf16 copy per group
    espnet = build(ConformerEncoder)
    ideal = ideal_encoder(espnet, groups)
    assert saved_maps(espnet, *padded_batch) == {"float32": 8, "bfloat16": 8}
    reuse = build(ConformerReuseEncoder, reuse_groups=groups, learned_map_groups=learned)
    assert saved_maps(reuse, *padded_batch) == {"float32": len(groups), "bfloat16": len(groups)}
    if not learned:
        assert saved_maps(ideal, *padded_batch) == saved_maps(reuse, *padded_batch)


def test_without_autocast_the_map_is_not_copied(padded_batch):
    reuse = build(ConformerReuseEncoder, reuse_groups=[4, 4]).train()
    reuse(*padded_batch)
    maps = [layer.self_attn.attn for layer in reuse.encoders]
    assert all(m.dtype == torch.float32 for m in maps)
    assert all(m is maps[0] for m in maps[:4]) and all(m is maps[4] for m in maps[4:])


def test_one_map_per_group_in_the_e_branchformer(padded_batch, cuda_softmax_policy):
    espnet_class, reuse_class = FAMILIES["e_branchformer"]
    conf = {**SMALL_FAMILIES["e_branchformer"], "num_blocks": 8}
    torch.manual_seed(0)
    assert saved_maps(espnet_class(20, **conf), *padded_batch) == {"float32": 8, "bfloat16": 8}
    torch.manual_seed(0)
    reuse = reuse_class(20, reuse_groups=[4, 4], **conf)
    assert saved_maps(reuse, *padded_batch) == {"float32": 2, "bfloat16": 2}
