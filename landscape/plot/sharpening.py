"""Sharpness along training beside the training loss: progressive sharpening and the edge of stability.

Under full-batch gradient descent with step size η the top Hessian eigenvalue rises until it
reaches 2/η and hovers there while the loss keeps falling, not monotonically (Cohen et al. 2021).
:func:`sharpness_curve` draws one run's tracked sharpness against the optimizer step with its
stability threshold as a dashed line; :func:`sharpening` lays out one column per run (the members
of a pair, or one net at several step sizes): sharpness on top, the training loss below, shared
axes, so that which run is driven sharper reads off the same scale.

Input is a run's history as ``landscape.storage.rundir.load_history(run_dir)`` returns it: a dict
with ``"sharpness"`` (rows with ``step``, ``lambda_max``, ``threshold``, ...; written by
``landscape train --track-sharpness N``), ``"sharpness_settings"`` and ``"epochs"`` (per-epoch
``train_loss``). Drawing never opens files.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

LOG_SPAN = 10.0
VALUES = {"lambda_max": "λmax (top Hessian eigenvalue)", "preconditioned": "λmax(P⁻¹H), preconditioned",
          "batch_sharpness": "batch sharpness", "trace": "Hessian trace"}


def default_value(history: Mapping[str, Any]) -> str:
    """The sharpness the optimizer's threshold is about: preconditioned for Adam when tracked, else λmax."""
    settings = history.get("sharpness_settings") or {}
    rows = history.get("sharpness") or []
    if settings.get("optimizer") in ("adam", "adamw") and any(r.get("preconditioned") is not None for r in rows):
        return "preconditioned"
    return "lambda_max"


def _rows(history: Mapping[str, Any], name: str) -> List[Mapping[str, Any]]:
    if not isinstance(history, Mapping):  # drawing never opens files: the caller reads the run directory
        raise ValueError(f"sharpness plots take history dicts (landscape.storage.rundir.load_history(run_dir)), "
                         f"but {type(history).__name__} was passed.")
    rows = history.get("sharpness") or []
    if not rows:
        raise ValueError(f"The history of {name!r} has no tracked sharpness; train it with "
                         "`landscape train ... --track-sharpness N` (TrainConfig.track_sharpness).")
    return rows


def _series(rows, key: str):
    steps = np.array([r["step"] for r in rows], dtype=float)
    vals = np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])
    return steps, vals


def threshold_label(history: Mapping[str, Any]) -> str:
    return (history.get("sharpness_settings") or {}).get("threshold_label") or "2/η"


def sharpness_curve(history: Mapping[str, Any], value: Optional[str] = None, *, ax: Optional[Axes] = None,
                    color: str = "tab:blue", label: Optional[str] = None, threshold: bool = True) -> Axes:
    """Tracked sharpness against the optimizer step, with the stability threshold dashed.

    value: a tracked key ("lambda_max", "preconditioned", "batch_sharpness", "trace"); default
           :func:`default_value`. The threshold (2/η, 38/η for Adam's preconditioned sharpness, from
           each row's step size) is drawn for the values it applies to.
    """
    name = history.get("name") or "run"
    rows = _rows(history, name)
    value = value or default_value(history)
    if not any(value in r for r in rows):
        raise ValueError(f"The value for `value` must be one of the tracked keys "
                         f"{sorted(k for k in VALUES if any(k in r for r in rows))}, but {value!r} was passed.")
    ax = ax if ax is not None else plt.gca()
    steps, vals = _series(rows, value)
    ax.plot(steps, vals, color=color, linewidth=1.2, marker="." if len(steps) <= 60 else None, markersize=3,
            label=label or VALUES.get(value, value))
    adam = (history.get("sharpness_settings") or {}).get("optimizer") in ("adam", "adamw")
    # the threshold bounds the sharpness the optimizer's step sees: Adam's preconditioned one, else λmax
    applies = ("preconditioned",) if adam else ("lambda_max", "batch_sharpness")
    if threshold and value in applies:
        _, thr = _series(rows, "threshold")
        ax.plot(steps, thr, color="black", linestyle="--", linewidth=1.0, label=threshold_label(history))
    ax.set_xlabel("step")
    ax.set_ylabel(VALUES.get(value, value))
    return ax


def loss_curve(history: Mapping[str, Any], *, ax: Optional[Axes] = None, color: str = "tab:red") -> Axes:
    """Training loss against the optimizer step (per epoch from ``history["epochs"]``; one epoch is one
    step under full-batch gradient descent)."""
    ax = ax if ax is not None else plt.gca()
    per_epoch = _steps_per_epoch(history)
    pts = [(e["epoch"] * per_epoch, e["train_loss"]) for e in history.get("epochs") or []
           if e.get("train_loss") is not None]
    if not pts:
        raise ValueError(f"The history of {history.get('name') or 'run'!r} has no training loss per epoch.")
    x, y = np.array(pts, dtype=float).T
    ax.plot(x, y, color=color, linewidth=1.0)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    return ax


def _steps_per_epoch(history: Mapping[str, Any]) -> float:
    """Optimizer steps per epoch, from the tracked rows (``step / epoch``); 1 when nothing says otherwise."""
    for r in history.get("sharpness") or []:
        if r.get("epoch"):
            return float(r["step"]) / float(r["epoch"])
    return 1.0


def sharpening(histories: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]], value: Optional[str] = None, *,
               names: Optional[Sequence[str]] = None, figsize=None, log_loss: bool = False,
               log_sharpness: Optional[bool] = None) -> Figure:
    """One column per run: tracked sharpness with its threshold (top), training loss (bottom).

    The sharpness panels share one y-axis, the loss panels another, all panels the step axis, so a
    pair (skip vs no skip, norm vs none) or a set of step sizes compares on one scale. Each top panel's
    title gives the run's name, η and the threshold's value. ``log_sharpness``: a log scale for the
    sharpness panels (None: when the values span more than ``LOG_SPAN``×, as after a catapult from a
    sharp initialization). Returns the Figure.
    """
    runs = [histories] if isinstance(histories, Mapping) else list(histories)
    if not runs:
        raise ValueError("sharpening() needs at least one run history, but an empty list was passed.")
    if names is not None and len(names) != len(runs):
        raise ValueError(f"`names` must have one entry per run ({len(runs)}), but {len(names)} were passed.")
    n = len(runs)
    if figsize is None:
        figsize = (min(3.4 * n, 16.0) + 0.6, 5.2)
    fig, axes = plt.subplots(2, n, figsize=figsize, sharex=True, sharey="row", squeeze=False, layout="constrained")
    spans: List[float] = []
    for i, h in enumerate(runs):
        name = names[i] if names is not None else (h.get("name") or f"run {i + 1}")
        rows = _rows(h, name)
        v = value or default_value(h)
        top, bottom = axes[0, i], axes[1, i]
        sharpness_curve(h, v, ax=top)
        loss_curve(h, ax=bottom)
        lrs = sorted({r["lr"] for r in rows if r.get("lr") is not None})
        thr = [r["threshold"] for r in rows if r.get("threshold") is not None]
        eta = f"η = {lrs[0]:g}" if len(lrs) == 1 else "η scheduled"
        top.set_title(f"{name}\n{eta}, {threshold_label(h)} = {thr[-1]:.3g}" if thr else name, fontsize="medium")
        if i:
            top.set_ylabel("")
            bottom.set_ylabel("")
        if log_loss:
            bottom.set_yscale("log")
        top.set_xlabel("")  # the loss panel below names the shared step axis
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
        spans.extend(_series(rows, v)[1])
    finite = [x for x in spans if np.isfinite(x) and x > 0]
    if log_sharpness or (log_sharpness is None and finite and max(finite) > LOG_SPAN * min(finite)):
        for ax in axes[0]:  # a catapult from a sharp start would flatten the rest of the curve
            ax.set_yscale("log")
            ax.set_ylabel(ax.get_ylabel() + (" (log)" if ax.get_ylabel() else ""))
    axes[0, 0].legend(loc="best", fontsize="small", framealpha=0.9)
    return fig
