"""Heads of a trained Whisper aligned across blocks before they share maps.

A trained model's heads are in no particular order across blocks: head 2 of one block
need not resemble head 2 of the next. Permuting a block's heads (the rows of its
``query``, ``key`` and ``value`` projections and their biases, the columns of ``out``)
changes nothing it computes, so a reuse block's heads can be put in the order of its
source's heads, matched one to one by how alike their maps are (an assignment over
the heads' mean cosine similarity, ``alignment``), at no cost at run time.
"""

from typing import List, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from espnet_reuse.whisper.reuse_encoder import WhisperMapSource, maps_shared


def self_attention_maps(
    encoder: torch.nn.Module, mel: torch.Tensor, frames: int
) -> List[torch.Tensor]:
    """Each block's maps (H, frames, frames) of one utterance, log-mel ``mel`` (1, n_mels,
    3000), among its first ``frames`` encoder frames (its speech); the encoder is
    openai-whisper's ``AudioEncoder`` and is left as it was."""
    blocks = encoder.blocks
    classes = [block.attn.__class__ for block in blocks]
    try:
        for block in blocks:
            block.attn.__class__ = WhisperMapSource
        alone = [(i, i) for i in range(len(blocks))]  # each block its own group's source
        with maps_shared(blocks, len(blocks), alone) as maps, torch.no_grad():
            encoder(mel)
    finally:
        for block, cls in zip(blocks, classes):
            block.attn.__class__ = cls
            block.attn.__dict__.pop("shared_map", None)
    return [holder.attn[0, :, :frames, :frames] for holder in maps]


def head_similarity(source: Sequence[torch.Tensor], other: Sequence[torch.Tensor]) -> np.ndarray:
    """(H, H): entry (i, j) the mean over utterances of the cosine similarity of head i's
    map in ``source`` and head j's in ``other`` (maps (H, T, T) per utterance)."""
    total = 0.0
    for a, b in zip(source, other):
        a, b = a.flatten(1).double(), b.flatten(1).double()
        total = total + (torch.nn.functional.normalize(a) @ torch.nn.functional.normalize(b).T)
    return (total / len(source)).numpy()


def alignment(similarity: np.ndarray) -> List[int]:
    """The order of the other block's heads that puts, at each source head's index, the
    head matched to it (the assignment of greatest total similarity)."""
    rows, columns = linear_sum_assignment(similarity, maximize=True)
    return [int(c) for _, c in sorted(zip(rows, columns))]


def permute_heads(attention: torch.nn.Module, order: Sequence[int]) -> None:
    """Reorder openai-whisper's ``MultiHeadAttention`` heads in place: new head ``h`` is
    old head ``order[h]`` (what the block computes is unchanged)."""
    heads = attention.n_head
    if sorted(order) != list(range(heads)):
        raise ValueError(f"order {list(order)} is not a permutation of {heads} heads")
    d_k = attention.out.weight.size(1) // heads
    index = torch.cat([torch.arange(h * d_k, (h + 1) * d_k) for h in order])
    with torch.no_grad():
        for linear in (attention.query, attention.key, attention.value):
            linear.weight.copy_(linear.weight[index])
            if linear.bias is not None:
                linear.bias.copy_(linear.bias[index])
        attention.out.weight.copy_(attention.out.weight[:, index])
