"""Stage 10: feature and shape statistics, sharded over ``nj`` ESPnet jobs.

Each job runs ``asr_train --collect_stats true`` on its share of the training and
validation utterances; ESPnet's ``aggregate_stats_dirs`` sums them. The result is
moved into place only when complete, so a rerun after a failure starts over. A
progress bar with the time left follows the jobs' ``Niter`` log lines (each job
reads ``BATCH`` utterances per step and logs every ``LOG_INTERVAL`` steps).
"""

import math
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
from tqdm import tqdm

from espnet_reuse import atomic
from espnet_reuse.espnet_api import AGGREGATE_STATS_MODULE
from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe import espnet_commands

BATCH = 20
LOG_INTERVAL = 10


def collect_stats(
    common_args: List[str],
    data_dirs: Dict[str, Path],
    config: Path,
    stats_dir: Path,
    num_tokens: int,
    token_type: str,
    nj: int,
) -> None:
    """Write ``stats_dir/{train,valid}`` (``feats_stats.npz``, shapes, ``text_shape.<token_type>``).

    ``data_dirs`` maps ``train`` and ``valid`` to their ``dump/raw`` directories;
    ``common_args`` are the ``asr_train`` options shared with training.
    """
    logdir = stats_dir / "logdir"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    keys = {name: sorted(read_table(path / "wav.scp")) for name, path in data_dirs.items()}
    nj = max(1, min(nj, *(len(k) for k in keys.values())))
    shards = {name: np.array_split(utts, nj) for name, utts in keys.items()}
    for name, parts in shards.items():
        for job, shard in enumerate(parts, 1):
            atomic.write_text(logdir / f"{name}.{job}.scp", "".join(f"{k}\n" for k in shard))
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
                    "batch_size": BATCH,
                    "log_interval": LOG_INTERVAL,
                }
            ),
        ]
        with open(logdir / f"stats.{job}.log", "w") as log_file:
            processes.append(subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT))
    steps = sum(math.ceil(len(shard) / BATCH) for parts in shards.values() for shard in parts)
    _follow(processes, [logdir / f"stats.{job}.log" for job in jobs], steps)
    codes = {job: process.wait() for job, process in zip(jobs, processes)}
    failed = {job: code for job, code in codes.items() if code != 0}
    if failed:
        job, code = next(iter(failed.items()))
        error = espnet_commands.last_error(
            (logdir / f"stats.{job}.log").read_text(errors="replace")
        )
        raise espnet_commands.StageFailed(
            f"statistics job {job} {espnet_commands.describe_exit(code)}"
            f"{': ' + error if error else ''} ({len(failed)} of {len(jobs)} failed; log: "
            f"{logdir}/stats.{job}.log); re-running starts them again"
        )
    tmp = stats_dir / "aggregated.tmp"
    inputs = espnet_commands.flags([("input_dir", logdir / f"stats.{job}") for job in jobs])
    aggregate = [sys.executable, "-m", AGGREGATE_STATS_MODULE, *inputs]
    done = subprocess.run([*aggregate, "--output_dir", str(tmp)], capture_output=True, text=True)
    if done.returncode != 0:
        raise espnet_commands.StageFailed(
            f"aggregating the statistics {espnet_commands.describe_exit(done.returncode)}: "
            f"{espnet_commands.last_error(done.stderr) or done.stderr[-500:]}"
        )
    for name in data_dirs:
        shapes = read_table(tmp / name / "text_shape")
        atomic.write_text(
            tmp / name / f"text_shape.{token_type}",
            "".join(f"{u} {s},{num_tokens}\n" for u, s in sorted(shapes.items())),
        )
        shutil.rmtree(stats_dir / name, ignore_errors=True)
        (tmp / name).rename(stats_dir / name)
    shutil.rmtree(tmp)


def _follow(processes: List[subprocess.Popen], logs: List[Path], steps: int) -> None:
    """A progress bar over the jobs' steps until every job has ended."""
    with tqdm(total=steps, desc="feature statistics", unit="step") as progress:
        while True:
            running = any(process.poll() is None for process in processes)
            done = sum(log.read_text(errors="replace").count("Niter:") for log in logs)
            progress.update(min(done * LOG_INTERVAL, steps) - progress.n)
            if not running:
                break
            time.sleep(2)
        if all(process.returncode == 0 for process in processes):
            progress.update(steps - progress.n)
