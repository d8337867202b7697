"""A group's map source: the ESPnet Conformer layer that computes the map its group shares."""

from typing import Optional, Tuple, Union

import torch

from espnet_reuse.encoder.precision import in_compute_dtype
from espnet_reuse.encoder.shared_map_attention import SharedMap
from espnet_reuse.espnet_api import EncoderLayer

LayerInput = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


class KeptDropout(torch.nn.Dropout):
    """Dropout that keeps its last output, the attention map as ESPnet applied it."""

    last_output: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_output = super().forward(x)
        return self.last_output


class MapSourceLayer(EncoderLayer):
    """ESPnet's ``EncoderLayer`` that publishes its attention probabilities.

    Parameters and computation are exactly ESPnet's. After each call the layer's
    map, and the same map after its attention dropout, are put into
    ``self.shared_map`` for the other layers of its group, in the compute dtype
    under autocast (``precision.in_compute_dtype``: cast once for the group;
    ``StridedRelPositionAttention`` makes it in that dtype already).

    When stochastic depth skips the layer in training, its residual branches are
    dropped as usual, but the group still needs a map: it is computed from the
    layer's input as the attention branch would see it with every dropped branch
    contributing zero, i.e. ``self_attn(norm_mha(x))``.
    """

    shared_map: Optional[SharedMap] = None

    @classmethod
    def from_layer(cls, layer: EncoderLayer) -> "MapSourceLayer":
        """Wrap the modules of an ESPnet layer (same objects, same weights)."""
        source = cls(
            layer.size,
            layer.self_attn,
            layer.feed_forward,
            layer.feed_forward_macaron,
            layer.conv_module,
            layer.dropout.p,
            layer.normalize_before,
            layer.concat_after,
            layer.stochastic_depth_rate,
        )
        source.load_state_dict(layer.state_dict())
        source.self_attn.dropout = KeptDropout(layer.self_attn.dropout_rate)
        return source

    def forward(
        self,
        x_input: LayerInput,
        mask: Optional[torch.Tensor],
        cache: Optional[torch.Tensor] = None,
    ) -> Tuple[LayerInput, Optional[torch.Tensor]]:
        """Run ESPnet's layer, then hand its map to the group."""
        self.self_attn.attn = None
        output = super().forward(x_input, mask, cache)
        if self.self_attn.attn is None:  # skipped by stochastic depth
            self._compute_map(x_input, mask)
        if self.shared_map is not None:
            dropped = self.self_attn.dropout.last_output
            self.shared_map.attn = in_compute_dtype(self.self_attn.attn)
            self.shared_map.dropped = None if dropped is None else in_compute_dtype(dropped)
        self.self_attn.dropout.last_output = None
        return output

    def _compute_map(self, x_input: LayerInput, mask: Optional[torch.Tensor]) -> None:
        if isinstance(x_input, tuple):
            x, pos_emb = x_input
        else:
            x, pos_emb = x_input, None
        if self.normalize_before:
            x = self.norm_mha(x)
        if pos_emb is None:
            self.self_attn(x, x, x, mask)
        else:
            self.self_attn(x, x, x, pos_emb, mask)
