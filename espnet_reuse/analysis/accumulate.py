"""Running sums of the attention metrics over utterances (nothing per utterance is kept)."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from espnet_reuse.analysis.capture import UtteranceCapture
from espnet_reuse.analysis.metrics import (
    cumulative_diagonality,
    diagonality,
    globalness,
    js_divergence,
    normalise_rows,
    offset_profile,
    phoneme_attention_sums,
    verticality,
)


@dataclass
class AttentionStats:
    """Per layer and head sums; ``summary()`` turns them into means."""

    num_layers: int
    num_heads: int
    max_range: int
    num_phones: int = 0
    max_offset: int = 64
    utterances: int = 0
    cad: torch.Tensor = field(init=False)
    head_metrics: Dict[str, torch.Tensor] = field(init=False)
    divergence: torch.Tensor = field(init=False)
    offsets: torch.Tensor = field(init=False)
    par_sums: Optional[torch.Tensor] = None
    relation_sums: Optional[torch.Tensor] = None
    phone_counts: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        shape = (self.num_layers, self.num_heads)
        self.cad = torch.zeros(*shape, self.max_range + 1)
        self.head_metrics = {
            k: torch.zeros(shape) for k in ("globalness", "verticality", "diagonality")
        }
        self.divergence = torch.zeros(self.num_layers, self.num_layers)
        self.offsets = torch.zeros(*shape, 2 * self.max_offset + 1)
        if self.num_phones:
            pairs = (*shape, self.num_phones, self.num_phones)
            self.par_sums, self.relation_sums = torch.zeros(pairs), torch.zeros(pairs)
            self.phone_counts = torch.zeros(self.num_phones)

    def add(self, captured: UtteranceCapture, labels: Optional[torch.Tensor] = None) -> None:
        """Add one utterance (and its frame phone labels, if the stats have phones)."""
        maps = torch.stack(captured.maps)  # (L, H, T, T)
        self.utterances += 1
        self.cad += cumulative_diagonality(maps, self.max_range)
        self.head_metrics["globalness"] += globalness(maps)
        self.head_metrics["verticality"] += verticality(maps)
        self.head_metrics["diagonality"] += diagonality(maps)
        self.offsets += offset_profile(maps, self.max_offset)
        for a in range(self.num_layers):
            self.divergence[a] += js_divergence(maps[a : a + 1], maps).mean(dim=-1)
        if labels is not None and self.par_sums is not None:
            par, counts = phoneme_attention_sums(maps, labels, self.num_phones, True)
            relation, _ = phoneme_attention_sums(maps, labels, self.num_phones, False)
            self.par_sums += par
            self.relation_sums += relation
            self.phone_counts += counts

    def mean_cad(self) -> torch.Tensor:
        """CAD curves per layer, averaged over heads and utterances: (L, R+1)."""
        return self.cad.mean(dim=1) / max(self.utterances, 1)

    def mean_head_metrics(self) -> Dict[str, torch.Tensor]:
        """Globalness, verticality and diagonality per layer and head."""
        return {k: v / max(self.utterances, 1) for k, v in self.head_metrics.items()}

    def mean_offset_profile(self) -> torch.Tensor:
        """Attention mass per relative offset, per layer and head: (L, H, 2R+1)."""
        return self.offsets / max(self.utterances, 1)

    def mean_divergence(self) -> torch.Tensor:
        """Jensen-Shannon divergence between layers, averaged over heads: (L, L)."""
        return self.divergence / max(self.utterances, 1)

    def par(self, per_head: bool = False) -> torch.Tensor:
        """Phoneme attention relationship (same-run frames excluded): (L, [H,] C, C)."""
        return self._per_phone(self.par_sums, per_head)

    def relation_map(self, per_head: bool = False) -> torch.Tensor:
        """Phoneme relation map (Yang et al.), rows normalised: (L, [H,] C, C)."""
        return self._per_phone(self.relation_sums, per_head)

    def _per_phone(self, sums: Optional[torch.Tensor], per_head: bool) -> torch.Tensor:
        if sums is None:
            raise ValueError("no phone alignments were given")
        values = normalise_rows(sums, self.phone_counts)
        return values if per_head else values.mean(dim=1)


def rank_heads(metric: torch.Tensor) -> List[tuple]:
    """``(layer, head)`` pairs, highest metric first."""
    layers, heads = metric.shape
    order = metric.flatten().argsort(descending=True).tolist()
    return [(i // heads, i % heads) for i in order]
