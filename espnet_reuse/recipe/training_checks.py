"""What stage 11 checks before it trains, and what it says when training fails."""

from pathlib import Path

import numpy as np

from espnet_reuse.checkpoints import CHECKPOINT
from espnet_reuse.kaldi_data import DataError
from espnet_reuse.recipe import espnet_commands


def check_feature_size(config: Path, configured: dict, stats: Path) -> None:
    """Stop before training when ``config`` (read: ``configured``) makes features of another
    size than the statistics stage 10 computed (ESPnet's default frontend: ``n_mels``, 80
    unless set); other frontends are left to ESPnet."""
    if configured.get("frontend", "default") not in ("default", None):
        return
    made = int((configured.get("frontend_conf") or {}).get("n_mels", 80))
    with np.load(stats) as saved:
        computed = int(saved["sum"].shape[-1])
    if made != computed:
        raise DataError(
            f"{stats} holds statistics of {computed}-dimensional features, but {config} makes "
            f"{made} (frontend_conf n_mels): recompute them for this config with ./run.sh "
            f"--stage 10 --stop-stage 10 --asr_config {config} (add --asr_stats_dir DIR to "
            f"keep these), or train with the config they were computed for"
        )


def training_failed(exp_dir: Path, code: int) -> espnet_commands.StageFailed:
    """The error for a training of ``exp_dir`` that exited with ``code``: how it ended,
    the rank that failed first (torchrun), the log, and what re-running does."""
    checkpoint = exp_dir / CHECKPOINT
    again = f"resumes from {checkpoint}" if checkpoint.exists() else "starts it again"
    log_text = (exp_dir / "train.log").read_text(errors="replace")
    rank = espnet_commands.failed_rank(log_text)
    why = f"{rank}, and torchrun stopped the others" if rank else ""
    return espnet_commands.StageFailed(
        f"training of {exp_dir} {espnet_commands.describe_exit(code)}"
        f"{': ' + why if why else ''} (log: {exp_dir}/train.log); re-running "
        f"the same command {again}"
    )
