"""Training curves of a study: train and test error per epoch, one panel per column value.

He et al. 2016, Fig. 1 shows the degradation problem this way: the deeper plain network has the
higher *training* error, so it is not overfitting. Here each panel is one value of the study's
column variable (depth), each colour one value of the row variable (skip / no skip); dashed lines
are training error, solid lines test error, on one shared axis that is logarithmic above 0.1% (so
1% and 90% both read) and linear below it, so a training error of exactly 0 is drawn at 0.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

PANEL = (3.4, 2.9)  # inches per panel
LINEAR_BELOW = 0.1  # percent: the error axis is linear below this (down to 0), logarithmic above


def error_series(history: Dict) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(epochs, train_error, test_error)`` in percent from a ``load_history`` dict (NaN where
    not measured)."""
    rows = history.get("epochs", [])
    epochs = np.array([r["epoch"] for r in rows], dtype=float)

    def err(key):
        return np.array([np.nan if r.get(key) is None else 100.0 * (1.0 - r[key]) for r in rows], dtype=float)

    return epochs, err("train_acc"), err("test_acc")


def training_curves(panels: Sequence[Sequence[Optional[Dict]]], col_labels: Sequence[str],
                    row_labels: Sequence, *, figsize=None) -> Figure:
    """A Figure of error curves: ``panels[c][r]`` is the history (``landscape.train.load_history``)
    of the member in column ``c`` and row ``r`` (None: no such run). ``row_labels``: one name per
    row for all panels (one legend below), or one list per panel (a legend in each: pairs whose
    members differ from panel to panel). Returns the Figure."""
    n = len(panels)
    if n == 0 or len(col_labels) != n:
        raise ValueError(f"training_curves() needs one column label per panel ({n}), but {len(col_labels)} were passed.")
    fig = plt.figure(figsize=figsize or (PANEL[0] * n + 0.4, PANEL[1] + 0.5), layout="constrained")
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lo = 100.0
    for ax, runs, title in zip(axes, panels, col_labels):
        for r, history in enumerate(runs):
            if history is None:
                continue
            epochs, train, test = error_series(history)
            colour = colours[r % len(colours)]
            ax.plot(epochs, train, ls="--", lw=1.2, color=colour)
            ax.plot(epochs, test, ls="-", lw=1.6, color=colour)
            seen = np.concatenate([train, test])
            seen = seen[np.isfinite(seen)]
            if seen.size:
                lo = min(lo, float(seen.min()))
        if row_labels and not isinstance(row_labels[0], str):
            ax.legend(handles=_series(colours, row_labels[list(axes).index(ax)]), loc="lower left",
                      fontsize="small", frameon=False)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_yscale("symlog", linthresh=LINEAR_BELOW, linscale=0.5)
    axes[0].set_ylim(0.0 if lo < LINEAR_BELOW else lo / 1.5, 100.0)
    axes[0].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}%"))
    axes[0].set_ylabel("error")
    handles = _series(colours, row_labels) if row_labels and isinstance(row_labels[0], str) else []
    handles += [Line2D([], [], color="0.3", ls="--", lw=1.2, label="train"),
                Line2D([], [], color="0.3", ls="-", lw=1.6, label="test")]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    return fig


def _series(colours, labels: Sequence[str]) -> List[Line2D]:
    return [Line2D([], [], color=colours[r % len(colours)], lw=1.6, label=label) for r, label in enumerate(labels)]
