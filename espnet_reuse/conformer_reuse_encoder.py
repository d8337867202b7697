"""``conformer_reuse``: ESPnet's Conformer encoder with layer-wise attention map reuse."""

import inspect
from typing import Any, List, Optional, Tuple, Union

import torch
from espnet2.asr.ctc import CTC
from espnet2.asr.encoder.conformer_encoder import ConformerEncoder
from typeguard import typechecked

from espnet_reuse.map_source_layer import MapSourceLayer
from espnet_reuse.reuse_groups import (
    check_reuse_groups,
    check_trim_points,
    group_leaders,
)
from espnet_reuse.shared_map_attention import SharedMap, SharedMapAttention

_CONFORMER_ARGS = [
    name
    for name in inspect.signature(ConformerEncoder.__init__).parameters
    if name != "self"
]


class ConformerReuseEncoder(ConformerEncoder):
    """Conformer encoder whose layers share attention maps within groups.

    Every argument of ESPnet's ``ConformerEncoder`` is accepted with the same
    meaning and default. One argument is added:

    Args:
        reuse_groups: sizes of consecutive layer groups, summing to
            ``num_blocks`` (default: ``[1] * num_blocks``, no reuse). The first
            layer of a group computes its attention probabilities; each other
            layer projects only V, applies those probabilities (per head) and
            ``linear_out``. Gradients of every layer of a group flow into the
            map, hence into the first layer's Q, K and positional projections.

    Parameter names are those of ``ConformerEncoder``; reuse layers simply lack
    ``linear_q``, ``linear_k``, ``linear_pos`` and ``pos_bias_u/v``.
    ``layer_drop_rate`` is accepted and, as in ESPnet's Conformer, unused.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 256,
        attention_heads: int = 4,
        linear_units: int = 2048,
        num_blocks: int = 6,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        input_layer: Optional[str] = "conv2d",
        normalize_before: bool = True,
        concat_after: bool = False,
        positionwise_layer_type: str = "linear",
        positionwise_conv_kernel_size: int = 3,
        macaron_style: bool = False,
        rel_pos_type: str = "legacy",
        pos_enc_layer_type: str = "rel_pos",
        selfattention_layer_type: str = "rel_selfattn",
        activation_type: str = "swish",
        use_cnn_module: bool = True,
        zero_triu: bool = False,
        cnn_module_kernel: int = 31,
        padding_idx: int = -1,
        interctc_layer_idx: List[int] = [],
        interctc_use_conditioning: bool = False,
        ctc_trim: bool = False,
        stochastic_depth_rate: Union[float, List[float]] = 0.0,
        layer_drop_rate: float = 0.0,
        max_pos_emb_len: int = 5000,
        qk_norm: bool = False,
        use_flash_attn: bool = True,
        reuse_groups: Any = None,
    ):
        arguments = locals()
        groups = check_reuse_groups(reuse_groups, num_blocks)
        check_trim_points(groups, interctc_layer_idx, ctc_trim)
        super().__init__(**{name: arguments[name] for name in _CONFORMER_ARGS})
        self.reuse_groups = groups
        self.map_leaders = group_leaders(groups)

        for idx, leader in enumerate(self.map_leaders):
            layer = self.encoders[idx]
            if leader != idx:
                layer.self_attn = SharedMapAttention.from_attention(layer.self_attn)
            elif self.map_leaders.count(idx) > 1:
                # the explicit softmax path is the one that keeps `.attn`
                attention = layer.self_attn
                attention.use_flash_attn = attention.use_sdpa = False
                attention.dropout = torch.nn.Dropout(attention.dropout_rate)
                self.encoders[idx] = MapSourceLayer.from_layer(layer)

    def forward(
        self,
        xs_pad: torch.Tensor,
        ilens: torch.Tensor,
        prev_states: Optional[torch.Tensor] = None,
        masks: Optional[torch.Tensor] = None,
        ctc: Optional[CTC] = None,
        return_all_hs: bool = False,
    ) -> Tuple[Any, torch.Tensor, Optional[torch.Tensor]]:
        """Encode as ``ConformerEncoder.forward``, sharing maps within groups."""
        self._attach_shared_maps()
        try:
            return super().forward(
                xs_pad, ilens, prev_states, masks, ctc, return_all_hs
            )
        finally:
            self._detach_shared_maps()

    def _attach_shared_maps(self) -> None:
        maps = {}
        for idx, leader in enumerate(self.map_leaders):
            if leader == idx:
                if isinstance(self.encoders[idx], MapSourceLayer):
                    maps[idx] = self.encoders[idx].shared_map = SharedMap()
            else:
                self.encoders[idx].self_attn.shared_map = maps[leader]

    def _detach_shared_maps(self) -> None:
        for idx, leader in enumerate(self.map_leaders):
            if leader != idx:
                self.encoders[idx].self_attn.shared_map = None
            elif isinstance(self.encoders[idx], MapSourceLayer):
                self.encoders[idx].shared_map = None
