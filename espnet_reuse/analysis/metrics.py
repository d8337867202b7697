"""Attention-map metrics as plain tensor functions.

Every map is a (..., T, T) tensor of attention probabilities of one utterance
without padding: rows are queries and sum to 1. Sources (formulas in
``docs/analysis.md``):

- CAD and PAR: Shim, Choi, Sung, "Understanding the Role of Self Attention for
  Efficient Speech Recognition", ICLR 2022. The paper's exact formulas were not at
  hand; the ones here are reconstructions from its description, kept simple to change.
- globalness, verticality, diagonality and phoneme relation maps: Yang, Liu, Lee,
  "Understanding Self-Attention of Self-Supervised Audio Transformers",
  Interspeech 2020.
- Jensen-Shannon divergence between layers' maps, for choosing which layers share:
  Xiao et al., "Sharing Attention Weights for Fast Transformer", IJCAI 2019.
"""

from typing import Tuple

import torch

EPS = 1e-12


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * (p + EPS).log()).sum(dim=-1)


def _distance(time: int, device: torch.device) -> torch.Tensor:
    idx = torch.arange(time, device=device)
    return (idx[:, None] - idx[None, :]).abs()


def cumulative_diagonality(attn: torch.Tensor, max_range: int) -> torch.Tensor:
    """CAD(r) = (1/T) sum_i sum_{|i-j| <= r} A[i, j] for r = 0..max_range: (..., R+1).

    (Reconstructed from Shim et al. 2022.) 1 at r = 0 for the identity map.
    """
    time = attn.size(-1)
    distance = _distance(time, attn.device)
    ranges = torch.arange(max_range + 1, device=attn.device)
    within = (distance[None] <= ranges[:, None, None]).to(attn.dtype)  # (R+1, T, T)
    return torch.einsum("...ij,rij->...r", attn, within) / time


def globalness(attn: torch.Tensor) -> torch.Tensor:
    """G = (1/T) sum_q H(A[q, :]), the mean row entropy (nats): (...)."""
    return _entropy(attn).mean(dim=-1)


def verticality(attn: torch.Tensor) -> torch.Tensor:
    """V = -H((1/T) sum_q A[q, :]), negative entropy of the column mass: (...)."""
    return -_entropy(attn.mean(dim=-2))


def diagonality(attn: torch.Tensor) -> torch.Tensor:
    """D = -(1/T^2) sum_q sum_k |q - k| A[q, k]: (...); 0 for the identity map."""
    time = attn.size(-1)
    distance = _distance(time, attn.device).to(attn.dtype)
    return -(attn * distance).sum(dim=(-2, -1)) / time**2


def same_run_mask(labels: torch.Tensor) -> torch.Tensor:
    """(T, T) True where two frames lie in one run of consecutive equal labels."""
    starts = torch.ones_like(labels, dtype=torch.bool)
    starts[1:] = labels[1:] != labels[:-1]
    run_id = starts.cumsum(0)
    return run_id[:, None] == run_id[None, :]


def phoneme_attention_sums(
    attn: torch.Tensor, labels: torch.Tensor, num_classes: int, exclude_same_run: bool
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Summed attention mass from frames of class p onto frames of class q.

    ``attn`` (..., T, T), ``labels`` (T,) frame classes. Returns ``sums``
    (..., C, C) and ``counts`` (C,) of query frames per class, to accumulate over
    utterances: PAR is ``sums / counts[:, None]``. With ``exclude_same_run``,
    the mass a frame puts on its own run of consecutive same-class frames is
    left out (PAR, reconstructed from Shim et al. 2022); without, the result is
    the phoneme relation map of Yang et al. 2020.
    """
    if exclude_same_run:
        attn = attn.masked_fill(same_run_mask(labels), 0.0)
    one_hot = torch.nn.functional.one_hot(labels, num_classes).to(attn.dtype)  # (T, C)
    sums = torch.einsum("tp,...ts,sq->...pq", one_hot, attn, one_hot)
    return sums, one_hot.sum(dim=0)


def normalise_rows(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """PAR from accumulated sums: mean per query frame of each class (0 where unseen)."""
    return sums / counts.clamp_min(1)[:, None]


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (nats) between maps, averaged over query rows: (...)."""
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        return (a * ((a + EPS).log() - (m + EPS).log())).sum(dim=-1)

    return (0.5 * kl(p) + 0.5 * kl(q)).mean(dim=-1)


def offset_profile(attn: torch.Tensor, max_offset: int) -> torch.Tensor:
    """Mean attention mass per relative offset ``key - query`` (clamped to +-R): (..., 2R+1).

    The input-independent summary of a map: ``LearnedRelativeMap.set_from_profile``
    turns it into learned logits.
    """
    time = attn.size(-1)
    positions = torch.arange(time, device=attn.device)
    offsets = (positions[None, :] - positions[:, None]).clamp(-max_offset, max_offset)
    index = (offsets + max_offset).flatten().expand(*attn.shape[:-2], -1)
    profile = torch.zeros(
        *attn.shape[:-2], 2 * max_offset + 1, dtype=attn.dtype, device=attn.device
    )
    return profile.scatter_add_(-1, index, attn.flatten(-2)) / time
