"""Atomic file writes: a file is either its old complete self or its new complete self, never half.

Every writer in landscape (checkpoints, surface files, run-directory logs, figures, exports) goes
through :func:`replacing`: the content is written to a temporary file *beside* the target (same
directory, so same file system, so the rename is atomic), flushed to disk, and renamed over the
target. Whatever stops the write — an exception, a full disk, Ctrl-C, ``kill -9`` between the write
and the rename — the target is untouched; the temporary file is removed on every exception
(KeyboardInterrupt included; only ``kill -9`` can leave one, named ``.<target>.<random>.tmp``).

Two failures get messages a user can act on:

* the target's directory cannot be written (permissions, a read-only file system):
  :class:`OutputError` (a ``ValueError``: the command line reports it as a usage error, exit 2);
* the disk fills up (or a file-size limit is hit) while writing: ``OSError`` whose message names the
  target and the reason (exit 1).
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

PathLike = Union[str, os.PathLike]

# errno values that mean "this location cannot be written", not "something went wrong while writing"
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class OutputError(ValueError):
    """The output location cannot be written (missing permission, read-only file system, a file in
    the way of a directory). A ValueError: the user has to choose another output path."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(path: PathLike, suffix: str = ".tmp") -> Path:
    """Create an empty temporary file next to ``path`` and return its path.

    The parent directory is created if missing. The file gets the permissions a plain
    ``open(path, "w")`` would give (``0o666`` minus the umask; ``mkstemp``'s 0600 would make shared
    results unreadable to the group). Raises :class:`OutputError` when the directory cannot be
    written.
    """
    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=parent)
    except OSError as exc:
        # ENOENT after the directory exists: one that holds no new files (/proc, a vanished mount)
        if exc.errno in _NOT_WRITABLE or exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
            reason = exc.strerror or type(exc).__name__
            raise OutputError(f"Cannot write {str(path)!r}: its directory {str(parent)!r} is not writable "
                              f"({reason}); choose another output path.") from None
        raise _described(exc, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def check_writable(path: PathLike) -> None:
    """Raise :class:`OutputError` now if ``path`` could not be written later, creating nothing.

    For commands with several outputs: each is checked before the first is written, so a bad last
    path does not fail after the others have changed. Catches a directory in the way, a parent that is
    a file, and a directory (the nearest one that exists) without write permission or on a read-only
    file system; a full disk can only show while writing.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"Cannot write {str(path)!r}: it is a directory; give a file path.")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"Cannot write {str(path)!r}: {str(existing)!r} is a file, not a directory; "
                          "choose another output path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {str(path)!r}: its directory {str(existing)!r} is not writable; "
                          "choose another output path.")


def _described(exc: OSError, path: Path) -> OSError:
    """``exc`` with a short message that names the target: ``[Errno 28] No space left on device``
    alone does not say which of a command's files failed, and h5py's own message is a paragraph."""
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc) or type(exc).__name__)
    hint = " (the disk or a quota is full)" if exc.errno in _NO_SPACE else ""
    new = OSError(f"Could not write {str(path)!r}: {reason}{hint}")
    new.errno = exc.errno
    return new


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (best effort: not every file system lets a directory be fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing(path: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write the new content of ``path`` to; rename it into place on success.

    >>> with replacing("out/surface.h5") as tmp:      # doctest: +SKIP
    ...     write_everything(tmp)                      # any writer that takes a path

    On success the temporary file is fsynced and renamed over ``path``. On any exception (including
    KeyboardInterrupt) it is removed and ``path`` is left as it was. ``OSError`` from a full disk is
    re-raised with a message naming ``path``; an unwritable directory raises :class:`OutputError`.
    """
    path = Path(path)
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise _described(exc, path) from exc
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def open_atomic(path: PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` whose content replaces ``path`` only when the block finishes without error."""
    if not mode.startswith("w"):
        raise ValueError(f"open_atomic writes a new file; mode must start with 'w', got {mode!r}.")
    with replacing(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_bytes(path: PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with open_atomic(path, "wb") as f:
        f.write(data)


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically."""
    with open_atomic(path, "w", encoding=encoding) as f:
        f.write(text)
