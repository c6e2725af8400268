"""Figures of loss landscapes: 1D curves, contours, heatmaps, 3D surfaces, comparisons, gradient flow.

Axes-level functions draw on ``ax`` (default: the current axes) and return it; figure-level functions
(:func:`compare`, :func:`gradient_flow`, :func:`draw`) make a Figure and return it. None of them
saves, shows or prints: use :func:`save` (PNG/PDF/SVG by extension) and :func:`style` for paper or
slide figures.

    surf = landscape.io.load("run.h5")
    ax = landscape.plot.contour(surf, "train_loss", levels=30, log=True)
    with landscape.plot.style("paper", width="double"):
        fig = landscape.plot.compare([with_skip, without_skip], kind="surface")
        landscape.plot.save(fig, "fig1.pdf")

Belongs here: everything that draws what it is handed — figures (the modules of this package; the
``_draw``/``_scale``/``_labels``/``_place``/``_format`` internals are private to it), interactive pages
(``html``), movies (``movie``), mesh/ParaView exports (``export``) and the notebook view of a
surface (``notebook``). Does not belong here: opening files (``storage``) or computing values
(``core``, ``analysis``); the layer sits below both so that a surface can show itself.

Every plot masks NaN cells (not computed yet, or diverged to NaN) as gaps, says so when a file is
partly computed, and by default draws a loss on a linear scale from its lowest minimum up to a cap
of 10 that the colour bar names ("train loss (linear, clipped at 10)"); ``log=True`` draws it on a
log scale. ``compare(..., grid=(rows, cols))`` lays panels out as Li et al. (2018) Fig. 5 does.
See ``landscape.plot._scale``.
"""
from __future__ import annotations

from typing import Optional

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from landscape.base.errors import check_choice

from . import _draw
from ._scale import Scale, loss_cap, shared_scale
from .compare import ALIASES, KINDS, compare, default_kind, normalize_kind
from .gradflow import gradient_flow
from .lines import line
from .planar import contour, contourf, heatmap
from .planes import planes
from .sharpening import sharpening, sharpness_curve
from .points import has_points as points_available, points
from .style import STYLES, active_style, save, style
from .surface3d import surface3d

__all__ = [
    "ALIASES", "KINDS", "STYLES", "Scale", "active_style", "compare", "contour", "contourf", "default_kind", "draw",
    "gradient_flow", "heatmap", "kinds_for", "line", "loss_cap", "planes", "points", "points_available", "save",
    "shared_scale", "sharpening", "sharpness_curve", "style", "surface3d",
]

# inches, when no style sets the size: room for a colour bar next to a roughly square plot
DEFAULT_SIZES = {"line": (5.0, 3.8), "contour": (5.0, 4.0), "contourf": (5.0, 4.0),
                 "heatmap": (5.0, 4.0), "surface": (5.6, 4.4)}


def kinds_for(surface) -> tuple:
    """The kinds that can draw ``surface``: all of KINDS for 2D, only 'line' for 1D."""
    return KINDS if surface.ndim == 2 else ("line",)


def draw(surface, kind: Optional[str] = None, value: Optional[str] = None, *, figsize=None, show_points: bool = False,
         **kwargs) -> Figure:
    """A new Figure with one view of ``surface``: ``kind`` is one of KINDS ('surface3d' accepted);
    default 'contour' for a 2D surface, 'line' for a 1D one.

    value: the value to draw (default 'train_loss'); for 'line' the default draws every value in
           the file and a name draws only that one.
    show_points: draw where an adaptive surface was evaluated (:func:`points`).
    Other keyword arguments go to the kind's function (levels, vmin, vmax, log, cmap, ...).
    Raises ValueError for an unknown kind or value, or a 2D kind asked of a 1D surface.
    """
    kind = normalize_kind(default_kind([surface]) if kind is None else kind)
    if value is not None:
        check_choice("value", value, list(surface.values))
    if kind != "line":
        _draw.require_2d(surface, kind)
    if show_points and kind == "surface":
        raise ValueError("show_points draws on contour, contourf, heatmap and line figures, not on a 3D surface.")
    if figsize is None and active_style() is None:
        figsize = DEFAULT_SIZES[kind]
    fig = plt.figure(figsize=figsize, layout="constrained")
    if kind == "line":
        kwargs.pop("levels", None)  # a uniform CLI passes it to every kind; lines have none
        ax = line(surface, fig.add_subplot(), values=[value] if value else None, **kwargs)
        if show_points:
            points(surface, ax, line=True)
        return fig
    value = value or "train_loss"
    fn = {"contour": contour, "contourf": contourf, "heatmap": heatmap}.get(kind)
    if fn is None:
        surface3d(surface, value, fig.add_subplot(projection="3d"), **kwargs)
    else:
        ax = fn(surface, value, fig.add_subplot(), **kwargs)
        if show_points:
            points(surface, ax)
    return fig
