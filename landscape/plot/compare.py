"""Side-by-side panels on shared scales: the figure that makes the paper's point.

Two surfaces drawn with independent colour scales can make a chaotic landscape look as tame as a
smooth one. ``compare`` computes one :class:`~landscape.plot._scale.Scale` over all surfaces, so
every panel uses the same contour levels, colours, z-limits and 3D view, with one colour bar.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from . import _draw, _labels
from ._scale import Levels, check_kind, get_values, shared_scale
from .lines import line, profile, split_values
from .planar import contour, contourf, heatmap
from .surface3d import DEFAULT_VIEW, surface3d

KINDS = ("line", "contour", "contourf", "heatmap", "surface")
ALIASES = {"surface3d": "surface"}
PANEL_SIZE = (3.6, 3.2)  # inches per panel when no figsize is given and no style sets one


def normalize_kind(kind: str) -> str:
    """Check ``kind`` against KINDS (accepting 'surface3d' for 'surface')."""
    check_kind(kind, KINDS + tuple(ALIASES))
    return ALIASES.get(kind, kind)


def compare(surfaces: Sequence, kind: str = "contour", value: str = "train_loss", *,
            titles: Optional[Sequence[str]] = None, levels: Levels = None, vmin: Optional[float] = None,
            vmax: Optional[float] = None, log: Optional[bool] = None, cmap: str = "viridis",
            view: Tuple[float, float] = DEFAULT_VIEW, trajectory=None, figsize=None,
            fig: Optional[Figure] = None) -> Figure:
    """One panel per surface, all on one scale; returns the Figure.

    surfaces: ``Surface`` objects, e.g. ``[with_skip, without_skip]`` (2D for all kinds but 'line')
    kind:     'contour', 'contourf', 'heatmap', 'surface' (3D) or 'line'
    titles:   panel titles; default: each surface's model name from its metadata
    levels, vmin, vmax, log: as for :func:`landscape.plot.contour`, applied to all panels at once
    view:     (elevation, azimuth) shared by all 3D panels
    fig:      draw into this (empty) figure instead of a new one
    """
    kind = normalize_kind(kind)
    surfaces = list(surfaces)
    if not surfaces:
        raise ValueError("compare() needs at least one surface, but an empty list was passed.")
    if titles is not None and len(titles) != len(surfaces):
        raise ValueError(f"`titles` must have one entry per surface ({len(surfaces)}), but {len(titles)} were passed.")
    if kind != "line":
        for s in surfaces:
            _draw.require_2d(s, kind)
    n = len(surfaces)
    if fig is None:
        if figsize is None:
            base_w, base_h = plt.rcParams["figure.figsize"]
            # a style sets the figure width (paper column, slide); otherwise grow with the panels
            figsize = (base_w, base_h) if _styled() else (PANEL_SIZE[0] * n + 0.9, PANEL_SIZE[1])
        fig = plt.figure(figsize=figsize, layout="constrained")
    titles = list(titles) if titles is not None else [_labels.title(s) for s in surfaces]

    if kind == "line":
        return _compare_lines(fig, surfaces, titles, log=log, vmin=vmin, vmax=vmax)

    scale = shared_scale([get_values(s, value) for s in surfaces], vmin=vmin, vmax=vmax, log=log, levels=levels,
                         value=value)
    proj = "3d" if kind == "surface" else None
    axes = [fig.add_subplot(1, n, i + 1, projection=proj) for i in range(n)]
    mappable = None
    for ax, s, t in zip(axes, surfaces, titles):
        common = dict(scale=scale, cmap=cmap, colorbar=False, title=t, trajectory=trajectory)
        if kind == "contour":
            contour(s, value, ax, **common)
            mappable = ax.collections[0]
        elif kind == "contourf":
            contourf(s, value, ax, **common)
            mappable = ax.collections[0]
        elif kind == "heatmap":
            heatmap(s, value, ax, **common)
            mappable = ax.collections[0]
        else:
            surface3d(s, value, ax, view=view, short_labels=n > 1, **common)
            mappable = ax.collections[0]
        if kind == "surface":
            ax.set_zlabel("")  # the one colour bar names the value
        elif ax is not axes[0] and ax.get_ylabel() == axes[0].get_ylabel():
            ax.set_ylabel("")  # the shared y label is on the first panel
    _draw.colorbar(mappable, axes, scale, value, shrink=0.8 if kind == "surface" else 1.0)
    return fig


def _styled() -> bool:
    from .style import active_style

    return active_style() is not None


def _compare_lines(fig: Figure, surfaces, titles, *, log, vmin, vmax) -> Figure:
    """1D panels with the same loss and accuracy limits."""
    n = len(surfaces)
    loss_arrays, acc_arrays = [], []
    for s in surfaces:
        losses, accs = split_values(s)
        loss_arrays += [profile(s, v) for v in losses]
        acc_arrays += [profile(s, v) for v in accs]
    loss_scale = shared_scale(loss_arrays, vmin=vmin, vmax=vmax, log=log) if loss_arrays else None
    acc_limits = None
    finite_acc = np.concatenate([a[np.isfinite(a)] for a in acc_arrays]) if acc_arrays else np.array([])
    if finite_acc.size:
        lo, hi = float(finite_acc.min()), float(finite_acc.max())
        pad = 0.03 * (hi - lo or 1.0)
        acc_limits = (lo - pad, hi + pad)
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    for i, (ax, s, t) in enumerate(zip(axes, surfaces, titles)):
        line(s, ax, loss_scale=loss_scale, acc_limits=acc_limits, title=t, legend=(i == 0))
        if i > 0 and loss_scale is not None:
            ax.set_ylabel("")
        twin = getattr(ax, "landscape_twin", None)
        if twin is not None and i < n - 1:
            twin.set_ylabel("")
    return fig
