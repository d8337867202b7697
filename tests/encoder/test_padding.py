"""Batch-invariant encoding: a padded batch against encoding each utterance alone."""

import pytest
import torch

from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.encoder.padding import make_batch_invariant, subsampled_lengths
from espnet_reuse.espnet_api import ConformerEncoder

from helpers import SMALL_CONFORMER, SMALL_FAMILIES

LENGTHS = [211, 130, 47, 19]  # very different lengths: a lot of padding


def features(lengths=LENGTHS, seed=3):
    generator = torch.Generator().manual_seed(seed)
    feats = torch.randn(
        len(lengths), max(lengths), SMALL_CONFORMER["input_size"], generator=generator
    )
    for i, n in enumerate(lengths):
        feats[i, n:] = 0.0
    return feats, torch.tensor(lengths)


def build(cls, **overrides):
    torch.manual_seed(0)
    encoder = cls(**{**SMALL_CONFORMER, **overrides}).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for module in encoder.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return encoder


def one_by_one(encoder, feats, lengths):
    outs = [encoder(feats[i : i + 1, :n], lengths[i : i + 1])[:2] for i, n in enumerate(lengths)]
    return [o[0, : int(n)] for o, n in outs], torch.cat([n for _, n in outs])


def largest_difference(encoder, feats, lengths):
    """Output lengths of the batch and alone, and the largest difference of shared frames."""
    with torch.no_grad():
        batch, batch_lengths, _ = encoder(feats, lengths)
        alone, alone_lengths = one_by_one(encoder, feats, lengths)
    diff = max(float((batch[i, : len(a)] - a).abs().max()) for i, a in enumerate(alone))
    return batch_lengths, alone_lengths, diff


ENCODERS = {
    "conformer": (ConformerEncoder, {}),
    "reuse": (ConformerReuseEncoder, {"reuse_groups": [1, 3]}),
    "learned": (ConformerReuseEncoder, {"reuse_groups": [2, 2], "learned_map_groups": [1]}),
    "conv2d6": (ConformerEncoder, {"input_layer": "conv2d6"}),
}


@pytest.mark.parametrize("name", ENCODERS)
def test_espnet_lets_padding_leak(name):
    cls, overrides = ENCODERS[name]
    feats, lengths = features()
    batch_lengths, alone_lengths, diff = largest_difference(build(cls, **overrides), feats, lengths)
    assert not torch.equal(batch_lengths, alone_lengths) or diff > 1e-3


@pytest.mark.parametrize("name", ENCODERS)
def test_masked_padding_makes_a_batch_equal_to_one_by_one(name):
    cls, overrides = ENCODERS[name]
    encoder = build(cls, **overrides)
    make_batch_invariant(encoder)
    feats, lengths = features()
    batch_lengths, alone_lengths, diff = largest_difference(encoder, feats, lengths)
    assert torch.equal(batch_lengths, alone_lengths)
    assert diff < 1e-5


@pytest.mark.parametrize("family", ["e_branchformer", "branchformer"])
@pytest.mark.parametrize("groups", [None, [2, 2]])
def test_cgmlp_and_merge_convolutions_are_masked(family, groups):
    """The E-Branchformer's and Branchformer's depthwise convolutions (cgMLP, merge)
    let padding in; with the mask_padding option each utterance is encoded as if alone."""
    espnet_class, reuse_class = FAMILIES[family]
    torch.manual_seed(0)
    encoder = reuse_class(20, reuse_groups=groups, **SMALL_FAMILIES[family]).eval()
    feats, lengths = features()
    batch_lengths, alone_lengths, diff = largest_difference(encoder, feats, lengths)
    assert not torch.equal(batch_lengths, alone_lengths) or diff > 1e-3
    torch.manual_seed(0)
    encoder = reuse_class(20, reuse_groups=groups, mask_padding=True, **SMALL_FAMILIES[family])
    batch_lengths, alone_lengths, diff = largest_difference(encoder.eval(), feats, lengths)
    assert torch.equal(batch_lengths, alone_lengths)
    assert diff < 1e-5


def test_encoder_option_masks_padding_and_keeps_parameter_names():
    encoder = build(ConformerReuseEncoder, reuse_groups=[2, 2], mask_padding=True)
    plain = build(ConformerReuseEncoder, reuse_groups=[2, 2])
    assert encoder.state_dict().keys() == plain.state_dict().keys()
    feats, lengths = features()
    batch_lengths, alone_lengths, diff = largest_difference(encoder, feats, lengths)
    assert torch.equal(batch_lengths, alone_lengths) and diff < 1e-5
    encoder.train()  # trains: gradients reach every parameter
    out, _, _ = encoder(feats, lengths)
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_an_unpadded_batch_is_unchanged_bit_for_bit():
    encoder = build(ConformerEncoder)
    feats, lengths = features([90, 90, 90])
    with torch.no_grad():
        expected, expected_lengths, _ = encoder(feats, lengths)
        handles = make_batch_invariant(encoder)
        actual, actual_lengths, _ = encoder(feats, lengths)
        for handle in handles:
            handle.remove()
        restored, _, _ = encoder(*features())
        leaky, _, _ = build(ConformerEncoder)(*features())
    assert torch.equal(expected, actual) and torch.equal(expected_lengths, actual_lengths)
    assert torch.equal(restored, leaky)  # removing the hooks restores ESPnet's behaviour


@pytest.mark.parametrize("input_layer", ["conv2d", "conv2d2", "conv2d6", "conv2d8"])
def test_subsampled_lengths_match_espnet_on_unpadded_input(input_layer):
    encoder = build(ConformerEncoder, input_layer=input_layer)
    for n in (17, 18, 31, 64, 101):
        feats = torch.randn(1, n, SMALL_CONFORMER["input_size"])
        with torch.no_grad():
            _, out_lengths, _ = encoder(feats, torch.tensor([n]))
        assert int(subsampled_lengths(encoder.embed, torch.tensor([n]))) == int(out_lengths)
