"""Input-independent attention maps: learned logits over relative offsets.

Each head owns one logit per relative offset ``d = key - query`` in
``-max_offset..max_offset``; offsets beyond that range share the logit of the
nearest edge, so the map is defined for any length (far keys keep a constant
logit, the way a learned "rest of the context" weight would). The map of a
batch is ``softmax`` over the unpadded keys, masked like ESPnet's maps:
``A[h, i, j] = softmax_j(w[h, clamp(j - i, -R, R)])``.

After Wu, Hsieh, Chen, Chi, Lee, "Input-independent Attention Weights Are
Expressive Enough: A Study of Attention in Self-supervised Audio Transformers"
(2020): a trainable map per head (their "random synthesizer"), only V projected,
heads started from fixed patterns. Their maps are absolute (H x T x T); relative
offsets are used here so that no maximum length exists.
"""

from typing import Optional

import torch

PATTERNS = ("identity", "previous", "next", "left", "right", "global")
PEAK = 8.0  # logit margin of a pattern's preferred offsets


def pattern_logits(pattern: str, max_offset: int) -> torch.Tensor:
    """Logits (2R+1,) of one fixed pattern of Wu et al. 2020 (input-independent attention).

    ``identity``, ``previous`` and ``next`` frame; ``left`` and ``right``
    context (all preceding or following frames alike); ``global`` (uniform).
    The absolute global-to-start/end patterns need absolute positions and are
    not expressible with relative offsets.
    """
    offsets = torch.arange(-max_offset, max_offset + 1)
    preferred = {
        "identity": offsets == 0,
        "previous": offsets == -1,
        "next": offsets == 1,
        "left": offsets < 0,
        "right": offsets > 0,
        "global": torch.ones_like(offsets, dtype=torch.bool),
    }[pattern]
    return PEAK * preferred.float()


class LearnedRelativeMap(torch.nn.Module):
    """Per-head attention probabilities that depend on relative position only."""

    def __init__(self, n_head: int, max_offset: int, init: str = "patterns") -> None:
        super().__init__()
        if max_offset < 1:
            raise ValueError(f"learned_map_max_offset must be at least 1, got {max_offset}")
        self.max_offset = max_offset
        self.logits = torch.nn.Parameter(torch.zeros(n_head, 2 * max_offset + 1))
        if init == "patterns":
            with torch.no_grad():
                for head in range(n_head):
                    self.logits[head] = pattern_logits(PATTERNS[head % len(PATTERNS)], max_offset)
        elif init != "uniform":
            raise ValueError(f"learned_map_init must be 'patterns' or 'uniform', got {init!r}")

    def set_from_profile(self, profile: torch.Tensor) -> None:
        """Logits from a measured attention mass per offset (H, 2R+1), e.g. of a trained model."""
        with torch.no_grad():
            self.logits.copy_((profile / profile.sum(-1, keepdim=True)).clamp_min(1e-6).log())

    def forward(self, time: int, mask: Optional[torch.Tensor]) -> torch.Tensor:
        """The map (B or 1, H, T, T) for ``time`` frames and a (B, 1, T) key mask."""
        positions = torch.arange(time, device=self.logits.device)
        offsets = (positions[None, :] - positions[:, None]).clamp(-self.max_offset, self.max_offset)
        scores = self.logits[:, offsets + self.max_offset].unsqueeze(0)  # (1, H, T, T)
        if mask is None:
            return torch.softmax(scores, dim=-1)
        padded = mask.unsqueeze(1).eq(0)  # (B, 1, 1, T)
        scores = scores.masked_fill(padded, torch.finfo(scores.dtype).min)
        return torch.softmax(scores, dim=-1).masked_fill(padded, 0.0)
