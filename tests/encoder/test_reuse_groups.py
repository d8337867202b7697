"""Validation of ``reuse_groups`` and of the layouts derived from it."""

import pytest

from espnet_reuse.encoder.reuse_groups import (
    check_reuse_groups,
    check_trim_points,
    computed_maps,
    group_starts,
    layout_name,
    map_sources,
    parse_layout,
    reusing_layers,
    uniform_layout,
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
    assert reusing_layers([1, 3, 2]) == [False, False, True, True, False, True]


def test_ctc_trim_must_trim_at_group_boundaries():
    check_trim_points([2, 2], [2], ctc_trim=True)
    check_trim_points([4], [2], ctc_trim=False)
    with pytest.raises(ValueError, match=r"after layers \[3\]"):
        check_trim_points([2, 2], [2, 3], ctc_trim=True)


@pytest.mark.parametrize("spec", ["4x4", "4,4,4,4", "[4, 4, 4, 4]", " 4, 4,4 ,4 "])
def test_every_spelling_of_a_layout(spec):
    assert parse_layout(spec, 16) == [4, 4, 4, 4] == parse_layout(spec)
    assert layout_name(parse_layout(spec)) == "4x4"


def test_layout_names_counts_and_uniform_layouts():
    assert parse_layout("1,1,2,4,4,4", 16) == [1, 1, 2, 4, 4, 4]
    assert layout_name([2] * 8) == "2x8" and layout_name([1, 3]) == "1,3"
    assert uniform_layout(16, 4) == [4, 4, 4, 4] and uniform_layout(6, 4) is None
    assert uniform_layout(6, 0) is None
    assert computed_maps([2, 2, 2]) == 3 and computed_maps([2, 2, 2], [1]) == 2


@pytest.mark.parametrize(
    "spec, message",
    [("2;2", "separated by commas"), ("4x", "separated by commas"), ("2,2", "sums to 4")],
)
def test_bad_layouts_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_layout(spec, 6)
