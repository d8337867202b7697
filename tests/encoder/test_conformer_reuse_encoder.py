"""``ConformerReuseEncoder`` against ESPnet's Conformer and a hand-written reference."""

import inspect

import pytest
import torch

from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
)
from espnet_reuse.encoder.shared_map_attention import SharedMapAttention
from espnet_reuse.espnet_api import (
    ConformerEncoder,
    MultiHeadedAttention,
    calculate_all_attentions,
    make_pad_mask,
)

from helpers import SMALL_CONFORMER, assert_bitwise_equal_encoders, reference_attention

REUSE_ONLY_PARAMETERS = ("linear_q", "linear_k", "linear_pos", "pos_bias_u", "pos_bias_v")


def build(cls, seed, **overrides):
    torch.manual_seed(seed)
    return cls(**{**SMALL_CONFORMER, **overrides})


def test_signature_is_a_superset_of_conformer():
    base = inspect.signature(ConformerEncoder.__init__).parameters
    reuse = inspect.signature(ConformerReuseEncoder.__init__).parameters
    for name, parameter in base.items():
        assert name in reuse, name
        assert reuse[name].default == parameter.default, name
    assert set(reuse) - set(base) == {
        "reuse_groups",
        "learned_map_groups",
        "learned_map_max_offset",
        "learned_map_init",
        "mask_padding",
        "fused_attention",
        "reuse_head_mixing",
        "reuse_score_rank",
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"rel_pos_type": "legacy"},
        {"pos_enc_layer_type": "abs_pos", "selfattention_layer_type": "selfattn"},
        {"normalize_before": False, "concat_after": True},
        {"positionwise_layer_type": "conv1d", "macaron_style": False},
        {"interctc_layer_idx": [2], "stochastic_depth_rate": [0.1, 0.2, 0.0, 0.3]},
    ],
    ids=["latest", "legacy", "abs_pos", "post_norm_concat", "conv1d_ff", "interctc"],
)
def test_no_reuse_equals_espnet_conformer(overrides, padded_batch):
    base = build(ConformerEncoder, 0, **overrides).eval()
    reuse = build(ConformerReuseEncoder, 1, **overrides).eval()
    reuse.load_state_dict(base.state_dict(), strict=True)
    assert_bitwise_equal_encoders(base, reuse, *padded_batch)


def reference_forward(encoder, feats, lengths):
    """A macaron Conformer (pre-norm) layer by layer, reuse applied by hand."""
    masks = ~make_pad_mask(lengths)[:, None, :]
    (x, pos_emb), masks = encoder.embed(feats, masks)
    maps = {}
    for idx, layer in enumerate(encoder.encoders):
        x = x + 0.5 * layer.feed_forward_macaron(layer.norm_ff_macaron(x))
        xn = layer.norm_mha(x)
        x = x + reference_attention(encoder, idx, layer.self_attn, xn, pos_emb, masks, maps)
        x = x + layer.conv_module(layer.norm_conv(x))
        x = x + 0.5 * layer.feed_forward(layer.norm_ff(x))
        x = layer.norm_final(x)
    return encoder.after_norm(x)


@pytest.mark.parametrize("groups", [[1, 3], [2, 2], [4], [1, 1, 2]])
def test_reuse_matches_reference(groups, padded_batch):
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=groups).eval()
    feats, lengths = padded_batch
    with torch.no_grad():
        actual, _, _ = encoder(feats, lengths)
        expected = reference_forward(encoder, feats, lengths)
    assert (actual - expected).abs().max() < 1e-5


def test_reuse_layers_own_only_v_and_output_projections():
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3])
    for idx, layer in enumerate(encoder.encoders):
        names = {name.split(".")[0] for name, _ in layer.self_attn.named_parameters()}
        if idx >= 2:
            assert isinstance(layer.self_attn, SharedMapAttention)
            assert names == {"linear_v", "linear_out"}
        else:
            assert set(REUSE_ONLY_PARAMETERS) <= names


def test_every_layer_exposes_the_map_it_applied(padded_batch):
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=[2, 2]).eval()
    feats, lengths = padded_batch
    with torch.no_grad():
        _, out_lens, _ = encoder(feats, lengths)
    maps = [layer.self_attn.attn for layer in encoder.encoders]
    assert maps[1] is maps[0] and maps[3] is maps[2] and maps[2] is not maps[0]
    key_padding = make_pad_mask(out_lens)[:, None, None, :]
    for attn in maps:
        assert attn.shape == (3, 4, out_lens.max(), out_lens.max())
        assert torch.all(attn.masked_select(key_padding) == 0)
        assert torch.allclose(attn.sum(-1), torch.ones(()), atol=1e-5)


def test_espnet_attention_capture_sees_every_layer(padded_batch):
    class Wrapper(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, speech, speech_lengths):
            return self.encoder(speech, speech_lengths)[0]

    model = Wrapper(build(ConformerReuseEncoder, 0, reuse_groups=[1, 3])).eval()
    feats, lengths = padded_batch
    attentions = calculate_all_attentions(model, {"speech": feats, "speech_lengths": lengths})
    expected = {f"encoder.encoders.{i}.self_attn" for i in range(4)}
    assert expected <= set(attentions)
    assert all(
        isinstance(m, MultiHeadedAttention)
        for m in [layer.self_attn for layer in model.encoder.encoders]
    )
    for i in (1, 2, 3):
        assert torch.equal(
            attentions[f"encoder.encoders.{i}.self_attn"][0],
            attentions["encoder.encoders.1.self_attn"][0],
        )


def test_padding_does_not_change_valid_frames():
    # no convolutions: ESPnet's subsampling and conv module see padded frames
    encoder = build(
        ConformerReuseEncoder,
        0,
        reuse_groups=[1, 3],
        use_cnn_module=False,
        input_layer="linear",
    ).eval()
    generator = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 64, 20, generator=generator)
    lengths = torch.tensor([64, 31])
    with torch.no_grad():
        batched, out_lens, _ = encoder(feats, lengths)
        alone, _, _ = encoder(feats[1:, :31], lengths[1:])
    assert (batched[1, : out_lens[1]] - alone[0]).abs().max() < 1e-5


def test_gradients_reach_every_map_source(padded_batch):
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3]).train()
    feats, lengths = padded_batch
    encoder(feats, lengths)[0].pow(2).mean().backward()
    for idx in (0, 1):
        for name, parameter in encoder.encoders[idx].self_attn.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, (
                idx,
                name,
            )


def test_shared_map_receives_gradients_from_reuse_layers(padded_batch):
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3]).train()
    # silence the map source's own attention output: its Q and K can then only
    # learn through the layers that reuse its map
    with torch.no_grad():
        encoder.encoders[1].self_attn.linear_out.weight.zero_()
        encoder.encoders[1].self_attn.linear_out.bias.zero_()
    feats, lengths = padded_batch
    encoder(feats, lengths)[0].pow(2).mean().backward()
    assert encoder.encoders[1].self_attn.linear_q.weight.grad.abs().sum() > 0


def test_skipped_first_layer_still_computes_the_map(padded_batch, monkeypatch):
    encoder = build(
        ConformerReuseEncoder, 0, reuse_groups=[2, 2], stochastic_depth_rate=[0.0, 0.0, 0.5, 0.0]
    ).train()
    monkeypatch.setattr(torch, "rand", lambda *size: torch.zeros(*size))  # every draw skips
    source = encoder.encoders[2]
    inputs = {}
    source.register_forward_pre_hook(lambda module, args: inputs.update(x=args[0], mask=args[1]))
    feats, lengths = padded_batch
    out, _, _ = encoder(feats, lengths)
    (x, pos_emb), mask = inputs["x"], inputs["mask"]
    published = encoder.encoders[3].self_attn.attn
    assert published is source.self_attn.attn
    with torch.no_grad():  # the map as the attention branch would compute it
        source.self_attn(source.norm_mha(x), source.norm_mha(x), source.norm_mha(x), pos_emb, mask)
    torch.testing.assert_close(published, source.self_attn.attn)
    assert torch.isfinite(out).all()


def test_reuse_layer_outside_the_encoder_is_an_error(padded_batch):
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3]).eval()
    x = torch.randn(1, 5, 32)
    with pytest.raises(RuntimeError, match="without its group's map"):
        encoder.encoders[2].self_attn(x, x, x, None, None)


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="reuse_groups"):
        build(ConformerReuseEncoder, 0, reuse_groups=[2, 3])
    with pytest.raises(ValueError, match="ctc_trim"):
        build(
            ConformerReuseEncoder,
            0,
            reuse_groups=[4],
            interctc_layer_idx=[2],
            ctc_trim=True,
        )
    with pytest.raises(TypeError, match="reuse_group"):
        build(ConformerReuseEncoder, 0, reuse_group=[4])


def saved_maps(encoder, feats, lengths):
    """Distinct (B, H, T, T) tensors autograd keeps for backward."""
    storages = set()

    def pack(tensor):
        if tensor.dim() == 4 and tensor.size(-1) == tensor.size(-2) and tensor.size(1) == 4:
            storages.add(tensor.untyped_storage().data_ptr())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        encoder(feats, lengths)
    return len(storages)


def test_reuse_layers_store_no_copy_of_the_map_for_backward(padded_batch):
    settings = dict(attention_dropout_rate=0.3, use_cnn_module=False)
    one_layer = build(ConformerReuseEncoder, 0, num_blocks=1, **settings).train()
    group = build(ConformerReuseEncoder, 0, num_blocks=4, reuse_groups=[4], **settings).train()
    assert saved_maps(group, *padded_batch) == saved_maps(one_layer, *padded_batch) > 0


def test_attention_dropout_is_drawn_once_a_group(padded_batch):
    encoder = build(ConformerReuseEncoder, 0, reuse_groups=[4], attention_dropout_rate=0.5).train()
    applied = []
    for layer in encoder.encoders[1:]:
        layer.self_attn.register_forward_pre_hook(
            lambda module, args: applied.append(module.shared_map)
        )
    encoder(*padded_batch)
    dropped = [holder.dropped for holder in applied]
    assert dropped[0] is not None and all(d is dropped[0] for d in dropped)
    assert torch.any(dropped[0] == 0) and not torch.equal(dropped[0], applied[0].attn)


def test_torch_compile_traces_the_reuse_encoder(padded_batch):
    """Dynamo traces reuse layers and the strided attention's compile path."""
    model = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3]).eval()
    feats, lengths = padded_batch
    compiled = torch.compile(model, backend="eager")
    try:
        with torch.no_grad():
            expected = model(feats, lengths)[0]
            actual = compiled(feats, lengths)[0]
    finally:
        torch._dynamo.reset()
    assert (actual - expected).abs().max() < 1e-5


def test_fused_attention_for_maps_nobody_reuses(padded_batch):
    plain = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3]).eval()
    fused = build(ConformerReuseEncoder, 0, reuse_groups=[1, 3], fused_attention=True).eval()
    assert fused.state_dict().keys() == plain.state_dict().keys()
    assert type(fused.encoders[0].self_attn) is FusedRelPositionAttention
    assert type(fused.encoders[1].self_attn) is StridedRelPositionAttention  # its map is shared
    with torch.no_grad():
        expected, expected_lengths, _ = plain(*padded_batch)
        actual, actual_lengths, _ = fused(*padded_batch)
    assert torch.equal(actual_lengths, expected_lengths)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
