"""A group's map source: the attention module whose map the rest of its group reuses.

The source is ESPnet's own attention module, with its parameters and computation
unchanged; ``make_source`` gives it a dropout that keeps its output and a forward
hook (``publish_map``) that hands the map, as computed and after attention
dropout, to the group's ``SharedMap`` of the current forward. Hooks instead of a
layer subclass: the same source serves every ESPnet layer that holds an attention
module (Conformer, E-Branchformer, Branchformer, Transformer).

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
from espnet_reuse.encoder.precision import in_compute_dtype
from espnet_reuse.espnet_api import MultiHeadedAttention


class KeptDropout(torch.nn.Dropout):
    """Dropout that keeps its last output, the attention map as ESPnet applied it."""

    last_output: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_output = super().forward(x)
        return self.last_output


def publish_map(attention: MultiHeadedAttention, inputs: tuple, output: torch.Tensor) -> None:
    """Forward hook of a map source: put its map (B, H, T1, T2), and the map after its
    attention dropout, into its group's ``shared_map``, in the compute dtype under
    autocast (``precision.in_compute_dtype``: cast once for the group)."""
    holder = attention.shared_map
    dropped = attention.dropout.last_output
    attention.dropout.last_output = None
    if holder is not None:
        holder.attn = in_compute_dtype(attention.attn)
        holder.dropped = None if dropped is None else in_compute_dtype(dropped)


def make_source(attention: MultiHeadedAttention) -> RemovableHandle:
    """Make ``attention`` publish its map to its group, in place (same parameters);
    returns the hook's handle."""
    # the explicit softmax path is the one that keeps `.attn`
    attention.use_flash_attn = attention.use_sdpa = False
    attention.dropout = KeptDropout(attention.dropout_rate)
    attention.shared_map = None
    return attention.register_forward_hook(publish_map)


def compute_map(
    layer: torch.nn.Module,
    convention: LayerConvention,
    x_input: LayerInput,
    mask: Optional[torch.Tensor],
) -> None:
    """Run ``layer``'s attention branch on ``x_input`` (x (B, T, D), or (x, pos_emb)) and
    ``mask`` (B, 1, T) for its map only (``publish_map`` hands the map on; the output is
    not used)."""
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
