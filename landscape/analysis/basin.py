"""Basin profiles: the loss along many random directions and along the worst-case one, and the
basin radius, the largest step whose loss rise stays below a threshold.

Chen et al. 2025 ("Unveiling the Basin-Like Loss Landscape in Large Language Models") and Peng et al.
2024 ("Navigating the Safety Landscape", NeurIPS) find language models sitting in wide basins along
random directions yet sharp along worst-case ones. :func:`profile` measures both for any model
landscape evaluates:

- ``k`` seeded random directions, filter-normalized (Li et al. 2018), each a 1D line
  ``w0 + t·d`` for ``t`` in ``steps`` (``store=False`` draws them per tensor for a large model,
  :mod:`landscape.core.seeded`);
- the worst-case direction of normalized gradient ascent: ``ascent_steps`` steps
  ``w ← w + (ascent_length / ascent_steps) · N(∇L(w))`` from ``w0``, where ``N`` filter-normalizes
  the gradient as a random direction is (a step of length 1 is as long as one along a random
  direction), then the line along the filter-normalized ``w_end − w0``. The ascent stays within
  the first grid step (``ascent_length`` defaults to ``steps[1]``): near the minimum, repeated
  gradient steps turn toward the directions of highest curvature (like a power iteration on the
  Hessian), which is what "worst case" means here;
- the radius of each curve: the first step whose loss rise ``L(w0 + t·d) − L(w0)`` reaches
  ``threshold`` brackets it, ``[last step below, first step at or above]`` (the grid's resolution);
  a curve that never reaches it has radius ``≥ t_max`` (``hi = inf``). Over the ``k`` random
  directions the radius is the median of their lower ends, with the interval from the smallest
  lower end to the largest upper end: the spread over directions and the grid together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from landscape.core import directions as directions_mod
from landscape.core import surface as surface_mod
from landscape.core.params import first_device

from . import hessian


@dataclass
class BasinProfile:
    """Curves and radii of :func:`profile`.

    steps:        (m,) step lengths ``t`` along each direction, in filter-normalized units
    random_loss:  (k, m) loss along each random direction; ``random_acc`` likewise or None
    worst_loss:   (m,) loss along the worst-case direction; ``worst_acc`` or None
    base_loss:    loss at the model's weights (``t = 0``)
    threshold:    the loss rise that ends the basin
    random_brackets: (k, 2) each random direction's radius bracket ``[lo, hi]``
    worst_bracket:   (2,) the worst-case direction's
    """

    steps: np.ndarray
    random_loss: np.ndarray
    worst_loss: np.ndarray
    base_loss: float
    threshold: float
    random_brackets: np.ndarray
    worst_bracket: np.ndarray
    random_acc: Optional[np.ndarray] = None
    worst_acc: Optional[np.ndarray] = None
    attrs: Dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.random_loss.shape[0])

    def random_radius(self) -> Dict[str, float]:
        """Median of the lower ends over the k directions and the interval [min lo, max hi]."""
        lo, hi = self.random_brackets[:, 0], self.random_brackets[:, 1]
        return {"radius": float(np.median(lo)), "lo": float(lo.min()), "hi": float(hi.max())}

    def worst_radius(self) -> Dict[str, float]:
        return {"radius": float(self.worst_bracket[0]), "lo": float(self.worst_bracket[0]),
                "hi": float(self.worst_bracket[1])}

    def to_json(self) -> Dict[str, Any]:
        """Everything as JSON-ready lists (inf as the string "inf": JSON has no infinity)."""
        def clean(a):
            return [None if isinstance(v, float) and math.isnan(v) else ("inf" if v == math.inf else v)
                    for v in np.asarray(a, dtype=float).tolist()]

        out = {"threshold": self.threshold, "base_loss": self.base_loss, "k": self.k, "steps": clean(self.steps),
               "random": {**{k: ("inf" if v == math.inf else v) for k, v in self.random_radius().items()},
                          "brackets": [clean(b) for b in self.random_brackets],
                          "loss": [clean(r) for r in self.random_loss]},
               "worst": {**{k: ("inf" if v == math.inf else v) for k, v in self.worst_radius().items()},
                         "loss": clean(self.worst_loss)},
               "attrs": self.attrs}
        if self.random_acc is not None:
            out["random"]["acc"] = [clean(r) for r in self.random_acc]
            out["worst"]["acc"] = clean(self.worst_acc)
        return out


def bracket(steps: np.ndarray, rise: np.ndarray, threshold: float) -> np.ndarray:
    """``[lo, hi]``: the last step before the rise first reaches ``threshold`` and that step
    (a non-finite loss counts as reaching it); ``[steps[-1], inf]`` when it never does."""
    above = ~(np.asarray(rise) < threshold)
    if not above.any():
        return np.array([float(steps[-1]), math.inf])
    i = int(np.argmax(above))
    return np.array([float(steps[i - 1]) if i > 0 else 0.0, float(steps[i])])


def worst_direction(model: nn.Module, data: Any, loss: Any, ascent_length: float, ascent_steps: int = 10,
                    norm: str = "filter", ignore: Optional[str] = "biasbn") -> Dict[str, torch.Tensor]:
    """The worst-case direction of normalized gradient ascent from the model's weights (see the module
    docstring), filter-normalized; the model is left as it was."""
    if ascent_steps < 1:
        raise ValueError(f"ascent_steps must be a positive number of steps, but {ascent_steps!r} was passed.")
    eta = ascent_length / ascent_steps
    # gradients only: method="fd" keeps the model's own (fused) attention kernels
    with hessian.operator(model, data, loss=loss, method="fd") as H:
        w0 = dict(H.point)
        point = dict(w0)
        for _ in range(ascent_steps):
            _, g = H.loss_and_grad(point)
            step = directions_mod.normalized(hessian.unflatten(g, point), model, norm, ignore)
            point = {k: point[k] + eta * step[k] for k in point}
        delta = {k: point[k] - w0[k] for k in point}
    return directions_mod.normalized(delta, model, norm, ignore)


def profile(model: nn.Module, data: Any, loss: Any = "cross_entropy", k: int = 8,
            steps: Sequence[float] = tuple(np.linspace(0.0, 1.0, 21)), threshold: float = 0.1, seed: int = 0,
            norm: str = "filter", ignore: Optional[str] = "biasbn", ascent_steps: int = 10,
            ascent_length: Optional[float] = None, store: bool = True,
            batch_size: Optional[int] = None, precision: str = "fp32", progress: bool = False) -> BasinProfile:
    """Loss (and accuracy) along ``k`` random directions and the worst-case one; basin radii.

    Args:
        model: any ``nn.Module`` (restored bitwise afterwards); data, loss, batch_size, precision: as
            for :func:`landscape.surface.compute` (one split: values ``train_loss``/``train_acc``).
        k: random directions (seeds ``seed, seed + 1, ...``, each its own line).
        steps: step lengths ``t`` (increasing, starting at 0) in filter-normalized units.
        threshold: the loss rise (absolute, in the loss's units) that ends the basin.
        ascent_steps, ascent_length: the normalized gradient ascent that finds the worst-case
            direction (``ascent_length`` default: ``steps[1]``, the first grid step).
        store: False draws the random directions per tensor (:mod:`landscape.core.seeded`) for a
            model too large for copies of its weights (the worst-case direction is one stored copy).
    """
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or len(steps) < 2 or steps[0] != 0 or not (np.diff(steps) > 0).all():
        raise ValueError(f"steps must be increasing step lengths starting at 0, e.g. numpy.linspace(0, 1, 21); got {steps!r}.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive number of random directions, but {k!r} was passed.")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError(f"threshold must be a positive loss rise, but {threshold!r} was passed.")
    common = dict(x=steps, data={"train": data}, loss=loss, batch_size=batch_size, precision=precision,
                  progress=False)
    from landscape.base import progress as progress_mod

    rows_loss, rows_acc = [], []
    with progress_mod.bar(total=k + 1, desc="basin", enabled=progress) as bar:
        for i in range(k):
            d = directions_mod.random(model, n=1, norm=norm, ignore=ignore, seed=seed + i, store=store)
            surf = surface_mod.compute(model, d, **common)
            rows_loss.append(surf.values["train_loss"])
            rows_acc.append(surf.values.get("train_acc"))
            bar.update(1)
        length = float(steps[1]) if ascent_length is None else float(ascent_length)
        worst = worst_direction(model, data, loss, length, ascent_steps, norm, ignore)
        worst = {n: t.to(first_device(model)) for n, t in worst.items()}
        surf = surface_mod.compute(model, [worst], **common)
        bar.update(1)
    random_loss = np.stack(rows_loss)
    base = float(random_loss[0, 0])
    has_acc = rows_acc[0] is not None
    return BasinProfile(
        steps=steps, random_loss=random_loss, worst_loss=surf.values["train_loss"], base_loss=base,
        threshold=float(threshold),
        random_brackets=np.stack([bracket(steps, r - base, threshold) for r in random_loss]),
        worst_bracket=bracket(steps, surf.values["train_loss"] - base, threshold),
        random_acc=np.stack(rows_acc) if has_acc else None, worst_acc=surf.values.get("train_acc") if has_acc else None,
        attrs={"norm": norm, "ignore": ignore or "none", "seed": int(seed), "ascent_steps": int(ascent_steps),
               "ascent_length": float(steps[1]) if ascent_length is None else float(ascent_length),
               "loss": surf.attrs.get("loss"), "n_samples": surf.attrs.get("n_samples"), "store": bool(store),
               "model_name": surf.attrs.get("model_name")})
