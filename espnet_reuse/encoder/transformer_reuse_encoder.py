"""``transformer_reuse``: ESPnet's Transformer encoder with layer-wise attention map reuse."""

from typing import List, Optional

from typeguard import typechecked

from espnet_reuse.encoder.reuse import ReuseEncoder, ReuseOptions
from espnet_reuse.espnet_api import PositionalEncoding, TransformerEncoder


class TransformerReuseEncoder(ReuseEncoder, TransformerEncoder):
    """Transformer encoder whose layers share attention maps within groups.

    Every argument of ESPnet's ``TransformerEncoder`` is accepted with the same
    meaning and default; the reuse options are ``ReuseOptions``' fields (documented there)
    (``fused_attention`` concerns relative-position attention, which ESPnet's
    Transformer does not use; its own ``use_flash_attn`` stays in force for
    layers whose map nobody reuses).
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
        pos_enc_class=PositionalEncoding,
        pos_enc_layer_type="abs_pos",
        normalize_before: bool = True,
        concat_after: bool = False,
        positionwise_layer_type: str = "linear",
        positionwise_conv_kernel_size: int = 1,
        padding_idx: int = -1,
        interctc_layer_idx: List[int] = [],
        interctc_use_conditioning: bool = False,
        layer_drop_rate: float = 0.0,
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
        self.build_reuse(TransformerEncoder, locals(), options)
