"""Where an adaptive grid was sampled: its evaluated points on top of a figure.

An adaptive surface (``landscape.core.adaptive``) holds a regular grid interpolated from fewer
evaluated points; ``points`` draws those points so a reader sees which cells are measured and
which are interpolated: small dots on a plane, ticks along the bottom of a line plot.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from matplotlib.axes import Axes

POINT_STYLE = dict(s=2.5, c="black", alpha=0.55, linewidths=0, zorder=4)


def has_points(surface) -> bool:
    return getattr(surface, "points", None) is not None and len(surface.points.get("index", [])) > 0


def points(surface, ax: Optional[Axes] = None, *, line: bool = False, **style) -> Axes:
    """Draw the evaluated points of an adaptive ``surface`` on ``ax`` (a contour, filled contour,
    heatmap or line plot of it) and return the Axes; ValueError for a uniform surface (every cell
    is evaluated there) or a 3D axes. ``line``: ``ax`` is a line plot (``plot.line``) of a plane,
    which draws the row through y = 0: only the points on that row are shown, as ticks."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.gca()
    if not has_points(surface):
        raise ValueError(f"{surface.label()!r} is a uniform grid: every cell was evaluated, so there are no sampled "
                         "points to show (show_points applies to adaptive surfaces).")
    if getattr(ax, "name", "") == "3d":
        raise ValueError("show_points draws on contour, contourf, heatmap and line figures, not on a 3D surface.")
    coords = np.asarray(surface.points["coords"], dtype=np.float64)
    kw = {**POINT_STYLE, **style}
    n = len(coords)
    if surface.ndim == 1 or line:
        if surface.ndim == 2:  # a line plot of a plane draws the row through y = 0 (plot.lines.profile)
            row = float(surface.y[int(np.argmin(np.abs(surface.y)))])
            coords = coords[coords[:, 1] == row]
            n = len(coords)
        ax.plot(coords[:, 0], np.zeros(n), "|", color=kw["c"], alpha=0.8, markersize=9,
                transform=ax.get_xaxis_transform(), zorder=kw["zorder"], label=f"{n} evaluated points")
    else:
        ax.scatter(coords[:, 0], coords[:, 1], label=f"{n} evaluated points", **kw)
    return ax
