"""``WhisperReuseEncoder``: ESPnet's Whisper encoder without reuse, bit for bit; with
reuse, a reuse block applies its group's map to its own values and has no Q or K."""

import pytest
import torch

from tiny_whisper import TINY

pytest.importorskip("whisper")
from espnet_reuse.whisper.espnet_modules import LocalWhisperEncoder  # noqa: E402
from espnet_reuse.whisper.reuse_encoder import (  # noqa: E402
    WhisperMapSource,
    WhisperReuseAttention,
    WhisperReuseEncoder,
)

SAMPLES = 2 * TINY["n_audio_ctx"] * 160  # the tiny model's whole window


def audio():
    return torch.randn(2, SAMPLES, generator=torch.Generator().manual_seed(1)) * 0.1


def encode(encoder):
    with torch.no_grad():
        return encoder.eval()(audio(), torch.tensor([SAMPLES, SAMPLES - 800]))


def test_without_reuse_it_is_espnets_encoder(tiny_checkpoint):
    espnet = encode(LocalWhisperEncoder(whisper_checkpoint=str(tiny_checkpoint)))
    for groups in (None, [1, 1]):
        ours = WhisperReuseEncoder(whisper_checkpoint=str(tiny_checkpoint), reuse_groups=groups)
        assert ours.map_users == []
        assert all(torch.equal(a, b) for a, b in zip(encode(ours)[:2], espnet[:2]))


def test_a_reuse_block_applies_its_groups_map_to_its_values(tiny_checkpoint):
    encoder = WhisperReuseEncoder(whisper_checkpoint=str(tiny_checkpoint), reuse_groups=[2])
    source, reuse = (block.attn for block in encoder.encoders.blocks)
    assert type(source) is WhisperMapSource and type(reuse) is WhisperReuseAttention
    names = set(encoder.state_dict())
    assert "encoders.blocks.0.attn.key.weight" in names
    assert not {
        n
        for n in names
        if n.startswith("encoders.blocks.1.attn.") and "value" not in n and "out" not in n
    }
    seen = {}
    block = encoder.encoders.blocks[1]
    block.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    block.attn.register_forward_pre_hook(lambda m, args: seen.update(map=m.shared_map.attn))
    block.register_forward_hook(lambda m, args, out: seen.update(out=out))
    encode(encoder)
    x, attn = seen["x"], seen["map"]
    assert attn.shape == (2, TINY["n_audio_head"], TINY["n_audio_ctx"], TINY["n_audio_ctx"])
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:-1]))
    with torch.no_grad():
        h = block.attn_ln(x)
        v = (
            reuse.value(h)
            .view(2, -1, TINY["n_audio_head"], TINY["n_audio_state"] // TINY["n_audio_head"])
            .permute(0, 2, 1, 3)
        )
        x = x + reuse.out((attn @ v).permute(0, 2, 1, 3).flatten(start_dim=2))
        expected = x + block.mlp(block.mlp_ln(x))
    torch.testing.assert_close(seen["out"], expected)
    assert source.shared_map is None and reuse.shared_map is None  # none kept after the call


def test_a_layout_that_does_not_fit_the_blocks_is_named(tiny_checkpoint):
    with pytest.raises(ValueError, match=r"reuse_groups \[3\] sums to 3, but num_blocks is 2"):
        WhisperReuseEncoder(whisper_checkpoint=str(tiny_checkpoint), reuse_groups=[3])
