"""``StridedRelPositionAttention`` and ``FusedRelPositionAttention`` against ESPnet's
``RelPositionMultiHeadedAttention``."""

import copy

import pytest
import torch

from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
    rel_shift,
)
from espnet_reuse.espnet_api import (
    LegacyRelPositionMultiHeadedAttention,
    RelPositionalEncoding,
    RelPositionMultiHeadedAttention,
    make_pad_mask,
)


def attention_pair(dropout_rate: float = 0.0):
    torch.manual_seed(0)
    espnet = RelPositionMultiHeadedAttention(4, 32, dropout_rate)
    strided = StridedRelPositionAttention.convert_in_place(copy.deepcopy(espnet))
    assert type(strided) is StridedRelPositionAttention
    return espnet, strided


def inputs(lengths):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(len(lengths), max(lengths), 32, generator=generator)
    x, pos_emb = RelPositionalEncoding(32, 0.0)(x)
    mask = ~make_pad_mask(torch.tensor(lengths))[:, None, :]
    return x, pos_emb, mask


@pytest.mark.parametrize("time", [1, 2, 7, 40])
def test_rel_shift_is_espnets_shift(time):
    scores = torch.randn(3, 2, time, 2 * time - 1)
    expected = RelPositionMultiHeadedAttention(2, 4, 0.0).rel_shift(scores)
    assert torch.equal(rel_shift(scores), expected)
    assert torch.equal(rel_shift(scores[1:]), expected[1:])  # non-zero storage offset


@pytest.mark.parametrize("lengths", [[40], [40, 31, 9], [12, 0]], ids=["one", "padded", "empty"])
def test_forward_is_bitwise_espnet(lengths):
    espnet, strided = attention_pair()
    x, pos_emb, mask = inputs(lengths)
    with torch.no_grad():
        expected = espnet(x, x, x, pos_emb, mask)
        actual = strided(x, x, x, pos_emb, mask)
    assert torch.equal(actual, expected)
    assert torch.equal(strided.attn, espnet.attn)


def test_training_step_is_bitwise_espnet():
    """Same dropout draws and outputs; gradients equal up to summation order."""
    espnet, strided = attention_pair(dropout_rate=0.2)
    x, pos_emb, mask = inputs([40, 31, 9])
    outputs = []
    for module in (espnet, strided):
        torch.manual_seed(5)
        xi = x.clone().requires_grad_()
        out = module.train()(xi, xi, xi, pos_emb, mask)
        out.pow(2).sum().backward()
        outputs.append((out, xi.grad, {n: p.grad for n, p in module.named_parameters()}))
    (out_e, dx_e, grads_e), (out_s, dx_s, grads_s) = outputs
    assert torch.equal(out_s, out_e)
    assert torch.allclose(dx_s, dx_e, rtol=1e-5, atol=1e-6)
    assert grads_e.keys() == grads_s.keys()
    for name in grads_e:
        assert torch.allclose(grads_s[name], grads_e[name], rtol=1e-5, atol=1e-6), name


def test_bfloat16_autocast_matches_espnet():
    espnet, strided = attention_pair()
    x, pos_emb, mask = inputs([40, 31, 9])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = espnet(x, x, x, pos_emb, mask)
        actual = strided(x, x, x, pos_emb, mask)
    assert actual.dtype == expected.dtype
    assert torch.equal(actual, expected)


def test_other_attention_kinds_are_left_alone():
    legacy = LegacyRelPositionMultiHeadedAttention(4, 32, 0.0)
    zero_triu = RelPositionMultiHeadedAttention(4, 32, 0.0, zero_triu=True)
    assert (
        type(StridedRelPositionAttention.convert_in_place(legacy))
        is LegacyRelPositionMultiHeadedAttention
    )
    assert (
        type(StridedRelPositionAttention.convert_in_place(zero_triu))
        is RelPositionMultiHeadedAttention
    )


@pytest.mark.parametrize("lengths", [[40], [40, 31, 9], [12, 0]], ids=["one", "padded", "empty"])
def test_fused_forward_equals_espnet(lengths):
    espnet, _ = attention_pair()
    fused = FusedRelPositionAttention.convert_in_place(copy.deepcopy(espnet))
    assert type(fused) is FusedRelPositionAttention
    x, pos_emb, mask = inputs(lengths)
    with torch.no_grad():
        expected = espnet(x, x, x, pos_emb, mask)
        actual = fused(x, x, x, pos_emb, mask)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
    assert fused.attn is None  # the fused kernel keeps no map


def test_fused_gradients_equal_espnets():
    espnet, _ = attention_pair()
    fused = FusedRelPositionAttention.convert_in_place(copy.deepcopy(espnet))
    x, pos_emb, mask = inputs([40, 31, 9])
    grads = []
    for module in (espnet, fused):
        xi = x.clone().requires_grad_()
        module.train()(xi, xi, xi, pos_emb, mask).pow(2).sum().backward()
        grads.append(xi.grad)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-4, rtol=1e-4)
