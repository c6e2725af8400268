"""Figures of the chapter's studies: activations, gradient by layer, accuracy against batch size,
train/test curves per remedy, and 1D landscapes of many members on shared axes.

Every function here is figure-level: it takes plain numbers (or ``Surface`` objects), makes a
Figure and returns it; none reads files, saves, shows or prints (``landscape.plot.save`` writes).

    fig = activation_derivatives()                              # each activation and its slope, 1/4 marked
    fig = gradient_by_layer({8: {"relu": [...], "sigmoid": [...]}, 20: {...}})
    fig = accuracy_vs_batch({"batch": {2: 0.61, 128: 0.83}, "layer": {...}})
    fig = train_test_curves({"baseline": history_rows, "dropout 0.5": rows}, best={"baseline": 12})
    fig = landscapes_1d({"baseline": surface, "weight decay": surface})
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

SIGMOID_BOUND = 0.25  # max of sigmoid'(x) = s(x)(1 - s(x)), reached at x = 0
# matplotlib's own cycle, in its order: the study's other figures (training curves) colour the same values alike
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
          "tab:olive", "tab:cyan")


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _grid(n: int, max_cols: int) -> Tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


def _positive(values: Sequence[float]) -> np.ndarray:
    """Zero or non-finite values cannot sit on a log axis: gaps instead of errors."""
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _check_nonempty(param: str, mapping: Mapping) -> None:
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"The value for `{param}` must be a non-empty mapping, but {mapping!r} was passed.")


# --------------------------------------------------------------------------------------------------

def activation_derivatives(activations: Optional[Sequence[str]] = None, x_range: Tuple[float, float] = (-6.0, 6.0),
                           figsize=None) -> Figure:
    """One panel per activation: the function and its derivative, with the 1/4 bound marked.

    The curves come from the very modules the models use (``models.layers.activation_layer``; PReLU
    at its initial slope 0.25) and the derivative from autograd, so the figure shows what trains.
    Each panel names the largest slope measured on the plotted range: 1/4 for sigmoid (so a chain of
    n sigmoid layers scales a gradient by at most 4^-n), 1 for tanh and the ReLU family.
    """
    from landscape import models
    from landscape.models.layers import activation_layer

    names = list(activations) if activations is not None else list(models.ACTIVATIONS)
    if not names:
        raise ValueError("activation_derivatives() needs at least one activation name.")
    x = torch.linspace(float(x_range[0]), float(x_range[1]), 1201, requires_grad=True)
    rows, cols = _grid(len(names), 5)
    figsize = figsize or (2.6 * cols, 2.6 * rows + 0.4)
    fig, axes = plt.subplots(rows, cols, figsize=figsize, layout="constrained", squeeze=False, sharex=True)
    for k, name in enumerate(names):
        ax = axes.flat[k]
        module = activation_layer(name, 1)
        y = module(x.view(-1, 1)).view(-1)
        slope, = torch.autograd.grad(y.sum(), x)
        xs, ys, ds = x.detach().numpy(), y.detach().numpy(), slope.numpy()
        ax.plot(xs, ys, color="tab:blue", label="f(x)")
        ax.plot(xs, ds, color="tab:red", label="f′(x)")
        ax.axhline(SIGMOID_BOUND, color="0.3", linestyle="--", linewidth=0.9, label="1/4")
        ax.axhline(0.0, color="0.8", linewidth=0.6, zorder=0)
        ax.set_title(f"{name}\nmax f′ = {ds.max():.3g}", fontsize="medium")
        ax.set_xlabel("x")
        ax.set_ylim(-1.15, 1.6)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small", loc="upper left", frameon=False)
    return fig


def gradient_by_layer(init: Mapping[int, Mapping[str, Sequence[float]]],
                      trained: Optional[Mapping[int, Mapping[str, Sequence[float]]]] = None,
                      *, figsize=None) -> Figure:
    """Gradient norm by layer: one panel per depth, one line per activation; log y, shared.

    init: ``{depth: {activation: [norm per layer, input to output]}}`` at initialization.
    trained: the same during training (e.g. the mean over the last epoch's batches): a second row.
    x is the layer index (1 = next to the input); a line falling toward x = 1 is a gradient that
    vanishes on its way back to the input.
    """
    _check_nonempty("init", init)
    rows = [("at initialization", init)] + ([("during training (last epoch)", trained)] if trained else [])
    depths = list(init)
    figsize = figsize or (3.6 * len(depths) + 0.6, 3.0 * len(rows) + 0.6)
    fig, axes = plt.subplots(len(rows), len(depths), figsize=figsize, layout="constrained", squeeze=False,
                             sharey=True)
    labels = list(dict.fromkeys(a for row in init.values() for a in row))
    for r, (when, table) in enumerate(rows):
        for c, depth in enumerate(depths):
            ax = axes[r, c]
            for name, norms in table.get(depth, {}).items():
                ax.plot(np.arange(1, len(norms) + 1), _positive(norms), marker="o", markersize=2.5,
                        color=_color(labels.index(name) if name in labels else len(labels)), label=name)
            ax.set_yscale("log")
            ax.set_title(f"depth {depth}, {when}", fontsize="medium")
            ax.set_xlabel("layer (input → output)")
            if c == 0:
                ax.set_ylabel("gradient norm")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), frameon=False, fontsize="small")
    return fig


def _per_seed(value: Union[float, Sequence[float]]) -> List[float]:
    return [float(v) for v in value] if isinstance(value, (list, tuple, np.ndarray)) else [float(value)]


def _median_range(groups: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, lowest and highest of each group of per-seed values."""
    return (np.array([np.median(g) for g in groups]), np.array([np.min(g) for g in groups]),
            np.array([np.max(g) for g in groups]))


def accuracy_vs_batch(accuracy: Mapping[str, Mapping[int, Union[float, Sequence[float]]]],
                      gap: Optional[Mapping[str, Mapping[int, Union[float, Sequence[float]]]]] = None, *,
                      figsize=None) -> Figure:
    """Test accuracy against batch size, one line per normalization (log2 x axis).

    accuracy: ``{norm: {batch_size: test accuracy in [0, 1]}}``; a list of accuracies (one per seed)
    draws their median with a bar from the lowest to the highest.
    gap: optional ``{norm: {batch_size: eval-mode loss - train-mode loss}}`` (or a list per seed),
    drawn in a second panel (BatchNorm's train/test mismatch; zero for per-sample norms).
    """
    _check_nonempty("accuracy", accuracy)
    panels = 2 if gap else 1
    figsize = figsize or (4.6 * panels, 3.6)
    fig, axes = plt.subplots(1, panels, figsize=figsize, layout="constrained", squeeze=False)
    ax = axes[0, 0]
    norms = list(accuracy)
    all_sizes = sorted({int(b) for v in accuracy.values() for b in v})
    seeds = max(len(_per_seed(v)) for a in accuracy.values() for v in a.values())
    for k, norm in enumerate(norms):
        sizes = sorted(accuracy[norm])
        mid, low, high = _median_range([100 * np.asarray(_per_seed(accuracy[norm][b])) for b in sizes])
        ax.errorbar(sizes, mid, yerr=[mid - low, high - mid], marker="o", color=_color(k), label=norm, capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_sizes, [str(b) for b in all_sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("test accuracy" + (f" (median, [min, max] over {seeds} seeds)" if seeds > 1 else ""),
                 fontsize="medium")
    ax.legend(title="norm", fontsize="small", frameon=False)
    if gap:
        ax = axes[0, 1]
        for k, norm in enumerate(norms):
            if norm not in gap:
                continue
            sizes = sorted(gap[norm])
            mid, low, high = _median_range([np.asarray(_per_seed(gap[norm][b])) for b in sizes])
            # shrinking markers and lines: norms with equal gaps (all zero) stay visible, nested
            ax.errorbar(sizes, mid, yerr=[mid - low, high - mid], marker="o", color=_color(k), label=norm,
                        markersize=9 - 1.8 * k, linewidth=2.4 - 0.4 * k, capsize=3)
        ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_sizes, [str(b) for b in all_sizes])
        ax.set_yscale("symlog", linthresh=1e-2)
        top = max([abs(v) for g in gap.values() for vs in g.values() for v in _per_seed(vs) if np.isfinite(v)]
                  + [1e-2])
        ax.set_ylim(-3 * top, 3 * top)  # symmetric about 0, with room beyond the largest gap
        ax.legend(title="norm", fontsize="small", frameon=False)
        ax.set_xlabel("batch size")
        ax.set_ylabel("eval-mode − train-mode loss")
        ax.set_title("same training data, eval vs train mode", fontsize="medium")
    return fig


def train_test_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                      best: Optional[Mapping[str, Optional[int]]] = None, *, value: str = "loss",
                      figsize=None) -> Figure:
    """Train vs test curves, one panel per member (remedy), shared axes.

    histories: ``{name: rows}``, rows as in ``history.json`` (``epoch``, ``train_loss``, ``val_loss``,
    ``test_loss``, and the ``_acc`` columns); epoch 0 (initialization) is left out.
    best: ``{name: epoch}`` of the weights kept (early stopping), marked with a vertical line.
    value: "loss" (log y when the losses span a decade or more) or "acc" (percent).
    """
    _check_nonempty("histories", histories)
    if value not in ("loss", "acc"):
        raise ValueError(f"The value for `value` must be one of ['loss', 'acc'], but {value!r} was passed.")
    names = list(histories)
    rows, cols = _grid(len(names), 4)
    figsize = figsize or (3.2 * cols + 0.4, 2.7 * rows + 0.6)
    fig, axes = plt.subplots(rows, cols, figsize=figsize, layout="constrained", squeeze=False, sharex=True,
                             sharey=True)
    styles = {"train": ("tab:blue", "-"), "val": ("tab:green", ":"), "test": ("tab:red", "--")}
    losses = np.array([r.get(f"{split}_loss") for rows_ in histories.values() for r in rows_ if r.get("epoch", 0) > 0
                       for split in styles if r.get(f"{split}_loss") is not None], dtype=float)
    losses = losses[np.isfinite(losses) & (losses > 0)]
    wide = bool(losses.size and losses.max() / losses.min() >= 10)  # log y only where it spans a decade
    for k, name in enumerate(names):
        ax = axes.flat[k]
        rows_ = [r for r in histories[name] if r.get("epoch", 0) > 0]
        epochs = [r["epoch"] for r in rows_]
        for split, (color, ls) in styles.items():
            ys = [r.get(f"{split}_{value}") for r in rows_]
            if any(v is not None for v in ys):
                ys = np.array([np.nan if v is None else (100 * v if value == "acc" else v) for v in ys], float)
                ax.plot(epochs, _positive(ys) if value == "loss" else ys, color=color, linestyle=ls, label=split)
        if best and best.get(name) is not None:
            ax.axvline(best[name], color="0.4", linewidth=0.8, linestyle="-.", label="weights kept")
        ax.set_title(name, fontsize="medium")
        if value == "loss" and wide:
            ax.set_yscale("log")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss" if value == "loss" else "accuracy (%)")
    for k in range(len(names), rows * cols):
        axes.flat[k].set_visible(False)
    for c in range(cols):  # the lowest visible panel of each column carries the x axis
        r = max(r for r in range(rows) if r * cols + c < len(names))
        axes[r, c].xaxis.set_tick_params(labelbottom=True)
        axes[r, c].set_xlabel("epoch")
    handles: Dict[str, object] = {}
    for ax in axes.flat[:len(names)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles),
               frameon=False, fontsize="small")
    return fig


def _profile(surface, value: str) -> np.ndarray:
    """A surface's 1D values: the line itself, or the row through y = 0 of a plane."""
    if value not in surface.values:
        raise ValueError(f"The value for `value` must be one of {list(surface.values)}, but {value!r} was passed.")
    v = np.asarray(surface.values[value], dtype=float)
    if surface.y is None:
        return v
    return v[int(np.argmin(np.abs(np.asarray(surface.y)))), :]


def landscapes_1d(surfaces: Mapping[str, object], value: str = "train_loss", *,
                  log: Optional[bool] = None, figsize=None) -> Figure:
    """1D landscapes of all members on shared axes: ``value`` along each member's own
    filter-normalized direction (drawn with one seed), so widths compare directly.

    surfaces: ``{name: Surface}`` (1D lines, or planes: their row through y = 0), all on one pair of
              axes; or ``{panel title: {name: Surface}}``: one panel each (e.g. one per depth), all
              panels on the same x and y axes.
    log: logarithmic y (None: when the values span two decades or more). Non-finite points are gaps.
    """
    _check_nonempty("surfaces", surfaces)
    nested = all(isinstance(v, Mapping) for v in surfaces.values())
    groups = {t: dict(g) for t, g in surfaces.items()} if nested else {"": dict(surfaces)}
    for title, group in groups.items():
        _check_nonempty(f"surfaces[{title!r}]", group)
    curves = {(t, name): (np.asarray(srf.x, dtype=float), _profile(srf, value))
              for t, group in groups.items() for name, srf in group.items()}
    finite = np.concatenate([y[np.isfinite(y)] for _, y in curves.values()])
    if log is None:
        pos = finite[finite > 0]
        log = bool(pos.size and pos.max() / pos.min() >= 100)
    n = len(groups)
    figsize = figsize or ((5.6, 4.0) if n == 1 else (3.4 * n + 0.4, 3.6))
    fig, axes = plt.subplots(1, n, figsize=figsize, layout="constrained", squeeze=False, sharex=True, sharey=True)
    for ax, (title, group) in zip(axes[0], groups.items()):
        names = list(group)
        for k, name in enumerate(names):
            x, y = curves[(title, name)]
            ax.plot(x, _positive(y) if log else y, color=_color(k), label=name, linewidth=1.4)
        if log:
            ax.set_yscale("log")
        ax.axvline(0.0, color="0.7", linewidth=0.7, zorder=0)
        ax.set_xlabel("α (filter-normalized; 0 = trained)" if n > 1 else
                      "α (filter-normalized direction; 0 = trained weights)")
        if title:
            ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="x-small" if n > 1 else "small", frameon=False, ncol=2 if len(names) > 5 else 1)
    axes[0, 0].set_ylabel(value.replace("_", " "))
    return fig


__all__ = ["accuracy_vs_batch", "activation_derivatives", "gradient_by_layer", "landscapes_1d",
           "train_test_curves"]
