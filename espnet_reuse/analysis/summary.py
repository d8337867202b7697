"""What an attention analysis measured (``AttentionSummary``, saved as ``summary.json``),
and the parts of it computed from the accumulated statistics alone, each returned as
the summary's fields (figures drawn into ``out`` as they are made)."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from espnet_reuse.analysis import plots
from espnet_reuse.analysis.accumulate import AttentionStats, rank_heads
from espnet_reuse.analysis.head_kinds import head_kinds, kind_profile_table
from espnet_reuse.analysis.layout import layout_cost, suggest_layout
from espnet_reuse.encoder.reuse_groups import uniform_layout

SUMMARY = "summary.json"
KIND_PROFILES = "head_kind_profiles.json"  # for convert_checkpoint --learned_map_profiles
LAYOUT_RULE = (
    "consecutive groups minimising the summed JS divergence between each "
    "reuse layer's own map and its group's map source's map (exact, dynamic programming)"
)


@dataclass
class SuggestedLayout:
    """The divergence rule's layout for ``target_maps`` maps, beside the uniform one."""

    reuse_groups: List[int]
    divergence_cost: float
    uniform_reuse_groups: Optional[List[int]]
    uniform_divergence_cost: Optional[float]
    rule: str = LAYOUT_RULE


@dataclass
class AttentionSummary:
    """What ``analyze`` measured (lists of floats, by layer and head where it applies)."""

    model: str
    data_dir: str
    utterances: int
    reuse_groups: List[int]
    frame_mapping: Dict[str, Any]
    cad: Dict[str, list] = field(default_factory=dict)
    head_metrics: Dict[str, list] = field(default_factory=dict)
    head_ranking: Dict[str, list] = field(default_factory=dict)
    offset_profile: Dict[str, Any] = field(default_factory=dict)
    head_kinds: Dict[str, Any] = field(default_factory=dict)
    js_divergence: list = field(default_factory=list)
    phones: Optional[List[str]] = None  # with alignments
    phone_times: Optional[Dict[str, List[int]]] = None  # per set: utterances timed, of all
    par: Optional[list] = None
    relation_map: Optional[list] = None
    probing_accuracy: Optional[List[float]] = None  # with a probe training set
    probing_interval: Optional[List[List[float]]] = None  # 95 %, over test utterances
    speaker_probing: Optional[Dict[str, Any]] = None  # with utt2spk
    pruning_probes: Optional[Dict[str, list]] = None  # per order: Analysis.pruned's probes
    pruning_probe_layer: Optional[int] = None  # the layer (from 1) they read
    boundaries: Optional[Dict[str, Any]] = None  # with alignments
    pruning_wer: Optional[Dict[str, list]] = None
    suggested_layout: Optional[SuggestedLayout] = None

    def write(self, out_dir: Path) -> Path:
        """``out_dir/summary.json`` (what was not measured is left out)."""
        values = {k: v for k, v in asdict(self).items() if v is not None}
        path = out_dir / SUMMARY
        path.write_text(json.dumps(values, indent=1))
        return path


def map_statistics(
    stats: AttentionStats,
    metrics: Dict[str, torch.Tensor],
    divergence: torch.Tensor,
    max_offset: int,
    out: Path,
) -> Dict[str, Any]:
    """CAD, the head metrics (``metrics``, each (layer, head)) and their ranking, the
    offset profiles, the heads' kinds (and ``KIND_PROFILES`` for learned maps), and
    the layers' JS ``divergence`` (layer, layer)."""
    cad = stats.mean_cad()
    plots.cad_curves(cad, out / "cad.png")
    plots.head_metrics(metrics, out / "head_metrics.png")
    profiles = stats.mean_offset_profile()
    kinds = head_kinds(profiles, metrics["verticality"])
    plots.head_kinds(kinds, max_offset, out / "head_kinds.png")
    kind_profiles = {"max_offset": max_offset, "per_layer_head": kind_profile_table(kinds)}
    (out / KIND_PROFILES).write_text(json.dumps({"offset_profile": kind_profiles}))
    plots.divergence(divergence, out / "js_divergence.png")
    return {
        "cad": {"curves": cad.tolist(), "per_layer": cad.mean(dim=1).tolist()},
        "head_metrics": {k: v.tolist() for k, v in metrics.items()},
        "head_ranking": {k: rank_heads(v) for k, v in metrics.items()},
        "offset_profile": {"max_offset": max_offset, "per_layer_head": profiles.tolist()},
        "head_kinds": kinds,
        "js_divergence": divergence.tolist(),
    }


def phone_relations(
    stats: AttentionStats, phones: Optional[List[str]], per_head: bool, out: Path
) -> Dict[str, Any]:
    """Phoneme attention relationship and relation maps over ``phones`` (by id; ``None``
    without alignments: nothing); ``per_head`` also draws one PAR map per head."""
    if phones is None:
        return {}
    title = "phoneme attention relationship (own run excluded)"
    plots.phone_maps(stats.par(), phones, title, out / "phoneme_attention_relationship.png")
    plots.phone_maps(
        stats.relation_map(), phones, "phoneme relation map", out / "phoneme_relation_map.png"
    )
    if per_head:
        by_head = stats.par(per_head=True)
        for h in range(by_head.size(1)):
            plots.phone_maps(
                by_head[:, h],
                phones,
                f"PAR, head {h + 1}",
                out / f"phoneme_attention_relationship_head{h + 1}.png",
            )
    return {
        "phones": phones,
        "par": stats.par().tolist(),
        "relation_map": stats.relation_map().tolist(),
    }


def layout_suggestion(divergence: torch.Tensor, target_maps: int) -> SuggestedLayout:
    """The divergence rule's layout with ``target_maps`` maps beside the uniform one."""
    groups = suggest_layout(divergence, target_maps)
    uniform = uniform_layout(divergence.size(0), target_maps)
    return SuggestedLayout(
        reuse_groups=groups,
        divergence_cost=layout_cost(divergence, groups),
        uniform_reuse_groups=uniform,
        uniform_divergence_cost=layout_cost(divergence, uniform) if uniform else None,
    )
