"""Optional dependencies: import one, or say in one line which extra installs it.

The core needs none of these; an interactive page needs ``plotly`` (extra ``html``) and an MP4 needs
the ffmpeg binary of ``imageio-ffmpeg`` (extra ``movie``). Asking for one of those outputs without its
extra is a usage error (``ValueError``: one line, exit status 2 on the command line).
"""
from __future__ import annotations

import importlib
from types import ModuleType


# The distribution's name on the package index (pip install NAME); the import name and the command
# are `landscape` (PyPI's "landscape" is another project). setup.cfg's [metadata] name says the same.
DISTRIBUTION = "loss-landscape-lab"


class MissingExtra(ValueError):
    """An output needs an optional package that is not installed."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming ``extra``:
    "An .html page needs plotly, which is not installed: pip install 'loss-landscape-lab[html]'"."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0].replace("_", "-")
        raise MissingExtra(f"{purpose} needs {package}, which is not installed: "
                           f"pip install '{DISTRIBUTION}[{extra}]'") from None
