"""Source attention over a fixed encoder output, its keys and values projected once.

ESPnet's decoder step (``forward_one_step``) projects the encoder output to keys and
values in every source-attention layer at every step, for every hypothesis. During
a beam search the encoder output of an utterance is the same for all its
hypotheses and all steps: ``cached_source_attention`` projects it once an utterance
and, while the search runs, puts in each decoder layer a ``CachedSourceAttention``
that attends from the hypotheses of an utterance to that utterance's keys and
values, with ESPnet's eager arithmetic (scaled scores, masked softmax, weighted sum).
"""

import contextlib
import math
from typing import Iterator, List, Optional

import torch

from espnet_reuse import espnet_api


class CachedSourceAttention(torch.nn.Module):
    """ESPnet's ``MultiHeadedAttention`` of a decoder layer with its keys and values
    computed once for a batch of utterances, ``hyps`` query rows an utterance.

    Args:
        attention: the layer's source attention (its projections are used, not copied).
        memory: (batch, time, D) the encoder output.
        memory_mask: (batch, 1, time) true on each utterance's frames.
        hyps: query rows an utterance, utterance-major.
    """

    def __init__(
        self,
        attention: torch.nn.Module,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        hyps: int,
    ) -> None:
        super().__init__()
        self.attention = attention
        self.hyps = hyps
        batch, time, _ = memory.shape
        assert memory_mask.shape == (batch, 1, time), (memory_mask.shape, memory.shape)
        heads, d_k = attention.h, attention.d_k
        key = attention.linear_k(memory).view(batch, -1, heads, d_k).transpose(1, 2)
        self.key = attention.k_norm(key)  # (batch, head, time, d_k)
        self.value = attention.linear_v(memory).view(batch, -1, heads, d_k).transpose(1, 2)
        self.padding = memory_mask.unsqueeze(1).eq(0)  # (batch, 1, 1, time)

    def keep(self, utterances: torch.Tensor, time: int) -> None:
        """Keep ``utterances`` (indices into the batch), trimmed to ``time`` frames."""
        self.key = self.key[utterances, :, :time]
        self.value = self.value[utterances, :, :time]
        self.padding = self.padding[utterances, ..., :time]

    def forward(
        self,
        query: torch.Tensor,
        key: Optional[torch.Tensor],
        value: Optional[torch.Tensor],
        mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """(batch * hyps, 1, D) queries to (batch * hyps, 1, D) outputs; ``key``,
        ``value`` and ``mask``, the decoder layer's arguments, are not used."""
        attention = self.attention
        batch = self.key.size(0)
        assert query.shape[:2] == (batch * self.hyps, 1), (query.shape, batch, self.hyps)
        q = attention.linear_q(query).view(batch, self.hyps, attention.h, attention.d_k)
        q = attention.q_norm(q.transpose(1, 2))  # (batch, head, hyps, d_k)
        scores = torch.matmul(q, self.key.transpose(-2, -1)) / math.sqrt(attention.d_k)
        scores = scores.masked_fill(self.padding, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1).masked_fill(self.padding, 0.0)
        context = torch.matmul(attention.dropout(weights), self.value)  # (batch, head, hyps, d_k)
        context = context.transpose(1, 2).reshape(batch * self.hyps, 1, -1)
        return attention.linear_out(context)


def can_cache(decoder: torch.nn.Module) -> bool:
    """Whether every layer of ``decoder`` attends to the encoder output with ESPnet's
    eager ``MultiHeadedAttention`` (no SDPA or flash path, no second memory)."""
    layers = getattr(decoder, "decoders", None)
    if layers is None:
        return False
    for layer in layers:
        attention = getattr(layer, "src_attn", None)
        if type(attention) is not espnet_api.MultiHeadedAttention:
            return False
        if getattr(attention, "use_sdpa", False) or getattr(attention, "use_flash_attn", False):
            return False
        if getattr(layer, "sequential_attn", None) is not None:
            return False
    return True


@contextlib.contextmanager
def cached_source_attention(
    decoder: torch.nn.Module, memory: torch.Tensor, memory_mask: torch.Tensor, hyps: int
) -> Iterator[List[CachedSourceAttention]]:
    """Within the block, each layer of ``decoder`` (``can_cache``) attends to
    ``memory`` (batch, time, D) through a ``CachedSourceAttention``; the layers get
    their own attention back afterwards."""
    layers = list(decoder.decoders)
    originals = [layer.src_attn for layer in layers]
    caches = [CachedSourceAttention(a, memory, memory_mask, hyps) for a in originals]
    try:
        for layer, cache in zip(layers, caches):
            layer.src_attn = cache
        yield caches
    finally:
        for layer, original in zip(layers, originals):
            layer.src_attn = original
