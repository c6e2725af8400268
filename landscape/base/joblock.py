"""One job per output file.

A second job aimed at a surface file that a live job is filling (the same command started twice, a
scheduler requeueing a job whose first copy still runs) stops at once with a message, instead of
computing the same cells again and racing the first job to write them.

The lock is an advisory ``flock`` on a hidden ``.<name>.lock`` file beside the output, held for the
job's life. The kernel drops it when the process ends, ``kill -9`` included, so a killed job never
leaves a stale lock: a leftover lock file is harmless, since the flock, not the file, is what counts.
Readers (``landscape info``, ``plot``, ``sharpness``) take no part. Where ``flock`` is unsupported
(Windows, some network file systems) or the directory cannot be written, jobs run unlocked and the
writing code reports what it must.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from . import flock


def lock_path(path: os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def output_lock(path: os.PathLike) -> Iterator[None]:
    """Hold the job lock of the output ``path`` for the block.

    Raises:
        ValueError: another live job holds it (the message names its process id).
    """
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = flock.lock(lock, blocking=False, create=True)
    except BlockingIOError:
        holder = _read_pid(lock)
        raise ValueError(f"Another job{f' (process {holder})' if holder else ''} is writing {str(path)!r}; "
                         "wait for it to finish (`landscape info` shows its progress) or choose another "
                         "output path.") from None
    except OSError:  # a directory we cannot write: the output write reports it properly
        fd = None
    if fd is not None:
        with contextlib.suppress(OSError):  # the pid only improves the message (a full disk may refuse it)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # before closing: nobody can lock this file after we let go of it
            os.close(fd)


def _read_pid(lock: Path) -> str:
    try:
        text = lock.read_text()[:32].strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if text.isdigit() else ""
