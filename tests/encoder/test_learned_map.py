"""Input-independent (learned) attention maps in ``conformer_reuse``."""

import pytest
import torch

from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.learned_map import PATTERNS, LearnedRelativeMap
from espnet_reuse.encoder.shared_map_attention import SharedMapAttention

from helpers import SMALL_CONFORMER


def test_pattern_initialisation_gives_the_paper_patterns():
    maps = LearnedRelativeMap(len(PATTERNS), max_offset=8)(10, None)[0]  # (H, T, T)
    by_name = dict(zip(PATTERNS, maps))
    assert torch.all(by_name["identity"].diagonal() > 0.99)
    assert torch.all(by_name["previous"].diagonal(-1) > 0.99)
    assert torch.all(by_name["next"].diagonal(1) > 0.99)
    left = by_name["left"][5]
    assert torch.allclose(left[:5], torch.full((5,), left[0].item())) and left[5:].sum() < 0.01
    assert by_name["right"][5, :6].sum() < 0.01
    assert torch.allclose(by_name["global"], torch.full((10, 10), 0.1))


def test_masking_and_offsets_beyond_the_range():
    module = LearnedRelativeMap(2, max_offset=2, init="uniform")
    with torch.no_grad():
        module.logits.copy_(torch.randn(2, 5))
    mask = torch.tensor([[[True] * 7], [[True] * 4 + [False] * 3]])
    attn = module(7, mask)
    assert attn.shape == (2, 2, 7, 7)
    assert torch.all(attn[1, :, :, 4:] == 0)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 2, 7))
    # keys 3 and 4 frames right of query 0 share the edge logit (+2)
    assert torch.allclose(attn[0, :, 0, 3], attn[0, :, 0, 4])


def test_profile_initialisation_reproduces_the_profile():
    profile = torch.rand(3, 9) + 0.1
    module = LearnedRelativeMap(3, max_offset=4, init="uniform")
    module.set_from_profile(profile)
    centre = module(9, None)[0, :, 4]  # query 4 sees every offset -4..4 once
    assert torch.allclose(centre, profile / profile.sum(-1, keepdim=True), atol=1e-5)


def build(**overrides):
    torch.manual_seed(0)
    return ConformerReuseEncoder(**{**SMALL_CONFORMER, **overrides})


def test_encoder_with_learned_groups(padded_batch):
    encoder = build(reuse_groups=[2, 2], learned_map_groups=[1]).train()
    assert "learned_maps.1.logits" in encoder.state_dict()
    assert isinstance(encoder.encoders[2].self_attn, SharedMapAttention)
    assert not hasattr(encoder.encoders[2].self_attn, "linear_q")
    out, _, _ = encoder(*padded_batch)
    out.pow(2).mean().backward()
    assert encoder.learned_maps["1"].logits.grad.abs().sum() > 0
    assert encoder.encoders[0].self_attn.linear_q.weight.grad.abs().sum() > 0
    assert encoder.encoders[3].self_attn.attn is encoder.encoders[2].self_attn.attn
    expected = encoder.learned_maps["1"](out.size(1), None)
    assert torch.allclose(encoder.encoders[2].self_attn.attn[0], expected[0])


def test_learned_groups_respect_padding():
    encoder = build(
        reuse_groups=[1, 3], learned_map_groups=[0, 1], use_cnn_module=False, input_layer="linear"
    ).eval()
    feats = torch.randn(2, 40, 20)
    with torch.no_grad():
        batched, lens, _ = encoder(feats, torch.tensor([40, 17]))
        alone, _, _ = encoder(feats[1:, :17], torch.tensor([17]))
    assert (batched[1, :17] - alone[0]).abs().max() < 1e-5


@pytest.mark.parametrize("groups", [[2], [0, 0], [-1]])
def test_bad_learned_groups_are_errors(groups):
    with pytest.raises(ValueError, match="learned_map_groups"):
        build(reuse_groups=[2, 2], learned_map_groups=groups)
