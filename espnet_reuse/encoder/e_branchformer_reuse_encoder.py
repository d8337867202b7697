"""``e_branchformer_reuse``: ESPnet's E-Branchformer encoder with layer-wise attention map reuse."""

from typing import List, Optional

from typeguard import typechecked

from espnet_reuse.encoder.reuse import ReuseEncoder, ReuseOptions
from espnet_reuse.espnet_api import EBranchformerEncoder


class EBranchformerReuseEncoder(ReuseEncoder, EBranchformerEncoder):
    """E-Branchformer encoder whose layers share attention maps within groups.

    Every argument of ESPnet's ``EBranchformerEncoder`` is accepted with the same
    meaning and default; the reuse options are
    ``ReuseOptions``' fields (documented there). Only
    the attention branch (``attn``) changes; the cgMLP branch, the merge module
    and the feed-forward modules are ESPnet's. When layer drop skips a group's
    first layer in training, the group's map is computed from the input of its
    next layer that runs (``shared_map.map_if_source_skipped``).
    ``gradient_checkpoint_layers`` may name only layers of single-layer groups:
    a checkpointed layer runs again in backward, after its group's map is gone.
    ``mask_padding`` zeroes padded frames at the cgMLP's and the merge module's
    depthwise convolutions.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 256,
        attention_heads: int = 4,
        attention_layer_type: str = "rel_selfattn",
        pos_enc_layer_type: str = "rel_pos",
        rel_pos_type: str = "latest",
        cgmlp_linear_units: int = 2048,
        cgmlp_conv_kernel: int = 31,
        use_linear_after_conv: bool = False,
        gate_activation: str = "identity",
        num_blocks: int = 12,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        input_layer: Optional[str] = "conv2d",
        zero_triu: bool = False,
        padding_idx: int = -1,
        layer_drop_rate: float = 0.0,
        max_pos_emb_len: int = 5000,
        use_ffn: bool = False,
        macaron_ffn: bool = False,
        ffn_activation_type: str = "swish",
        linear_units: int = 2048,
        positionwise_layer_type: str = "linear",
        merge_conv_kernel: int = 3,
        interctc_layer_idx=None,
        interctc_use_conditioning: bool = False,
        qk_norm: bool = False,
        use_flash_attn: bool = True,
        gradient_checkpoint_layers: List[int] = [],
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
        # gradient_checkpoint_layers counts the input layer as 0
        sharing = [layer + 1 for layer in options.sharing_layers()]
        checkpointed = sorted(set(sharing) & set(gradient_checkpoint_layers))
        if checkpointed:
            raise ValueError(
                f"gradient_checkpoint_layers {checkpointed} are layers of groups that share a "
                f"map (reuse_groups {options.reuse_groups}); a checkpointed layer runs again in "
                "backward, after the map is gone: checkpoint single-layer groups only"
            )
        self.build_reuse(EBranchformerEncoder, locals(), options)
