"""Figure styles for papers and slides, and saving by file extension.

``with style("paper"):`` sets rcParams for a journal column: single (3.5 in) or double (7.0 in)
width, 8 pt type, and TrueType (Type 42) fonts in PDF/PS, which publishers ask for (Type 3 bitmap
fonts are rejected by many submission systems). Dense artists (filled contours, heatmap cells,
3D quads) are drawn rasterized by the plot functions, so a 51x51 grid stays a small vector PDF with
one embedded image; ``savefig.dpi`` here sets that image's resolution.

``with style("slides"):`` 16:9 figures and large type for a projector.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator, Optional

import matplotlib as mpl
from matplotlib.figure import Figure

from landscape.base import atomic
from landscape.base.errors import check_choice

STYLES = ("paper", "slides")
WIDTHS = {"single": 3.5, "double": 7.0}  # inches: common single/double journal column widths
FORMATS = ("png", "pdf", "svg")

_active: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("landscape_plot_style", default=None)

_COMMON = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",  # keep text as text in SVG (editable, searchable)
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib as TrueType: identical everywhere
    "mathtext.fontset": "dejavusans",
    "image.cmap": "viridis",
    "legend.frameon": False,
}


def rc_params(name: str, width: str = "single") -> dict:
    """The rcParams of style ``name`` ('paper' or 'slides'); ``width`` ('single'|'double') for paper."""
    check_choice("style", name, STYLES)
    rc = dict(_COMMON)
    if name == "paper":
        check_choice("width", width, tuple(WIDTHS))
        w = WIDTHS[width]
        rc.update({
            "figure.figsize": (w, w * 0.8 if width == "single" else w * 0.42),
            "figure.dpi": 150,
            "savefig.dpi": 300,
            "font.size": 8,
            "axes.titlesize": 8,
            "axes.labelsize": 8,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "legend.fontsize": 7,
            "lines.linewidth": 1.0,
            "lines.markersize": 4,
            "axes.linewidth": 0.6,
            "xtick.major.width": 0.6,
            "ytick.major.width": 0.6,
            "xtick.major.size": 2.5,
            "ytick.major.size": 2.5,
        })
    else:
        rc.update({
            "figure.figsize": (10.0, 5.625),  # 16:9
            "figure.dpi": 100,
            "savefig.dpi": 200,
            "font.size": 18,
            "axes.titlesize": 20,
            "axes.labelsize": 18,
            "xtick.labelsize": 15,
            "ytick.labelsize": 15,
            "legend.fontsize": 15,
            "lines.linewidth": 2.5,
            "lines.markersize": 8,
            "axes.linewidth": 1.2,
        })
    return rc


@contextlib.contextmanager
def style(name: str, width: str = "single") -> Iterator[None]:
    """Context manager applying the 'paper' or 'slides' style to figures made inside it.

    >>> with style("paper", width="double"):
    ...     fig = compare([a, b], kind="contour")
    ...     save(fig, "fig3.pdf")
    """
    rc = rc_params(name, width)
    token = _active.set(name)
    try:
        with mpl.rc_context(rc):
            yield
    finally:
        _active.reset(token)


def active_style() -> Optional[str]:
    """The name of the style in effect ('paper', 'slides') or None."""
    return _active.get()


def save(fig: Figure, path, dpi: Optional[float] = None, **kwargs) -> str:
    """Write ``fig`` to ``path`` as PNG, PDF or SVG (chosen by the extension); returns the path.

    Parent directories are created. The file is written to a temporary name in the same directory
    and renamed into place, so an interrupted save never leaves a truncated figure behind.
    ``dpi`` defaults to ``savefig.dpi``; other keyword arguments go to ``Figure.savefig``.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"The value for `path` must end in one of {['.' + f for f in FORMATS]}, "
                         f"but {path!r} was passed.")
    kwargs.setdefault("bbox_inches", "tight")
    kwargs.setdefault("pad_inches", 0.03)
    # TrueType glyphs in vector output whatever the style: Type 3 fonts are refused by many
    # publishers, and fonttype is read at save time, not when the figure was made
    with atomic.open_atomic(path, "wb") as fh, mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        fig.savefig(fh, format=ext, dpi=dpi, **kwargs)
    return path
