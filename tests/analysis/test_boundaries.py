"""Phoneme boundary detection (``espnet_reuse.analysis.boundaries``) on hand-built
inputs with known answers."""

import math

import pytest
import torch

from espnet_reuse.analysis.alignments import FrameMapping
from espnet_reuse.analysis.boundaries import (
    BoundaryCounts,
    BoundaryData,
    boundary_scores,
    count_hits,
    evaluate,
    mfcc_frames,
    pick_peaks,
    r_value,
    reference_boundaries,
)


def block_map(blocks):
    """A block-diagonal attention map: each frame attends uniformly within its block."""
    size = sum(blocks)
    attn = torch.zeros(size, size)
    start = 0
    for block in blocks:
        attn[start : start + block, start : start + block] = 1.0 / block
        start += block
    return attn


def test_r_value_of_perfect_empty_and_oversegmented_detection():
    assert r_value(1.0, 0.0) == pytest.approx(1.0)
    assert r_value(0.0, -1.0) == pytest.approx(1 - math.sqrt(2) / 2)  # nothing detected
    counts = BoundaryCounts(hits=2, detected=4, reference=2)  # every boundary, twice as many
    assert (counts.precision, counts.recall) == (0.5, 1.0)
    assert counts.f1 == pytest.approx(2 / 3)
    assert counts.r_value == pytest.approx(1 - (1 + 1 / math.sqrt(2)) / 2)


def test_hits_are_one_to_one_within_the_tolerance():
    assert count_hits([3, 10, 11], [2, 11], tolerance=1) == 2
    assert count_hits([5, 6], [5], tolerance=1) == 1  # one reference serves one detection
    assert count_hits([4], [6], tolerance=1) == 0
    assert count_hits([4], [6], tolerance=2) == 1
    assert count_hits([], [1, 2], tolerance=1) == 0


def test_peaks_are_local_maxima_above_the_threshold():
    scores = torch.tensor([0.0, 0.5, 0.2, 0.2, 0.9, 0.9, 0.1])
    assert pick_peaks(scores, 0.3) == [1, 5]  # a plateau counts once, at its end
    assert pick_peaks(scores, 0.6) == [5]


def test_reference_boundaries_are_label_changes():
    assert reference_boundaries(torch.tensor([1, 1, 2, 2, 2, 3])) == [2, 5]


def test_a_block_diagonal_map_marks_its_block_edges():
    scores = boundary_scores(block_map([3, 4, 2]))
    assert pick_peaks(scores, 0.5) == [3, 7]
    assert scores[[1, 2, 4, 5, 6, 8]].abs().max() < 1e-6  # rows within a block are equal


def test_evaluate_tunes_on_one_set_and_names_the_best_head():
    labels = torch.tensor([0] * 3 + [1] * 4 + [2] * 2)
    blocky = block_map([3, 4, 2])
    flat = torch.full((9, 9), 1.0 / 9)
    data = BoundaryData()
    mfcc = torch.randn(9, 13, generator=torch.Generator().manual_seed(0))
    data.add([torch.stack([flat, blocky])], mfcc, labels)  # one layer, two heads
    result = evaluate(data, data, tolerance=0)
    block_head, flat_head = result["heads"][0][1], result["heads"][0][0]
    assert block_head["r_value"] == pytest.approx(1.0) and block_head["f1"] == 1.0
    assert flat_head["recall"] == 0.0  # equal rows: nothing to detect
    assert result["best_heads"][0][:2] == (1, 2)  # layer 1, head 2


def test_mfcc_frames_follow_a_change_in_the_sound():
    fs, mapping = 16000, FrameMapping(stride=4, offset=3.0, seconds_per_frame=0.01)
    time = torch.arange(fs) / fs  # 1 s: a tone, then noise from 0.5 s
    audio = torch.where(
        time < 0.5, 0.5 * torch.sin(2 * math.pi * 300 * time), 0.3 * torch.randn(fs)
    )
    frames = 24
    features = mfcc_frames(audio, fs, mapping, frames)
    assert features.shape == (frames, 13)
    change = int(boundary_scores(features).argmax())
    assert abs(mapping.centre(change) - 0.5) <= 0.06  # within about one encoder frame
