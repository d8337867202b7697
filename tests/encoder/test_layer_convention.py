"""Each family's layer convention is declared once and checked; reuse's hooks are kept and
removable, after which the encoder is bitwise ESPnet's again."""

from typing import List, Optional

import pytest
import torch

from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.encoder.layer_convention import (
    LAYER_CONVENTIONS,
    LayerConvention,
    layer_convention,
)
from espnet_reuse.encoder.padding import is_batch_invariant
from espnet_reuse.encoder.rel_position_attention import StridedRelPositionAttention
from espnet_reuse.espnet_api import ConformerEncoder

from helpers import SMALL_ENCODERS as SMALL
from helpers import assert_bitwise_equal_encoders


def build(family, reuse, **options):
    espnet_class, reuse_class = FAMILIES[family]
    torch.manual_seed(0)
    return (reuse_class if reuse else espnet_class)(20, **SMALL[family], **options)


def test_every_family_declares_its_layers():
    assert {espnet_class for espnet_class, _ in FAMILIES.values()} == set(LAYER_CONVENTIONS)


@pytest.mark.parametrize("family", SMALL)
def test_a_familys_declaration_holds_for_espnets_layers(family):
    espnet_class = FAMILIES[family][0]
    for reuse in (False, True):
        encoder = build(family, reuse)
        assert layer_convention(encoder) is LAYER_CONVENTIONS[espnet_class]


def test_a_missing_declared_attribute_is_named():
    encoder = build("conformer", False)
    layer = encoder.encoders[1]
    layer.attention_moved = layer.self_attn
    del layer.self_attn
    with pytest.raises(TypeError, match="layer 1 of ConformerEncoder .* has no 'self_attn', the "):
        layer_convention(encoder)


def test_a_wrong_call_form_is_named(monkeypatch):
    wrong = LayerConvention("self_attn", "norm_mha", "x")  # the Conformer's is x_input
    monkeypatch.setitem(LAYER_CONVENTIONS, ConformerEncoder, wrong)
    with pytest.raises(TypeError, match=r"is called with \['x_input', 'mask'\], but its family"):
        build("conformer", True)


def test_an_encoder_without_a_declaration_is_refused():
    encoder = torch.nn.Module()
    encoder.encoders = torch.nn.ModuleList()
    with pytest.raises(TypeError, match="Module declares no layer convention; .* ConformerEncoder"):
        layer_convention(encoder)


def hooks(module: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._forward_hooks_with_kwargs)
        for m in module.modules()
    )


@pytest.mark.parametrize("family", SMALL)
def test_removing_reuse_gives_espnets_encoder_bitwise(family, padded_batch):
    base = build(family, False)
    reuse = build(family, True, mask_padding=True, fused_attention=True)
    feats, lengths = padded_batch
    with torch.no_grad():
        masked = reuse(feats, lengths)[0]
        espnet = base(feats, lengths)[0]
    assert not torch.equal(masked, espnet)  # padding masked (and fused attention) differ
    assert hooks(reuse) > 0 and len(reuse.reuse_hooks) == hooks(reuse)
    reuse.remove_reuse()
    assert hooks(reuse) == 0 and not is_batch_invariant(reuse)
    assert_bitwise_equal_encoders(base, reuse, feats, lengths)


@pytest.mark.parametrize("family", SMALL)
def test_the_hooks_of_shared_maps_are_kept(family):
    reuse = build(family, True, reuse_groups=[2, 2])
    # a pre-hook per reuse layer; a publishing hook per source of an ESPnet class (the
    # project's relative-position attention publishes its map itself)
    attention = [reuse.convention.attention_of(layer) for layer in reuse.encoders]
    hooked = sum(not isinstance(attention[i], StridedRelPositionAttention) for i in (0, 2))
    assert hooked == (2 if family == "transformer" else 0)
    assert len(reuse.reuse_hooks) == hooks(reuse) == 2 + hooked
    assert reuse.map_users == [(0, 0), (1, 0), (2, 1), (3, 1)]
    with pytest.raises(ValueError, match=r"layers \[1, 3\] reuse a map .* cannot be removed"):
        reuse.remove_reuse()


def test_the_docs_worked_example_adds_a_family(monkeypatch, padded_batch):
    from espnet2.asr.encoder.multiconvformer_encoder import MultiConvConformerEncoder

    from espnet_reuse.encoder.reuse import ReuseEncoder, ReuseOptions
    from espnet_reuse.encoder.shared_map_attention import SharedMapAttention

    # 1. the declaration (docs/encoder.md, "Adding a family")
    convention = LayerConvention("self_attn", "norm_mha", "x_input")
    monkeypatch.setitem(LAYER_CONVENTIONS, MultiConvConformerEncoder, convention)

    # 2. the thin class, its signature cut to what this test sets
    class MultiConvConformerReuseEncoder(ReuseEncoder, MultiConvConformerEncoder):
        def __init__(
            self,
            input_size: int,
            output_size: int = 32,
            linear_units: int = 48,
            num_blocks: int = 4,
            reuse_groups: Optional[List[int]] = None,
            learned_map_groups: List[int] = [],
            learned_map_max_offset: int = 64,
            learned_map_init: str = "patterns",
            mask_padding: bool = False,
            fused_attention: bool = False,
            reuse_head_mixing: bool = False,
            reuse_score_rank: int = 0,
        ):
            options = ReuseOptions(
                reuse_groups=reuse_groups,
                learned_map_groups=learned_map_groups,
                learned_map_max_offset=learned_map_max_offset,
                learned_map_init=learned_map_init,
                mask_padding=mask_padding,
                fused_attention=fused_attention,
                reuse_head_mixing=reuse_head_mixing,
                reuse_score_rank=reuse_score_rank,
            ).checked(num_blocks)
            self.build_reuse(MultiConvConformerEncoder, locals(), options)

    torch.manual_seed(0)
    base = MultiConvConformerEncoder(20, output_size=32, linear_units=48, num_blocks=4)
    torch.manual_seed(0)
    same = MultiConvConformerReuseEncoder(20)
    assert_bitwise_equal_encoders(base.eval(), same.eval(), *padded_batch)
    shared = MultiConvConformerReuseEncoder(20, reuse_groups=[2, 2], mask_padding=True)
    assert [
        type(convention.attention_of(layer)) is SharedMapAttention for layer in shared.encoders
    ] == [
        False,
        True,
        False,
        True,
    ]
    out, out_lengths, _ = shared(*padded_batch)
    assert out.shape[0] == 3 and torch.isfinite(out).all()
