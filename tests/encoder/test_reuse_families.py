"""The reuse forms of ESPnet's E-Branchformer, Branchformer and Transformer encoders.

Without reuse each is bitwise ESPnet's encoder; with reuse each follows a hand-written
reference, and the option grid ESPnet's own E-Branchformer test sweeps runs forward
and backward through the reuse class.
"""

import dataclasses
import inspect
import itertools

import pytest
import torch

from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.encoder.reuse import REUSE_OPTION_NAMES, ReuseOptions
from espnet_reuse.encoder.shared_map_attention import SharedMapAttention
from espnet_reuse.espnet_api import EBranchformerEncoder, make_pad_mask

from helpers import SMALL_ENCODERS, assert_bitwise_equal_encoders, reference_attention
from helpers import SMALL_FAMILIES as SMALL

FAMILY_OVERRIDES = {
    "e_branchformer": {
        "latest": {},
        "legacy": {"rel_pos_type": "legacy"},
        "abs_pos": {
            "rel_pos_type": "legacy",
            "pos_enc_layer_type": "abs_pos",
            "attention_layer_type": "selfattn",
        },
        "no_ffn": {"use_ffn": False, "macaron_ffn": False},
        "interctc": {"interctc_layer_idx": [2]},
        "linear_after_conv": {"use_linear_after_conv": True, "gate_activation": "tanh"},
    },
    "branchformer": {
        "concat": {},
        "learned_ave": {"merge_method": "learned_ave"},
        "fixed_ave": {"merge_method": "fixed_ave", "cgmlp_weight": 0.3},
        "legacy": {"rel_pos_type": "legacy"},
    },
    "transformer": {
        "pre_norm": {},
        "post_norm_concat": {"normalize_before": False, "concat_after": True},
        "conv1d_ff": {"positionwise_layer_type": "conv1d", "positionwise_conv_kernel_size": 3},
    },
}
CASES = [(f, name) for f, cases in FAMILY_OVERRIDES.items() for name in cases]


def build(family, reuse, seed=0, **overrides):
    espnet_class, reuse_class = FAMILIES[family]
    torch.manual_seed(seed)
    return (reuse_class if reuse else espnet_class)(20, **{**SMALL[family], **overrides})


def encode(encoder, feats, lengths):
    with torch.no_grad():
        out, out_lengths, _ = encoder(feats, lengths)
    return out, out_lengths


@pytest.mark.parametrize("family", SMALL)
def test_signature_is_espnets_plus_the_reuse_options(family):
    espnet_class, reuse_class = FAMILIES[family]
    base = inspect.signature(espnet_class.__init__).parameters
    reuse = inspect.signature(reuse_class.__init__).parameters
    for name, parameter in base.items():
        assert name in reuse, name
        assert reuse[name].default == parameter.default, name
        assert reuse[name].annotation == parameter.annotation, name
    assert set(reuse) - set(base) == set(REUSE_OPTION_NAMES)


@pytest.mark.parametrize("family", SMALL_ENCODERS)
def test_every_option_reaches_the_encoder(family):
    """A family class that leaves an option out of the ``ReuseOptions`` it builds fails
    here: every option is set to a value other than its default."""
    chosen = ReuseOptions(
        reuse_groups=[2, 2],
        learned_map_groups=[1],
        learned_map_max_offset=8,
        learned_map_init="uniform",
        mask_padding=True,
        fused_attention=True,
        reuse_head_mixing=True,
        reuse_score_rank=2,
    )
    defaults = ReuseOptions()
    changed = [f.name for f in dataclasses.fields(ReuseOptions)]
    assert all(getattr(chosen, name) != getattr(defaults, name) for name in changed)
    encoder = FAMILIES[family][1](20, **SMALL_ENCODERS[family], **dataclasses.asdict(chosen))
    assert encoder.reuse_options == chosen.checked(len(encoder.encoders))


@pytest.mark.parametrize("family, case", CASES, ids=[f"{f}-{c}" for f, c in CASES])
def test_no_reuse_is_bitwise_espnet(family, case, padded_batch):
    overrides = FAMILY_OVERRIDES[family][case]
    base = build(family, False, **overrides).eval()
    reuse = build(family, True, seed=1, **overrides).eval()
    reuse.load_state_dict(base.state_dict(), strict=True)  # and back:
    base.load_state_dict(reuse.state_dict(), strict=True)
    assert_bitwise_equal_encoders(base, reuse, *padded_batch)


def reference_e_branchformer(encoder, feats, lengths):
    """ESPnet's E-Branchformer layer by layer (macaron FFNs), reuse applied by hand."""
    masks = ~make_pad_mask(lengths)[:, None, :]
    (x, pos_emb), masks = encoder.embed(feats, masks)
    maps = {}
    for idx, layer in enumerate(encoder.encoders):
        x = x + 0.5 * layer.feed_forward_macaron(layer.norm_ff_macaron(x))
        xn = layer.norm_mha(x)
        x1 = reference_attention(encoder, idx, layer.attn, xn, pos_emb, masks, maps)
        x2 = layer.cgmlp(layer.norm_mlp(x), masks)
        both = torch.cat([x1, x2], dim=-1)
        merged = both + layer.depthwise_conv_fusion(both.transpose(1, 2)).transpose(1, 2)
        x = x + layer.merge_proj(merged)
        x = x + 0.5 * layer.feed_forward(layer.norm_ff(x))
        x = layer.norm_final(x)
    return encoder.after_norm(x)


@pytest.mark.parametrize("groups", [[1, 3], [2, 2], [4], [1, 1, 2]])
def test_e_branchformer_reuse_matches_reference(groups, padded_batch):
    encoder = build("e_branchformer", True, reuse_groups=groups).eval()
    with torch.no_grad():
        actual, _, _ = encoder(*padded_batch)
        expected = reference_e_branchformer(encoder, *padded_batch)
    assert (actual - expected).abs().max() < 1e-5


@pytest.mark.parametrize("family", SMALL)
def test_reuse_layers_keep_only_v_and_output_projections_of_espnet(family, padded_batch):
    base = build(family, False)
    reuse = build(family, True, seed=1, reuse_groups=[1, 3])
    attention_name = "self_attn" if family == "transformer" else "attn"
    state = reuse.state_dict()
    for idx in (2, 3):
        attention = getattr(reuse.encoders[idx], attention_name)
        assert isinstance(attention, SharedMapAttention)
        prefix = f"encoders.{idx}.{attention_name}."
        own = {k.removeprefix(prefix).split(".")[0] for k in state if k.startswith(prefix)}
        assert own == {"linear_v", "linear_out"}
    dropped = set(base.state_dict()) - set(state)
    assert dropped and all(".2." in k or ".3." in k for k in dropped)
    assert set(state) <= set(base.state_dict())
    reuse.train()
    reuse(*padded_batch)[0].pow(2).mean().backward()
    source = getattr(reuse.encoders[1], attention_name)
    assert source.linear_q.weight.grad.abs().sum() > 0  # learns through its group too
    maps = [getattr(layer, attention_name).attn for layer in reuse.encoders]
    assert maps[1] is maps[2] is maps[3] and maps[0] is not maps[1]


# The option grid of ESPnet's own test (test/espnet2/asr/encoder/test_e_branchformer_encoder.py,
# test_encoder_forward_backward), run through the reuse class with a 2-layer group.
ESPNET_GRID = dict(
    input_layer=["linear", "conv2d", "conv2d2", "conv2d6", "conv2d8", "embed"],
    use_linear_after_conv=[True, False],
    attention=[
        ("legacy", "abs_pos", "selfattn"),
        ("latest", "rel_pos", "rel_selfattn"),
        ("legacy", "rel_pos", "rel_selfattn"),
        ("legacy", "legacy_rel_pos", "legacy_rel_selfattn"),
        ("legacy", "abs_pos", "fast_selfattn"),
    ],
    max_pos_emb_len=[128, 5000],
    use_ffn=[True, False],
    macaron_ffn=[True, False],
    linear_units=[1024, 2048],
    merge_conv_kernel=[3, 31],
    layer_drop_rate=[0.0, 0.1],
)


def grid_points():
    """Every value of every option at least once, and every input layer with every
    attention (all pairs of the two largest axes), the other options varied in turn."""
    others = [k for k in ESPNET_GRID if k not in ("input_layer", "attention")]
    points = []
    for n, (layer, attention) in enumerate(
        itertools.product(ESPNET_GRID["input_layer"], ESPNET_GRID["attention"])
    ):
        point = {k: ESPNET_GRID[k][(n + i) % len(ESPNET_GRID[k])] for i, k in enumerate(others)}
        points.append(dict(point, input_layer=layer, attention=attention))
    return points


@pytest.mark.parametrize(
    "point", grid_points(), ids=lambda p: f"{p['input_layer']}-{p['attention'][2]}"
)
def test_espnet_e_branchformer_grid_forward_backward(point):
    rel_pos_type, pos_enc_layer_type, attention_layer_type = point.pop("attention")
    options = dict(
        output_size=2,
        attention_heads=2,
        attention_layer_type=attention_layer_type,
        pos_enc_layer_type=pos_enc_layer_type,
        rel_pos_type=rel_pos_type,
        cgmlp_linear_units=4,
        cgmlp_conv_kernel=3,
        gate_activation="identity",
        num_blocks=2,
        **point,
    )
    reuse_class = FAMILIES["e_branchformer"][1]
    if attention_layer_type == "fast_selfattn":  # no map to share: only single-layer groups
        with pytest.raises(ValueError, match="FastSelfAttention, which makes no attention map"):
            reuse_class(20, reuse_groups=[2], **options)
        encoder = reuse_class(20, reuse_groups=[1, 1], **options)
    else:
        encoder = reuse_class(20, reuse_groups=[2], **options)
    if point["input_layer"] == "embed":
        x = torch.randint(0, 10, [2, 32])
    else:
        x = torch.randn(2, 32, 20, requires_grad=True)
    y, _, _ = encoder(x, torch.LongTensor([32, 28]))
    y.sum().backward()


def test_espnet_e_branchformer_errors_stay_errors():
    reuse_class = FAMILIES["e_branchformer"][1]
    for options in (
        {"input_layer": "dummy"},
        {"rel_pos_type": "dummy"},
        {"pos_enc_layer_type": "dummy"},
        {"positionwise_layer_type": "dummy"},
    ):
        with pytest.raises(ValueError):
            reuse_class(20, **options)
    with pytest.raises(AssertionError):
        reuse_class(20, attention_layer_type="fast_selfattn", pos_enc_layer_type="rel_pos")
    assert reuse_class(20, output_size=256).output_size() == 256


def test_layer_drop_of_a_map_source_computes_the_map_for_its_group(padded_batch, monkeypatch):
    """ESPnet's E-Branchformer skips whole layers in training (layer_drop_rate); a
    group whose first layer is skipped gets the map its first layer would have made
    from the input of the next layer that runs, which is the same input."""
    encoder = build("e_branchformer", True, reuse_groups=[2, 2], layer_drop_rate=0.5).train()
    draws = iter([1.0, 1.0, 0.0, 1.0])  # ESPnet draws uniform_() once per layer: skip layer 2

    def uniform_(tensor, *args, **kwargs):
        return tensor.fill_(next(draws))

    monkeypatch.setattr(torch.Tensor, "uniform_", uniform_)
    inputs = {}
    layer3 = encoder.encoders[3]
    layer3.register_forward_pre_hook(lambda module, args: inputs.update(x=args[0], mask=args[1]))
    out, _, _ = encoder(*padded_batch)
    monkeypatch.undo()
    (x, pos_emb), mask = inputs["x"], inputs["mask"]
    source = encoder.encoders[2]
    published = layer3.attn.attn
    assert published is source.attn.attn
    with torch.no_grad():
        xn = source.norm_mha(x)
        source.attn(xn, xn, xn, pos_emb, mask)
    torch.testing.assert_close(published, source.attn.attn)
    assert torch.isfinite(out).all()


def test_gradient_checkpointing_only_for_single_layer_groups(padded_batch):
    with pytest.raises(ValueError, match=r"gradient_checkpoint_layers \[3\]"):
        build("e_branchformer", True, reuse_groups=[1, 1, 2], gradient_checkpoint_layers=[1, 3])
    encoder = build(
        "e_branchformer", True, reuse_groups=[1, 1, 2], gradient_checkpoint_layers=[0, 1, 2]
    ).train()
    plain = build("e_branchformer", True, reuse_groups=[1, 1, 2]).train()
    encoder(*padded_batch)[0].pow(2).mean().backward()
    plain(*padded_batch)[0].pow(2).mean().backward()
    for (name, a), (_, b) in zip(encoder.named_parameters(), plain.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_layers_without_a_map_cannot_share_one():
    with pytest.raises(ValueError, match="layer 0 has no attention"):
        build("branchformer", True, use_attn=False, reuse_groups=[2, 2])
    build("branchformer", True, use_attn=False)  # no reuse: ESPnet's encoder as it is


@pytest.mark.parametrize("family", SMALL)
def test_learned_maps_in_every_family(family, padded_batch):
    encoder = build(family, True, reuse_groups=[2, 2], learned_map_groups=[1]).eval()
    assert "learned_maps.1.logits" in encoder.state_dict()
    out, out_lengths = encode(encoder, *padded_batch)
    assert torch.isfinite(out).all()
    attention_name = "self_attn" if family == "transformer" else "attn"
    learned = getattr(encoder.encoders[2], attention_name).attn
    assert learned is getattr(encoder.encoders[3], attention_name).attn
    key_padding = make_pad_mask(out_lengths)[:, None, None, :]
    assert torch.all(learned.expand(len(out_lengths), -1, -1, -1).masked_select(key_padding) == 0)


def test_fused_attention_for_e_branchformer_singletons(padded_batch):
    plain = build("e_branchformer", True, reuse_groups=[1, 3]).eval()
    fused = build("e_branchformer", True, reuse_groups=[1, 3], fused_attention=True).eval()
    assert type(fused.encoders[0].attn).__name__ == "FusedRelPositionAttention"
    assert type(fused.encoders[1].attn).__name__ == "StridedRelPositionAttention"
    torch.testing.assert_close(
        encode(fused, *padded_batch)[0], encode(plain, *padded_batch)[0], atol=1e-5, rtol=1e-5
    )


def test_espnet_class_is_the_base():
    assert issubclass(FAMILIES["e_branchformer"][1], EBranchformerEncoder)
