"""Figures of a path file (``landscape.connect``): the loss along the straight line and the curve
between two minima, and the plane through both ends and the bend with the curve on the loss contours
(Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs", Fig. 1).

    paths = landscape.pathfile.load("ab.h5")
    ax = landscape.plot.paths.along(paths)             # both paths on one axis, barriers in the legend
    ax = landscape.plot.paths.plane(paths)             # the plane: contours, line, curve, A, B, bend
    fig = landscape.plot.paths.draw(paths, "contour")  # a Figure, for landscape.plot.save
    fig = landscape.plot.paths.overview(paths)         # both views side by side
"""
from __future__ import annotations

from typing import Optional

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from landscape.base.errors import check_choice

from . import _draw, _format, _labels
from ._scale import shared_scale
from .planar import contourf
from .style import active_style

KINDS = ("line", "contour")  # the loss along both paths; the plane with the curve
LINE_COLOR = "0.35"          # the straight line: grey, the baseline
CURVE_COLOR = "tab:orange"   # the trained curve
CURVE_NAMES = {"bezier": "Bézier curve", "polychain": "polygonal chain"}
SIZES = {"line": (5.0, 3.6), "contour": (5.4, 4.2)}


def _log(log: Optional[bool], value: str) -> bool:
    """A path file's figures: log for a loss unless asked (the line's barrier is orders of magnitude
    above the curve's, so a linear axis squeezes the curve's whole profile into its lowest band);
    never for an accuracy."""
    return False if "acc" in value else (True if log is None else bool(log))


def _curve_name(paths) -> str:
    return CURVE_NAMES.get(str(paths.attrs.get("curve")), "curve")


def _title(paths) -> str:
    return f"{paths.attrs.get('model_name', 'model')}: straight line and {_curve_name(paths)}"


def _test_partner(paths, value: str) -> Optional[str]:
    """The test value drawn dashed beside a train value ('train_loss' -> 'test_loss'), if stored."""
    other = value.replace("train_", "test_", 1) if value.startswith("train_") else None
    return other if other in paths.curve else None


def along(paths, ax: Optional[Axes] = None, *, value: str = "train_loss", log: Optional[bool] = None,
          vmin: Optional[float] = None, vmax: Optional[float] = None, title: Optional[str] = None) -> Axes:
    """``value`` along the straight line (grey) and the curve (orange) against t, on one axis; the
    matching test value dashed; each legend entry names its path's barrier. Returns the Axes.

    log: logarithmic loss axis (None: log for a loss, whose barriers along the line and the curve
    are orders of magnitude apart; False: linear, up to the loss cap of ``plot._scale``).
    """
    check_choice("value", value, list(paths.curve))
    ax = _draw.axes_2d(ax)
    t = np.asarray(paths.t, dtype=float)
    names = [value] + ([_test_partner(paths, value)] if _test_partner(paths, value) else [])
    series = [(which, name, paths.values(which)[name]) for name in names for which in ("line", "curve")]
    is_loss = "acc" not in value
    scale = shared_scale([s[2] for s in series], vmin=vmin, vmax=vmax, log=_log(log, value), value=value)
    for which, name, v in series:
        label = f"{'straight line' if which == 'line' else _curve_name(paths)}, {_labels.value_label(name)}"
        if is_loss:
            label += f" (barrier {_format.format_number(paths.barrier(which, name), plain=True)})"
        ax.plot(t, scale.apply(v).filled(np.nan), color=LINE_COLOR if which == "line" else CURVE_COLOR,
                linestyle="--" if name.startswith("test_") else "-", label=label)
    ends = [paths.curve[value][0], paths.curve[value][-1]]
    ax.plot([0, 1], ends, marker="o", markersize=4, color="black", linestyle="none", zorder=5)
    for x, text, ha in ((0, "A", "left"), (1, "B", "right")):
        ax.annotate(text, (x, ends[x]), xytext=(4 if x == 0 else -4, 6), textcoords="offset points", ha=ha,
                    fontsize="small")
    if scale.log:
        ax.set_yscale("log")
        _format.format_log_axis(ax.yaxis, scale.vmin, scale.vmax, plain=scale.plain)
    pad = (scale.vmax / scale.vmin) ** 0.04 if scale.log else 0.04 * (scale.vmax - scale.vmin)
    ax.set_ylim(scale.vmin / pad if scale.log else scale.vmin - pad, scale.vmax * pad if scale.log else scale.vmax + pad)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlabel("t (0: model A, 1: model B)")
    ax.set_ylabel(scale.label("loss") if is_loss else _labels.value_label(value))
    ax.set_title(_title(paths) if title is None else title)
    # below the axes: inside, the legend would cover the line's peak or the curve's flat stretch
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=1, frameon=False)
    return ax


def plane(paths, ax: Optional[Axes] = None, *, value: str = "train_loss", log: Optional[bool] = None,
          vmin: Optional[float] = None, vmax: Optional[float] = None, levels=None,
          title: Optional[str] = None) -> Axes:
    """Filled loss contours on the plane through A, B and the bend, with the straight line (dashed),
    the curve (solid), A, B and the bend (a hollow square). Both axes are in units of |B − A|; the
    one across the line is stretched (the grid spans a few bend heights there), so the thin strip a
    curve runs in is resolved. Returns the Axes; ValueError if the file has no plane grid."""
    if paths.plane is None:
        raise ValueError(f"{paths.path or 'This path file'} has no plane grid (it was made with plane=0 / --plane 0); "
                         "draw kind 'line', or rerun connect with --plane 21.")
    ax = _draw.axes_2d(ax)
    kw = {"levels": levels} if levels is not None else {}
    contourf(paths.plane, value, ax, log=_log(log, value), vmin=vmin, vmax=vmax, trajectory=False, mark_min=False,
             title=_title(paths) if title is None else title, **kw)
    (ax_, ay_), (bx, by), (cx, cy) = paths.points
    ax.plot([ax_, bx], [ay_, by], color="white", linestyle="--", linewidth=1.2, label="straight line")
    ax.plot(paths.coords[:, 0], paths.coords[:, 1], color=CURVE_COLOR, linewidth=2.0, label=_curve_name(paths))
    ax.plot([ax_, bx], [ay_, by], marker="o", markersize=6, markerfacecolor="white", markeredgecolor="black",
            linestyle="none", zorder=6)
    ax.plot([cx], [cy], marker="s", markersize=6, markerfacecolor="none", markeredgecolor="white",
            markeredgewidth=1.2, linestyle="none", zorder=6, label="bend θ")
    for (x, y), text in (((ax_, ay_), "A"), ((bx, by), "B"), ((cx, cy), "θ")):
        ax.annotate(text, (x, y), xytext=(0, -11 if text != "θ" else 8), textcoords="offset points", ha="center",
                    va="center", fontsize="small", color="white", fontweight="bold", zorder=7)
    # inside, below the line: the plane's margin there is high loss with nothing else drawn on it
    ax.legend(fontsize="small", loc="lower center", ncol=3, frameon=True, framealpha=0.8, edgecolor="none",
              handlelength=1.5, columnspacing=1.0)
    return ax


def overview(paths, *, value: str = "train_loss", figsize=None, **kwargs) -> Figure:
    """A new Figure with both views side by side: the loss along both paths (:func:`along`) and the
    plane with the curve (:func:`plane`); only the first when the file has no plane grid. What
    ``landscape plot PATHFILE --out ab.png`` writes. Keyword arguments as for :func:`draw`."""
    has_plane = paths.plane is not None
    if figsize is None and active_style() is None:
        figsize = (SIZES["line"][0] + SIZES["contour"][0], SIZES["contour"][1]) if has_plane else SIZES["line"]
    fig = plt.figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, 2 if has_plane else 1, squeeze=False)[0]
    levels = kwargs.pop("levels", None)
    along(paths, axes[0], value=value, title="along the paths", **kwargs)
    if has_plane:
        plane(paths, axes[1], value=value, levels=levels, title="the plane through A, B and the bend", **kwargs)
    fig.suptitle(_title(paths))
    return fig


def draw(paths, kind: str = "line", *, value: str = "train_loss", figsize=None, **kwargs) -> Figure:
    """A new Figure with one view of a path file: ``kind`` "line" (:func:`along`) or "contour"
    (:func:`plane`). Keyword arguments go to that function (log, vmin, vmax; levels for the plane)."""
    check_choice("kind", kind, KINDS)
    if figsize is None and active_style() is None:
        figsize = SIZES[kind]
    fig = plt.figure(figsize=figsize, layout="constrained")
    if kind == "line":
        kwargs.pop("levels", None)
        along(paths, fig.add_subplot(), value=value, **kwargs)
    else:
        plane(paths, fig.add_subplot(), value=value, **kwargs)
    return fig
