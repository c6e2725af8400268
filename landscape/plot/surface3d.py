"""The 3D surface view: loss as height over the plane of two directions (Li et al. 2018, Fig. 1).

matplotlib's ``plot_surface`` handles NaN cells unevenly (it drops single vertices from the
neighbouring quads, leaving slivers), so the quads are built here: one per grid cell whose four
corners are all computed, coloured by the mean height of its corners. Missing cells are holes.

A clipped surface (``vmax``, or the automatic cap on blown-up losses) is cut at the cap height,
not flattened onto it: clamping each corner to the cap turned every cell that straddles the cap
into a steep wall or spike and left a flat plateau at the cap, which the eye reads as landscape.
Here each cell's quad is clipped against the plane z = cap (see :func:`clip_below`), the crossing
points interpolated linearly along the cell's edges; neighbouring cells share those points, so
the cut is one smooth rim at the cap height, and nothing is drawn above it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, MaxNLocator
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from . import _draw, _format, _labels, _place
from ._scale import Levels, Scale, best_index, get_values, shared_scale

DEFAULT_VIEW = (30.0, -60.0)  # (elevation, azimuth) in degrees: matplotlib's default, read well


def cell_quads(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Quads of the grid cells whose 4 corners are computed (not NaN; +inf is kept for
    :func:`clip_below` to cut).

    x: (nx,), y: (ny,), z: (ny, nx) drawing heights (NaN = missing)
    returns verts (m, 4, 3) and the (m, 2) [iy, ix] index of each cell's lower-left corner.
    """
    X, Y = np.meshgrid(x, y)
    ok = ~np.isnan(z)
    cell_ok = ok[:-1, :-1] & ok[1:, :-1] & ok[:-1, 1:] & ok[1:, 1:]
    iy, ix = np.nonzero(cell_ok)
    corners = [(iy, ix), (iy, ix + 1), (iy + 1, ix + 1), (iy + 1, ix)]
    verts = np.stack([np.stack([X[c], Y[c], z[c]], axis=-1) for c in corners], axis=1)
    return verts, np.stack([iy, ix], axis=1)


def _crossing(a: np.ndarray, b: np.ndarray, level: float) -> np.ndarray:
    """The point at height ``level`` on the edge a-b (which crosses it), linearly interpolated; an
    infinite end puts it at the finite one."""
    lo, hi = (a, b) if a[2] <= b[2] else (b, a)
    t = (level - lo[2]) / (hi[2] - lo[2]) if np.isfinite(hi[2]) else 0.0
    p = lo + t * (np.where(np.isfinite(hi), hi, lo) - lo)
    p[2] = level
    return p


def _clip(poly: np.ndarray, level: float, below: bool) -> Optional[np.ndarray]:
    """The part of polygon ``poly`` (k, 3) with z <= level (``below``) or z >= level, by
    Sutherland-Hodgman against one plane; None if nothing of it is left."""
    inside = poly[:, 2] <= level if below else poly[:, 2] >= level
    out = []
    for j in range(len(poly)):
        k = (j + 1) % len(poly)
        if inside[j]:
            out.append(poly[j])
        if inside[j] != inside[k]:
            out.append(_crossing(poly[j], poly[k], level))
    return np.array(out) if len(out) >= 3 else None


def clip_below(verts: np.ndarray, top: float) -> Tuple[list, np.ndarray]:
    """The parts of polygons ``verts`` (m, k, 3) at or below height ``top``.

    A corner above ``top`` is replaced by the points where the polygon's edges cross the plane
    z = top, linearly interpolated, so a cell straddling the cap ends in a straight rim at exactly
    ``top``, and two cells sharing an edge cut it at the same point. An infinite corner puts the
    crossing at its finite neighbour. Polygons wholly above are dropped.
    Returns (list of (j, 3) arrays, (len,) index of the polygon each came from).
    """
    if len(verts) == 0:
        return [], np.zeros(0, dtype=int)
    z = verts[:, :, 2]
    below = np.all(z <= top, axis=1)
    keep = list(verts[below])
    origin = list(np.nonzero(below)[0])
    for i in np.nonzero(~below & np.any(z <= top, axis=1))[0]:
        part = _clip(verts[i], top, below=True)
        if part is not None:
            keep.append(part)
            origin.append(i)
    return keep, np.asarray(origin, dtype=int)


def split_at_levels(poly: np.ndarray, levels: np.ndarray) -> list:
    """``poly`` cut into horizontal slabs at the ``levels`` (drawing units) it spans, lowest first.

    A steep cell (a basin wall that climbs several levels within one grid step) coloured by one
    mean value shows as a stripe unlike its neighbours; cut at the levels, each slab takes the
    colour of its own height, so the colours follow the colour bar's bands like a filled contour.
    """
    z = poly[:, 2]
    inner = levels[(levels > z.min()) & (levels < z.max())]
    out, rest = [], poly
    for level in inner:
        part = _clip(rest, level, below=True)
        if part is not None:
            out.append(part)
        rest = _clip(rest, level, below=False)
        if rest is None:
            return out
    return out + [rest]


def pieces(x: np.ndarray, y: np.ndarray, height: np.ndarray, top: float, log: bool,
           levels: Optional[np.ndarray] = None) -> Tuple[list, np.ndarray]:
    """The polygons a 3D surface is drawn with, and the value each is coloured by.

    height: (ny, nx) drawing heights (log10 of the values on a log scale; NaN = missing, may
    exceed ``top``); top: the cap in drawing units; levels: drawing heights to cut the cells at
    (see :func:`split_at_levels`), None for whole cells. Returns (list of (j, 3) arrays, none
    above ``top``; (len,) colour values in data units: the mean height of each polygon's corners).
    """
    verts, _ = clip_below(cell_quads(x, y, height)[0], top)
    if levels is not None and len(levels):
        levels = np.asarray(levels, dtype=np.float64)
        verts = [part for v in verts for part in split_at_levels(v, levels)]
    mean_h = np.array([v[:, 2].mean() for v in verts])
    return verts, (10 ** mean_h if log else mean_h)


Z_TICKS = 6  # at most; a 3D axis is short and its labels collide at the corners
# the z axis of the default view spans about this share of the axes' height
Z_AXIS_SHARE = 0.45


def z_tick_count(ax: Axes) -> int:
    """How many z tick labels fit: one per 1.5 label heights along the z axis, 3 to Z_TICKS
    (a comparison panel gets fewer than a full-size figure)."""
    height = ax.get_position().height * ax.figure.get_figheight() * 72.0  # points
    ticks = ax.zaxis.get_major_ticks()
    size = ticks[0].label1.get_fontsize() if ticks else 10.0
    return int(np.clip(Z_AXIS_SHARE * height // (1.5 * size), 3, Z_TICKS))


def set_height_ticks(ax: Axes, scale: Scale) -> None:
    """z ticks of a 3D axes on round values in the scale's notation (see ``_format``).

    On a log scale z holds log10 of the value (matplotlib's 3D axes have no log scale): ticks go
    on whole decades (1-2-5 steps if fewer than three fit), never on half decades like 0.0316.
    """
    n = z_tick_count(ax)
    if scale.log:
        ticks = _draw.nice_ticks(scale, max_ticks=n)
        ax.zaxis.set_major_locator(FixedLocator(np.log10(ticks)))
        ax.zaxis.set_major_formatter(_format.formatter(scale.plain, log10_units=True))
    else:
        ax.zaxis.set_major_locator(MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]))
        ax.zaxis.set_major_formatter(_format.formatter(scale.plain))


def _pad_height_ticks(ax: Axes, scale: Scale) -> None:
    """Room between the z axis and its tick labels for the widest label.

    mplot3d centres a tick label a fixed 8 points (+ pad) from its tick, so a wide label
    ('0.001', '1000', in slide type) reaches back over the axis line; the pad grows with the
    widest label's half width instead.
    """
    lo, hi = ax.get_zlim()
    locs = [v for v in ax.zaxis.get_major_locator().tick_values(lo, hi) if lo - 1e-9 <= v <= hi + 1e-9]
    if scale.log:
        texts = [_format.format_number(10.0 ** v, scale.plain) for v in locs]
    else:
        texts = [_format.format_number(v, scale.plain) for v in locs]
    size = ax.zaxis.get_major_ticks()[0].label1.get_fontsize() if ax.zaxis.get_major_ticks() else "medium"
    widest = max((_place.text_size(t, size)[0] for t in texts), default=0.0)
    ax.tick_params(axis="z", pad=max(3.5, widest / 2 - 5.0))


def surface3d(surface, value: str = "train_loss", ax: Optional[Axes] = None, *, vmin: Optional[float] = None,
              vmax: Optional[float] = None, log: Optional[bool] = None, cmap: str = "viridis",
              view: Tuple[float, float] = DEFAULT_VIEW, trajectory=None, mark_min: bool = True,
              colorbar: bool = True, title: Optional[str] = None, scale: Optional[Scale] = None,
              rasterized: bool = True, edgecolor: Optional[str] = None, short_labels: bool = False,
              levels: Levels = None) -> Axes:
    """Draw ``surface.values[value]`` as a 3D surface on a 3D axes and return that axes.

    ax:   a 3D axes (``fig.add_subplot(projection="3d")``); None uses the current axes if it is 3D,
          else adds one (in a new figure if the current one already has 2D axes)
    view: (elevation, azimuth) in degrees
    vmin, vmax, log, scale: as in :func:`landscape.plot.contour`; the surface is cut at the cap
          (nothing is drawn above it, the cut is a rim at the cap height), and the z-limits are the
          scale's limits (so panels sharing a scale share z)
    edgecolor: colour of the cell edges (None: none, the smooth look of the paper's figures)
    short_labels: "direction 1" instead of "direction 1 (filter-normalized)" (narrow panels)
    ``levels`` only matters through ``scale`` (colour bar ticks) and is otherwise ignored.
    """
    _draw.require_2d(surface, "surface")
    ax = _draw.axes_3d(ax)
    raw = get_values(surface, value)
    if scale is None:
        scale = shared_scale([raw], vmin=vmin, vmax=vmax, log=log, levels=levels, value=value)
    height = drawing_heights(raw, scale)
    top = float(scale.transform(np.float64(scale.vmax)))
    verts, face_values = pieces(surface.x, surface.y, height, top, scale.log, levels=scale.transform(scale.levels))
    poly = Poly3DCollection(verts, cmap=cmap,
                            norm=scale.norm, linewidths=0.15 if edgecolor else 0.0,
                            edgecolors=edgecolor if edgecolor else "none", antialiased=False)
    poly.set_array(face_values)
    poly.set_rasterized(rasterized)
    # draw in the order given (zorder), not by matplotlib's per-artist depth guess, so the marker
    # and the path stay visible on top of the surface
    ax.computed_zorder = False
    poly.set_zorder(1)
    # no autoscaling from the polygons: the limits are set below, and matplotlib (3.11) pads the
    # vertex array of polygons of unequal length with uninitialised memory that its autoscale then
    # reads, now and then as +-1e308 ("Axis limits cannot be NaN or Inf")
    ax.add_collection3d(poly, autolim=False)

    ax.set_xlim(surface.x.min(), surface.x.max())
    ax.set_ylim(surface.y.min(), surface.y.max())
    ax.set_zlim(*scale.transform(np.array([scale.vmin, scale.vmax])))
    set_height_ticks(ax, scale)
    ax.view_init(elev=view[0], azim=view[1])
    ax.set_xlabel(_labels.axis_label(surface, 0, short=short_labels))
    ax.set_ylabel(_labels.axis_label(surface, 1, short=short_labels))
    ax.set_zlabel(scale.label(_labels.value_label(value)) if not colorbar else "")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=4, prune="both"))  # 3D tick labels collide at the corners
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        # 3D labels are placed a fixed distance from the axis line, not from the tick labels, so
        # large type (slides) needs a proportionally larger pad to clear them
        axis.labelpad = 0.6 * axis.label.get_size()
    _pad_height_ticks(ax, scale)

    traj = _draw.trajectory_data(surface, trajectory)
    if traj is not None:
        coords = np.asarray(traj["coords"], dtype=float).reshape(-1, 2)
        _draw.draw_trajectory(ax, traj, z=heights_at(surface, np.minimum(height, top), coords))
    if mark_min:
        best = best_index(raw, value)
        if best is not None:
            _draw.mark_best(ax, surface, value, raw, z=min(height[best], top), scale=scale)
    title = _labels.panel_title(surface, value, title)
    if title:
        ax.set_title(title)
    if colorbar:
        _draw.colorbar(poly, ax, scale, value, shrink=0.7, pad=0.12)
    return ax


def drawing_heights(raw: np.ndarray, scale: Scale) -> np.ndarray:
    """Drawing heights of ``raw`` values: NaN stays NaN (a hole), values above the cap keep their
    height (inf included) so :func:`clip_below` can find where the surface crosses the cap, and
    values below the floor sit on it."""
    v = np.asarray(raw, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        floored = np.where(v < scale.vmin, scale.vmin, v)
        return scale.transform(floored)


def heights_at(surface, height: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear heights of the drawn surface at (n, 2) plane coordinates (NaN outside the grid)."""
    from scipy.interpolate import RegularGridInterpolator

    interp = RegularGridInterpolator((surface.y, surface.x), height, bounds_error=False, fill_value=np.nan)
    return interp(coords[:, ::-1])
