"""``conformer_reuse``: ESPnet's Conformer encoder with layer-wise attention map reuse."""

import inspect
from typing import Any, List, Optional, Tuple, Union

import torch
from typeguard import typechecked

from espnet_reuse.encoder.learned_map import LearnedRelativeMap
from espnet_reuse.encoder.map_source_layer import MapSourceLayer
from espnet_reuse.encoder.padding import mask_padding as mask_padding_hooks
from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
)
from espnet_reuse.encoder.reuse_groups import (
    check_reuse_groups,
    check_trim_points,
    map_sources,
)
from espnet_reuse.encoder.shared_map_attention import SharedMap, SharedMapAttention
from espnet_reuse.espnet_api import CTC, ConformerEncoder

_CONFORMER_ARGS = [
    name for name in inspect.signature(ConformerEncoder.__init__).parameters if name != "self"
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
            map, hence into the map source's Q, K and positional projections.
        learned_map_groups: indices (from 0) of groups whose map is
            input-independent: per head, learned logits over relative offsets
            (``espnet_reuse.encoder.learned_map``); every layer of such a group,
            the first included, projects only V.
        learned_map_max_offset: largest relative offset with its own logit;
            farther keys share the edge logit.
        learned_map_init: ``patterns`` (identity, previous, next, left,
            right, global, head by head) or ``uniform``.
        mask_padding: in training and inference, take the output lengths and
            masks from each utterance's true length and zero padded frames at
            the input of every depthwise convolution
            (``espnet_reuse.encoder.padding``), so that padding never reaches an
            utterance's frames (BatchNorm's training statistics aside). Off by
            default: ESPnet's Conformer lets padding leak, and off keeps it
            bitwise. No parameters change, so checkpoints load either way.
        fused_attention: layers whose map no other layer reuses (single-layer
            groups) run relative-position attention through PyTorch's fused
            ``scaled_dot_product_attention`` (``FusedRelPositionAttention``,
            equal to ESPnet's to float tolerance). Their ``.attn`` is then
            ``None``, so attention plots and the analysis see no map there; a
            shared map is always computed explicitly. Off by default: on CPU
            the fused and the strided path are equally fast (docs/speed.md).

    Parameter names are those of ``ConformerEncoder``; reuse layers simply lack
    ``linear_q``, ``linear_k``, ``linear_pos`` and ``pos_bias_u/v``.
    ``layer_drop_rate`` is accepted and, as in ESPnet's Conformer, unused.
    Layers that compute relative-position attention (``rel_pos_type: latest``)
    use ``StridedRelPositionAttention``, ESPnet's math without its copies.
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
        learned_map_groups: List[int] = [],
        learned_map_max_offset: int = 64,
        learned_map_init: str = "patterns",
        mask_padding: bool = False,
        fused_attention: bool = False,
    ):
        arguments = locals()
        groups = check_reuse_groups(reuse_groups, num_blocks)
        check_trim_points(groups, interctc_layer_idx, ctc_trim)
        bad = [g for g in learned_map_groups if not 0 <= g < len(groups)]
        if bad or len(set(learned_map_groups)) != len(learned_map_groups):
            raise ValueError(
                f"learned_map_groups {learned_map_groups} must name distinct groups "
                f"0..{len(groups) - 1} of reuse_groups {groups}"
            )
        super().__init__(**{name: arguments[name] for name in _CONFORMER_ARGS})
        self.reuse_groups = groups
        self.map_sources = map_sources(groups)
        self.learned_maps = torch.nn.ModuleDict(
            {
                str(g): LearnedRelativeMap(
                    attention_heads, learned_map_max_offset, learned_map_init
                )
                for g in sorted(learned_map_groups)
            }
        )
        self.group_index = [g for g, size in enumerate(groups) for _ in range(size)]
        self.mask_padding = mask_padding

        for idx, source in enumerate(self.map_sources):
            layer = self.encoders[idx]
            if source != idx or str(self.group_index[idx]) in self.learned_maps:
                layer.self_attn = SharedMapAttention.with_projections_of(layer.self_attn)
                continue
            shared = self.map_sources.count(idx) > 1
            if fused_attention and not shared:
                FusedRelPositionAttention.convert_in_place(layer.self_attn)
            else:
                StridedRelPositionAttention.convert_in_place(layer.self_attn)
            if shared:
                # the explicit softmax path is the one that keeps `.attn`
                layer.self_attn.use_flash_attn = layer.self_attn.use_sdpa = False
                self.encoders[idx] = MapSourceLayer.from_layer(layer)
        if mask_padding:
            mask_padding_hooks(self)

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
            return super().forward(xs_pad, ilens, prev_states, masks, ctc, return_all_hs)
        finally:
            self._detach_shared_maps()

    def _attach_shared_maps(self) -> None:
        maps = [
            SharedMap(self.learned_maps[str(g)] if str(g) in self.learned_maps else None)  # noqa: SIM401 (no ModuleDict.get)
            for g in range(len(self.reuse_groups))
        ]
        for layer, group in zip(self.encoders, self.group_index):
            if isinstance(layer, MapSourceLayer):
                layer.shared_map = maps[group]
            elif isinstance(layer.self_attn, SharedMapAttention):
                layer.self_attn.shared_map = maps[group]

    def _detach_shared_maps(self) -> None:
        for layer in self.encoders:
            if isinstance(layer, MapSourceLayer):
                layer.shared_map = None
            elif isinstance(layer.self_attn, SharedMapAttention):
                layer.self_attn.shared_map = None
