"""Gradient flow: per-layer gradient norm against depth, the vanishing-gradient picture.

In a deep plain net the gradient reaching the first layers is orders of magnitude smaller than at
the output (each sigmoid layer multiplies it by at most 1/4; deep ReLU stacks without skip
connections shrink or scatter it too), so the first layers barely learn. With skip connections the
norms stay level across depth. Left panel: norm against layer depth at initialization and at the
last epoch; right panel: the first and last layer's norm over training.

Input is the gradient-flow log of a training run, as returned by ``landscape.train.load_history``:
``{"name": ..., "gradient_flow": {"layers": [names, input to output], "epochs": [0, 1, ...],
"norms": [[norm per layer] per epoch]}}`` (epoch 0 = at initialization), or the inner
``gradient_flow`` dict itself, or a list of either for a pair.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from . import _format

RUN_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def _one(h, i: int) -> dict:
    """Normalize one run to {"name", "layers", "epochs", "norms" (n_epochs, n_layers)}."""
    if not isinstance(h, dict):  # drawing never opens files: the caller reads the run directory
        raise ValueError(f"gradient_flow() takes history dicts (landscape.storage.rundir.load_history(run_dir)), "
                         f"but {type(h).__name__} was passed.")
    name = h.get("name") or f"run {i + 1}"
    g = h.get("gradient_flow", h)
    if not isinstance(g, dict) or not {"layers", "epochs", "norms"} <= set(g):
        raise ValueError(f"The history of {name!r} has no gradient-flow log (keys 'layers', 'epochs', "
                         "'norms'); train with landscape.train, which records it.")
    norms = np.asarray(g["norms"], dtype=float)
    layers, epochs = list(g["layers"]), list(g["epochs"])
    if norms.ndim != 2 or norms.shape != (len(epochs), len(layers)):
        raise ValueError(f"The gradient-flow log of {name!r} has norms of shape {norms.shape}, but "
                         f"{len(epochs)} epochs x {len(layers)} layers were listed.")
    return {"name": str(name), "layers": layers, "epochs": np.asarray(epochs), "norms": norms}


def gradient_flow(history: Union[dict, Sequence[dict]], *, names: Optional[Sequence[str]] = None,
                  epochs: Optional[Sequence[int]] = None, figsize=None) -> Figure:
    """Two panels for one run or several (a pair): gradient norm by depth, and over training.

    history: ``load_history(run_dir)`` dict, its ``gradient_flow`` dict, or a list of them
    names:   legend names (default: the runs' model names)
    epochs:  epochs to draw in the depth panel (default: the first and the last logged)
    Norms are L2 norms of each layer's gradient; the y-axes are logarithmic. Returns the Figure.
    """
    runs = history if isinstance(history, (list, tuple)) else [history]
    runs = [_one(h, i) for i, h in enumerate(runs)]
    if not runs:
        raise ValueError("gradient_flow() needs at least one run, but an empty list was passed.")
    if names is not None:
        if len(names) != len(runs):
            raise ValueError(f"`names` must have one entry per run ({len(runs)}), but {len(names)} were passed.")
        for r, n in zip(runs, names):
            r["name"] = n
    if figsize is None:
        w, h = plt.rcParams["figure.figsize"]
        figsize = (max(w, 7.0) if _default_size() else w, h)
    fig, (ax_depth, ax_time) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    missing = {ax_depth: [], ax_time: []}  # lines with no finite norm (a diverged run): said, not listed

    def draw(ax, x, y, label, **kw):
        y = _positive(y)
        if np.isfinite(y).sum() == 1:  # one point (a run that diverged after it) is a marker, not a line
            kw = {**kw, "marker": "o", "markersize": 4}
        if np.isfinite(y).any():
            ax.plot(x, y, label=label, **kw)
        else:
            missing[ax].append(label)

    for k, r in enumerate(runs):
        color = RUN_COLORS[k % len(RUN_COLORS)]
        depth = np.arange(1, len(r["layers"]) + 1)
        want = list(epochs) if epochs is not None else sorted({int(r["epochs"][0]), int(r["epochs"][-1])})
        for e in want:
            hits = np.nonzero(r["epochs"] == e)[0]
            if not hits.size:
                raise ValueError(f"epoch {e} is not in the gradient-flow log of {r['name']!r} "
                                 f"(logged: {r['epochs'].tolist()}).")
            first = e == want[0] and len(want) > 1
            draw(ax_depth, depth, r["norms"][hits[0]], f"{r['name']}, {'init' if e == 0 else f'epoch {e}'}",
                 color=color, marker="o", markersize=2.5, linestyle=":" if first else "-", alpha=0.8 if first else 1.0)
        draw(ax_time, r["epochs"], r["norms"][:, 0], f"{r['name']}, first layer", color=color, linestyle="-")
        draw(ax_time, r["epochs"], r["norms"][:, -1], f"{r['name']}, last layer", color=color, linestyle="--")
    for ax, xlabel, title in ((ax_depth, "layer (input → output)", "gradient norm by depth"),
                              (ax_time, "epoch", "first and last layer over training")):
        ax.set_yscale("log")
        _log_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("gradient norm")
        ax.set_title(title)
        # below the axes: the curves of a pair cross the whole panel, so no corner inside is free
        if ax.get_lines():
            ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                      frameon=False, handlelength=2.5)
        if missing[ax]:
            ax.text(0.5, 0.02, "no finite norm, not drawn: " + "; ".join(missing[ax]), transform=ax.transAxes,
                    ha="center", va="bottom", fontsize="x-small", color="0.3", wrap=True)
    return fig


def _log_ticks(ax) -> None:
    """Ticks of a log y axis in the notation of the loss plots (0.01 ... 100, or 10^k beyond)."""
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    ys = np.concatenate(ys) if ys else np.zeros(0)
    ys = ys[np.isfinite(ys) & (ys > 0)]
    if ys.size and ys.max() > ys.min():
        _format.format_log_axis(ax.yaxis, float(ys.min()), float(ys.max()))


def _positive(a: np.ndarray) -> np.ndarray:
    """Zero norms (a dead layer) cannot sit on a log axis; show them as gaps, not as an error."""
    a = np.asarray(a, dtype=float)
    return np.where(a > 0, a, np.nan)


def _default_size() -> bool:
    from .style import active_style

    return active_style() is None
