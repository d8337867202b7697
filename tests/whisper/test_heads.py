"""Permuting a Whisper block's heads changes nothing it computes; the alignment finds a
block's heads again after they were shuffled."""

import copy

import pytest
import torch

from tiny_whisper import TINY

whisper = pytest.importorskip("whisper")
from espnet_reuse.whisper.heads import (  # noqa: E402
    alignment,
    head_similarity,
    permute_heads,
    self_attention_maps,
)


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    return whisper.load_model(str(tiny_checkpoint), device="cpu").eval()


def mel():
    frames = 2 * TINY["n_audio_ctx"]
    return torch.randn(1, TINY["n_mels"], frames, generator=torch.Generator().manual_seed(2))


def test_permuting_heads_changes_nothing_computed(tiny_model):
    shuffled = copy.deepcopy(tiny_model.encoder)
    permute_heads(shuffled.blocks[1].attn, [1, 0])
    with torch.no_grad():
        torch.testing.assert_close(shuffled(mel()), tiny_model.encoder(mel()))
    assert not torch.equal(
        shuffled.blocks[1].attn.query.weight, tiny_model.encoder.blocks[1].attn.query.weight
    )
    with pytest.raises(ValueError, match=r"order \[0, 0\] is not a permutation of 2 heads"):
        permute_heads(shuffled.blocks[1].attn, [0, 0])


def test_the_alignment_finds_shuffled_heads_again(tiny_model):
    frames = TINY["n_audio_ctx"]
    before = self_attention_maps(tiny_model.encoder, mel(), frames)
    shuffled = copy.deepcopy(tiny_model.encoder)
    permute_heads(shuffled.blocks[0].attn, [1, 0])
    after = self_attention_maps(shuffled, mel(), frames)
    assert type(shuffled.blocks[0].attn) is whisper.model.MultiHeadAttention  # left as it was
    torch.testing.assert_close(after[0], before[0].flip(0))
    similarity = head_similarity([before[0]], [after[0]])
    assert similarity.shape == (2, 2) and alignment(similarity) == [1, 0]
