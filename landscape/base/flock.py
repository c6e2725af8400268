"""Advisory ``flock`` locks on a path whose file may be replaced or removed while we wait.

Both users — a surface file's writes (``landscape.io``: its rounds against ``save_metrics``'
copy-and-rename) and one-job-per-output (``landscape.joblock``: a sidecar file removed when a job
ends) — must lock *the file the path names now*: after the lock is granted the path is checked to
still name the locked file, and if it was renamed over or unlinked meanwhile, the new file is
locked instead. Where ``flock`` is unsupported (Windows, some network file systems), :func:`lock`
returns None and callers go on unlocked.
"""
from __future__ import annotations

import os
from typing import Optional


def lock(path: os.PathLike, blocking: bool = True, create: bool = False) -> Optional[int]:
    """An open descriptor holding an exclusive ``flock`` on the file at ``path`` (close it to
    release); None where locking is impossible here.

    Raises:
        BlockingIOError: ``blocking=False`` and another open file holds the lock.
        OSError: the file cannot be opened (missing, unless ``create``; no permission).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    while True:
        fd = os.open(path, (os.O_RDWR | os.O_CREAT) if create else os.O_RDONLY, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise
        except OSError:  # ENOLCK / EOPNOTSUPP: no locks on this file system
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # replaced or removed while we waited: lock what the path names now
