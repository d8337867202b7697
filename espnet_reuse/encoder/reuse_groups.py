"""Validation and bookkeeping of ``reuse_groups`` layouts.

A layout is a list of positive group sizes that sums to ``num_blocks``. The first
layer of each group, its *map source*, computes its attention probabilities; the
other layers of the group, its *reuse layers*, apply them.
"""

from typing import Any, List, Sequence


def check_reuse_groups(reuse_groups: Any, num_blocks: int) -> List[int]:
    """Return ``reuse_groups`` as a list of ints, or raise a ``ValueError``.

    ``None`` means one layer a group (no reuse).
    """
    if reuse_groups is None:
        return [1] * num_blocks
    if not isinstance(reuse_groups, (list, tuple)):
        raise ValueError(f"reuse_groups must be a list of group sizes, got {reuse_groups!r}")
    for size in reuse_groups:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"reuse_groups must hold positive integers, got {list(reuse_groups)}")
    if sum(reuse_groups) != num_blocks:
        raise ValueError(
            f"reuse_groups {list(reuse_groups)} sums to {sum(reuse_groups)}, "
            f"but num_blocks is {num_blocks}"
        )
    return list(reuse_groups)


def map_sources(reuse_groups: Sequence[int]) -> List[int]:
    """For each layer, the index of its group's map source (the layer whose map it uses)."""
    sources: List[int] = []
    start = 0
    for size in reuse_groups:
        sources.extend([start] * size)
        start += size
    return sources


def group_starts(reuse_groups: Sequence[int]) -> List[int]:
    """Index of each group's map source (its first layer)."""
    return sorted(set(map_sources(reuse_groups)))


def check_trim_points(
    reuse_groups: Sequence[int], interctc_layer_idx: Sequence[int], ctc_trim: bool
) -> None:
    """Reject ``ctc_trim`` at a layer boundary that falls inside a group.

    ESPnet trims frames after each intermediate-CTC layer; a map computed before
    the trim no longer fits the trimmed sequence, so a trim point must be followed
    by a layer that computes a fresh map.
    """
    if not ctc_trim:
        return
    starts = set(group_starts(reuse_groups))
    inside = [k for k in interctc_layer_idx if k not in starts]
    if inside:
        raise ValueError(
            f"ctc_trim trims frames after layers {inside} (interctc_layer_idx), "
            f"which fall inside a group of reuse_groups {list(reuse_groups)}; "
            "start a new group after each intermediate-CTC layer"
        )
