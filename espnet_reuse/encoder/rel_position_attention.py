"""ESPnet's relative-position attention with a copy-free score path.

``RelPositionMultiHeadedAttention`` (``rel_pos_type: latest``) builds its scores as
``(q_u K^T + shift(q_v P^T)) / sqrt(d_k)``, where ``shift`` pads, concatenates and
re-views the (T, 2T-1) position scores, two full copies, and every step allocates
a new (T, T) tensor. Here the shift is a strided view of the position scores (no
copy), the sum and scaling are done in place on the content scores, and padding
is masked by an additive bias. Outputs and maps are bitwise equal to ESPnet's (see
``forward_attention``), gradients equal up to summation order; the parameters
are the same objects with the same names. A group's map source of this class
publishes its map to the group's ``shared_map`` where it computes it.
"""

import math
from typing import Optional, Tuple

import torch

from espnet_reuse.encoder.precision import in_compute_dtype, mask_bias
from espnet_reuse.encoder.shared_map import SharedMap
from espnet_reuse.espnet_api import RelPositionMultiHeadedAttention


def rel_shift(position_scores: torch.Tensor) -> torch.Tensor:
    """Scores by relative offset (..., T, 2T-1) to scores by key (..., T, T), a view.

    Column ``c`` of ``position_scores`` holds relative position ``T - 1 - c``
    (ESPnet's ``RelPositionalEncoding`` order); entry ``(i, j)`` of the result
    is column ``T - 1 - i + j`` of row ``i``.
    """
    *lead, time1, n_pos = position_scores.shape
    time2 = n_pos // 2 + 1
    x = position_scores.contiguous()
    strides = list(x.stride())
    strides[-2] -= 1
    return x.as_strided((*lead, time1, time2), strides, x.storage_offset() + time1 - 1)


class StridedRelPositionAttention(RelPositionMultiHeadedAttention):
    """``RelPositionMultiHeadedAttention`` with a strided shift and in-place scores.

    ``zero_triu`` is not supported (ESPnet's Conformer never sets it with this
    module's callers; ``convert_in_place`` leaves ESPnet's module as it is then).
    """

    shared_map: Optional[SharedMap] = None  # set by the reuse encoder on a map source

    @classmethod
    def convert_in_place(
        cls, attention: RelPositionMultiHeadedAttention
    ) -> RelPositionMultiHeadedAttention:
        """Re-class ``attention`` in place when its configuration allows it."""
        if type(attention) is RelPositionMultiHeadedAttention and not attention.zero_triu:
            attention.__class__ = cls
        return attention

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        pos_emb: torch.Tensor,
        mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """ESPnet's relative-position attention (same arguments, same result).

        Under ``torch.compile`` ESPnet's own code runs: the compiler fuses it
        by itself.
        """
        if torch.compiler.is_compiling():
            return super().forward(query, key, value, pos_emb, mask)
        q_with_bias_u, k, v, position_scores = self.project(query, key, value, pos_emb)
        scores = torch.matmul(q_with_bias_u, k.transpose(-2, -1))
        scores.add_(position_scores)
        scores.div_(math.sqrt(self.d_k))
        return self.forward_attention(v, scores, mask)

    def project(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pos_emb: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``q + pos_bias_u``, ``k``, ``v`` (batch, head, time, d_k) and the shifted
        position scores ``(q + pos_bias_v) p^T`` (batch, head, time1, time2), unscaled."""
        q, k, v = self.forward_qkv(query, key, value)
        q = q.transpose(1, 2)  # (batch, time1, head, d_k)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k)
        p = p.transpose(1, 2)  # (batch, head, 2*time1-1, d_k)
        q_with_bias_u = (q + self.pos_bias_u).transpose(1, 2)
        q_with_bias_v = (q + self.pos_bias_v).transpose(1, 2)
        position_scores = rel_shift(torch.matmul(q_with_bias_v, p.transpose(-2, -1)))
        return q_with_bias_u, k, v, position_scores

    def forward_attention(
        self, value: torch.Tensor, scores: torch.Tensor, mask: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """ESPnet's masked softmax and context, with the mask as an additive bias.

        ESPnet fills padded keys' scores with the dtype's minimum, then zeroes
        them after the softmax. Adding a large finite negative number instead
        (``precision.mask_bias``; a broadcast add, several times cheaper than a
        broadcast ``masked_fill``) gives padded keys exactly zero probability as
        before, and never ``-inf`` in float16; rows with no valid key at all,
        which ESPnet zeroes, are zeroed by one multiply. Under autocast the map
        is cast to the compute dtype once, here (``precision.in_compute_dtype``):
        ``.attn``, the matmul below and every layer reusing the map read that copy.
        A map source publishes the map and the map after its attention dropout to
        its group's ``shared_map``.
        """
        n_batch = value.size(0)
        if mask is not None:
            valid = mask.unsqueeze(1)  # (batch, 1, *, time2)
            scores.add_(mask_bias(valid, scores.dtype))
            attn = in_compute_dtype(torch.softmax(scores, dim=-1))
            has_key = valid.any(dim=-1, keepdim=True).to(attn.dtype)
            # softmax (or the cast) is kept for backward: scale a copy when training
            attn = attn * has_key if attn.requires_grad else attn.mul_(has_key)
        else:
            attn = in_compute_dtype(torch.softmax(scores, dim=-1))
        self.attn = attn
        dropped = self.dropout(attn)
        if self.shared_map is not None:
            self.shared_map.publish(attn, dropped)
        x = torch.matmul(dropped, value)  # (batch, head, time1, d_k)
        x = x.transpose(1, 2).reshape(n_batch, -1, self.h * self.d_k)
        return self.linear_out(x)


class FusedRelPositionAttention(StridedRelPositionAttention):
    """ESPnet's relative-position attention through ``scaled_dot_product_attention``.

    The position scores ``(q + pos_bias_v) p^T``, shifted by ``rel_shift`` and
    scaled, and the padding (the dtype's minimum at padded keys) go to the fused
    kernel as its additive mask; ``(q + pos_bias_u) k^T``, the softmax and the
    context are the kernel's. The result equals ESPnet's to float tolerance
    (in training the dropout draws differ). The kernel never materialises the
    map, so ``.attn`` stays ``None``: the fastest choice for layers whose map no
    other layer reuses and no analysis reads (the benchmark's fused baseline).
    Under autocast the query and the bias are handed over in the compute dtype
    (the dtype of ``k``), so the kernel gets no float32 (batch, head, T, T) mask
    to cast back; padded keys get ``precision.mask_bias``'s finite value, so an
    utterance without valid keys gives zeros in float16 too.
    """

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        pos_emb: torch.Tensor,
        mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """Same arguments and result as ESPnet's ``RelPositionMultiHeadedAttention``."""
        q_with_bias_u, k, v, position_scores = self.project(query, key, value, pos_emb)
        scale = 1.0 / math.sqrt(self.d_k)
        bias = (position_scores * scale).to(k.dtype)  # (batch, head, time1, time2)
        if mask is not None:
            valid = mask.unsqueeze(1)  # (batch, 1, *, time2)
            bias = bias + mask_bias(valid, bias.dtype)
        x = torch.nn.functional.scaled_dot_product_attention(
            q_with_bias_u.to(k.dtype),
            k,
            v,
            attn_mask=bias,
            dropout_p=self.dropout_rate if self.training else 0.0,
            scale=scale,
        )  # (batch, head, time1, d_k)
        if mask is not None:  # ESPnet zeroes rows without any valid key
            x = x * valid.any(dim=-1, keepdim=True).to(x.dtype)
        self.attn = None
        x = x.transpose(1, 2).reshape(query.size(0), -1, self.h * self.d_k)
        return self.linear_out(x)


def sdpa_backend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor,
    dropout_p: float = 0.0,
) -> str:
    """The kernel ``scaled_dot_product_attention`` picks for these inputs (``flash``,
    ``efficient``, ``cudnn``, ``math``, ...), as PyTorch's dispatcher decides it."""
    try:
        choice = torch._fused_sdp_choice(query, key, value, attn_mask, dropout_p, False)
    except (AttributeError, RuntimeError) as error:  # a private PyTorch function
        return f"unknown ({type(error).__name__})"
    names = {
        backend.value: name.lower().removesuffix("_attention")
        for name, backend in torch.nn.attention.SDPBackend.__members__.items()
    }
    return names.get(int(choice), str(choice))
