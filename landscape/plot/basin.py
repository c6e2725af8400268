"""Basin profiles: loss (and accuracy) against step length along k random directions, as a median
with a band over the directions, and along the worst-case direction; the threshold and the radii.

Draws a :class:`landscape.analysis.basin.BasinProfile` (anything with its attributes); computing
one is :func:`landscape.analysis.basin.profile`'s job.
"""
from __future__ import annotations

import math
from typing import Optional

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

RANDOM_COLOR = "tab:blue"
WORST_COLOR = "tab:red"


def _radius_text(r: dict) -> str:
    hi = "∞" if r["hi"] == math.inf else f"{r['hi']:.3g}"
    return f"{r['radius']:.3g} [{r['lo']:.3g}, {hi}]"


def basin(result, value: str = "loss", ax: Optional[Axes] = None, log: Optional[bool] = None) -> Axes:
    """Loss (``value="loss"``) or accuracy (``"acc"``) against the step ``t`` on ``ax``.

    Random directions: their median (line) and the band from the lowest to the highest over the k
    directions, each direction a faint line; the worst-case direction in red. For the loss, the
    dashed level ``base + threshold`` and each radius (random: median, worst) as a dotted vertical.
    ``log`` (loss only): a log y-axis; default when the curves span more than two decades.
    """
    ax = ax if ax is not None else plt.gca()
    steps = np.asarray(result.steps)
    rand = result.random_loss if value == "loss" else result.random_acc
    worst = result.worst_loss if value == "loss" else result.worst_acc
    if rand is None:
        raise ValueError(f"this profile has no {value!r} values (the loss has no accuracy).")
    scale = 1.0 if value == "loss" else 100.0
    rand, worst = np.asarray(rand) * scale, np.asarray(worst) * scale
    for row in rand:
        ax.plot(steps, row, color=RANDOM_COLOR, lw=0.6, alpha=0.35)
    with np.errstate(all="ignore"):
        ax.fill_between(steps, np.nanmin(rand, 0), np.nanmax(rand, 0), color=RANDOM_COLOR, alpha=0.15, lw=0)
        ax.plot(steps, np.nanmedian(rand, 0), color=RANDOM_COLOR, lw=2,
                label=f"random directions (median, band over k = {result.k})")
    ax.plot(steps, worst, color=WORST_COLOR, lw=2, label="worst case (normalized gradient ascent)")
    ax.set_xlabel("step along the direction (filter-normalized units)")
    if value == "loss":
        level = result.base_loss + result.threshold
        ax.axhline(level, color="0.3", ls="--", lw=1, label=f"loss at the weights + {result.threshold:g}")
        for r, color in ((result.random_radius(), RANDOM_COLOR), (result.worst_radius(), WORST_COLOR)):
            if r["radius"] > 0 and r["hi"] != math.inf:
                ax.axvline(r["radius"], color=color, ls=":", lw=1.2)
        finite = np.concatenate([rand[np.isfinite(rand)], worst[np.isfinite(worst)]])
        if log is None:
            log = finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 100
        if log:
            ax.set_yscale("log")
        # the frame follows the random band (and the threshold): a worst-case curve that shoots up
        # leaves through the top instead of flattening the random curves against the bottom
        band = rand[np.isfinite(rand)]
        if band.size:
            top = max(float(band.max()), level)
            ax.set_ylim(top=top * 3 if log else top + 0.15 * (top - min(float(band.min()), result.base_loss)))
        if not np.isfinite(worst[1:]).all():
            ax.text(0.98, 0.02, "worst case: non-finite loss beyond the last point drawn", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7, color=WORST_COLOR)
        ax.set_ylabel("loss")
    else:
        ax.set_ylabel("accuracy (%)")
    ax.set_xlim(steps[0], steps[-1])
    return ax


def figure(result, title: Optional[str] = None) -> Figure:
    """Loss and (where there is one) accuracy side by side, the radii in the title lines."""
    panels = ["loss"] + (["acc"] if result.random_acc is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, value in zip(axes[0], panels):
        basin(result, value, ax=ax)
    axes[0][0].legend(fontsize=7, loc="upper left")
    head = title or str(result.attrs.get("model_name") or "basin profile")
    fig.suptitle(f"{head}\nbasin radius at +{result.threshold:g} loss: random {_radius_text(result.random_radius())}, "
                 f"worst case {_radius_text(result.worst_radius())}", fontsize=9)
    fig.tight_layout()
    return fig
