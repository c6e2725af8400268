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
from typing import Iterator, Optional


def lock_path(path: os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def output_lock(path: os.PathLike) -> Iterator[None]:
    """Hold the job lock of the output ``path`` for the block.

    Raises:
        ValueError: another live job holds it (the message names its process id).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    lock = lock_path(path)
    fd = _acquire(lock, fcntl)
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # before closing: nobody can lock this file after we let go of it
            os.close(fd)


def _acquire(lock: Path, fcntl) -> Optional[int]:
    """An open descriptor holding the flock on ``lock``; None where locking is impossible here."""
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # a directory we cannot write: the output write reports it properly
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            output = lock.name[1:-len(".lock")]
            raise ValueError(f"Another job{f' (process {holder})' if holder else ''} is writing "
                             f"{str(lock.with_name(output))!r}; wait for it to finish (`landscape info` shows "
                             "its progress) or choose another output path.") from None
        except OSError:  # ENOLCK / EOPNOTSUPP: no locks on this file system
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the holder unlinked it while we waited: lock the new file instead
            with contextlib.suppress(OSError):  # the pid only improves the message (a full disk may refuse it)
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if text.isdigit() else ""
