"""Files written whole or not at all.

Every file the recipe and the training write goes to a temporary file beside its
target and is renamed into place when complete, so a kill or a full disk never
leaves a partial file that a re-run would take as done. A write that fails
removes its temporary file, leaves the target as it was, and raises
``WriteFailed`` naming the target.
"""

import errno
import io
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

TEMPORARY = ".tmp-"  # prefix of files being written
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)  # no room, or no writing


class WriteFailed(OSError):
    """A file could not be written (the message names it); what was there is intact."""


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def replacing(
    path: Path, durable: bool = False, before_replace: Optional[Callable[[], None]] = None
) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; rename it into place
    when the block ends (``before_replace`` runs just before; ``durable``: flushed to
    disk first, the folder too)."""
    path = Path(path)
    temporary = path.with_name(f"{TEMPORARY}{os.getpid()}-{path.name}")
    try:
        yield temporary
        if durable:
            _fsync(temporary)
        if before_replace is not None:
            before_replace()
        os.replace(temporary, path)
        if durable:
            _fsync(path.parent)
    except WriteFailed:
        temporary.unlink(missing_ok=True)
        raise
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise write_failed(path, error, "what was there is intact") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_failed(path: Path, error: OSError, note: str = "") -> WriteFailed:
    """``could not write PATH (No space left on device)[; note]`` for ``error``."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return WriteFailed(
        error.errno, f"could not write {path} ({reason})" + (f"; {note}" if note else "")
    )


def describe(error: OSError) -> str:
    """One line for an ``OSError``: ``could not write FILE (No space left on device)`` when
    the file system had no room (or refused writing), else the error as Python says it."""
    if error.errno in FULL and error.filename:
        return write_failed(error.filename, error).strerror
    return str(error)


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text)``, whole or not at all."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)``, whole or not at all."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def encoded(write: Callable[[io.BytesIO], None]) -> bytes:
    """What ``write`` writes to a file object, as bytes (to write it whole afterwards)."""
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()
