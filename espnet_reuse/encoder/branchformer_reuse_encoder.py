"""``branchformer_reuse``: ESPnet's Branchformer encoder with layer-wise attention map reuse."""

from typing import List, Optional, Union

from typeguard import typechecked

from espnet_reuse.encoder.reuse import ReuseEncoder, ReuseOptions
from espnet_reuse.espnet_api import BranchformerEncoder


class BranchformerReuseEncoder(ReuseEncoder, BranchformerEncoder):
    """Branchformer encoder whose layers share attention maps within groups.

    Every argument of ESPnet's ``BranchformerEncoder`` is accepted with the same
    meaning and default; the reuse options are ``ReuseOptions``' fields (documented there). A
    layer without an attention branch (``use_attn: false``, or ``cgmlp_weight``
    1.0 with ``merge_method: fixed_ave``) can only be a group of its own.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 256,
        use_attn: bool = True,
        attention_heads: int = 4,
        attention_layer_type: str = "rel_selfattn",
        pos_enc_layer_type: str = "rel_pos",
        rel_pos_type: str = "latest",
        use_cgmlp: bool = True,
        cgmlp_linear_units: int = 2048,
        cgmlp_conv_kernel: int = 31,
        use_linear_after_conv: bool = False,
        gate_activation: str = "identity",
        merge_method: str = "concat",
        cgmlp_weight: Union[float, List[float]] = 0.5,
        attn_branch_drop_rate: Union[float, List[float]] = 0.0,
        num_blocks: int = 12,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        input_layer: Optional[str] = "conv2d",
        zero_triu: bool = False,
        padding_idx: int = -1,
        stochastic_depth_rate: Union[float, List[float]] = 0.0,
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
        self.build_reuse(BranchformerEncoder, locals(), options)
