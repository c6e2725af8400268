"""1D view: loss and accuracy along one direction, train and test, on twin y-axes.

The layout of Li et al. 2018 (Fig. 2-3) and Goodfellow et al. 2015: losses in blue on the left
axis, accuracies in red on the right, solid for train and dashed for test.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from . import _draw, _format, _labels
from ._scale import Scale, get_values, shared_scale

LOSS_COLOR = "tab:blue"
ACC_COLOR = "tab:red"


def profile(surface, value: str) -> np.ndarray:
    """The 1D values of ``value``: the array itself for a 1D surface, the row through y = 0 (the
    trained model) for a 2D one. Shape (nx,)."""
    v = get_values(surface, value)
    if surface.ndim == 1:
        return v
    return v[int(np.argmin(np.abs(surface.y))), :]


def beyond_frame(values: np.ndarray, scale: Scale) -> np.ndarray:
    """A loss curve ready to plot on ``scale``'s axis limits: NaN stays NaN (a gap), values above
    the cap keep their height and +inf goes far above it, so the curve leaves through the top of
    the frame where the loss does instead of running flat along the cap; values below the floor
    of a log axis (zero, negative) sit on the floor."""
    v = np.asarray(values, dtype=np.float64)
    far = scale.vmax * 1e3 if scale.log else scale.vmax + 1e3 * (scale.vmax - scale.vmin)
    v = np.where(np.isposinf(v), far, v)
    return np.where(v < scale.vmin, scale.vmin, v)  # NaN compares False: it stays


def split_values(surface, values: Optional[Sequence[str]] = None):
    """(loss names, accuracy names) to draw, in file order; checks requested names exist."""
    from landscape.base.errors import check_choice

    names = list(surface.values) if values is None else list(values)
    for n in names:
        check_choice("value", n, list(surface.values))
    acc = [n for n in names if "acc" in n]
    return [n for n in names if n not in acc], acc


def line(surface, ax: Optional[Axes] = None, *, values: Optional[Sequence[str]] = None, log: Optional[bool] = None,
         vmin: Optional[float] = None, vmax: Optional[float] = None, mark_min: bool = True,
         legend: bool = True, title: Optional[str] = None, loss_scale: Optional[Scale] = None,
         acc_limits: Optional[tuple] = None) -> Axes:
    """Loss (left axis) and accuracy (right axis) along the x direction; returns the loss Axes.

    surface: 1D ``Surface`` (values (nx,)), or 2D, then the slice through y = 0 is drawn
    values:  names to draw (default: every value in the file); names with "acc" go on the right
    log:     logarithmic loss axis; None (default): linear, from the lowest loss up to a cap of 10
    vmin, vmax: loss-axis limits; losses above vmax (and inf/outliers) are drawn at the cap and the
             axis label says "(clipped at ...)"
    loss_scale, acc_limits: shared limits, used by ``compare`` so panels line up
    The accuracy twin axes, if any, is ``ax.landscape_twin``. NaN points are gaps in the curves.
    """
    ax = _draw.axes_2d(ax)
    losses, accs = split_values(surface, values)
    x = np.asarray(surface.x, dtype=float)
    if losses:
        raw = [profile(surface, n) for n in losses]
        scale = loss_scale or shared_scale(raw, vmin=vmin, vmax=vmax, log=log, value=losses[0])
        for n, r in zip(losses, raw):
            ax.plot(x, beyond_frame(r, scale), color=LOSS_COLOR, linestyle="--" if "test" in n else "-",
                    label=_labels.value_label(n))
            if mark_min:
                i = np.nanargmin(np.where(np.isfinite(r), r, np.nan)) if np.isfinite(r).any() else None
                if i is not None:
                    ax.plot([x[i]], [r[i]], marker="o", markersize=4, color=LOSS_COLOR, linestyle="none")
        if scale.log:
            ax.set_yscale("log")
            _format.format_log_axis(ax.yaxis, scale.vmin, scale.vmax, plain=scale.plain)  # as the colour bars
        pad = (scale.vmax / scale.vmin) ** 0.03 if scale.log else 0.03 * (scale.vmax - scale.vmin)
        ax.set_ylim(scale.vmin / pad if scale.log else scale.vmin - pad,
                    scale.vmax * pad if scale.log else scale.vmax + pad)
        ax.set_ylabel(scale.label("loss"), color=LOSS_COLOR)
        ax.tick_params(axis="y", colors=LOSS_COLOR)
    handles, labels = ax.get_legend_handles_labels()
    handles = [h for h, l in zip(handles, labels) if not l.startswith("_")]
    twin = None
    if accs:
        twin = ax.twinx() if losses else ax
        for n in accs:
            twin.plot(x, profile(surface, n), color=ACC_COLOR, linestyle="--" if "test" in n else "-",
                      label=_labels.value_label(n))
        if acc_limits is not None:
            twin.set_ylim(*acc_limits)
        twin.set_ylabel("accuracy", color=ACC_COLOR)
        twin.tick_params(axis="y", colors=ACC_COLOR)
        if twin is not ax:
            handles += twin.get_lines()
    ax.landscape_twin = twin if twin is not ax else None
    ax.set_xlabel(_labels.axis_label(surface, 0))
    ax.set_xlim(x.min(), x.max())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    if title is None:
        title = _labels.title(surface) + ("" if surface.ndim == 1 else " (slice at y = 0)")
    title = _labels.panel_title(surface, losses[0] if losses else (accs or ["train_loss"])[0], title)
    if title:
        ax.set_title(title)
    if legend and handles:
        # below the axes: inside, it would sit on a curve whatever the corner (losses are high at
        # the edges, accuracies in the middle)
        ax.legend(handles=handles, labels=[h.get_label() for h in handles], fontsize="small",
                  loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return ax
