"""``conformer_reuse``: ESPnet's Conformer encoder with layer-wise attention map reuse."""

from typing import List, Optional, Union

from typeguard import typechecked

from espnet_reuse.encoder.reuse import ReuseEncoder, ReuseOptions
from espnet_reuse.encoder.reuse_groups import check_trim_points
from espnet_reuse.espnet_api import ConformerEncoder


class ConformerReuseEncoder(ReuseEncoder, ConformerEncoder):
    """Conformer encoder whose layers share attention maps within groups.

    Every argument of ESPnet's ``ConformerEncoder`` is accepted with the same
    meaning and default; the reuse options are
    ``ReuseOptions``' fields (documented there).
    ``ctc_trim`` must not trim frames inside a group. When stochastic depth
    skips a group's first layer in training, the group's map is computed from
    that layer's input as its attention branch would see it
    (``shared_map.map_if_source_skipped``). ``layer_drop_rate`` is accepted
    and, as in ESPnet's Conformer, unused.
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
        reuse_groups: Optional[List[int]] = None,
        learned_map_groups: List[int] = [],
        learned_map_max_offset: int = 64,
        learned_map_init: str = "patterns",
        mask_padding: bool = False,
        fused_attention: bool = False,
        reuse_head_mixing: bool = False,
        reuse_score_rank: int = 0,
    ):
        options = ReuseOptions(
            reuse_groups=reuse_groups,
            learned_map_groups=learned_map_groups,
            learned_map_max_offset=learned_map_max_offset,
            learned_map_init=learned_map_init,
            mask_padding=mask_padding,
            fused_attention=fused_attention,
            reuse_head_mixing=reuse_head_mixing,
            reuse_score_rank=reuse_score_rank,
        ).checked(num_blocks)
        check_trim_points(options.reuse_groups, interctc_layer_idx, ctc_trim)
        self.build_reuse(ConformerEncoder, locals(), options)
