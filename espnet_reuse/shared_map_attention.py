"""Attention of a reuse layer: project V only and apply its group's map."""

from typing import Optional

import torch
from espnet.nets.pytorch_backend.transformer.attention import MultiHeadedAttention


class SharedMap:
    """The attention probabilities a group's first layer computed in one forward.

    ``ConformerReuseEncoder.forward`` makes one per group and call, so that
    replicas of the model (``DataParallel``) never share a map.
    """

    def __init__(self) -> None:
        self.attn: Optional[torch.Tensor] = None


class SharedMapAttention(MultiHeadedAttention):
    """Multi-head attention that reuses another layer's probabilities.

    It owns ``linear_v`` and ``linear_out`` only: no ``linear_q``, ``linear_k``,
    ``linear_pos`` or positional biases, and it computes no scores, relative shift,
    masking or softmax. The map it applies (B, H, T1, T2) comes from
    ``self.shared_map``; padded keys already carry zero probability there.
    ``.attn`` holds the map it applied, as in every ESPnet attention module, so
    ``calculate_all_attentions`` and attention plots see reuse layers too.
    """

    def __init__(self, n_head: int, n_feat: int, dropout_rate: float) -> None:
        super().__init__(n_head, n_feat, dropout_rate)
        del self.linear_q, self.linear_k, self.q_norm, self.k_norm
        self.shared_map: Optional[SharedMap] = None

    @classmethod
    def from_attention(cls, attention: MultiHeadedAttention) -> "SharedMapAttention":
        """Build a reuse module that keeps ``attention``'s V and output projections."""
        module = cls(attention.h, attention.h * attention.d_k, attention.dropout_rate)
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
        already folded into the map.
        """
        if self.shared_map is None or self.shared_map.attn is None:
            raise RuntimeError(
                "a reuse layer ran without its group's map: run it through "
                "ConformerReuseEncoder.forward, after its group's first layer"
            )
        attn = self.shared_map.attn
        n_batch, time2 = value.size(0), value.size(1)
        if attn.shape != (n_batch, self.h, query.size(1), time2):
            raise RuntimeError(
                f"shared attention map has shape {tuple(attn.shape)}, expected "
                f"{(n_batch, self.h, query.size(1), time2)}"
            )
        self.attn = attn
        v = self.linear_v(value).view(n_batch, time2, self.h, self.d_k).transpose(1, 2)
        if self.training and self.dropout_rate > 0:
            attn = self.dropout(attn)
        x = torch.matmul(attn, v)  # (batch, head, time1, d_k)
        x = x.transpose(1, 2).reshape(n_batch, -1, self.h * self.d_k)
        return self.linear_out(x)
