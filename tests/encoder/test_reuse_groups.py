"""Validation of ``reuse_groups`` and of the layouts derived from it."""

import pytest

from espnet_reuse.encoder.reuse_groups import (
    check_reuse_groups,
    check_trim_points,
    group_starts,
    map_sources,
)


def test_default_is_one_layer_a_group():
    assert check_reuse_groups(None, 3) == [1, 1, 1]


@pytest.mark.parametrize(
    "groups, message",
    [
        ([2, 3], "sums to 5"),
        ([4, 0, 2], "positive integers"),
        ([7, -1], "positive integers"),
        ([2.0, 4], "positive integers"),
        ([True, 5], "positive integers"),
        ("6", "must be a list"),
        (6, "must be a list"),
    ],
)
def test_bad_layouts_are_value_errors_naming_the_key(groups, message):
    with pytest.raises(ValueError, match="reuse_groups") as error:
        check_reuse_groups(groups, 6)
    assert message in str(error.value)


def test_map_sources_and_group_starts():
    assert map_sources([1, 3, 2]) == [0, 1, 1, 1, 4, 4]
    assert group_starts([1, 3, 2]) == [0, 1, 4]


def test_ctc_trim_must_trim_at_group_boundaries():
    check_trim_points([2, 2], [2], ctc_trim=True)
    check_trim_points([4], [2], ctc_trim=False)
    with pytest.raises(ValueError, match=r"after layers \[3\]"):
        check_trim_points([2, 2], [2, 3], ctc_trim=True)
