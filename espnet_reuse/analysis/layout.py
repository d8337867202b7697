"""Suggest ``reuse_groups`` from the similarity of the layers' attention maps.

Rule: among all partitions of the layers into ``num_maps`` consecutive groups,
choose the one that minimises the summed Jensen-Shannon divergence between the
map each reuse layer would compute itself and the map of its group's first
layer (dynamic programming, exact). Xiao et al. (2019) pick sharing layers from
the same divergence greedily. The divergences must come from a model whose
layers all compute their own maps (no reuse).
"""

from typing import List

import torch


def group_cost(divergence: torch.Tensor, first: int, last: int) -> float:
    """Divergence of layers ``first+1..last`` from layer ``first``."""
    return float(divergence[first, first + 1 : last + 1].sum())


def suggest_layout(divergence: torch.Tensor, num_maps: int) -> List[int]:
    """Group sizes for ``num_maps`` computed maps, from an (L, L) divergence matrix."""
    layers = divergence.size(0)
    if not 1 <= num_maps <= layers:
        raise ValueError(f"the number of maps must be within 1..{layers}, got {num_maps}")
    inf = float("inf")
    # best[k][end]: least cost of covering layers 0..end-1 with k groups
    best = [[inf] * (layers + 1) for _ in range(num_maps + 1)]
    choice = [[0] * (layers + 1) for _ in range(num_maps + 1)]
    best[0][0] = 0.0
    for k in range(1, num_maps + 1):
        for end in range(k, layers + 1):
            for start in range(k - 1, end):
                cost = best[k - 1][start] + group_cost(divergence, start, end - 1)
                if cost < best[k][end]:
                    best[k][end], choice[k][end] = cost, start
    sizes, end = [], layers
    for k in range(num_maps, 0, -1):
        start = choice[k][end]
        sizes.append(end - start)
        end = start
    return sizes[::-1]


def layout_cost(divergence: torch.Tensor, groups: List[int]) -> float:
    """Summed divergence of a layout, by the rule above."""
    cost, start = 0.0, 0
    for size in groups:
        cost += group_cost(divergence, start, start + size - 1)
        start += size
    return cost
