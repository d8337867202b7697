"""Attention metrics on hand-built maps whose answers are known."""

import math

import pytest
import torch

from espnet_reuse.analysis.metrics import (
    cumulative_diagonality,
    diagonality,
    globalness,
    js_divergence,
    normalise_rows,
    phoneme_attention_sums,
    same_run_mask,
    verticality,
)

T = 6


def identity():
    return torch.eye(T)


def uniform():
    return torch.full((T, T), 1.0 / T)


def shifted(offset=1):
    """Each query attends to the frame ``offset`` ahead (the last rows to the end)."""
    attn = torch.zeros(T, T)
    for i in range(T):
        attn[i, min(i + offset, T - 1)] = 1.0
    return attn


def vertical(key=0):
    attn = torch.zeros(T, T)
    attn[:, key] = 1.0
    return attn


def test_cumulative_diagonality():
    assert torch.allclose(cumulative_diagonality(identity(), 3), torch.ones(4))
    # shifted by one: nothing on the diagonal except the last row
    assert torch.allclose(cumulative_diagonality(shifted(), 2), torch.tensor([1 / T, 1.0, 1.0]))
    # uniform: frames within r of i, averaged over i, divided by T
    within = [sum(1 for i in range(T) for j in range(T) if abs(i - j) <= r) for r in range(3)]
    assert torch.allclose(cumulative_diagonality(uniform(), 2), torch.tensor(within) / T**2)
    # batched over heads
    assert cumulative_diagonality(torch.stack([identity(), uniform()]), 1).shape == (2, 2)


def test_globalness():
    assert globalness(identity()).item() == pytest.approx(0.0, abs=1e-6)
    assert globalness(uniform()).item() == pytest.approx(math.log(T))
    assert globalness(vertical()).item() == pytest.approx(0.0, abs=1e-6)


def test_verticality():
    assert verticality(vertical()).item() == pytest.approx(0.0, abs=1e-6)
    assert verticality(identity()).item() == pytest.approx(-math.log(T))
    assert verticality(uniform()).item() == pytest.approx(-math.log(T))


def test_diagonality():
    assert diagonality(identity()).item() == 0.0
    assert diagonality(shifted()).item() == pytest.approx(-(T - 1) / T**2)
    # every query on key 0: sum_q q / T^2
    assert diagonality(vertical()).item() == pytest.approx(-sum(range(T)) / T**2)
    assert diagonality(uniform()) < diagonality(shifted()) < diagonality(identity())


def test_same_run_mask():
    mask = same_run_mask(torch.tensor([0, 0, 1, 0]))
    expected = torch.tensor(
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool
    )
    assert torch.equal(mask, expected)


def test_phoneme_attention_relationship_excludes_the_own_run():
    labels = torch.tensor([0, 0, 1, 0])  # two runs of class 0
    attn = torch.tensor(
        [
            [0.5, 0.2, 0.1, 0.2],  # frame 0 (class 0): own run gets 0.7, other run 0.2
            [0.1, 0.1, 0.4, 0.4],
            [0.25, 0.25, 0.25, 0.25],
            [0.0, 0.5, 0.0, 0.5],  # frame 3: its own run is itself
        ]
    )
    sums, counts = phoneme_attention_sums(attn, labels, 2, exclude_same_run=True)
    assert counts.tolist() == [3, 1]
    par = normalise_rows(sums, counts)
    # class 0 -> class 0: frame 0: 0.2, frame 1: 0.4, frame 3: 0.5 (others' run) -> mean
    assert par[0, 0].item() == pytest.approx((0.2 + 0.4 + 0.5) / 3)
    assert par[0, 1].item() == pytest.approx((0.1 + 0.4 + 0.0) / 3)
    assert par[1, 0].item() == pytest.approx(0.75)
    assert par[1, 1].item() == pytest.approx(0.0)  # its run is itself
    plain, _ = phoneme_attention_sums(attn, labels, 2, exclude_same_run=False)
    assert torch.allclose(normalise_rows(plain, counts).sum(-1), torch.ones(2))


def test_js_divergence():
    assert js_divergence(identity(), identity()).item() == pytest.approx(0.0, abs=1e-6)
    assert js_divergence(identity(), vertical(5)).item() == pytest.approx(
        math.log(2) * (T - 1) / T, rel=1e-4
    )
    assert js_divergence(uniform(), identity()) == js_divergence(identity(), uniform())


def test_layout_suggestion_groups_similar_layers():
    from espnet_reuse.analysis.layout import layout_cost, suggest_layout

    # layers 0-1 alike, 2-4 alike, 5 alone: divergence 0 inside, 1 across
    kinds = [0, 0, 1, 1, 1, 2]
    divergence = torch.tensor([[float(a != b) for b in kinds] for a in kinds])
    assert suggest_layout(divergence, 3) == [2, 3, 1]
    assert layout_cost(divergence, [2, 3, 1]) == 0.0
    assert layout_cost(divergence, [2, 2, 2]) == 1.0
    assert suggest_layout(divergence, 6) == [1] * 6
    assert sum(suggest_layout(divergence, 2)) == 6
    with pytest.raises(ValueError, match="within 1..6"):
        suggest_layout(divergence, 7)


def test_offset_profile():
    from espnet_reuse.analysis.metrics import offset_profile

    profile = offset_profile(torch.stack([identity(), shifted()]), max_offset=2)
    assert torch.allclose(profile[0], torch.tensor([0, 0, 1.0, 0, 0]))
    # shifted: T-1 queries at +1, the last query on itself
    assert torch.allclose(profile[1], torch.tensor([0, 0, 1 / T, (T - 1) / T, 0]))
    far = offset_profile(vertical(0), max_offset=2)  # query 5 looks 5 back: clamped to -2
    assert torch.allclose(far, torch.tensor([4 / T, 1 / T, 1 / T, 0, 0]))
