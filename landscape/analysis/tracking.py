"""Sharpness along training: the top Hessian eigenvalue (and more) every N optimizer steps.

Cohen et al. 2021 (ICLR, "Gradient Descent on Neural Networks Typically Occurs at the Edge of
Stability"): under full-batch gradient descent with step size η the largest Hessian eigenvalue
λmax rises during training (progressive sharpening) until it reaches 2/η, then hovers there while
the loss keeps falling, not monotonically. Adam's preconditioned sharpness λmax(P⁻¹H) settles at
(2 + 2β₁)/((1 − β₁)η) = 38/η for β₁ = 0.9 (Cohen et al. 2022, "Adaptive Gradient Methods at the
Edge of Stability"); for mini-batch SGD it is the *batch sharpness*, the mini-batch Hessians'
curvature along their own gradients, that settles at 2/η (Andreyev & Beneventano 2024, "Edge of
Stochastic Stability").

    config = TrainConfig(optimizer="gd", lr=0.4, epochs=500, track_sharpness=10)
    run = fit(model, (X, Y), config=config, tracker=SharpnessTracker(config))
    run.sharpness[-1]["lambda_max"], run.sharpness[-1]["threshold"]      # λmax and 2/η

What is measured, on a fixed subset of the training data (the first ``track_samples`` of a
permutation seeded with ``config.seed``; all of it when the set is smaller), every
``track_sharpness`` steps and at initialization (step 0), with the weights after that step:

- ``lambda_max`` (and ``lambda_2`` ... with ``track_top_k``): Lanczos (``scipy`` ``eigsh``) or power
  iteration (``track_method``) started from the previous measurement's top eigenvector, to a
  relative residual of ``TOL`` (the eigenvalue is then far more accurate than 1%);
- ``trace`` (``track_trace`` Rademacher probes, the same probes every time) and its standard error;
- ``batch_sharpness`` (``track_batch`` fixed mini-batches of ``batch_size``):
  ``E_B[g_Bᵀ H_B g_B] / E_B[‖g_B‖²]``, the ratio of means over the batches;
- ``preconditioned`` (Adam/AdamW, ``track_preconditioned``): λmax(P⁻¹H) = λmax(P^-½ H P^-½) with
  ``P = (1 − β₁ᵗ)(sqrt(v_t / (1 − β₂ᵗ)) + ε)`` from the optimizer's own ``exp_avg_sq`` (Cohen et al.
  2022, sec. 2), also warm-started;
- ``loss`` on the subset, the step size ``lr`` of the step just taken, ``threshold`` (the
  optimizer's stability threshold, :func:`stability_threshold`), ``products`` (Hessian-vector
  products used) and ``seconds``.

Everything here reuses :mod:`landscape.analysis.hessian` and :mod:`landscape.analysis.sharpness`;
BN layers use their running statistics (as ``landscape sharpness`` does by default), dropout is off.
No RNG the training draws from is touched, so a tracked run trains exactly as an untracked one.
The tracker's state (the warm-start vectors) travels with the run's ``last_state.pt``: a resumed run
writes the rows an uninterrupted one writes.
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn

from ..core import evaluate as _evaluate
from ..training.trainconfig import TrainConfig
from .hessian import operator
from .sharpness import hessian_eigs, hessian_trace

# a relative residual ||Hv - λv|| <= TOL λ: the eigenvalue's error is then about TOL² λ²/gap, far
# below the 1% at which tracked and separately measured values are compared
TOL = 1e-3
SUBSET_SEED = 104729  # offset of the subset's own seed stream (config.seed + this): training draws nothing from it
BN = "eval"


def stability_threshold(optimizer: str, lr: float, momentum: float = 0.0, nesterov: bool = False,
                        beta1: float = 0.9) -> float:
    """The sharpness above which the optimizer's step diverges on a quadratic (Cohen et al. 2021, 2022).

    gd/sgd: ``2/η``; with heavy-ball momentum β: ``(2 + 2β)/η``; Nesterov: ``(2 + 2β)/((1 + 2β)η)``
    (Cohen et al. 2021, appendix on momentum); adam/adamw, for the preconditioned sharpness:
    ``(2 + 2β₁)/((1 − β₁)η)``, 38/η at β₁ = 0.9 (Cohen et al. 2022).
    """
    if optimizer in ("adam", "adamw"):
        return (2 + 2 * beta1) / ((1 - beta1) * lr)
    if momentum > 0:
        return (2 + 2 * momentum) / ((1 + 2 * momentum) * lr) if nesterov else (2 + 2 * momentum) / lr
    return 2.0 / lr


def threshold_label(optimizer: str, momentum: float = 0.0, nesterov: bool = False) -> str:
    """How :func:`stability_threshold` reads for this optimizer: "2/η", "38/η", "(2+2β)/η", ..."""
    if optimizer in ("adam", "adamw"):
        return "38/η"
    if momentum > 0:
        return f"(2+2β)/((1+2β)η), β={momentum:g}" if nesterov else f"(2+2β)/η, β={momentum:g}"
    return "2/η"


def preconditioner(model: nn.Module, optimizer: torch.optim.Optimizer) -> Optional[Dict[str, torch.Tensor]]:
    """``P^-½`` per parameter name from an Adam/AdamW optimizer's state, None before its first step.

    ``P = (1 − β₁ᵗ) (sqrt(v_t / (1 − β₂ᵗ)) + ε)``: Adam's step is ``η P⁻¹ m_t`` with ``m_t`` the
    (not bias-corrected) first moment, so ``P⁻¹H`` is the matrix whose top eigenvalue equilibrates at
    38/η (Cohen et al. 2022, sec. 2).
    """
    names = {id(p): k for k, p in model.named_parameters()}
    out: Dict[str, torch.Tensor] = {}
    for group in optimizer.param_groups:
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            state = optimizer.state.get(p) or {}
            if "exp_avg_sq" not in state:
                return None
            t = float(state["step"])
            p_diag = (1 - beta1 ** t) * ((state["exp_avg_sq"] / (1 - beta2 ** t)).sqrt() + group["eps"])
            out[names[id(p)]] = p_diag.rsqrt()
    return out


def batch_sharpness(model: nn.Module, batches: List[Any], loss: Any = "cross_entropy", bn: str = BN) -> float:
    """``E_B[g_Bᵀ H_B g_B] / E_B[‖g_B‖²]`` over ``batches`` (Andreyev & Beneventano 2024): the
    mini-batch Hessians' curvature along their own gradients. One gradient and one Hessian-vector
    product per batch."""
    num = den = 0.0
    for batch in batches:
        with operator(model, batch, loss, bn=bn) as H:
            _, g = H.loss_and_grad()
            num += float(g.double() @ H.matvec(g).double())
            den += float(g.double() @ g.double())
    return num / den if den > 0 else float("nan")


class SharpnessTracker:
    """Hessian measurements during :func:`landscape.training.train.fit` (``fit(..., tracker=this)``).

    Built from the run's :class:`TrainConfig` (``track_*`` fields); ``fit`` calls :meth:`start` once
    with the training tensors, :meth:`measure` every ``config.track_sharpness`` steps and saves
    :meth:`state_dict` with the run.
    """

    def __init__(self, config: TrainConfig):
        if config.track_sharpness < 1:
            raise ValueError("A SharpnessTracker needs config.track_sharpness >= 1 (measure every N steps), "
                             f"but {config.track_sharpness!r} was passed.")
        self.config = config
        self.every = int(config.track_sharpness)
        self.vector: Optional[Dict[str, torch.Tensor]] = None    # top eigenvector of the last measurement
        self.pvector: Optional[Dict[str, torch.Tensor]] = None   # same, preconditioned
        self.data = None
        self.batches: List[Any] = []
        self.n_samples = 0

    def start(self, model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> None:
        """Fix the measured subset (and the batch-sharpness batches) from the training tensors."""
        c = self.config
        gen = torch.Generator().manual_seed(c.seed + SUBSET_SEED)
        n = X.shape[0]
        if c.track_samples >= n:
            idx = torch.arange(n)
        else:
            idx = torch.randperm(n, generator=gen)[:c.track_samples].sort().values
        idx = idx.to(X.device)
        self.data = (X[idx], Y[idx])
        self.n_samples = int(idx.numel())
        self.batches = []
        size = min(c.batch_size, self.n_samples)
        for _ in range(c.track_batch):
            pick = torch.randperm(self.n_samples, generator=gen)[:size].to(X.device)
            self.batches.append((self.data[0][pick], self.data[1][pick]))

    def describe(self) -> Dict[str, Any]:
        """What is measured, for the run's history."""
        c = self.config
        return {"every": self.every, "n_samples": self.n_samples, "subset_seed": c.seed + SUBSET_SEED,
                "method": c.track_method, "tol": TOL, "top_k": c.track_top_k, "trace_probes": c.track_trace,
                "batches": c.track_batch, "batch_size": min(c.batch_size, self.n_samples) if c.track_batch else None,
                "preconditioned": c.track_preconditioned, "bn": BN, "loss": c.loss, "optimizer": c.optimizer,
                "threshold_label": threshold_label(c.optimizer, c.momentum, c.nesterov)}

    def measure(self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, epoch: float,
                lr: float) -> Dict[str, Any]:
        """One row: the Hessian at the model's current weights (after step ``step``)."""
        if self.data is None:
            raise RuntimeError("SharpnessTracker.measure before start(): fit() calls start with the training data.")
        c = self.config
        t0 = time.perf_counter()
        row: Dict[str, Any] = {"step": int(step), "epoch": round(float(epoch), 6), "lr": float(lr),
                               "threshold": stability_threshold(c.optimizer, lr, c.momentum, c.nesterov)}
        common = dict(loss=c.loss, bn=BN, batch_size=c.eval_batch_size)
        eig = hessian_eigs(model, self.data, k=c.track_top_k, method=c.track_method, seed=c.seed, tol=TOL,
                           start=self.vector, **common)
        self.vector = _kept(eig.vectors[0])
        row["lambda_max"] = float(eig.values[0])
        for i, value in enumerate(eig.values[1:], start=2):
            row[f"lambda_{i}"] = float(value)
        products = int(eig.iterations)
        row["converged"] = bool(eig.converged)
        if c.track_trace:
            tr = hessian_trace(model, self.data, n_probes=c.track_trace, seed=c.seed, **common)
            row["trace"], row["trace_stderr"] = float(tr.trace), float(tr.stderr)
            products += int(tr.iterations)
        if c.track_batch:
            row["batch_sharpness"] = batch_sharpness(model, self.batches, c.loss)
            products += len(self.batches)
        if c.track_preconditioned:
            scale = preconditioner(model, optimizer)
            row["preconditioned"] = None
            if scale is not None:
                pe = hessian_eigs(model, self.data, k=1, method=c.track_method, seed=c.seed, tol=TOL,
                                  start=self.pvector, scale=scale, **common)
                self.pvector = _kept(pe.vectors[0])
                row["preconditioned"] = float(pe.values[0])
                products += int(pe.iterations)
        row["loss"] = _subset_loss(model, self.data, c.loss, c.eval_batch_size)
        row["products"] = products
        row["seconds"] = round(time.perf_counter() - t0, 4)
        return row

    def state_dict(self) -> Dict[str, Any]:
        return {"vector": self.vector, "pvector": self.pvector}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.vector, self.pvector = state.get("vector"), state.get("pvector")


def _kept(vector: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in vector.items()}


def _subset_loss(model: nn.Module, data: Any, loss: Any, batch_size: int) -> float:
    obj = _evaluate.objective(loss)
    was_training = model.training
    model.eval()
    try:
        return float(_evaluate.evaluate(model, _evaluate.batches(data, batch_size), obj)["loss"])
    finally:
        model.train(was_training)


# --------------------------------------------------------------------------------------------------
# what a tracked run shows: the edge-of-stability checks, as numbers


def edge_of_stability(rows: List[Mapping[str, Any]], losses: Optional[List[float]] = None,
                      value: str = "lambda_max", band: float = 0.1, window: int = 25) -> Dict[str, Any]:
    """The numbers behind Cohen et al.'s (2021) claims for one tracked run.

    rows:   tracked rows (``Run.sharpness`` / ``history["sharpness"]``), each with ``step``, ``value`` and
            ``threshold`` (2/η; 38/η for Adam's ``"preconditioned"``).
    losses: the training loss after each optimizer step, step 1 first (under full-batch descent,
            ``history["epochs"][1:]``'s ``train_loss``); None: no loss checks.
    band:   "at the threshold" means ``|value / threshold − 1| <= band``; "reached" means
            ``value >= (1 − band) threshold`` for the first time.
    window: steps per window for "the loss falls over long windows".

    Returns ``start``/``peak``/``final`` (the value at step 0, its largest, its last), ``threshold``
    (the last row's), ``sharpening`` (the largest value up to the step that reaches the threshold, or
    up to the end, over the value at step 0), ``reached_step`` (None: never), and over the rows from
    that step on: ``median_ratio`` (median of value/threshold), ``within`` (fraction within the band),
    ``n_after``. With ``losses``: ``loss_increases`` (steps whose loss rose), ``loss_steps``,
    ``windows`` and ``windows_falling`` (consecutive ``window``-step windows whose mean loss is below
    the previous window's), ``loss_first``/``loss_last``.
    """
    pts = [(int(r["step"]), float(r[value]), float(r["threshold"])) for r in rows
           if r.get(value) is not None and r.get("threshold") is not None and math.isfinite(float(r[value]))]
    out: Dict[str, Any] = {"value": value, "band": band, "measured": len(pts)}
    if not pts:
        return out
    steps = [p[0] for p in pts]
    vals = [p[1] for p in pts]
    ratios = [v / t for _, v, t in pts]
    reach = next((i for i, r in enumerate(ratios) if r >= 1 - band), None)
    upto = vals[: (reach + 1) if reach is not None else len(vals)]
    out.update(start=vals[0], peak=max(vals), final=vals[-1], threshold=pts[-1][2],
               sharpening=max(upto) / vals[0] if vals[0] > 0 else None,
               reached_step=None if reach is None else steps[reach])
    if reach is not None:
        after = sorted(ratios[reach:])
        out.update(median_ratio=_median(after), within=sum(abs(r - 1) <= band for r in after) / len(after),
                   n_after=len(after))
    if losses:
        loss = [float(x) for x in losses]
        ups = sum(b > a for a, b in zip(loss, loss[1:]))
        means = [sum(loss[i:i + window]) / len(loss[i:i + window]) for i in range(0, len(loss) - window + 1, window)]
        out.update(loss_first=loss[0], loss_last=loss[-1], loss_steps=len(loss) - 1, loss_increases=ups,
                   windows=max(len(means) - 1, 0), windows_falling=sum(b < a for a, b in zip(means, means[1:])),
                   window=window)
    return out


def _median(sorted_values: List[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else 0.5 * (sorted_values[mid - 1] + sorted_values[mid])
