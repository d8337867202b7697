"""Attention of a reuse layer: project V only and apply its group's map."""

from typing import Optional

import torch

from espnet_reuse.encoder.map_adaptation import HeadMixing, ScoreCorrection
from espnet_reuse.encoder.shared_map import SharedMap
from espnet_reuse.espnet_api import MultiHeadedAttention


class SharedMapAttention(MultiHeadedAttention):
    """Multi-head attention that reuses another layer's probabilities.

    It owns ``linear_v`` and ``linear_out`` only: no ``linear_q``, ``linear_k``,
    ``linear_pos`` or positional biases, and it computes no scores, relative shift,
    masking or softmax. The map it applies (B, H, T1, T2) comes from
    ``self.shared_map``; padded keys already carry zero probability there. With
    ``head_mixing`` or ``score_rank`` the layer adapts that map first
    (``map_adaptation``: the identity at initialisation).
    ``.attn`` holds the map it applied, as in every ESPnet attention module, so
    ``calculate_all_attentions`` and attention plots see reuse layers too. In
    training, attention dropout is drawn once per group (``SharedMap.dropped_map``), so
    the group's layers apply one tensor and backward stores no copy of it (a layer
    that adapts its map draws its own dropout on the adapted map).
    """

    def __init__(
        self,
        n_head: int,
        n_feat: int,
        dropout_rate: float,
        head_mixing: bool = False,
        score_rank: int = 0,
    ) -> None:
        super().__init__(n_head, n_feat, dropout_rate)
        del self.linear_q, self.linear_k, self.q_norm, self.k_norm
        self.shared_map: Optional[SharedMap] = None
        self.head_mixing = HeadMixing(n_head) if head_mixing else None
        self.score_correction = (
            ScoreCorrection(n_feat, n_head, score_rank) if score_rank > 0 else None
        )

    @property
    def adapts(self) -> bool:
        """Whether this layer changes its group's map before applying it."""
        return self.head_mixing is not None or self.score_correction is not None

    @classmethod
    def with_projections_of(
        cls, attention: MultiHeadedAttention, head_mixing: bool = False, score_rank: int = 0
    ) -> "SharedMapAttention":
        """Build a reuse module that keeps ``attention``'s V and output projections (and
        adapts the group's map as ``head_mixing`` and ``score_rank`` say)."""
        module = cls(
            attention.h,
            attention.h * attention.d_k,
            attention.dropout_rate,
            head_mixing,
            score_rank,
        )
        module.linear_v = attention.linear_v
        module.linear_out = attention.linear_out
        return module

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        *pos_emb_and_mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """Apply the group's map to V.

        Accepts both ESPnet call forms, ``(q, k, v, mask)`` and
        ``(q, k, v, pos_emb, mask)``; the positional embedding and the mask are
        already folded into a computed map (and make a learned one).
        """
        n_batch, time2 = value.size(0), value.size(1)
        mask = pos_emb_and_mask[-1] if pos_emb_and_mask else None
        attn = self.shared_map.get(time2, mask) if self.shared_map is not None else None
        if attn is None:
            raise RuntimeError(
                "a reuse layer ran without its group's map: run it through its "
                "reuse encoder's forward, after its group's map source"
            )
        if attn.size(0) == 1:  # a learned map of an unpadded batch
            attn = attn.expand(n_batch, -1, -1, -1)
        if attn.shape != (n_batch, self.h, query.size(1), time2):
            raise RuntimeError(
                f"shared attention map has shape {tuple(attn.shape)}, expected "
                f"{(n_batch, self.h, query.size(1), time2)}"
            )
        if self.score_correction is not None:
            attn = self.score_correction(attn, query, mask)
        if self.head_mixing is not None:
            attn = self.head_mixing(attn)
        self.attn = attn
        v = self.linear_v(value).view(n_batch, time2, self.h, self.d_k).transpose(1, 2)
        if self.training and self.dropout_rate > 0:
            if self.adapts:  # this layer's own map: its own dropout
                attn = self.dropout(attn)
            else:  # one dropout mask for the whole group
                attn = self.shared_map.dropped_map(attn, self.dropout)
                attn = attn.expand(n_batch, -1, -1, -1)
        x = torch.matmul(attn, v)  # (batch, head, time1, d_k)
        x = x.transpose(1, 2).reshape(n_batch, -1, self.h * self.d_k)
        return self.linear_out(x)
