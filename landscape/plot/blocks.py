"""Per-block profiles of transformers at initialization: rank collapse and gradient norm by block.

Left panel: the relative token residual ``||X - 1 mean(X)||_F / ||X||_F`` after each block (0: all
tokens one vector; Dong, Cordonnier & Loukas 2021), log scale. Right panel: the gradient norm of
each block's parameters (Xiong et al. 2020, Fig. 3), log scale. One line per network: colour by
depth, solid with residual connections, dashed without. The numbers come from
:mod:`landscape.analysis.blocks`; this module only draws.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
FLOOR = 1e-8  # a fully collapsed residual (0 up to float rounding) is drawn at this floor


def block_profiles(series: Sequence[Dict[str, Any]], title: Optional[str] = None) -> Figure:
    """Draw ``series``: dicts with ``depth``, ``skip`` (bool), ``rank`` (residual per block) and
    ``grad`` (gradient norm per block), all at initialization. Returns the figure (never saved here)."""
    if not series:
        raise ValueError("block_profiles() needs at least one series (dicts with depth, skip, rank, grad).")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6), constrained_layout=True)
    depths = sorted({int(s["depth"]) for s in series})
    for s in series:
        color = COLORS[depths.index(int(s["depth"])) % len(COLORS)]
        style = "-" if s["skip"] else "--"
        label = f"depth {s['depth']}, {'residual' if s['skip'] else 'no residual'}"
        for ax, key in ((left, "rank"), (right, "grad")):
            y = np.maximum(np.asarray(s[key], dtype=float), FLOOR)
            ax.plot(np.arange(1, len(y) + 1), y, style, color=color, marker="o", markersize=3, label=label)
    left.set(yscale="log", xlabel="block (input → output)", ylabel="token residual (1 = spread, 0 = rank one)",
             title="distance from rank one, init")
    right.set(yscale="log", xlabel="block (input → output)", ylabel="gradient norm of the block",
              title="gradient by block, init")
    for ax in (left, right):
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    left.axhline(FLOOR, color="0.6", lw=0.8, ls=":")
    right.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    return fig
