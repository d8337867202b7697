"""Adapted reuse: a reuse layer's cheap change of its group's map, the identity at first.

Two adaptations, each a module of a reuse layer's ``SharedMapAttention`` (options
``reuse_head_mixing`` and ``reuse_score_rank`` of ``ReuseEncoder``):

- ``HeadMixing``: each output head a convex combination of the group's H heads,
  ``M = I + a (softmax(L) - I)`` with ``a`` clamped to [0, 1]. Rows of ``M`` sum to 1
  and its entries are non-negative, so every mixed row is still a distribution that
  gives padded keys zero weight. ``a`` starts at 0: ``M`` is exactly the identity and
  the layer applies its group's map unchanged, bit for bit. (``L`` gets gradients once
  ``a`` has moved off 0, as a low-rank adapter's second factor does.)
- ``ScoreCorrection``: a rank-r query-key term of the layer's own that reweights the
  shared probabilities and renormalises them,
  ``A' = A exp(S) / sum_k A exp(S)``, ``S = (x W_q)(x W_k)^T / sqrt(r)`` per head,
  which equals ``softmax(scores + S)`` for the group's scores, so the map source
  publishes nothing new. ``W_k`` starts at zero: ``S = 0`` and ``A'`` is ``A`` up to
  the rounding of one renormalisation.

Each keeps one new (batch, head, time1, time2) map of its layer for backward, the
adapted map the layer multiplies V by (under autocast in the compute dtype; the
score correction recomputes its scores in backward rather than keeping them);
plain reuse keeps one map per group.
Cost per layer against a full attention layer (d = model size, H heads, T frames,
r the rank): head mixing H^2 T^2 multiply-adds for the mix against the full layer's
4 d^2 T + 2 d T^2 (projections, scores and the product with V); the score correction
2 d H r T (projections) + H r T^2 (scores) and a few elementwise passes over the
map.
"""

import math
from typing import Optional

import torch


class HeadMixing(torch.nn.Module):
    """A learned convex mixing of a map's heads (the identity at initialisation)."""

    def __init__(self, heads: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(heads, heads))
        self.weight = torch.nn.Parameter(torch.zeros(()))  # a: 0, the identity

    def matrix(self) -> torch.Tensor:
        """``M`` (out head, source head): rows sum to 1, entries in [0, 1]."""
        eye = torch.eye(self.logits.size(0), device=self.logits.device)
        mix = self.weight.clamp(0.0, 1.0)
        return eye + mix * (self.logits.softmax(dim=-1) - eye)

    def forward(self, attn: torch.Tensor) -> torch.Tensor:
        """``attn`` (batch, head, time1, time2) -> its heads mixed, same shape.

        One ``bmm`` over the flattened map, so that autograd keeps ``attn`` itself (a
        view); ``einsum`` and a broadcasting ``matmul`` keep a copy of it."""
        batch, heads = attn.size(0), attn.size(1)
        matrix = self.matrix().to(attn.dtype).expand(batch, heads, heads)
        return torch.bmm(matrix, attn.reshape(batch, heads, -1)).view(attn.shape)


class ScoreCorrectionFunction(torch.autograd.Function):
    """``A exp(S) / sum_k A exp(S)`` with ``S = q k^T * scale``, computed in at least
    float32, keeping for backward only ``A`` (the group's map, kept anyway), ``q``, ``k``
    (batch, head, time, rank) and the result, which the product with V keeps too: ``S``
    and ``exp(S)`` are recomputed in backward instead of held, so the layer keeps one
    map of its own."""

    @staticmethod
    def _weights(q, k, mask, scale, dtype):
        """``exp(S - max)`` (batch, head, time1, time2) over valid keys."""
        scores = torch.matmul(q.to(dtype), k.to(dtype).transpose(-2, -1)) * scale
        if mask is not None:  # padded keys must not decide the row's maximum
            scores = scores.masked_fill(~mask, float("-inf"))
        return (scores - scores.amax(dim=-1, keepdim=True).clamp_min(-1e4)).exp_()

    @staticmethod
    def forward(ctx, attn, q, k, mask, scale):
        dtype = torch.promote_types(attn.dtype, torch.float32)
        with torch.autocast(attn.device.type, enabled=False):
            weighted = attn.to(dtype) * ScoreCorrectionFunction._weights(q, k, mask, scale, dtype)
            total = weighted.sum(dim=-1, keepdim=True)
            out = (weighted / total.clamp_min(torch.finfo(dtype).tiny)).to(attn.dtype)
        ctx.scale = scale
        ctx.save_for_backward(attn, q, k, mask, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        attn, q, k, mask, out = ctx.saved_tensors
        dtype = torch.promote_types(attn.dtype, torch.float32)
        with torch.autocast(attn.device.type, enabled=False):
            weights = ScoreCorrectionFunction._weights(q, k, mask, ctx.scale, dtype)
            total = (attn.to(dtype) * weights).sum(dim=-1, keepdim=True)
            grad, out = grad.to(dtype), out.to(dtype)
            centred = grad - (grad * out).sum(dim=-1, keepdim=True)  # (batch, head, t1, t2)
            d_scores = out * centred
            d_attn = weights / total.clamp_min(torch.finfo(dtype).tiny) * centred
            d_q = torch.matmul(d_scores, k.to(dtype)) * ctx.scale
            d_k = torch.matmul(d_scores.transpose(-2, -1), q.to(dtype)) * ctx.scale
        return d_attn.to(attn.dtype), d_q.to(q.dtype), d_k.to(k.dtype), None, None


class ScoreCorrection(torch.nn.Module):
    """A rank-``rank`` query-key reweighting of a shared map (none at initialisation)."""

    def __init__(self, size: int, heads: int, rank: int) -> None:
        super().__init__()
        self.heads, self.rank = heads, rank
        self.linear_q = torch.nn.Linear(size, heads * rank, bias=False)
        self.linear_k = torch.nn.Linear(size, heads * rank, bias=False)
        torch.nn.init.zeros_(self.linear_k.weight)  # S = 0: the shared map unchanged

    def forward(
        self, attn: torch.Tensor, x: torch.Tensor, mask: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """``attn`` (batch, head, time1, time2) reweighted by this layer's scores of ``x``
        (batch, time, size) and renormalised; ``mask`` (batch, 1 or time1, time2) marks
        valid keys (padded keys already have zero weight in ``attn``)."""
        batch, time = x.size(0), x.size(1)
        q = self.linear_q(x).view(batch, time, self.heads, self.rank).transpose(1, 2)
        k = self.linear_k(x).view(batch, time, self.heads, self.rank).transpose(1, 2)
        valid = None if mask is None else mask.unsqueeze(1).bool()
        return ScoreCorrectionFunction.apply(attn, q, k, valid, 1.0 / math.sqrt(self.rank))
