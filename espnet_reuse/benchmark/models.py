"""The encoders a benchmark compares, all with the same weights.

For one ESPnet encoder family (``conformer``, ``e_branchformer``, ...; ``SHAPES``
names the sizes measured):

- ``espnet``: ESPnet's encoder (``ConformerEncoder``, ``EBranchformerEncoder``, ...);
- ``fused``: the same encoder with its attention through PyTorch's fused
  ``scaled_dot_product_attention`` (``FusedRelPositionAttention``), the strongest
  baseline without reuse: what a user would otherwise run;
- ``reuse <layout>``: its reuse form (``conformer_reuse``, ...) with that ``reuse_groups``
  and map adaptation (``4x4+reuse_head_mixing``: ``reuse_groups.parse_adapted_layout``);
- ``ideal <layout>``: the ideal bound of a layout: ESPnet's encoder, with the
  attention kernels the reuse form computes maps with
  (``StridedRelPositionAttention``), whose reuse layers' attention is cut down,
  in the simplest way, to ``linear_out(A @ linear_v(x))`` with ``A`` read
  straight from the group's first attention module (the reuse form draws
  attention dropout once per group too, so reuse layers have no dropout work of
  their own). It has no bookkeeping of any kind, so ``time(ideal) /
  time(reuse)`` is the share of the possible speed-up achieved; for a layout
  without reuse it measures the reuse machinery's overhead alone. An adapted
  layout's bound does its adaptation's work too (the same ``HeadMixing`` and
  ``ScoreCorrection`` modules applied to ``A`` before the product with V).
"""

import copy
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import torch

from espnet_reuse.convert import select_parameters
from espnet_reuse.encoder.families import FAMILIES
from espnet_reuse.encoder.layer_convention import layer_convention
from espnet_reuse.encoder.map_adaptation import HeadMixing, ScoreCorrection
from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
)
from espnet_reuse.encoder.reuse_groups import (
    adapted_layout_name,
    map_sources,
    parse_adapted_layout,
)

CONFORMER_M = dict(
    output_size=256,
    attention_heads=4,
    linear_units=1024,
    num_blocks=16,
    cnn_module_kernel=31,
    macaron_style=True,
    rel_pos_type="latest",
    pos_enc_layer_type="rel_pos",
    selfattention_layer_type="rel_selfattn",
    input_layer="conv2d",
    # ESPnet's ConformerEncoder defaults; the configs (and the gpu preset) set 0.1 each
    dropout_rate=0.1,
    positional_dropout_rate=0.1,
    attention_dropout_rate=0.0,
)
# ESPnet's LibriSpeech E-Branchformer (egs2/librispeech/asr1, train_asr_e_branchformer.yaml:
# 149 M parameters with its decoder), dropout and layer drop as ESPnet's defaults
E_BRANCHFORMER_LIBRISPEECH = dict(
    output_size=512,
    attention_heads=8,
    attention_layer_type="rel_selfattn",
    pos_enc_layer_type="rel_pos",
    rel_pos_type="latest",
    cgmlp_linear_units=3072,
    cgmlp_conv_kernel=31,
    num_blocks=17,
    linear_units=1024,
    use_ffn=True,
    macaron_ffn=True,
    merge_conv_kernel=31,
    input_layer="conv2d",
    dropout_rate=0.1,
    positional_dropout_rate=0.1,
    attention_dropout_rate=0.0,
)
# An E-Branchformer of Conformer-M's width, depth and heads, LibriSpeech's unit ratios
E_BRANCHFORMER_M = dict(
    E_BRANCHFORMER_LIBRISPEECH,
    output_size=256,
    attention_heads=4,
    cgmlp_linear_units=1536,
    num_blocks=16,
    linear_units=512,
)
# name -> (ESPnet encoder, its options)
SHAPES = {
    "conformer_m": ("conformer", CONFORMER_M),
    "e_branchformer_m": ("e_branchformer", E_BRANCHFORMER_M),
    "e_branchformer_librispeech": ("e_branchformer", E_BRANCHFORMER_LIBRISPEECH),
}


class _IdealReuseAttention(torch.nn.Module):
    """A reuse layer's attention with nothing but its own work (and its adaptation's)."""

    def __init__(
        self,
        attention: torch.nn.Module,
        source: torch.nn.Module,
        head_mixing: bool = False,
        score_rank: int = 0,
    ) -> None:
        super().__init__()
        self.linear_v, self.linear_out = attention.linear_v, attention.linear_out
        self.h, self.d_k = attention.h, attention.d_k
        self._source = (source,)  # a tuple: not registered as a submodule
        self.head_mixing = HeadMixing(self.h) if head_mixing else None
        size = self.h * self.d_k
        self.score_correction = ScoreCorrection(size, self.h, score_rank) if score_rank else None

    def forward(self, query, key, value, pos_emb=None, mask=None, *unused):
        b, t, _ = value.shape
        attn = self._source[0].attn
        if self.score_correction is not None:
            attn = self.score_correction(attn, query, mask)
        if self.head_mixing is not None:
            attn = self.head_mixing(attn)
        v = self.linear_v(value).view(b, t, self.h, self.d_k).transpose(1, 2)
        x = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, -1)
        return self.linear_out(x)


def ideal_encoder(
    base: torch.nn.Module, groups: Sequence[int], adaptation: Optional[Dict[str, Any]] = None
) -> torch.nn.Module:
    """A copy of ESPnet's encoder ``base`` with the reuse layers' skipped work removed
    and their map ``adaptation``'s work (``reuse_head_mixing``, ``reuse_score_rank``) added."""
    adaptation = adaptation or {}
    model = copy.deepcopy(base)
    convention = layer_convention(model)
    for idx, source in enumerate(map_sources(groups)):
        layer = model.encoders[idx]
        if source == idx:
            StridedRelPositionAttention.convert_in_place(convention.attention_of(layer))
        else:
            source_attention = convention.attention_of(model.encoders[source])
            ideal = _IdealReuseAttention(
                convention.attention_of(layer),
                source_attention,
                bool(adaptation.get("reuse_head_mixing", False)),
                int(adaptation.get("reuse_score_rank", 0)),
            )
            convention.set_attention(layer, ideal)
    return model


def fused_encoder(base: torch.nn.Module) -> torch.nn.Module:
    """A copy of ESPnet's encoder ``base`` whose relative-position attention runs fused."""
    model = copy.deepcopy(base)
    convention = layer_convention(model)
    for layer in model.encoders:
        FusedRelPositionAttention.convert_in_place(convention.attention_of(layer))
    return model


@dataclass
class BenchmarkModels:
    """Encoders by name, in the order they are reported."""

    models: Dict[str, torch.nn.Module]
    layouts: Dict[str, List[int]]


def build_models(
    input_size: int,
    encoder_conf: dict,
    layouts: Sequence[str],
    seed: int = 0,
    encoder: str = "conformer",
) -> BenchmarkModels:
    """ESPnet's ``encoder`` (a ``FAMILIES`` name), its fused twin, and reuse and ideal
    encoders for each layout (adapted layouts too: ``4x4+reuse_head_mixing``), all with
    the same weights (an adaptation at its initialisation)."""
    espnet_class, reuse_class = FAMILIES[encoder]
    torch.manual_seed(seed)
    base = espnet_class(input_size=input_size, **encoder_conf)
    models: Dict[str, torch.nn.Module] = {"espnet": base, "fused": fused_encoder(base)}
    parsed = {}
    for spec in layouts:
        groups, adaptation = parse_adapted_layout(spec, encoder_conf["num_blocks"])
        name = adapted_layout_name(groups, adaptation)
        parsed[name] = groups
        reuse = reuse_class(
            input_size=input_size, reuse_groups=groups, **adaptation, **encoder_conf
        )
        new = reuse.state_dict()
        weights, _ = select_parameters(base.state_dict(), new.keys(), fill=new)
        reuse.load_state_dict(weights, strict=True)
        models[f"reuse {name}"] = reuse
        models[f"ideal {name}"] = ideal_encoder(base, groups, adaptation)
    return BenchmarkModels(models, parsed)
