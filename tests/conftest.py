"""Shared fixtures: a small Conformer configuration and a padded batch."""

import pytest
import torch

SMALL_CONFORMER = dict(
    input_size=20,
    output_size=32,
    attention_heads=4,
    linear_units=48,
    num_blocks=4,
    dropout_rate=0.0,
    positional_dropout_rate=0.0,
    macaron_style=True,
    rel_pos_type="latest",
    cnn_module_kernel=7,
)


@pytest.fixture
def padded_batch():
    """Features (3, 60, 20) with lengths 60, 45 and 23."""
    generator = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 60, 20, generator=generator)
    lengths = torch.tensor([60, 45, 23])
    return feats, lengths
