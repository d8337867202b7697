"""Training checkpoints that a kill, a full disk or a preemption cannot tear.

ESPnet's trainer writes ``checkpoint.pth`` and the epoch snapshots with
``torch.save`` straight into place: a kill or a full disk during the write leaves
a file that fails every later resume. ``install()`` (called by this plugin's
``asr_train``) makes every ``torch.save`` to a path write a temporary file in the
same folder, flush it to disk and rename it into place; before ``checkpoint.pth``
is replaced, the previous one is kept as ``checkpoint.prev.pth`` (a hard link, no
copy). A write that fails (``ENOSPC``) removes its temporary file, leaves the
previous file as it was and says which file could not be written.

``install()`` also makes SIGTERM (what Slurm sends before it preempts or cancels
a job) stop training at once, but never inside a checkpoint write: a signal that
arrives during one takes effect right after it. The process logs a line saying
training can be resumed and exits with ``PREEMPTED`` (143, 128 + SIGTERM).

``recover(output_dir)`` runs before training resumes: a ``checkpoint.pth`` that does
not load is moved aside (never deleted) and ``checkpoint.prev.pth`` takes its place,
so at most one epoch is trained again; leftover temporary files of interrupted
writes are removed.
"""

import logging
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import torch

from espnet_reuse import safe_load
from espnet_reuse.atomic import TEMPORARY, replacing

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pth"
PREVIOUS = "checkpoint.prev.pth"
PREEMPTED = 128 + signal.SIGTERM

_torch_save = torch.save
_writing = 0  # atomic writes in progress in this process
_pending_signal: Optional[int] = None


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGTERM during the block takes effect when it ends."""
    global _writing
    _writing += 1
    try:
        yield
    finally:
        _writing -= 1
        if not _writing and _pending_signal is not None:
            _stop(_pending_signal)


def atomic_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    """``torch.save`` that never leaves a partial file at ``f`` (a path; file objects
    are passed through as they are); ``atomic.WriteFailed`` names a file it could not
    write."""
    if not isinstance(f, (str, os.PathLike)):
        return _torch_save(obj, f, *args, **kwargs)
    path = Path(f)
    keep = path.name == CHECKPOINT and path.exists()
    with (
        _signals_deferred(),
        replacing(
            path, durable=True, before_replace=(lambda: _keep_previous(path)) if keep else None
        ) as temporary,
    ):
        _torch_save(obj, temporary, *args, **kwargs)


def _keep_previous(checkpoint: Path) -> None:
    """``checkpoint.prev.pth``: the checkpoint about to be replaced (a hard link)."""
    with replacing(checkpoint.with_name(PREVIOUS)) as link:
        try:
            os.link(checkpoint, link)
        except OSError:  # a file system without hard links
            shutil.copyfile(checkpoint, link)


def _stop(signum: int) -> None:
    log.warning(
        "training stopped by %s; re-running the same command resumes from the last "
        "completed epoch in %s (the interrupted epoch is trained again)",
        signal.Signals(signum).name,
        CHECKPOINT,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(PREEMPTED)


def _on_signal(signum: int, frame: Any) -> None:
    global _pending_signal
    if _writing:
        _pending_signal = signum
    else:
        _stop(signum)


def install() -> None:
    """Atomic ``torch.save`` and a clean stop on SIGTERM, for this training process."""
    torch.save = atomic_save
    signal.signal(signal.SIGTERM, _on_signal)


def checkpoint_epoch(path: Path) -> Optional[int]:
    """The last completed epoch a checkpoint holds, or ``None`` when it does not load;
    ``safe_load.UntrustedModelFile`` when it holds more than data (never run, never
    replaced)."""
    try:
        states = safe_load.load(path, mmap=True)
        return int(states["reporter"]["epoch"])
    except safe_load.UntrustedModelFile:
        raise
    except Exception:  # a torn file fails in many ways (zip, pickle, keys)
        return None


def recover(output_dir: Path) -> List[str]:
    """Make ``output_dir`` resumable; return what was done, one line each (also logged)."""
    done = []
    for leftover in output_dir.glob(f"{TEMPORARY}*"):
        leftover.unlink()
        done.append(f"removed {leftover}, left by an interrupted write")
    checkpoint, previous = output_dir / CHECKPOINT, output_dir / PREVIOUS
    if checkpoint.exists() and checkpoint_epoch(checkpoint) is None:
        aside = checkpoint.with_name(f"{CHECKPOINT}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(checkpoint, aside)
        epoch = checkpoint_epoch(previous) if previous.exists() else None
        if epoch is None:
            done.append(
                f"{checkpoint} does not load: moved to {aside}; no earlier checkpoint "
                "loads, so training starts again from epoch 1"
            )
        else:
            with replacing(checkpoint) as copy:
                shutil.copyfile(previous, copy)
            done.append(
                f"{checkpoint} does not load: moved to {aside}; resuming from {previous} "
                f"(epoch {epoch}): epoch {epoch + 1} is trained again"
            )
    for line in done:
        log.warning("%s", line)
    return done
