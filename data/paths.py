"""Where on-disk datasets live, and the one-line error raised when their files are not there.

``root=None`` means ``$LANDSCAPE_DATA`` if set, else ``~/.cache/landscape/data``. Each loader then
looks in a few conventional places under the root (documented in its module) so that files
unpacked by hand, by torchvision or by our own downloader are all found.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from landscape.base.errors import FileFormatError

PathLike = Union[str, "os.PathLike[str]"]
ENV_VAR = "LANDSCAPE_DATA"


def default_root() -> Path:
    """``$LANDSCAPE_DATA`` if set (and non-empty), else ``~/.cache/landscape/data``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "landscape" / "data"


def resolve_root(root: Optional[PathLike]) -> Path:
    """The data root to search: ``root`` itself (``~`` expanded) or :func:`default_root`."""
    return Path(root).expanduser() if root is not None else default_root()


def missing_error(dataset: str, searched: Sequence[Path], expected: Iterable[str], problem: str,
                  hint: str) -> FileFormatError:
    """A one-line FileFormatError: what is wrong, the directories searched, the files expected, the fix."""
    dirs = ", ".join(str(d) for d in searched)
    files = ", ".join(expected)
    return FileFormatError(f"{dataset}: {problem}; searched {dirs} for {files}. {hint}")
