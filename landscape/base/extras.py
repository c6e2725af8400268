"""Optional dependencies: import one, or say in one line which extra installs it.

The core needs none of these; an interactive page needs ``plotly`` (extra ``html``) and an MP4 needs
the ffmpeg binary of ``imageio-ffmpeg`` (extra ``movie``). Asking for one of those outputs without its
extra is a usage error (``ValueError``: one line, exit status 2 on the command line).
"""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ValueError):
    """An output needs an optional package that is not installed."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming ``extra``:
    "An .html page needs plotly, which is not installed: pip install 'landscape[html]'"."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0].replace("_", "-")
        raise MissingExtra(f"{purpose} needs {package}, which is not installed: "
                           f"pip install 'landscape[{extra}]'") from None
