"""Phone alignments (CTM or Montreal Forced Aligner TextGrid) mapped onto encoder frames.

Encoder frame ``t`` gets the phone spoken at the centre of its receptive field.
ESPnet's STFT frames are centred (frame ``f`` at ``f * hop / fs`` seconds); each
subsampling convolution of kernel ``k`` and stride ``s`` maps output position
``c`` to input position ``c * s + (k - 1) / 2``. For ``Conv2dSubsampling``
(two 3x3 convolutions of stride 2) encoder frame ``t`` is centred on feature
frame ``4 t + 3``, i.e. at ``(4 t + 3) * hop / fs`` seconds.
"""

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch

from espnet_reuse.kaldi_data import DataError

Segment = Tuple[float, float, str]  # start, end (s), phone


@dataclass
class FrameMapping:
    """From encoder frame index to time: ``(t * stride + offset) * hop / fs``."""

    stride: int
    offset: float
    seconds_per_frame: float

    def centre(self, frame: int) -> float:
        """Time (s) at the centre of encoder frame ``frame``."""
        return (frame * self.stride + self.offset) * self.seconds_per_frame


def frame_mapping(encoder: torch.nn.Module, hop_length: int, fs: int) -> FrameMapping:
    """The mapping of an ESPnet encoder, from the convolutions of its ``embed``."""
    stride, offset = 1, 0.0
    convs = [m for m in encoder.embed.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in reversed(convs):  # compose from the output back to the input
        kernel, step = conv.kernel_size[0], conv.stride[0]
        offset = offset * step + (kernel - 1) / 2
        stride *= step
    return FrameMapping(stride, offset, hop_length / fs)


def read_ctm(path: Path) -> Dict[str, List[Segment]]:
    """``utt channel start duration phone`` lines."""
    alignments: Dict[str, List[Segment]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields or line.startswith(";"):
                continue
            if len(fields) < 5:
                raise DataError(f"{path}:{lineno}: expected 'utt channel start dur phone'")
            start, duration = float(fields[2]), float(fields[3])
            alignments.setdefault(fields[0], []).append((start, start + duration, fields[4]))
    return alignments


def read_textgrids(folder: Path, tier: str = "phones") -> Dict[str, List[Segment]]:
    """Every ``<utt>.TextGrid`` under ``folder`` (MFA output); empty intervals are silence."""
    from praatio import textgrid

    alignments = {}
    for path in sorted(folder.rglob("*.TextGrid")):
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
        if tier not in grid.tierNames:
            raise DataError(f"{path} has no tier '{tier}' (tiers: {grid.tierNames})")
        alignments[path.stem] = [
            (float(e.start), float(e.end), e.label or "sil") for e in grid.getTier(tier).entries
        ]
    return alignments


def phone_inventory(alignments: Dict[str, List[Segment]]) -> Dict[str, int]:
    """Index of every phone, in sorted order."""
    return {
        p: i for i, p in enumerate(sorted({s[2] for segs in alignments.values() for s in segs}))
    }


def read_alignments(path: Path) -> Dict[str, List[Segment]]:
    """A CTM file, or a folder of TextGrid files."""
    if path.is_dir():
        return read_textgrids(path)
    if not path.is_file():
        raise DataError(f"alignments {path} do not exist")
    return read_ctm(path)


def frame_labels(
    utt: str,
    segments: Sequence[Segment],
    num_frames: int,
    mapping: FrameMapping,
    phone_ids: Dict[str, int],
    audio_seconds: float,
    tolerance: float = 0.1,
) -> torch.Tensor:
    """Phone index of each encoder frame; mismatched lengths are an error naming ``utt``.

    ``phone_ids`` maps every phone of the alignments to its index.
    """
    end = segments[-1][1]
    if abs(end - audio_seconds) > tolerance:
        raise DataError(
            f"alignment of '{utt}' ends at {end:.2f} s but its audio lasts {audio_seconds:.2f} s"
        )
    starts = [s for s, _, _ in segments]
    labels = []
    for t in range(num_frames):
        idx = max(0, bisect_right(starts, mapping.centre(t)) - 1)
        labels.append(phone_ids[segments[idx][2]])
    return torch.tensor(labels)
