"""Checkpoints that a kill, a full disk or SIGTERM cannot tear, and recovery from torn ones."""

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from espnet_reuse import checkpoints
from espnet_reuse.atomic import TEMPORARY, WriteFailed
from espnet_reuse.checkpoints import CHECKPOINT, PREEMPTED, PREVIOUS, atomic_save, recover
from espnet_reuse.recipe.espnet_commands import describe_exit

from helpers import REPO


def state(epoch: int) -> dict:
    return {"model": {"w": torch.full((1000,), float(epoch))}, "reporter": {"epoch": epoch}}


def tear(path) -> None:
    """What a kill or a full disk during ``torch.save`` leaves: the first half."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    path = tmp_path / CHECKPOINT
    atomic_save(state(1), path)

    def full_disk(obj, temporary, *args, **kwargs):
        Path(temporary).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "_torch_save", full_disk)
    with pytest.raises(WriteFailed, match=f"could not write {path} \\(No space left"):
        atomic_save(state(2), path)
    assert checkpoints.checkpoint_epoch(path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]


def test_the_previous_checkpoint_is_kept_until_the_new_one_is_complete(tmp_path):
    path = tmp_path / CHECKPOINT
    atomic_save(state(1), path)
    assert not (tmp_path / PREVIOUS).exists()
    atomic_save(state(2), path)
    assert checkpoints.checkpoint_epoch(path) == 2
    assert checkpoints.checkpoint_epoch(tmp_path / PREVIOUS) == 1
    atomic_save(state(3), tmp_path / "3epoch.pth")  # snapshots are atomic, nothing kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3epoch.pth", PREVIOUS, CHECKPOINT]


def test_a_torn_checkpoint_is_moved_aside_and_the_previous_one_resumes(tmp_path):
    atomic_save(state(1), tmp_path / CHECKPOINT)
    atomic_save(state(2), tmp_path / CHECKPOINT)
    tear(tmp_path / CHECKPOINT)
    (tmp_path / f"{TEMPORARY}99-{CHECKPOINT}").write_bytes(b"half")
    done = recover(tmp_path)
    assert checkpoints.checkpoint_epoch(tmp_path / CHECKPOINT) == 1
    aside = list(tmp_path.glob(f"{CHECKPOINT}.unreadable-*"))
    assert len(aside) == 1 and aside[0].stat().st_size > 0  # kept, never deleted
    assert "removed" in done[0] and "left by an interrupted write" in done[0]
    assert f"resuming from {tmp_path / PREVIOUS} (epoch 1): epoch 2 is trained again" in done[1]
    assert recover(tmp_path) == []  # nothing left to mend


def test_a_torn_first_checkpoint_starts_again(tmp_path):
    atomic_save(state(1), tmp_path / CHECKPOINT)
    tear(tmp_path / CHECKPOINT)
    (done,) = recover(tmp_path)
    assert "training starts again from epoch 1" in done
    assert not (tmp_path / CHECKPOINT).exists()


SIGTERM_DURING_WRITE = """
import os, signal, sys, torch
from espnet_reuse import checkpoints
from espnet_reuse.atomic import TEMPORARY, WriteFailed
checkpoints.install()
save = checkpoints._torch_save
def slow_save(obj, handle, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the write
    save(obj, handle, *args, **kwargs)
checkpoints._torch_save = slow_save
torch.save({"reporter": {"epoch": 3}}, sys.argv[1])
print("after the write")
"""


def test_sigterm_waits_for_the_checkpoint_write_then_stops(tmp_path):
    path = tmp_path / CHECKPOINT
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_DURING_WRITE, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == PREEMPTED == 128 + signal.SIGTERM
    assert checkpoints.checkpoint_epoch(path) == 3  # written whole
    assert "after the write" not in done.stdout  # stopped right after it
    assert "training stopped by SIGTERM; re-running the same command resumes" in done.stderr
    assert describe_exit(PREEMPTED) == "exited with status 143 (stopped by SIGTERM)"
