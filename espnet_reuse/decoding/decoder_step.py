"""ESPnet's Transformer decoder step for a beam search, keys and values computed once.

ESPnet's decoder step (``forward_one_step``) caches each layer's outputs: at every
step, for every hypothesis, each layer projects the whole prefix to self-attention
keys and values again, and the encoder output to source-attention keys and values
again. ``DecoderStep`` runs the same layers with ESPnet's arithmetic (layer norms,
scaled scores, softmax, residuals, feed-forward, output layer) but projects each
prefix position once, when it is new, and each utterance's encoder output once for
all its hypotheses and steps. It serves decoders whose layers are ESPnet's
``DecoderLayer`` with eager ``MultiHeadedAttention`` (``supports``); ``EspnetDecoderStep``
runs ESPnet's own step for the others. Both are the search's full scorer
(``scorer.BatchScorer``).
"""

import math
from typing import List, NamedTuple, Optional, Tuple

import torch

from espnet_reuse import espnet_api
from espnet_reuse.decoding.scorer import BatchScorer


def _eager_attention(attention: torch.nn.Module) -> bool:
    return (
        type(attention) is espnet_api.MultiHeadedAttention
        and not getattr(attention, "use_sdpa", False)
        and not getattr(attention, "use_flash_attn", False)
    )


def supports(decoder: torch.nn.Module) -> bool:
    """Whether ``decoder`` is a Transformer decoder whose every layer is ESPnet's
    ``DecoderLayer`` with eager self- and source attention, residuals without
    ``concat_after`` and no second memory."""
    layers = getattr(decoder, "decoders", None)
    if not isinstance(decoder, espnet_api.BaseTransformerDecoder) or layers is None:
        return False
    return all(
        type(layer) is espnet_api.DecoderLayer
        and _eager_attention(layer.self_attn)
        and _eager_attention(layer.src_attn)
        and not layer.concat_after
        and getattr(layer, "sequential_attn", None) is None
        for layer in layers
    )


def _heads(attention: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(batch, time, D) to (batch, head, time, d_k)."""
    return x.view(x.size(0), -1, attention.h, attention.d_k).transpose(1, 2)


def _attend(
    attention: torch.nn.Module,
    q: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    padding: torch.Tensor = None,
) -> torch.Tensor:
    """ESPnet's eager attention from projected queries (batch, head, query, d_k) to keys
    and values (batch, head, time, d_k); ``padding`` (batch, 1, 1, time) true on keys
    to ignore. Returns (batch, head, query, d_k)."""
    scores = torch.matmul(q, key.transpose(-2, -1)) / math.sqrt(attention.d_k)
    if padding is not None:
        scores = scores.masked_fill(padding, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1).masked_fill(padding, 0.0)
    else:
        weights = torch.softmax(scores, dim=-1)
    return torch.matmul(attention.dropout(weights), value)


def _embeds_by_position(embed: torch.nn.Module) -> bool:
    """Whether ``embed`` is ESPnet's token embedding followed by its sinusoidal
    ``PositionalEncoding``: a position's embedding then needs no other position."""
    return (
        isinstance(embed, torch.nn.Sequential)
        and len(embed) == 2
        and type(embed[0]) is torch.nn.Embedding
        and type(embed[1]) is espnet_api.PositionalEncoding
    )


def _embed_last(embed: torch.nn.Module, yseq: torch.Tensor) -> torch.Tensor:
    """The decoder's input at the last position of ``yseq`` (row, length): (row, 1, D),
    ESPnet's arithmetic (``x * xscale + pe``) at that position only, where ``embed``
    allows it (``_embeds_by_position``), else the whole prefix embedded as ESPnet does."""
    if not _embeds_by_position(embed):
        return embed(yseq)[:, -1:]
    tokens, positions = embed
    x = tokens(yseq[:, -1:])
    length = yseq.size(1)
    positions.extend_pe(x.expand(-1, length, -1))
    return positions.dropout(x * positions.xscale + positions.pe[:, length - 1 : length])


class SelfAttentionCache(NamedTuple):
    """Projected self-attention keys and values of every prefix position, per layer."""

    keys: List[torch.Tensor]  # (row, head, length, d_k) per layer
    values: List[torch.Tensor]  # (row, head, length, d_k) per layer

    def select(self, rows: torch.Tensor) -> "SelfAttentionCache":
        """The cache of the hypotheses ``rows``."""
        return SelfAttentionCache([k[rows] for k in self.keys], [v[rows] for v in self.values])


class DecoderStep(BatchScorer):
    """ESPnet's Transformer decoder (``supports``) stepping ``beam_size`` hypotheses per
    utterance over a batch's encoder output.

    Args:
        decoder: the decoder (its modules are used, not copied).
        memory: (batch, time, D) the encoder output.
        memory_mask: (batch, 1, time) true on each utterance's frames.
        beam_size: hypothesis rows per utterance, utterance-major.
    """

    def __init__(
        self,
        decoder: torch.nn.Module,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        beam_size: int,
    ) -> None:
        batch, time, _ = memory.shape
        assert memory_mask.shape == (batch, 1, time), (memory_mask.shape, memory.shape)
        self.decoder = decoder
        self.beam_size = beam_size
        self.source_keys, self.source_values = [], []
        for layer in decoder.decoders:
            attention = layer.src_attn
            self.source_keys.append(attention.k_norm(_heads(attention, attention.linear_k(memory))))
            self.source_values.append(_heads(attention, attention.linear_v(memory)))
        self.padding = memory_mask.unsqueeze(1).eq(0)  # (batch, 1, 1, time)

    def init_state(self) -> Optional[SelfAttentionCache]:
        """No position is cached before the first step."""
        return None

    def keep(
        self, state: SelfAttentionCache, utterances: torch.Tensor, rows: torch.Tensor, time: int
    ) -> SelfAttentionCache:
        """Keep ``utterances`` (indices into the batch), trimmed to ``time`` frames; the
        cache of their ``rows``."""
        self.source_keys = [k[utterances, :, :time] for k in self.source_keys]
        self.source_values = [v[utterances, :, :time] for v in self.source_values]
        self.padding = self.padding[utterances, ..., :time]
        return state.select(rows)

    def select(
        self,
        scored: SelfAttentionCache,
        scoring_ids: Optional[torch.Tensor],
        rows: torch.Tensor,
        tokens: torch.Tensor,
    ) -> SelfAttentionCache:
        """The cache of the hypotheses ``rows`` (the new tokens are added at the next
        step)."""
        return scored.select(rows)

    def score(
        self,
        yseq: torch.Tensor,
        state: Optional[SelfAttentionCache],
        scoring_ids: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, SelfAttentionCache]:
        """Log-probabilities of the next token (row, vocab) after each prefix of
        ``yseq`` (row, length), and the cache with the last position added; ``state``
        holds the positions before the last (None at the first step)."""
        cache = state
        decoder = self.decoder
        rows = yseq.size(0)
        batch = self.padding.size(0)
        assert rows == batch * self.beam_size, (rows, batch, self.beam_size)
        x = _embed_last(decoder.embed, yseq)  # (row, 1, D)
        keys, values = [], []
        for n, layer in enumerate(decoder.decoders):
            x, key, value = self._layer(n, layer, x, cache)
            keys.append(key)
            values.append(value)
        y = decoder.after_norm(x[:, -1]) if decoder.normalize_before else x[:, -1]
        if decoder.output_layer is not None:
            y = torch.log_softmax(decoder.output_layer(y), dim=-1)
        return y, SelfAttentionCache(keys, values)

    def _layer(self, n: int, layer: torch.nn.Module, x: torch.Tensor, cache):
        """ESPnet's ``DecoderLayer`` for the last position, x (row, 1, D)."""
        rows = x.size(0)
        norm = layer.normalize_before
        attention = layer.self_attn
        residual = x
        h = layer.norm1(x) if norm else x
        q = attention.q_norm(_heads(attention, attention.linear_q(h)))
        key = attention.k_norm(_heads(attention, attention.linear_k(h)))
        value = _heads(attention, attention.linear_v(h))
        if cache is not None:
            key = torch.cat((cache.keys[n], key), dim=2)
            value = torch.cat((cache.values[n], value), dim=2)
        context = _attend(attention, q, key, value).transpose(1, 2).reshape(rows, 1, -1)
        x = residual + layer.dropout(attention.linear_out(context))
        if not norm:
            x = layer.norm1(x)

        attention = layer.src_attn
        residual = x
        h = layer.norm2(x) if norm else x
        batch = self.padding.size(0)
        q = attention.linear_q(h).view(batch, self.beam_size, attention.h, attention.d_k)
        q = attention.q_norm(q.transpose(1, 2))  # (batch, head, hyps, d_k): an utterance's rows
        context = _attend(
            attention, q, self.source_keys[n], self.source_values[n], self.padding
        ).transpose(1, 2)
        x = residual + layer.dropout(attention.linear_out(context.reshape(rows, 1, -1)))
        if not norm:
            x = layer.norm2(x)

        residual = x
        h = layer.norm3(x) if norm else x
        x = residual + layer.dropout(layer.feed_forward(h))
        if not norm:
            x = layer.norm3(x)
        return x, key, value


class EspnetDecoderStep(BatchScorer):
    """ESPnet's own decoder step (``forward_one_step``), every row with its utterance's
    encoder output: for the decoders ``DecoderStep`` does not support, and to compare.

    Args: as ``DecoderStep``'s; the state is ESPnet's cache, each layer's outputs
    (row, length - 1, D) per layer.
    """

    def __init__(
        self,
        decoder: torch.nn.Module,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        beam_size: int,
    ) -> None:
        rows = torch.arange(memory.size(0), device=memory.device).repeat_interleave(beam_size)
        self.decoder = decoder
        self.memory = memory[rows]  # (row, time, D)
        self.memory_mask = memory_mask[rows]  # (row, 1, time)

    def init_state(self) -> Optional[List[torch.Tensor]]:
        """ESPnet's empty cache."""
        return None

    def score(
        self,
        yseq: torch.Tensor,
        state: Optional[List[torch.Tensor]],
        scoring_ids: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """ESPnet's ``forward_one_step`` on every row."""
        ys_mask = espnet_api.subsequent_mask(yseq.size(1), device=yseq.device).unsqueeze(0)
        return self.decoder.forward_one_step(
            yseq, ys_mask, self.memory, self.memory_mask, cache=state
        )

    def select(
        self,
        scored: List[torch.Tensor],
        scoring_ids: Optional[torch.Tensor],
        rows: torch.Tensor,
        tokens: torch.Tensor,
    ) -> List[torch.Tensor]:
        """ESPnet's cache of the hypotheses ``rows``."""
        return [c[rows] for c in scored]

    def keep(
        self, state: List[torch.Tensor], utterances: torch.Tensor, rows: torch.Tensor, time: int
    ) -> List[torch.Tensor]:
        """Keep the ``rows`` of the kept ``utterances``, their memory trimmed to ``time``."""
        self.memory = self.memory[rows, :time]
        self.memory_mask = self.memory_mask[rows, :, :time]
        return [c[rows] for c in state]
