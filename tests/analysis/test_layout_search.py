import math

import pytest

from espnet_reuse.analysis.layout_search import candidate_layouts, compositions


@pytest.mark.parametrize("layers,groups", [(6, 1), (6, 3), (6, 6), (16, 4)])
def test_compositions_are_all_distinct_cuts_of_the_layers(layers, groups):
    found = list(compositions(layers, groups))
    assert len(found) == math.comb(layers - 1, groups - 1)
    assert len({tuple(c) for c in found}) == len(found)
    assert all(sum(c) == layers and len(c) == groups and min(c) >= 1 for c in found)


def test_compositions_of_six_layers_into_three_groups_include_uniform_and_suggested():
    found = list(compositions(6, 3))
    assert [2, 2, 2] in found and [1, 2, 3] in found and [4, 1, 1] in found


def test_large_searches_are_sampled_reproducibly():
    sample = candidate_layouts(16, 8, max_candidates=20, seed=3)
    assert len(sample) == 20 and sample == candidate_layouts(16, 8, 20, seed=3)
    assert candidate_layouts(6, 2, max_candidates=20) == list(compositions(6, 2))


def test_impossible_group_counts_are_errors():
    with pytest.raises(ValueError):
        list(compositions(3, 4))
