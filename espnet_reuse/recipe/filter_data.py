"""Stage 4: drop utterances too short or too long for training, or without words."""

from dataclasses import dataclass
from pathlib import Path

from espnet_reuse.kaldi_data import read_data_dir, write_data_dir

TABLES = ["wav.scp", "text", "utt2spk", "utt2num_samples"]


@dataclass
class FilterCounts:
    """How many utterances were kept and why the others went."""

    kept: int
    too_short: int
    too_long: int
    empty_text: int

    def __str__(self) -> str:
        total = self.kept + self.too_short + self.too_long + self.empty_text
        return (
            f"kept {self.kept} of {total} utterances ({self.too_short} too short, "
            f"{self.too_long} too long, {self.empty_text} with an empty transcript)"
        )


def filter_data_dir(
    src: Path, dst: Path, min_seconds: float, max_seconds: float, fs: int = 16000
) -> FilterCounts:
    """Copy ``src`` to ``dst`` without the utterances that fail a check."""
    tables = read_data_dir(src, TABLES)
    counts = FilterCounts(0, 0, 0, 0)
    keep = []
    for utt, samples in tables["utt2num_samples"].items():
        seconds = int(samples) / fs
        if seconds < min_seconds:
            counts.too_short += 1
        elif seconds > max_seconds:
            counts.too_long += 1
        elif not tables["text"][utt].strip():
            counts.empty_text += 1
        else:
            keep.append(utt)
            counts.kept += 1
    kept = {name: {u: t[u] for u in keep} for name, t in tables.items()}
    write_data_dir(dst, kept, {"feats_type": "raw\n"})
    return counts
