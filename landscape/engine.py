"""Evaluating a model at points of weight space: ``w = w0 + a·d1 (+ b·d2)`` -> loss and accuracy.

This is the one place that knows *how* a grid point is evaluated; ``landscape.surface`` decides
*which* points, in what rounds, and where results go. :class:`PointEvaluator` evaluates one round of
points and returns plain arrays, so a faster engine (vmap over points, folded BatchNorm, lower
precision) or a distributed loop can replace either side without touching the other.

The basic engine here is exact and already avoids the reference code's costs: data are resident on
the device as batches (no DataLoader per point), parameters are overwritten in place from a
preallocated copy of the origin (no ``state_dict`` copies), and sums are kept in float64.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .errors import check_choice
from .evaluate import Batch, Objective, evaluate

BN_MODES = ("eval", "recompute")
PRECISIONS = ("fp32",)  # "tf32" and "bf16" belong to the fast engine (opt-in, recorded in the file)


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """Disable TF32 inside the block (cuDNN convolutions use it by default on Ampere+ GPUs), so
    ``precision="fp32"`` means IEEE float32 on every device. Restores the previous settings."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[0], saved[1]
        torch.set_float32_matmul_precision(saved[2])


def batchnorm_modules(model: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, batches: Sequence[Batch], objective: Objective) -> None:
    """Re-estimate every BatchNorm layer's running mean and variance at the current weights.

    The running statistics are reset, and one pass over ``batches`` with only the BatchNorm layers
    in training mode (dropout and the rest stay in eval mode) accumulates them as an equal-weight
    average over batches (``momentum=None``, as ``torch.optim.swa_utils.update_bn`` does). Without
    this, a point far from the trained weights is evaluated with statistics of other weights.
    Momenta and modes are put back here; the statistics stay re-estimated (callers restore them,
    e.g. with ``landscape.params.restored``).
    """
    bns = batchnorm_modules(model)
    if not bns:
        return
    saved = [(m, m.momentum, m.training) for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        for batch in batches:
            objective(model, batch)
    finally:
        for m, momentum, training in saved:
            m.momentum = momentum
            m.train(training)


class PointEvaluator:
    """Evaluates a model at points ``origin + Σ_k c_k · directions[k]``.

    Args:
        model: the network (left at the origin weights when a round ends; the caller restores
            buffers and modes, e.g. with ``landscape.params.restored``).
        directions: one dict per axis, keyed by names from ``model.state_dict()`` (parameters and,
            optionally, floating-point buffers), tensors on the model's device.
        data: name -> resident batches, e.g. ``{"train": [...], "test": [...]}``; values are named
            ``f"{name}_loss"`` and ``f"{name}_acc"``.
        objective: scores a batch (``landscape.evaluate.objective``).
        metrics: which of ``("loss", "acc")`` to report (accuracy only where the objective has it).
        bn: "eval" (BatchNorm uses the stored running statistics) or "recompute" (re-estimated at
            every point from ``bn_batches``, see :func:`recompute_batchnorm`).
        bn_batches: batches for "recompute" (the training data).
    """

    def __init__(self, model: nn.Module, directions: Sequence[Mapping[str, torch.Tensor]],
                 data: Mapping[str, Sequence[Batch]], objective: Objective, metrics: Sequence[str] = ("loss", "acc"),
                 bn: str = "eval", bn_batches: Optional[Sequence[Batch]] = None, precision: str = "fp32"):
        check_choice("bn", bn, BN_MODES)
        check_choice("precision", precision, PRECISIONS)
        for m in metrics:
            check_choice("metrics", m, ("loss", "acc"))
        if bn == "recompute" and not bn_batches:
            raise ValueError("bn='recompute' needs training batches to re-estimate BatchNorm statistics.")
        self.model, self.data, self.objective, self.bn, self.precision = model, data, objective, bn, precision
        self.bn_batches = bn_batches
        self.metrics = [m for m in metrics if m != "acc" or objective.has_accuracy]
        state = model.state_dict(keep_vars=True)
        self.targets: Dict[str, torch.Tensor] = {name: state[name] for name in directions[0]}
        # Preallocated origin: every point is origin + offsets, written in place into the model's tensors.
        self.origin = {name: t.detach().clone() for name, t in self.targets.items()}
        self.directions = [{name: d[name].to(device=t.device, dtype=t.dtype) for name, t in self.targets.items()}
                           for d in directions]

    @property
    def value_names(self) -> List[str]:
        return [f"{split}_{m}" for split in self.data for m in self.metrics]

    @torch.no_grad()
    def set_point(self, coords: Sequence[float]) -> None:
        """Write ``origin + Σ c_k d_k`` into the model's tensors (``(origin + c_1 d_1) + c_2 d_2``)."""
        for name, t in self.targets.items():
            t.copy_(self.origin[name])
            for c, d in zip(coords, self.directions):
                t.add_(d[name], alpha=float(c))

    @torch.no_grad()
    def reset(self) -> None:
        for name, t in self.targets.items():
            t.copy_(self.origin[name])

    @torch.no_grad()
    def evaluate_point(self, coords: Sequence[float]) -> Dict[str, float]:
        """Loss (and accuracy) of every data split at one point, as float64 numbers."""
        self.set_point(coords)
        if self.bn == "recompute":
            recompute_batchnorm(self.model, self.bn_batches, self.objective)
        self.model.eval()
        out = {}
        for split, batches in self.data.items():
            r = evaluate(self.model, batches, self.objective)
            for m in self.metrics:
                out[f"{split}_{m}"] = r[m]
        return out

    def __call__(self, coords: np.ndarray) -> Dict[str, np.ndarray]:
        """Evaluate one round: ``coords`` (k, ndim) -> ``{value name: (k,) float64}``."""
        coords = np.atleast_2d(np.asarray(coords, dtype=np.float64))
        out = {name: np.empty(len(coords)) for name in self.value_names}
        try:
            with exact_fp32():
                for i, c in enumerate(coords):
                    for name, v in self.evaluate_point(c).items():
                        out[name][i] = v
        finally:
            self.reset()
        return out
