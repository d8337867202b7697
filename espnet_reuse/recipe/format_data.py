"""Stage 3: data directories -> ``dump/raw`` with every audio file decoded once.

Each file is read in full (a corrupt or truncated file fails here, naming the
utterance and file, not hours into training) and its length goes to
``utt2num_samples``; audio is referenced in place, not copied.
"""

from functools import partial
from pathlib import Path
from typing import Tuple

from tqdm.contrib.concurrent import process_map

from espnet_reuse.kaldi_data import read_data_dir, write_data_dir
from espnet_reuse.recipe.audio import read_audio


def _num_samples(job: Tuple[str, str], fs: int) -> str:
    utt, path = job
    return str(len(read_audio(path, utt, fs)))


def format_data_dir(src: Path, dst: Path, fs: int = 16000, nj: int = 2) -> int:
    """Write ``dst`` (wav.scp, text, utt2spk, spk2utt, utt2num_samples, feats_type)."""
    tables = read_data_dir(src, ["wav.scp", "text", "utt2spk"])
    jobs = sorted(tables["wav.scp"].items())
    lengths = process_map(
        partial(_num_samples, fs=fs),
        jobs,
        max_workers=nj,
        chunksize=16,
        desc=f"reading audio of {src.name}",
        unit="utt",
    )
    tables["utt2num_samples"] = {utt: n for (utt, _), n in zip(jobs, lengths)}
    write_data_dir(dst, tables, {"feats_type": "raw\n"})
    return len(jobs)
