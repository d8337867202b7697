"""Stage 3: data directories -> ``dump/raw`` with every audio file decoded once.

Each file is read in full (corrupt or truncated files fail here, all named in one
run, not hours into training; or are left out with ``skip_bad``) and its length
goes to ``utt2num_samples``; audio is referenced in place, not copied.
"""

from functools import partial
from pathlib import Path
from typing import Tuple, Union

from tqdm.contrib.concurrent import process_map

from espnet_reuse.kaldi_data import DataError, read_data_dir, write_data_dir
from espnet_reuse.recipe.audio import read_audio
from espnet_reuse.recipe.bad_utterances import BadUtterance, settle


def _num_samples(job: Tuple[str, str], fs: int) -> Union[int, BadUtterance]:
    utt, path = job
    try:
        return len(read_audio(path, utt, fs))
    except DataError as error:
        return BadUtterance(utt, str(error))


def format_data_dir(
    src: Path, dst: Path, fs: int = 16000, nj: int = 2, skip_bad: bool = False
) -> int:
    """Write ``dst`` (wav.scp, text, utt2spk, spk2utt, utt2num_samples, feats_type);
    return the number of utterances kept."""
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
    bad = [n for n in lengths if isinstance(n, BadUtterance)]
    report = settle(bad, str(src), skip_bad)
    kept = {utt: str(n) for (utt, _), n in zip(jobs, lengths) if isinstance(n, int)}
    tables = {name: {u: v for u, v in table.items() if u in kept} for name, table in tables.items()}
    tables["utt2num_samples"] = kept
    write_data_dir(dst, tables, {"feats_type": "raw\n", **report})
    return len(kept)
