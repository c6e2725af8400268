"""Words on the figures, taken from the surface's metadata (never from its file name).

Axis labels say what a unit along a direction means: "direction 1 (filter-normalized)" for the
random directions of Li et al. (2018), "PC1 (71.2% of variance)" for a PCA plane through a
training trajectory, "interpolation α" for a 1D target direction (Goodfellow et al. 2015).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

VALUE_LABELS = {
    "train_loss": "train loss",
    "test_loss": "test loss",
    "val_loss": "validation loss",
    "train_acc": "train accuracy",
    "test_acc": "test accuracy",
    "val_acc": "validation accuracy",
}

NORM_WORDS = {
    "filter": "filter-normalized",
    "layer": "layer-normalized",
    "weight": "weight-normalized",
    "none": "unnormalized",
}


def value_label(value: str) -> str:
    """'train_loss' -> 'train loss'; unknown names get their underscores replaced."""
    return VALUE_LABELS.get(value, value.replace("_", " "))


def _attr(surface, key: str, default=None):
    v = surface.attrs.get(key, default)
    if isinstance(v, bytes):
        v = v.decode()
    return v


def _explained(surface) -> Optional[np.ndarray]:
    """Explained-variance ratios of a PCA plane, from the trajectory or the attributes."""
    traj = surface.trajectory or {}
    ev = traj.get("explained") if isinstance(traj, dict) else None
    if ev is None:
        ev = _attr(surface, "explained_variance", _attr(surface, "pca_explained"))
    if ev is None:
        return None
    ev = np.asarray(ev, dtype=float).ravel()
    return ev if ev.size else None


def axis_label(surface, axis: int, short: bool = False) -> str:
    """Label of coordinate axis ``axis`` (0 for x, 1 for y) of ``surface``.

    An explicit ``xlabel``/``ylabel`` attribute wins; otherwise the direction kind and
    normalization recorded in the attributes decide. ``short`` drops the parenthesis
    ("direction 1", "PC1"): 3D panels have no room for more.
    """
    explicit = _attr(surface, ("xlabel", "ylabel")[axis])
    if explicit:
        return str(explicit)
    if short:
        return axis_label(surface, axis).split(" (")[0]
    kind = _attr(surface, "direction_kind")
    n = axis + 1
    if kind == "pca":
        ev = _explained(surface)
        if ev is not None and ev.size > axis:
            return f"PC{n} ({100 * ev[axis]:.1f}% of variance)"
        return f"PC{n}"
    if kind == "target":
        return "interpolation α (0: model, 1: target)" if axis == 0 else "direction 2"
    if kind == "hessian":
        return f"Hessian eigenvector {n}"
    if kind == "plane":
        return f"plane coordinate {n}"
    norm = _attr(surface, "norm")
    word = NORM_WORDS.get(str(norm)) if norm is not None else None
    return f"direction {n} ({word})" if word else f"direction {n}"


def title(surface) -> str:
    """The panel title: the model's display name from the metadata (``Surface.label``)."""
    return surface.label()
