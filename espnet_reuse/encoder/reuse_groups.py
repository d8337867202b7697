"""The one vocabulary of ``reuse_groups`` layouts: parse, name, validate, count.

A layout is a list of positive group sizes that sums to ``num_blocks``. The first
layer of each group, its *map source*, computes its attention probabilities; the
other layers of the group, its *reuse layers*, apply them.

Spellings: YAML has a list (``reuse_groups: [4, 4, 4, 4]``); every command line takes
the sizes separated by commas (``4,4,4,4``), or ``SxN`` for N groups of S (``4x4``),
the name tables give a uniform layout (``layout_name``); ``[4, 4, 4, 4]`` is accepted
too, as YAML and Python print it. A layout with its reuse layers' map adaptation
(``map_adaptation``) adds the options after ``+``: ``2,2,2+reuse_head_mixing``,
``4x4+reuse_score_rank=4`` (``parse_adapted_layout``, ``adapted_layout_name``).
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

# encoder options of a reuse layer's map adaptation (``map_adaptation``)
ADAPTATION_OPTIONS = ("reuse_head_mixing", "reuse_score_rank")


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


def parse_layout(spec: str, num_blocks: Optional[int] = None) -> List[int]:
    """``4x4``, ``4,4,4,4`` or ``[4, 4, 4, 4]`` as group sizes; checked against
    ``num_blocks`` when it is given (a ``ValueError`` names the spelling otherwise)."""
    text = spec.strip().strip("[]").replace(" ", "")
    try:
        if "x" in text:
            size, count = text.split("x")
            groups = [int(size)] * int(count)
        else:
            groups = [int(g) for g in text.split(",")]
    except ValueError:
        raise ValueError(
            f"layout {spec!r}: write group sizes separated by commas (2,2,2) or SxN (4x4)"
        ) from None
    if num_blocks is None:
        num_blocks = sum(groups)
    return check_reuse_groups(groups, num_blocks)


def layout_name(groups: Sequence[int]) -> str:
    """``4x4`` when all groups have one size, else the sizes (``1,1,2,4,4,4``)."""
    if len(set(groups)) == 1:
        return f"{groups[0]}x{len(groups)}"
    return ",".join(map(str, groups))


def parse_adapted_layout(
    spec: str, num_blocks: Optional[int] = None
) -> Tuple[List[int], Dict[str, Any]]:
    """``2,2,2``, ``2,2,2+reuse_head_mixing`` or ``4x4+reuse_score_rank=4`` (both:
    ``+reuse_head_mixing+reuse_score_rank=4``) as group sizes and encoder options."""
    layout, *options = spec.split("+")
    adaptation: Dict[str, Any] = {}
    for option in options:
        key, _, value = option.partition("=")
        if key == "reuse_head_mixing" and value in ("", "true"):
            adaptation[key] = True
        elif key == "reuse_score_rank" and value.isdigit() and int(value) > 0:
            adaptation[key] = int(value)
        else:
            raise ValueError(
                f"layout {spec!r}: {option!r} is not one of {list(ADAPTATION_OPTIONS)} "
                "(write +reuse_head_mixing or +reuse_score_rank=R with R > 0)"
            )
    return parse_layout(layout, num_blocks), dict(sorted(adaptation.items()))


def adapted_layout_name(groups: Sequence[int], adaptation: Dict[str, Any]) -> str:
    """``layout_name`` with the adaptation as ``parse_adapted_layout`` reads it."""
    options = [
        key if value is True else f"{key}={value}"
        for key, value in sorted(adaptation.items())
        if value not in (False, 0, None)
    ]
    return "+".join([layout_name(groups), *options])


def uniform_layout(layers: int, maps: int) -> Optional[List[int]]:
    """``maps`` groups of one size, where ``layers`` divides evenly (else ``None``)."""
    return [layers // maps] * maps if maps > 0 and layers % maps == 0 else None


def computed_maps(reuse_groups: Sequence[int], learned_map_groups: Sequence[int] = ()) -> int:
    """Maps computed from the input in one forward: one per group, learned groups aside."""
    return len(reuse_groups) - len(learned_map_groups)


def map_sources(reuse_groups: Sequence[int]) -> List[int]:
    """For each layer, the index of its group's map source (the layer whose map it uses)."""
    sources: List[int] = []
    start = 0
    for size in reuse_groups:
        sources.extend([start] * size)
        start += size
    return sources


def reusing_layers(reuse_groups: Sequence[int]) -> List[bool]:
    """For each layer, whether it reuses its group's map (it is not the map source)."""
    return [source != layer for layer, source in enumerate(map_sources(reuse_groups))]


def layer_groups(reuse_groups: Sequence[int]) -> List[int]:
    """For each layer, the index of its group."""
    return [g for g, size in enumerate(reuse_groups) for _ in range(size)]


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
