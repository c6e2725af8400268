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


def _row(surface, v: np.ndarray) -> np.ndarray:
    """The 1D part of a per-cell array shaped like the values (the y = 0 row of a plane)."""
    return v if surface.ndim == 1 else v[..., int(np.argmin(np.abs(surface.y))), :]


def plane_profiles(surface, value: str) -> Optional[np.ndarray]:
    """(K, nx) curves of ``value``, one per plane of a direction ensemble; None without one."""
    if surface.planes is None or value not in surface.planes.values:
        return None
    return _row(surface, np.asarray(surface.planes.values[value], dtype=np.float64))


def se_profile(surface, value: str) -> Optional[np.ndarray]:
    """(nx,) standard errors of ``value`` along the drawn curve; None where the file has none."""
    se = surface.se.get(value)
    return None if se is None else _row(surface, np.asarray(se, dtype=np.float64))


def _ensemble(ax: Axes, x: np.ndarray, curves: np.ndarray, color: str, style: str, scale: Optional[Scale] = None,
              band_label: str = "_band"):
    """K thin curves, their median (drawn by the caller) and the 95% band between planes."""
    fit = (lambda v: beyond_frame(v, scale)) if scale is not None else (lambda v: v)
    for c in curves:
        ax.plot(x, fit(c), color=color, linestyle=style, linewidth=0.5, alpha=0.35, label="_plane")
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: cells not computed yet
            lo, hi = np.nanquantile(curves, [0.025, 0.975], axis=0)
    if scale is not None:
        lo, hi = np.clip(lo, scale.vmin, None), np.clip(hi, None, scale.vmax * (1e3 if scale.log else 1) + 1e3)
    ax.fill_between(x, lo, hi, color=color, alpha=0.15, linewidth=0, label=band_label)


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
         acc_limits: Optional[tuple] = None, se: bool = False, planes: Optional[bool] = None) -> Axes:
    """Loss (left axis) and accuracy (right axis) along the x direction; returns the loss Axes.

    surface: 1D ``Surface`` (values (nx,)), or 2D, then the slice through y = 0 is drawn
    values:  names to draw (default: every value in the file); names with "acc" go on the right
    log:     logarithmic loss axis; None (default): linear, from the lowest loss up to a cap of 10
    vmin, vmax: loss-axis limits; losses above vmax (and inf/outliers) are drawn at the cap and the
             axis label says "(clipped at ...)"
    loss_scale, acc_limits: shared limits, used by ``compare`` so panels line up
    se:      draw each curve's 95% data-noise band (± 1.96 standard errors per cell, ``surface.se``)
    planes:  for a direction ensemble (``surface.planes``): the median over planes as the curve, the
             K planes as thin curves and the band between their 2.5th and 97.5th percentiles
             (default: whenever the surface has one)
    The accuracy twin axes, if any, is ``ax.landscape_twin``. NaN points are gaps in the curves.
    """
    ax = _draw.axes_2d(ax)
    losses, accs = split_values(surface, values)
    x = np.asarray(surface.x, dtype=float)
    ensemble = surface.planes is not None if planes is None else bool(planes and surface.planes is not None)
    K = len(surface.planes) if ensemble else 1

    def curve(n):  # the drawn curve: the median over planes of an ensemble, else the values
        if not ensemble:
            return profile(surface, n)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(plane_profiles(surface, n), axis=0)

    def label(n):
        return _labels.value_label(n) + (f" (median of {K} planes)" if ensemble else "")

    if losses:
        raw = [curve(n) for n in losses]
        scale = loss_scale or shared_scale(raw, vmin=vmin, vmax=vmax, log=log, value=losses[0])
        for n, r in zip(losses, raw):
            style = "--" if "test" in n else "-"
            first = n == losses[0]
            if ensemble:
                _ensemble(ax, x, plane_profiles(surface, n), LOSS_COLOR, style, scale,
                          f"95% of {K} planes (thin: each)" if first else "_band")
            e = se_profile(surface, n) if se else None
            if e is not None and not ensemble:
                ax.fill_between(x, np.clip(r - 1.96 * e, scale.vmin, None), r + 1.96 * e, color=LOSS_COLOR,
                                alpha=0.25, linewidth=0, label="± 1.96 s.e. (data noise)" if first else "_se")
            ax.plot(x, beyond_frame(r, scale), color=LOSS_COLOR, linestyle=style, label=label(n))
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
            style = "--" if "test" in n else "-"
            r = curve(n)
            if ensemble:
                _ensemble(twin, x, plane_profiles(surface, n), ACC_COLOR, style)
            e = se_profile(surface, n) if se else None
            if e is not None and not ensemble:
                twin.fill_between(x, r - 1.96 * e, r + 1.96 * e, color=ACC_COLOR, alpha=0.25, linewidth=0, label="_se")
            twin.plot(x, r, color=ACC_COLOR, linestyle=style, label=label(n))
        if acc_limits is not None:
            twin.set_ylim(*acc_limits)
        twin.set_ylabel("accuracy", color=ACC_COLOR)
        twin.tick_params(axis="y", colors=ACC_COLOR)
        if twin is not ax:
            handles += [h for h in twin.get_lines() if not h.get_label().startswith("_")]
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
