"""Stage 10: feature and shape statistics, sharded over ``nj`` ESPnet jobs.

Each job runs ``asr_train --collect_stats true`` on its share of the training and
validation utterances; ESPnet's ``aggregate_stats_dirs`` sums them. The result is
moved into place only when complete, so a rerun after a failure starts over.
"""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe import espnet_commands


def collect_stats(
    common_args: List[str],
    data_dirs: Dict[str, Path],
    config: Path,
    stats_dir: Path,
    num_tokens: int,
    nj: int,
) -> None:
    """Write ``stats_dir/{train,valid}`` (``feats_stats.npz``, shapes, ``text_shape.bpe``).

    ``data_dirs`` maps ``train`` and ``valid`` to their ``dump/raw`` directories;
    ``common_args`` are the ``asr_train`` options shared with training.
    """
    logdir = stats_dir / "logdir"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    keys = {name: sorted(read_table(path / "wav.scp")) for name, path in data_dirs.items()}
    nj = max(1, min(nj, *(len(k) for k in keys.values())))
    for name, utts in keys.items():
        for job, shard in enumerate(np.array_split(utts, nj), 1):
            (logdir / f"{name}.{job}.scp").write_text("".join(f"{k}\n" for k in shard))
    jobs = list(range(1, nj + 1))
    processes = []
    for job in jobs:
        command = [
            *(sys.executable, "-m", espnet_commands.TRAIN_MODULE, "--collect_stats", "true"),
            *common_args,
            *espnet_commands.data_path_args("train", data_dirs["train"]),
            *espnet_commands.data_path_args("valid", data_dirs["valid"]),
            *espnet_commands.flags(
                {
                    "train_shape_file": logdir / f"train.{job}.scp",
                    "valid_shape_file": logdir / f"valid.{job}.scp",
                    "output_dir": logdir / f"stats.{job}",
                    "config": config,
                    "ngpu": 0,
                    "num_workers": 0,
                }
            ),
        ]
        with open(logdir / f"stats.{job}.log", "w") as log_file:
            processes.append(subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT))
    failed = [job for job, process in zip(jobs, processes) if process.wait() != 0]
    if failed:
        raise RuntimeError(f"statistics jobs {failed} failed: see {logdir}/stats.N.log")
    tmp = stats_dir / "aggregated.tmp"
    inputs = espnet_commands.flags([("input_dir", logdir / f"stats.{job}") for job in jobs])
    aggregate = [sys.executable, "-m", "espnet2.bin.aggregate_stats_dirs", *inputs]
    subprocess.run([*aggregate, "--output_dir", str(tmp)], check=True, capture_output=True)
    for name in data_dirs:
        shapes = read_table(tmp / name / "text_shape")
        (tmp / name / "text_shape.bpe").write_text(
            "".join(f"{u} {s},{num_tokens}\n" for u, s in sorted(shapes.items()))
        )
        shutil.rmtree(stats_dir / name, ignore_errors=True)
        (tmp / name).rename(stats_dir / name)
    shutil.rmtree(tmp)
