"""2D views of a surface from above: contour lines, filled contours, heatmap.

These are the pictures of Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets", Fig. 5-6):
concentric, convex contours around a smooth minimum with skip connections; crowded, chaotic ones
without. Values are indexed [y, x] (surface.values[name] has shape (ny, nx)).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from . import _draw, _labels, _place
from ._scale import Levels, Scale, get_values, shared_scale

DEFAULT_CMAP = "viridis"  # perceptually uniform, readable in greyscale and by colour-blind readers
MAX_CONTOUR_LABELS = 8  # levels offered a label (those with room get one); all 20 would be a blur


def _setup(surface, value, kind, vmin, vmax, log, levels, scale):
    _draw.require_2d(surface, kind)
    raw = get_values(surface, value)
    if scale is None:
        scale = shared_scale([raw], vmin=vmin, vmax=vmax, log=log, levels=levels, value=value)
    return raw, scale, scale.apply(raw)


def _finish(ax: Axes, surface, value, raw, scale, mappable, *, trajectory, mark_min, colorbar, title,
            contours=None):
    """What every planar kind adds on top: trajectory, minimum, labels, title, colour bar.

    Text is placed most important first, each piece clear of those before it (see ``_place``):
    the minimum's value, the epoch labels, then the labels of ``contours`` (a ContourSet) if given.
    """
    ax.set_xlabel(_labels.axis_label(surface, 0))
    ax.set_ylabel(_labels.axis_label(surface, 1))
    ax.set_xlim(surface.x.min(), surface.x.max())
    ax.set_ylim(surface.y.min(), surface.y.max())
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))  # -1, -0.5, 0, ...
    obstacles = _place.Obstacles(ax)  # after the limits: placement works in display units
    traj = _draw.trajectory_data(surface, trajectory)
    if traj is not None:
        _draw.draw_trajectory(ax, traj, obstacles=obstacles, labels=False)
    if mark_min:
        _draw.mark_best(ax, surface, value, raw, scale=scale, obstacles=obstacles)
    if traj is not None:
        _draw.label_trajectory(ax, traj, obstacles)
    if contours is not None:
        # powers of ten need a size up: their superscripts are 70% of the text
        _place.contour_labels(ax, contours, label_levels(scale, contours.levels), scale.fmt, obstacles,
                              fontsize="x-small" if scale.plain else "small")
    title = _labels.panel_title(surface, value, title)
    if title:
        ax.set_title(title)
    if colorbar:
        _draw.colorbar(mappable, ax, scale, value)
    return ax


def contour(surface, value: str = "train_loss", ax: Optional[Axes] = None, *, levels: Levels = None,
            vmin: Optional[float] = None, vmax: Optional[float] = None, log: Optional[bool] = None,
            cmap: str = DEFAULT_CMAP, trajectory=None, mark_min: bool = True, clabel: bool = True,
            colorbar: bool = True, title: Optional[str] = None, scale: Optional[Scale] = None,
            linewidths: float = 0.8) -> Axes:
    """Contour lines of ``surface.values[value]`` over the plane; returns the Axes.

    surface:    a 2D ``landscape.io.Surface`` (values (ny, nx), NaN = not computed, drawn as gaps)
    levels:     number of levels (default 20) or explicit increasing values, in data units
    vmin, vmax: colour limits; values above ``vmax`` (and inf/outliers, see ``_scale``) are clipped,
                and the colour bar says so
    log:        logarithmic levels and colours; None (default): linear, a loss drawn from its
                minimum up to a cap of 10 (see ``_scale.loss_cap``), which the colour bar names
    trajectory: None draws ``surface.trajectory`` if the file has one, True requires it, False
                hides it, or a dict {"coords": (n, 2), "epochs": (n,)}
    scale:      a precomputed shared ``Scale`` (``compare`` passes one so panels share levels)
    clabel:     label a handful of levels, each on a stretch of its line clear of the training path,
                the minimum's value and the other labels (lines with no such stretch go unlabelled)
    """
    ax = _draw.axes_2d(ax)
    raw, scale, z = _setup(surface, value, "contour", vmin, vmax, log, levels, scale)
    cs = ax.contour(surface.x, surface.y, z, levels=scale.levels, cmap=cmap, norm=scale.norm,
                    extend=scale.extend, linewidths=linewidths)
    _say_if_flat(ax, raw, scale)
    return _finish(ax, surface, value, raw, scale, cs, trajectory=trajectory, mark_min=mark_min,
                   colorbar=colorbar, title=title, contours=cs if clabel else None)


def _say_if_flat(ax: Axes, raw: np.ndarray, scale: Scale) -> None:
    """A panel whose values all lie between two neighbouring levels has no line to draw (a sigmoid
    net's flat plane on levels shared with sharper nets): say what the values are, or the empty
    panel reads as missing data."""
    finite = raw[np.isfinite(raw)]
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    levels = np.asarray(scale.levels, dtype=float)
    if np.any((levels > lo) & (levels < hi)):
        return
    values = scale.fmt(lo) if scale.fmt(lo) == scale.fmt(hi) else f"{scale.fmt(lo)} to {scale.fmt(hi)}"
    ax.text(0.5, 0.06, f"no level crossed: {values} everywhere", transform=ax.transAxes, ha="center",
            va="bottom", fontsize="small", color="0.35")


def label_levels(scale: Scale, levels) -> list:
    """The contour levels worth a label: a handful (MAX_CONTOUR_LABELS) of the levels between the
    limits (the limits are rarely round numbers), whole decades only on a log scale when at least
    three are levels, so the labels read 0.01, 0.1, 1 ... like the colour bar."""
    inner = list(levels[1:-1])
    if scale.log:
        decades = [v for v in inner if abs(np.log10(v) - round(np.log10(v))) < 1e-9]
        if len(decades) >= 3:
            inner = decades
    step = max(1, int(np.ceil(len(inner) / MAX_CONTOUR_LABELS)))
    return inner[::step]


def contourf(surface, value: str = "train_loss", ax: Optional[Axes] = None, *, levels: Levels = None,
             vmin: Optional[float] = None, vmax: Optional[float] = None, log: Optional[bool] = None,
             cmap: str = DEFAULT_CMAP, trajectory=None, mark_min: bool = True, lines: bool = True,
             colorbar: bool = True, title: Optional[str] = None, scale: Optional[Scale] = None,
             rasterized: bool = True) -> Axes:
    """Filled contours of ``surface.values[value]``; returns the Axes.

    Same arguments as :func:`contour`; ``lines`` adds thin contour lines on the band edges.
    ``rasterized`` turns the filled bands into an image inside PDF/SVG output (a 51x51 grid with 20
    bands would otherwise be thousands of vector paths); lines, text and axes stay vector.
    """
    ax = _draw.axes_2d(ax)
    raw, scale, z = _setup(surface, value, "contourf", vmin, vmax, log, levels, scale)
    cs = ax.contourf(surface.x, surface.y, z, levels=scale.levels, cmap=cmap, norm=scale.norm,
                     extend=scale.extend)
    cs.set_rasterized(rasterized)
    if lines:
        ax.contour(surface.x, surface.y, z, levels=scale.levels, colors="black", linewidths=0.3, alpha=0.5)
    return _finish(ax, surface, value, raw, scale, cs, trajectory=trajectory, mark_min=mark_min,
                   colorbar=colorbar, title=title)


def heatmap(surface, value: str = "train_loss", ax: Optional[Axes] = None, *, vmin: Optional[float] = None,
            vmax: Optional[float] = None, log: Optional[bool] = None, cmap: str = DEFAULT_CMAP, trajectory=None,
            mark_min: bool = True, colorbar: bool = True, title: Optional[str] = None,
            scale: Optional[Scale] = None, rasterized: bool = True, levels: Levels = None) -> Axes:
    """One coloured cell per grid point (no interpolation between points); returns the Axes.

    Cells not computed yet (NaN) are left empty, so a half-finished file shows its progress.
    ``levels`` is accepted for a uniform signature and ignored (colours are continuous).
    """
    ax = _draw.axes_2d(ax)
    raw, scale, z = _setup(surface, value, "heatmap", vmin, vmax, log, levels, scale)
    mesh = ax.pcolormesh(surface.x, surface.y, z, cmap=cmap, norm=scale.norm, shading="nearest")
    mesh.set_rasterized(rasterized)
    return _finish(ax, surface, value, raw, scale, mesh, trajectory=trajectory, mark_min=mark_min,
                   colorbar=colorbar, title=title)
