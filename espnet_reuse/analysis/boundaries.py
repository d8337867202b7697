"""Phoneme boundaries from attention maps, scored against alignments (after Yang, Liu,
Lee, Interspeech 2020: block-diagonal heads' block edges follow phoneme boundaries).

The detector, the same for every feature (a head's attention rows, or MFCC frames as
the baseline):

1. a boundary score before each frame ``t``: ``1 - cos(f[t-1], f[t])``, how much the
   frame's feature vector changes (an attention row changes at a block edge);
2. boundaries at the local maxima of the score (``score[t] >= score[t-1]`` and
   ``> score[t+1]``) that reach a threshold, the detector's one parameter, tuned per
   head on a development set by R-value.

A detected boundary is a hit when it lies within ``tolerance`` frames of a reference
boundary not matched before (one to one, in time order). Precision, recall, F1 and
R-value (Räsänen, Laine, Altosaar 2009) follow from the counts.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence

import torch
import torchaudio

from espnet_reuse.analysis.alignments import FrameMapping

THRESHOLDS = tuple(round(0.02 * i, 2) for i in range(50))  # the grid a head is tuned on


def boundary_scores(features: torch.Tensor) -> torch.Tensor:
    """``1 - cos(f[t-1], f[t])`` for each frame of ``features`` (..., T, F): (..., T),
    0 at the first frame."""
    similarity = torch.nn.functional.cosine_similarity(
        features[..., 1:, :], features[..., :-1, :], dim=-1
    )
    return torch.nn.functional.pad(1.0 - similarity, (1, 0))


def pick_peaks(scores: torch.Tensor, threshold: float) -> List[int]:
    """Frames of the local maxima of ``scores`` (T,) that reach ``threshold``."""
    padded = torch.nn.functional.pad(scores, (1, 1), value=-math.inf)
    peak = (scores >= padded[:-2]) & (scores > padded[2:]) & (scores >= threshold)
    return torch.nonzero(peak).flatten().tolist()


def reference_boundaries(labels: torch.Tensor) -> List[int]:
    """Frames whose label differs from the previous frame's, from (T,) frame labels."""
    return (torch.nonzero(labels[1:] != labels[:-1]).flatten() + 1).tolist()


def count_hits(detected: Sequence[int], reference: Sequence[int], tolerance: int) -> int:
    """Detected boundaries within ``tolerance`` frames of a reference boundary, one to
    one: each detected boundary, in time order, takes the earliest reference boundary
    within the tolerance not yet taken. Both lists sorted."""
    hits, j = 0, 0
    for d in detected:
        while j < len(reference) and reference[j] < d - tolerance:
            j += 1  # too early for this and every later detection
        if j < len(reference) and reference[j] <= d + tolerance:
            hits += 1
            j += 1
    return hits


@dataclass
class BoundaryCounts:
    """Hits, detected and reference boundaries, summed over utterances."""

    hits: int = 0
    detected: int = 0
    reference: int = 0

    def add(self, detected: Sequence[int], reference: Sequence[int], tolerance: int) -> None:
        """Count one utterance."""
        self.hits += count_hits(detected, reference, tolerance)
        self.detected += len(detected)
        self.reference += len(reference)

    @property
    def precision(self) -> float:
        return self.hits / self.detected if self.detected else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.reference if self.reference else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    @property
    def r_value(self) -> float:
        over_segmentation = self.detected / self.reference - 1.0 if self.reference else 0.0
        return r_value(self.recall, over_segmentation)


def r_value(hit_rate: float, over_segmentation: float) -> float:
    """R-value of a segmentation: 1 when perfect; 0.29 when nothing is detected.

    ``r1 = sqrt((1 - HR)^2 + OS^2)``, ``r2 = (HR - OS - 1) / sqrt(2)``, ``R = 1 -
    (|r1| + |r2|) / 2``, with hit rate ``HR`` (recall) and over-segmentation ``OS =
    detected / reference - 1``.
    """
    r1 = math.sqrt((1.0 - hit_rate) ** 2 + over_segmentation**2)
    r2 = (hit_rate - over_segmentation - 1.0) / math.sqrt(2)
    return 1.0 - (abs(r1) + abs(r2)) / 2.0


def score_thresholds(
    scores: Sequence[torch.Tensor],
    references: Sequence[Sequence[int]],
    tolerance: int,
    thresholds: Sequence[float] = THRESHOLDS,
) -> List[BoundaryCounts]:
    """Counts over utterances (``scores[u]`` (T,), ``references[u]``) at each threshold."""
    counts = [BoundaryCounts() for _ in thresholds]
    for score, reference in zip(scores, references):
        peaks = pick_peaks(score, -math.inf)
        values = score[peaks].tolist()
        for count, threshold in zip(counts, thresholds):
            detected = [p for p, v in zip(peaks, values) if v >= threshold]
            count.add(detected, reference, tolerance)
    return counts


def mfcc_frames(
    waveform: torch.Tensor, fs: int, mapping: FrameMapping, num_frames: int
) -> torch.Tensor:
    """The baseline's features: 13 MFCCs every feature frame (25 ms windows), mean
    normalised over the utterance and averaged onto the ``num_frames`` encoder frames
    whose centres (``mapping``) lie nearest: (T, 13)."""
    shift = mapping.seconds_per_frame
    mfcc = torchaudio.compliance.kaldi.mfcc(
        waveform[None].float(), sample_frequency=fs, frame_shift=1000 * shift, dither=0.0
    )
    mfcc = mfcc - mfcc.mean(dim=0)
    centres = torch.arange(mfcc.size(0)) * shift + 0.0125  # 25 ms windows from the start
    step = mapping.stride * shift
    target = ((centres - mapping.centre(0)) / step).round().long().clamp(0, num_frames - 1)
    sums = torch.zeros(num_frames, mfcc.size(1)).index_add_(0, target, mfcc)
    counts = torch.zeros(num_frames).index_add_(0, target, torch.ones(len(target)))
    return sums / counts.clamp_min(1)[:, None]


@dataclass
class BoundaryData:
    """A data set's boundary scores, utterance by utterance."""

    heads: List[torch.Tensor] = field(default_factory=list)  # (L, H, T) each
    mfcc: List[torch.Tensor] = field(default_factory=list)  # (T,) each
    references: List[List[int]] = field(default_factory=list)

    def add(self, maps: Sequence[torch.Tensor], mfcc: torch.Tensor, labels: torch.Tensor) -> None:
        """One utterance: its maps (per layer (H, T, T)), MFCC frames (T, 13), labels (T,)."""
        self.heads.append(torch.stack([boundary_scores(m) for m in maps]))
        self.mfcc.append(boundary_scores(mfcc))
        self.references.append(reference_boundaries(labels))


def tuned_counts(
    tune_scores: Sequence[torch.Tensor],
    tune_references: Sequence[Sequence[int]],
    scores: Sequence[torch.Tensor],
    references: Sequence[Sequence[int]],
    tolerance: int,
) -> Dict[str, float]:
    """The threshold with the best R-value on the tuning utterances, and the counts'
    precision, recall, F1 and R-value it gives on the evaluated ones."""
    tuned = score_thresholds(tune_scores, tune_references, tolerance)
    best = max(range(len(THRESHOLDS)), key=lambda i: tuned[i].r_value)
    (counts,) = score_thresholds(scores, references, tolerance, [THRESHOLDS[best]])
    return {
        "threshold": THRESHOLDS[best],
        "precision": counts.precision,
        "recall": counts.recall,
        "f1": counts.f1,
        "r_value": counts.r_value,
    }


def evaluate(tune: BoundaryData, test: BoundaryData, tolerance: int) -> Dict[str, Any]:
    """Every head's and MFCC's detection, tuned on ``tune``, scored on ``test``:
    ``heads`` (L, H) of ``tuned_counts`` results, ``mfcc``, and ``best_heads`` (layer,
    head, R-value) by R-value on ``test``, best first (layers and heads from 1)."""
    layers, heads = test.heads[0].shape[:2]
    results = [
        [
            tuned_counts(
                [u[layer, head] for u in tune.heads],
                tune.references,
                [u[layer, head] for u in test.heads],
                test.references,
                tolerance,
            )
            for head in range(heads)
        ]
        for layer in range(layers)
    ]
    ranked = sorted(
        (
            (layer + 1, head + 1, r["r_value"])
            for layer, row in enumerate(results)
            for head, r in enumerate(row)
        ),
        key=lambda item: -item[2],
    )
    mfcc = tuned_counts(tune.mfcc, tune.references, test.mfcc, test.references, tolerance)
    return {"heads": results, "mfcc": mfcc, "best_heads": ranked[:5]}
