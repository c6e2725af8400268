"""Small drawing helpers shared by the plot kinds: axes resolution, minimum marker, trajectory,
colour bar. Nothing here reads files, saves or shows."""
from __future__ import annotations

from typing import Optional

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties

from . import _format, _labels, _place
from ._scale import Scale, best_index, is_accuracy

TRAJECTORY_COLOR = "#d62728"  # red stands out on viridis at both ends
MAX_EPOCH_LABELS = 6
FINAL_SIZE = 7  # points; the ring on the path's end, the final model
EPOCH_LABEL_SPACING = 0.08  # fraction of the axes between labelled points of the path


def require_2d(surface, kind: str) -> None:
    """ValueError for a 1D surface asked for a 2D kind, saying which kind works."""
    if surface.ndim != 2:
        raise ValueError(
            f"kind={kind!r} needs a 2D surface, but {_labels.source(surface)} is 1D "
            f"({len(surface.x)} points along x); use kind='line'."
        )


def axes_2d(ax: Optional[Axes]) -> Axes:
    return plt.gca() if ax is None else ax


def axes_3d(ax: Optional[Axes]) -> Axes:
    """A 3D axes: ``ax`` if it is one, the current axes if 3D, else a new 3D subplot."""
    if ax is not None:
        if getattr(ax, "name", "") != "3d":
            raise ValueError("surface3d needs a 3D axes, e.g. fig.add_subplot(projection='3d'), "
                             f"but a {getattr(ax, 'name', type(ax).__name__)!r} axes was passed.")
        return ax
    fig = plt.gcf()
    current = fig.gca() if fig.axes else None
    if current is not None and current.name == "3d":
        return current
    if fig.axes:  # the current figure is busy with 2D axes: don't draw over them
        fig = plt.figure()
    return fig.add_subplot(projection="3d")


STAR_SIZE = 11  # points; the minimum's marker


def mark_best(ax: Axes, surface, value: str, values: np.ndarray, z=None, scale: Optional[Scale] = None,
              obstacles: Optional[_place.Obstacles] = None) -> None:
    """Mark the minimum of a loss (maximum of an accuracy) with a star and its value.

    On a partly computed surface the label says 'min so far': the grid's minimum may lie in the
    cells still to come.
    values: the raw array (not clipped), shape surface.shape. z: for 3D axes, the drawn z of that cell.
    scale: the plot's scale, so the value is written in the colour bar's notation.
    obstacles: on 2D axes, what the value's label must not cover (the training path); the star
    and the label are added to it, so contour labels placed later keep clear of both.
    """
    idx = best_index(values, value)
    if idx is None:
        return
    iy, ix = idx if surface.ndim == 2 else (None, idx[0])
    x = surface.x[ix]
    y = surface.y[iy] if iy is not None else None
    word = ("max" if is_accuracy(value) else "min") + (" so far" if _labels.is_partial(surface) else "")
    number = scale.fmt(values[idx]) if scale is not None else _format.format_number(values[idx], plain=True)
    text = f"{word} {number}"
    style = dict(marker="*", markersize=STAR_SIZE, markerfacecolor="white", markeredgecolor="black",
                 markeredgewidth=0.8, linestyle="none", zorder=10, label=text)
    if z is not None:
        ax.plot([x], [y], [z], **style)
        return
    ax.plot([x], [y], clip_on=False, **style)  # a minimum on the grid's edge keeps its whole star
    if obstacles is None:
        obstacles = _place.Obstacles(ax)
    # the label goes on a side of the star with room: inside the axes (so it never pushes the
    # layout) and off the training path; its box hides the contour lines beneath it
    pad = 0.2 * FontProperties(size="small").get_size_in_points()
    w, h = _place.text_size(text, "small", pad=pad)
    offset = _place.place_near(obstacles, (x, y), w, h, gap=STAR_SIZE / 2, force=True)
    obstacles.add_marker((x, y), STAR_SIZE / 2)
    ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", ha="center", va="center",
                fontsize="small", zorder=10, annotation_clip=True, arrowprops=_place.leader(offset, w, h),
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.75))


def trajectory_data(surface, trajectory) -> Optional[dict]:
    """The trajectory to draw: ``surface.trajectory`` for True/None (None: only if present), a
    given dict as is, nothing for False."""
    if trajectory is False:
        return None
    if trajectory is None or trajectory is True:
        if trajectory is True and not surface.trajectory:
            raise ValueError(f"trajectory=True, but {_labels.source(surface)} holds no trajectory; "
                             "compute the surface with PCA directions (--dir pca) or pass a dict "
                             "{'coords': (n, 2), 'epochs': (n,)}.")
        return surface.trajectory or None
    if not isinstance(trajectory, dict) or "coords" not in trajectory:
        raise ValueError("The value for `trajectory` must be True, False, None or a dict with 'coords' "
                         f"(n, 2) and optionally 'epochs' (n,), but {type(trajectory).__name__} was passed.")
    return trajectory


def draw_trajectory(ax: Axes, traj: dict, z=None, obstacles: Optional[_place.Obstacles] = None,
                    labels: bool = True) -> None:
    """The optimizer's path in the plane, start to end, with a few epoch labels; the end (the
    final model, whose weights the plane is centred on) gets a ring of its own, so it is not taken
    for the grid's minimum (the star) or for one epoch among others.

    traj: {"coords": (n, 2), "epochs": (n,)}; z: (n,) drawn heights on a 3D axes (no labels there).
    obstacles: on 2D axes, what is placed already; the path is added to it.
    labels: False draws only the path (call :func:`label_trajectory` once the minimum is marked).
    """
    coords = np.asarray(traj["coords"], dtype=float).reshape(-1, 2)
    if len(coords) == 0:
        return
    style = dict(color=TRAJECTORY_COLOR, linewidth=1.2, marker="o", markersize=2.5, zorder=9, label="training path")
    end = dict(marker="o", markersize=FINAL_SIZE, markerfacecolor="white", markeredgecolor=TRAJECTORY_COLOR,
               markeredgewidth=1.6, linestyle="none", zorder=10, label="final model")
    if z is not None:
        ax.plot(coords[:, 0], coords[:, 1], z, **style)
        ax.plot(coords[-1:, 0], coords[-1:, 1], np.asarray(z)[-1:], **end)
        return
    ax.plot(coords[:, 0], coords[:, 1], **style)
    ax.plot(coords[-1:, 0], coords[-1:, 1], **end)
    if obstacles is None:
        obstacles = _place.Obstacles(ax)
    obstacles.add_path(coords, radius=1.5)  # half the marker, a bit more than half the line
    obstacles.add_marker(coords[-1], FINAL_SIZE / 2 + 1.0)
    if labels:
        label_trajectory(ax, traj, obstacles)


def label_trajectory(ax: Axes, traj: dict, obstacles: _place.Obstacles) -> list:
    """Epoch labels along a drawn path: 'epoch 0' at the start and 'final (epoch N)' always, up to
    MAX_EPOCH_LABELS in all, spread along the path; a label that would come within
    EPOCH_LABEL_SPACING of the axes of another labelled point, or cover the path, another label
    or anything in ``obstacles``, is left out. Returns the annotations."""
    coords = np.asarray(traj["coords"], dtype=float).reshape(-1, 2)
    epochs = np.asarray(traj.get("epochs", np.arange(len(coords))))
    out = []
    last = len(coords) - 1
    for i in _label_points(ax, coords):
        text = f"epoch {epochs[i]:g}" if i == 0 else f"final (epoch {epochs[i]:g})" if i == last else f"{epochs[i]:g}"
        w, h = _place.text_size(text, "x-small", pad=1.0)
        gap = FINAL_SIZE / 2 + 1.0 if i == last else _place.GAP
        offset = _place.place_near(obstacles, coords[i], w, h, gap=gap, force=i in (0, last))
        if offset is None:
            continue
        out.append(ax.annotate(text, coords[i], xytext=offset, textcoords="offset points", ha="center",
                               va="center", fontsize="x-small", color=TRAJECTORY_COLOR, zorder=10,
                               annotation_clip=True, arrowprops=_place.leader(offset, w, h, TRAJECTORY_COLOR),
                               bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.6)))
    return out


def _label_points(ax: Axes, coords: np.ndarray) -> list:
    """Indices of the path points to label, in order of importance: first and last, then some in
    between spread along the path's length, none closer than EPOCH_LABEL_SPACING of the axes to
    another (a converging path bunches up)."""
    span = np.array([np.ptp(ax.get_xlim()) or 1.0, np.ptp(ax.get_ylim()) or 1.0])
    pts = coords / span
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    wanted = np.linspace(0, arc[-1], MAX_EPOCH_LABELS)
    order = [0, len(coords) - 1] + [int(np.searchsorted(arc, w)) for w in wanted[1:-1]]
    picked: list = []
    for i in order:
        i = min(i, len(coords) - 1)
        if i in picked:
            continue
        if i in (0, len(coords) - 1) or all(np.linalg.norm(pts[i] - pts[j]) >= EPOCH_LABEL_SPACING
                                            for j in picked):
            picked.append(i)
    return picked


def colorbar(mappable, axes, scale: Scale, value: str, **kw):
    """A colour bar for ``mappable`` next to ``axes`` (one Axes or a list), labelled with the value
    name and, when clipped, the cap ('train loss (clipped at 12.3)') plus an extend arrow."""
    first = axes[0] if isinstance(axes, (list, tuple, np.ndarray)) else axes
    fig = first.figure
    ax_arg = list(np.ravel(axes)) if isinstance(axes, (list, tuple, np.ndarray)) else axes
    cb = fig.colorbar(mappable, ax=ax_arg, extend=scale.extend, **kw)
    cb.set_label(scale.label(_labels.value_label(value)))
    # a few round ticks, not one per contour level (20 labels like 88.71 are unreadable)
    cb.set_ticks(nice_ticks(scale))
    cb.minorticks_off()
    # one notation for every tick of every colour bar: 0.5 ... 10, 0.01 ... 100, or 10^-1 ... 10^8
    # (see _format); matplotlib's own would write 1.5, 3.0, 4.5 or switch to an offset
    cb.formatter = _format.formatter(scale.plain)
    return cb


def nice_ticks(scale: Scale, max_ticks: int = _format.MAX_TICKS) -> np.ndarray:
    """Round tick values inside [vmin, vmax]: decades (or 1-2-5) on a log scale, else ~6 steps."""
    lo, hi = scale.vmin, scale.vmax
    if scale.log:
        return _format.log_ticks(lo, hi, max_ticks)
    t = mticker.MaxNLocator(nbins=max_ticks - 1).tick_values(lo, hi)
    return t[(t >= lo - 1e-9 * abs(hi - lo)) & (t <= hi + 1e-9 * abs(hi - lo))]
