"""Head kinds (``espnet_reuse.analysis.head_kinds``): the naming rule on hand-built
profiles, and clustering that recovers planted kinds."""

import json

import numpy as np
import pytest
import torch

from espnet_reuse.analysis.head_kinds import (
    head_kinds,
    kind_profile_table,
    name_kind,
    profile_features,
)

R = 8


def profile(mass_at):
    """An offset profile over -R..R with ``mass_at`` {offset: mass}."""
    values = np.zeros(2 * R + 1)
    for offset, mass in mass_at.items():
        values[offset + R] = mass
    return values / values.sum()


@pytest.mark.parametrize(
    "mass_at, z, kind",
    [
        ({0: 0.6, -1: 0.2, 5: 0.2}, 0.0, "local"),
        ({0: 0.6, -1: 0.2, 5: 0.2}, 3.0, "local"),  # local wins over vertical
        ({-6: 0.5, -3: 0.3, 4: 0.2}, 0.0, "left context"),
        ({6: 0.7, -4: 0.3}, 0.0, "right context"),
        ({-6: 0.5, -3: 0.3, 4: 0.2}, 1.5, "vertical"),
        ({o: 1.0 for o in range(-R, R + 1) if abs(o) > 2}, 0.0, "global"),
    ],
)
def test_kinds_are_named_by_profile_shape(mass_at, z, kind):
    assert name_kind(profile(mass_at), z) == kind


def test_features_keep_a_window_and_sum_the_tails():
    features = profile_features(torch.from_numpy(profile({-8: 1, 0: 1, 3: 2})[None]), window=2)
    assert features.shape == (1, 7)
    np.testing.assert_allclose(features[0], [0.25, 0, 0, 0.25, 0, 0, 0.5])


def test_clustering_recovers_planted_kinds():
    generator = np.random.default_rng(0)
    planted = {
        "local": {0: 0.8, 1: 0.1, -1: 0.1},
        "left context": {-4: 0.5, -5: 0.3, -6: 0.2},
        "right context": {4: 0.5, 5: 0.3, 6: 0.2},
    }
    kinds = ["local", "left context", "right context"] * 4  # 3 layers of 4 heads
    profiles = torch.tensor(
        np.array([profile(planted[k]) + 0.01 * generator.random(2 * R + 1) for k in kinds])
    ).reshape(3, 4, -1)
    result = head_kinds(profiles, torch.zeros(3, 4), kinds=3)
    assert [k for row in result["kind"] for k in row] == kinds
    assert len(result["pca"]) == len(result["tsne"]) == 12
    table = kind_profile_table(result)
    assert len(table) == 3 and table[0][1] == result["kind_profiles"]["left context"]
    json.dumps(result)  # goes into summary.json as it is


def test_vertical_heads_are_told_from_global_ones_by_verticality():
    broad = profile({o: 1.0 for o in range(-R, R + 1)})
    local = profile({0: 0.8, 1: 0.1, -1: 0.1})
    profiles = torch.tensor(np.array([broad, broad, broad, broad, local, local])).reshape(2, 3, -1)
    verticality = torch.tensor([[3.0, 3.1, -1.0], [-1.1, -1.0, -0.9]])  # the first two stand out
    result = head_kinds(profiles, verticality, kinds=3)
    assert result["kind"] == [["vertical", "vertical", "global"], ["global", "local", "local"]]
