"""A group's shared attention map, from the layer that computes it to the layers that apply it.

Per group and per ``ReuseEncoder.forward`` call, one ``SharedMap`` (made by the
encoder when the call starts, taken back when it ends):

1. **published** by the group's map source (``SharedMap.publish``): the project's
   relative-position attention publishes where the map is a local variable
   (``rel_position_attention.StridedRelPositionAttention.forward_attention``); an
   ESPnet attention class the project does not replace (the Transformer's
   ``selfattn``, ``legacy_rel_selfattn``) publishes through a forward hook
   (``publish_after_forward``, installed by ``make_source``);
2. or **made** on first use, for an input-independent group, by its
   ``LearnedRelativeMap`` (``SharedMap.get``);
3. **read** by each reuse layer (``SharedMap.get``,
   ``shared_map_attention.SharedMapAttention.forward``), its attention dropout drawn
   once for the group (``SharedMap.dropped_map``).

When a layer is skipped in training (stochastic depth inside the layer, or the
encoder's layer drop), its attention module never runs, but the group still needs
a map: ``map_if_source_skipped``, a forward pre-hook of every reuse layer of a
computed group, then computes it with the source's normalisation and attention
from the reuse layer's input. A skipped layer passes its input on unchanged, so
that is the input the source would have seen, with every dropped branch
contributing zero.
"""

from typing import Optional

import torch
from torch.utils.hooks import RemovableHandle

from espnet_reuse.encoder.layer_convention import LayerConvention, LayerInput
from espnet_reuse.encoder.learned_map import LearnedRelativeMap
from espnet_reuse.encoder.precision import in_compute_dtype
from espnet_reuse.espnet_api import MultiHeadedAttention


class SharedMap:
    """The attention probabilities (B, H, T1, T2) one group uses in one forward.

    ``attn`` is written once per call: by ``publish`` (a computed group's source) or
    by ``get`` from ``source`` (an input-independent group); ``dropped``, the map
    after attention dropout, by ``publish`` or by the first ``dropped_map`` call.
    Both are in the compute dtype under autocast (``precision.in_compute_dtype``:
    cast once for the group). ``source_layer`` is the layer that computes a
    computed group's map again when it was skipped (``map_if_source_skipped``).
    """

    def __init__(
        self,
        source: Optional[LearnedRelativeMap] = None,
        source_layer: Optional[torch.nn.Module] = None,
    ) -> None:
        self.attn: Optional[torch.Tensor] = None
        self.dropped: Optional[torch.Tensor] = None
        self.source = source
        self.source_layer = source_layer

    def publish(self, attn: torch.Tensor, dropped: Optional[torch.Tensor] = None) -> None:
        """The map source's map ``attn`` (B, H, T1, T2) and, if it applied attention
        dropout, the map as it applied it."""
        self.attn = in_compute_dtype(attn)
        self.dropped = None if dropped is None else in_compute_dtype(dropped)

    def get(self, time: int, mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The group's map, made from ``source`` (``time`` keys, ``mask`` (B, 1, T2)) if
        it has one and none exists yet; ``None`` when no source has published."""
        if self.attn is None and self.source is not None:
            self.attn = in_compute_dtype(self.source(time, mask))
        return self.attn

    def dropped_map(self, attn: torch.Tensor, dropout: torch.nn.Module) -> torch.Tensor:
        """The group's map after attention dropout: the source's, or ``dropout(attn)``
        drawn once by the first reuse layer that asks (``attn`` (B, H, T1, T2))."""
        if self.dropped is None:
            self.dropped = dropout(attn)
        return self.dropped


# -- ESPnet's attention classes: the map published by a hook ---------------------------
class KeptDropout(torch.nn.Dropout):
    """Dropout that keeps its last output, the attention map as ESPnet applied it."""

    last_output: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_output = super().forward(x)
        return self.last_output


def publish_after_forward(
    attention: MultiHeadedAttention, inputs: tuple, output: torch.Tensor
) -> None:
    """Forward hook of an ESPnet map source: publish its ``.attn`` and the map its
    dropout kept to its group's ``shared_map``."""
    dropped = attention.dropout.last_output
    attention.dropout.last_output = None
    if attention.shared_map is not None:
        attention.shared_map.publish(attention.attn, dropped)


def make_source(attention: MultiHeadedAttention) -> RemovableHandle:
    """Make ESPnet's ``attention`` publish its map to its group, in place (same
    parameters); returns the hook's handle."""
    # the explicit softmax path is the one that keeps `.attn`
    attention.use_flash_attn = attention.use_sdpa = False
    attention.dropout = KeptDropout(attention.dropout_rate)
    attention.shared_map = None
    return attention.register_forward_hook(publish_after_forward)


# -- a skipped source ------------------------------------------------------------------
def compute_map(
    layer: torch.nn.Module,
    convention: LayerConvention,
    x_input: LayerInput,
    mask: Optional[torch.Tensor],
) -> None:
    """Run ``layer``'s attention branch on ``x_input`` (x (B, T, D), or (x, pos_emb)) and
    ``mask`` (B, 1, T) for its map only (the attention publishes it; the output is not
    used)."""
    x, pos_emb = x_input if isinstance(x_input, tuple) else (x_input, None)
    x = convention.normalised_input(layer, x)
    attention = convention.attention_of(layer)
    if pos_emb is None:
        attention(x, x, x, mask)
    else:
        attention(x, x, x, pos_emb, mask)


def map_if_source_skipped(
    layer: torch.nn.Module, args: tuple, kwargs: dict, convention: LayerConvention
) -> None:
    """Forward pre-hook (``with_kwargs=True``, ``convention`` bound) of a reuse layer:
    compute its group's map when the source did not run (skipped in training), from
    this layer's input and mask."""
    holder = convention.attention_of(layer).shared_map
    if holder is not None and holder.attn is None and holder.source_layer is not None:
        compute_map(holder.source_layer, convention, *convention.call_arguments(args, kwargs))
