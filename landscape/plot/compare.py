"""Panels on shared scales, side by side or in a grid: the figures that make the paper's point.

Two surfaces drawn with independent colour scales can make a chaotic landscape look as tame as a
smooth one. ``compare`` computes one :class:`~landscape.plot._scale.Scale` over all surfaces, so
every panel uses the same contour levels, colours, z-limits and 3D view, with one colour bar.

``grid=(rows, cols)`` lays the panels out as Li et al. (2018) Fig. 5 does: rows = a switch (skip /
no skip), columns = depth. Row and column labels come from the model specs recorded in the files
(the option constant along a row and differing between rows labels the rows), and panel titles
then only name what the labels do not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from . import _draw, _labels
from ._scale import Levels, Scale, check_kind, get_values, shared_scale
from .lines import line, profile, split_values
from .planar import contour, contourf, heatmap
from .points import has_points, points
from .surface3d import DEFAULT_VIEW, surface3d

KINDS = ("line", "contour", "contourf", "heatmap", "surface")
ALIASES = {"surface3d": "surface"}
PANEL_SIZE = (3.6, 3.2)  # inches per panel when no figsize is given and no style sets one
LABEL_PAD = 6.0  # points between a row/column label and the panel's own labels
SURFACE_HSPACE = 0.08  # fraction of a row's height between rows of 3D panels


def normalize_kind(kind: str) -> str:
    """Check ``kind`` against KINDS (accepting 'surface3d' for 'surface')."""
    check_kind(kind, KINDS + tuple(ALIASES))
    return ALIASES.get(kind, kind)


def default_kind(surfaces: Sequence) -> str:
    """'line' when every surface is 1D, else 'contour' (what ``kind=None`` draws)."""
    drawn = [s for s in surfaces if s is not None]
    return "line" if drawn and all(s.ndim == 1 for s in drawn) else "contour"


def check_grid(grid, n: int) -> Tuple[int, int]:
    """``grid`` as (rows, cols) for ``n`` panels; None is one row. ValueError unless rows * cols == n."""
    if grid is None:
        return 1, n
    try:
        rows, cols = (int(v) for v in grid)
    except (TypeError, ValueError):
        raise ValueError(f"The value for `grid` must be (rows, cols), but {grid!r} was passed.") from None
    if rows < 1 or cols < 1 or rows * cols != n:
        raise ValueError(f"`grid` {rows}x{cols} has {rows * cols} panels, but {n} surfaces were passed; "
                         "give one surface (or None for an empty panel) per panel, row by row.")
    return rows, cols


@dataclass(frozen=True)
class Layout:
    """Everything a comparison decides before drawing: the grid, the words and the one scale.

    titles: one per panel ('' for none); row_labels / col_labels: one per row / column, or None.
    scale:  the colour/level/z scale of all 2D-kind panels (None for lines).
    """

    rows: int
    cols: int
    titles: List[str]
    row_labels: Optional[List[str]]
    col_labels: Optional[List[str]]
    scale: Optional[Scale]


def layout(surfaces: Sequence, kind: str, value: str, *, grid=None, titles=None, row_labels=None,
           col_labels=None, levels: Levels = None, vmin=None, vmax=None, log=None) -> Layout:
    """The :class:`Layout` of :func:`compare` (same arguments): checks them, derives labels from
    the specs, and computes the shared scale once."""
    rows, cols = check_grid(grid, len(surfaces))
    for name, given, count in (("titles", titles, len(surfaces)), ("row_labels", row_labels, rows),
                               ("col_labels", col_labels, cols)):
        if given is not None and len(given) != count:
            raise ValueError(f"`{name}` must have {count} entries (one per "
                             f"{'surface' if name == 'titles' else name[:3]}), but {len(given)} were passed.")
    named: List[str] = []
    if grid is not None and (row_labels is None or col_labels is None):
        rl, cl, named = _labels.grid_labels(surfaces, rows, cols)
        row_labels = row_labels if row_labels is not None else rl
        col_labels = col_labels if col_labels is not None else cl
    if titles is None:
        titles = _labels.titles(surfaces, leave_out=named)
        if named and not set(_labels.differing([_labels.spec(s) for s in surfaces])) - set(named):
            titles = [""] * len(surfaces)  # the row and column labels say all that differs
    scale = None
    if kind != "line":
        drawn = [s for s in surfaces if s is not None]
        scale = shared_scale([get_values(s, value) for s in drawn], vmin=vmin, vmax=vmax, log=log,
                             levels=levels, value=value)
    return Layout(rows, cols, [str(t) for t in titles], _strings(row_labels), _strings(col_labels), scale)


def _strings(labels) -> Optional[List[str]]:
    return None if labels is None else [str(v) for v in labels]


def compare(surfaces: Sequence, kind: Optional[str] = None, value: str = "train_loss", *,
            grid: Optional[Tuple[int, int]] = None, titles: Optional[Sequence[str]] = None,
            row_labels: Optional[Sequence[str]] = None, col_labels: Optional[Sequence[str]] = None,
            levels: Levels = None, vmin: Optional[float] = None, vmax: Optional[float] = None,
            log: Optional[bool] = None, cmap: str = "viridis", view: Tuple[float, float] = DEFAULT_VIEW,
            trajectory=None, figsize=None, fig: Optional[Figure] = None, show_points: bool = False) -> Figure:
    """One panel per surface, all on one scale; returns the Figure.

    surfaces: ``Surface`` objects, e.g. ``[with_skip, without_skip]`` (2D for all kinds but 'line');
              in a grid, row by row, None leaving a panel empty
    kind:     'contour', 'contourf', 'heatmap', 'surface' (3D) or 'line'; default: 'line' when
              every surface is 1D, else 'contour'
    grid:     (rows, cols) with rows * cols == len(surfaces); default one row
    titles:   panel titles; default: each surface's model name from its spec, with the options
              that tell alike names apart (``resnet56_noskip``, ``resnet56 (width 2)``); in a grid
              whose labels name every difference, none
    row_labels, col_labels: words beside each row / above each column of a grid; default: the
              spec options that vary between rows / columns (``no skip connections``, ``depth 56``), if any
    levels, vmin, vmax, log: as for :func:`landscape.plot.contour`, applied to all panels at once
    view:     (elevation, azimuth) shared by all 3D panels
    fig:      draw into this (empty) figure instead of a new one
    show_points: on the panels of adaptive surfaces, draw where they were evaluated (``points``)
    """
    surfaces = list(surfaces)
    if not any(s is not None for s in surfaces):
        raise ValueError("compare() needs at least one surface, but none was passed.")
    kind = normalize_kind(default_kind(surfaces) if kind is None else kind)
    if show_points and kind == "surface":
        raise ValueError("show_points draws on contour, contourf, heatmap and line figures, not on a 3D surface.")
    if kind != "line":
        for s in surfaces:
            if s is not None:
                _draw.require_2d(s, kind)
    lay = layout(surfaces, kind, value, grid=grid, titles=titles, row_labels=row_labels, col_labels=col_labels,
                 levels=levels, vmin=vmin, vmax=vmax, log=log)
    if fig is None:
        if figsize is None:
            # a style sets the figure width (paper column, slide); otherwise grow with the panels
            base_w, base_h = plt.rcParams["figure.figsize"]
            grow = (PANEL_SIZE[0] * lay.cols + 0.9 + 0.3 * (lay.row_labels is not None),
                    PANEL_SIZE[1] * lay.rows + 0.3 * (lay.col_labels is not None))
            figsize = (base_w, base_h * lay.rows ** 0.5) if _styled() else grow
        fig = plt.figure(figsize=figsize, layout="constrained")
        if kind == "surface" and lay.rows > 1:
            # the constrained layout under-counts a 3D panel's x label, which the panel below covered
            fig.get_layout_engine().set(hspace=SURFACE_HSPACE)
    proj = "3d" if kind == "surface" else None
    axes = [fig.add_subplot(lay.rows, lay.cols, i + 1, projection=proj) for i in range(len(surfaces))]

    if kind == "line":
        _compare_lines(axes, surfaces, lay, log=log, vmin=vmin, vmax=vmax)
    else:
        mappable = None
        for ax, s, t in zip(axes, surfaces, lay.titles):
            if s is None:
                continue
            common = dict(scale=lay.scale, cmap=cmap, colorbar=False, title=t, trajectory=trajectory)
            if kind == "surface":
                surface3d(s, value, ax, view=view, short_labels=len(surfaces) > 1, **common)
                ax.set_zlabel("")  # the one colour bar names the value
            else:
                {"contour": contour, "contourf": contourf, "heatmap": heatmap}[kind](s, value, ax, **common)
            mappable = ax.collections[0]
        if kind != "surface":
            _share_axis_labels(axes, lay)
        _draw.colorbar(mappable, [a for a, s in zip(axes, surfaces) if s is not None], lay.scale, value,
                       shrink=0.8 if kind == "surface" and lay.rows == 1 else 1.0)
    for ax, s in zip(axes, surfaces):
        if s is None:
            _empty(ax)
        elif show_points and has_points(s):
            points(s, ax, line=kind == "line")
    _label_grid(axes, lay)
    return fig


def _styled() -> bool:
    from .style import active_style

    return active_style() is not None


def _share_axis_labels(axes, lay: Layout) -> None:
    """Axis labels once per row (y, first column) and once per column (x, bottom row) when alike."""
    xlabel, ylabel = axes[0].get_xlabel(), axes[0].get_ylabel()
    for i, ax in enumerate(axes):
        r, c = divmod(i, lay.cols)
        if c > 0 and ax.get_ylabel() == ylabel:
            ax.set_ylabel("")
        if r < lay.rows - 1 and ax.get_xlabel() == xlabel:
            ax.set_xlabel("")


def _empty(ax) -> None:
    """A grid cell without a surface: no frame, one word."""
    ax.set_axis_off()
    text = ax.text2D if getattr(ax, "name", "") == "3d" else ax.text  # 3D text takes 3D coordinates
    text(0.5, 0.5, "no surface", transform=ax.transAxes, ha="center", va="center", color="grey")


def _label_grid(axes, lay: Layout) -> None:
    """Row labels left of the first column, column labels above the top row (bold, like the
    paper's figure captions; gid 'row_label' / 'col_label'); the constrained layout makes room."""
    style = dict(textcoords="offset points", fontweight="bold", fontsize="large", annotation_clip=False)
    if lay.col_labels is not None:
        for c, text in enumerate(lay.col_labels):
            ax = axes[c]
            ax.annotate(text, xy=(0.5, 1.0), xycoords=ax.title, xytext=(0, LABEL_PAD / 2), ha="center",
                        va="bottom", gid="col_label", **style)
    if lay.row_labels is not None:
        for r, text in enumerate(lay.row_labels):
            ax = axes[r * lay.cols]
            # beside the y label of a 2D panel; beside the axes of a 3D one (its y label is inside)
            anchor = ax.yaxis.label if getattr(ax, "name", "") != "3d" and ax.get_ylabel() else ax
            ax.annotate(text, xy=(0.0, 0.5), xycoords=anchor, xytext=(-LABEL_PAD, 0), ha="right", va="center",
                        rotation=90, gid="row_label", **style)


def _compare_lines(axes, surfaces, lay: Layout, *, log, vmin, vmax) -> None:
    """1D panels with the same loss and accuracy limits."""
    drawn = [s for s in surfaces if s is not None]
    loss_arrays, acc_arrays = [], []
    for s in drawn:
        losses, accs = split_values(s)
        loss_arrays += [profile(s, v) for v in losses]
        acc_arrays += [profile(s, v) for v in accs]
    loss_scale = shared_scale(loss_arrays, vmin=vmin, vmax=vmax, log=log, value="loss") if loss_arrays else None
    acc_limits = None
    finite_acc = np.concatenate([a[np.isfinite(a)] for a in acc_arrays]) if acc_arrays else np.array([])
    if finite_acc.size:
        lo, hi = float(finite_acc.min()), float(finite_acc.max())
        pad = 0.03 * (hi - lo or 1.0)
        acc_limits = (lo - pad, hi + pad)
    first = next(i for i, s in enumerate(surfaces) if s is not None)
    for i, (ax, s, t) in enumerate(zip(axes, surfaces, lay.titles)):
        if s is None:
            continue
        r, c = divmod(i, lay.cols)
        line(s, ax, loss_scale=loss_scale, acc_limits=acc_limits, title=t, legend=(i == first))
        if c > 0 and loss_scale is not None:
            ax.set_ylabel("")
        twin = getattr(ax, "landscape_twin", None)
        if twin is not None and c < lay.cols - 1:
            twin.set_ylabel("")
