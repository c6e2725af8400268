"""Probes of a network beyond its loss: gradient-flow ratio, dead units, the train/eval-mode gap, dropout.

The measurements behind the chapter's studies (vanishing gradients, normalization, overfitting):

- :func:`flow_ratios` — first-layer / last-layer gradient norm from a run's gradient-flow log
  (``landscape.gradflow``, written by ``landscape.train``): at initialization, after the first
  epoch and at the last. With sigmoid each layer multiplies the backward signal by at most 1/4, so
  the ratio of a deep sigmoid net falls by orders of magnitude; ReLU keeps it near 1.
- :func:`weight_change` — how far each layer's weights moved in training (relative to their
  initial norm): layers whose gradient vanished barely learn.
- :func:`dead_units` — the share of activation units whose derivative is zero on every sample of a
  data set: for ReLU exactly the units that are never positive ("dead": no gradient ever passes).
- :func:`mode_gap` — the same data's loss in training mode (batch statistics over batches of the
  training batch size) and in eval mode (BatchNorm's running averages): BatchNorm's train/test
  mismatch, which grows as batches shrink. Per-sample norms (layer, group) give no gap.
- :func:`dropout_check` — dropout at test time, measured: eval-mode outputs are deterministic, and
  each dropout layer's eval output equals the expectation of its training-mode output.

Every probe leaves the model as it found it: weights, buffers (running averages), train/eval mode
and torch's global RNG.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from landscape.base.errors import check_int
from landscape.core import evaluate

# elementwise activations whose derivative dead_units inspects (PReLU: one learned slope per channel)
ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus)


# --------------------------------------------------------------------------------------------------
# gradient flow

def gradient_ratio(norms: Sequence[float]) -> Optional[float]:
    """First layer's gradient norm / last layer's (layers input to output); None unless both are
    finite and the last is positive."""
    if len(norms) < 2:
        return None
    first, last = float(norms[0]), float(norms[-1])
    if not (math.isfinite(first) and math.isfinite(last)) or last <= 0:
        return None
    return first / last


def flow_ratios(flow: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """First/last layer gradient-norm ratios of a gradient-flow log (``gradient_flow.json``:
    ``{"layers", "epochs", "norms"}``, epoch 0 = initialization, epoch k = mean over its batches).

    Returns ``ratio_init`` (epoch 0), ``ratio_epoch1`` (first epoch of training), ``ratio_last``
    (last logged epoch) and ``ratio_train`` (geometric mean over every training epoch), plus the
    first and last layers' norms at initialization. Raises ValueError for a log without epochs.
    """
    epochs, norms = list(flow.get("epochs", [])), flow.get("norms", [])
    if not epochs or len(norms) != len(epochs):
        raise ValueError(f"A gradient-flow log needs one row of norms per epoch; got {len(epochs)} epochs and "
                         f"{len(norms)} rows.")
    by_epoch = {int(e): list(row) for e, row in zip(epochs, norms)}
    ratios = {e: gradient_ratio(row) for e, row in by_epoch.items()}
    training = [r for e, r in ratios.items() if e > 0]
    logs = [math.log(r) for r in training if r is not None and r > 0]
    init = by_epoch.get(0)
    return {"ratio_init": ratios.get(0), "ratio_epoch1": ratios.get(1), "ratio_last": ratios[max(by_epoch)],
            "ratio_train": math.exp(sum(logs) / len(logs)) if logs and len(logs) == len(training) else None,
            "first_init": float(init[0]) if init else None, "last_init": float(init[-1]) if init else None}


def weight_change(initial: nn.Module, final: nn.Module) -> Dict[str, Any]:
    """How far each layer's weights moved in training: ||W_final - W_init|| / ||W_init|| per layer
    (layers as in :func:`landscape.gradflow.layers`, input to output; biases and norm scales left
    out). A layer whose gradient vanished barely moves: "those layers barely learn", measured.

    Returns ``{"layers": [names], "change": [relative change per layer]}``. Raises ValueError if the
    two models do not have the same layers.
    """
    from landscape.training import gradflow

    groups = gradflow.layers(final)
    a, b = dict(initial.named_parameters()), dict(final.named_parameters())
    missing = sorted(n for names in groups.values() for n in names if n not in a or a[n].shape != b[n].shape)
    if missing:
        raise ValueError(f"The initial model lacks the weights {missing[:3]} of the final one (or their shapes "
                         "differ); pass the same architecture twice.")
    change = []
    with torch.no_grad():
        for names in groups.values():
            moved = sum(float((b[n].double() - a[n].double()).pow(2).sum()) for n in names)
            size = sum(float(a[n].double().pow(2).sum()) for n in names)
            change.append(math.sqrt(moved / size) if size > 0 else math.inf)
    return {"layers": list(groups), "change": change}


# --------------------------------------------------------------------------------------------------
# dead units

@contextlib.contextmanager
def _untouched(model: nn.Module) -> Iterator[None]:
    """Within the block the model may run in any mode; afterwards its buffers, mode and torch's RNG
    are as before (a training-mode forward moves BatchNorm's running averages and draws dropout masks)."""
    was_training = model.training
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        with torch.no_grad():
            for k, v in model.named_buffers():
                v.copy_(buffers[k])
        model.train(was_training)


def dead_units(model: nn.Module, data: Any, batch_size: int = 1024,
               types: Tuple[type, ...] = ACTIVATION_TYPES) -> Dict[str, Any]:
    """The share of activation units that pass no gradient on any sample of ``data``.

    A unit is one feature of an activation's input along dim 1 (a hidden unit of a linear layer, a
    channel of a convolution, all positions together). It is *dead* when the activation's derivative
    is exactly zero at every sample (and position): for ReLU, when its input is never positive. Leaky
    ReLU and PReLU with a non-zero slope have no dead units; sigmoid and tanh only where they
    saturate to the last float bit. Measured in eval mode (running averages, no dropout).

    Args:
        model: any module containing activation modules of ``types`` (elementwise ones).
        data: ``(X, Y)`` tensors, a Dataset or batches (only the inputs are used).
        batch_size: samples per forward pass (memory only).

    Returns:
        ``{"units": total, "dead": count, "share": dead / units, "layers": [{"name", "units", "dead"}]
        (in the order the activations first run), "max_slope", "mean_slope"}``: the largest and the
        mean |derivative| over every unit, sample and position: the factor by which each activation
        scales the backward signal (sigmoid's is at most 1/4, so a chain of n of them at most 4^-n).

    Raises:
        ValueError: the model has no activation module of ``types``.
    """
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, types)]
    if not named:
        raise ValueError(f"The model has no activation module ({', '.join(t.__name__ for t in types)}) "
                         "whose dead units could be counted.")
    alive: Dict[str, torch.Tensor] = {}
    order: List[str] = []
    stats = {"max": 0.0, "sum": 0.0, "count": 0}

    def hook(name):
        def record(module, inputs):
            z = inputs[0].detach()
            with torch.enable_grad():
                zz = z.clone().requires_grad_(True)
                # forward(), not __call__: calling the module would run this hook again
                slope, = torch.autograd.grad(module.forward(zz).sum(), zz)  # elementwise derivative, shape of z
            passes = (slope != 0).transpose(0, 1).reshape(z.shape[1], -1).any(dim=1)  # (units,)
            if name not in alive:
                alive[name] = passes
                order.append(name)
            else:
                alive[name] = alive[name] | passes
            stats["max"] = max(stats["max"], float(slope.abs().max()))
            stats["sum"] += float(slope.abs().double().sum())
            stats["count"] += slope.numel()
        return record

    device = next(model.parameters()).device
    handles = [m.register_forward_pre_hook(hook(n)) for n, m in named]
    try:
        with _untouched(model), torch.no_grad():
            model.eval()
            for batch in evaluate.batches(data, batch_size, device):
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x)
    finally:
        for h in handles:
            h.remove()
    layers = [{"name": n, "units": int(alive[n].numel()), "dead": int((~alive[n]).sum())} for n in order]
    units = sum(layer["units"] for layer in layers)
    dead = sum(layer["dead"] for layer in layers)
    return {"units": units, "dead": dead, "share": dead / units if units else 0.0, "layers": layers,
            "max_slope": stats["max"], "mean_slope": stats["sum"] / max(stats["count"], 1)}


# --------------------------------------------------------------------------------------------------
# train mode vs eval mode

def mode_gap(model: nn.Module, data: Any, batch_size: int, loss: Any = "cross_entropy",
             seed: int = 0) -> Dict[str, float]:
    """Loss (and accuracy) of the same data in training mode and in eval mode: BatchNorm's mismatch.

    Training mode normalizes each batch by its own statistics, as training did: the data is cut
    into seeded random batches of ``batch_size`` (the training batch size; a last batch of one sample
    is dropped, as training drops it). Eval mode uses the running averages (EMA) collected during
    training. With LayerNorm or GroupNorm, or no normalization, the two agree (without dropout).
    The running averages, the mode and the RNG are restored afterwards.

    Returns ``{"train_mode_loss", "eval_mode_loss", "gap" (eval - train), "train_mode_acc",
    "eval_mode_acc", "count"}`` (accuracy None for losses without one).
    """
    check_int("batch_size", batch_size, 1)
    obj = evaluate.objective(loss)
    device = next(model.parameters()).device
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise ValueError(f"The value for `data` must be (X, Y) tensors, but {type(data).__name__} was passed.")
    X, Y = data
    perm = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(seed))
    X, Y = X[perm].to(device), Y[perm].to(device)
    chunks = [(X[i:i + batch_size], Y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    chunks = [c for c in chunks if c[0].shape[0] > 1]
    if not chunks:
        raise ValueError(f"{X.shape[0]} samples with batch_size={batch_size} leave no batch of 2 or more.")
    with _untouched(model):
        model.train()
        train = evaluate.evaluate(model, chunks, obj)
        model.eval()
        test = evaluate.evaluate(model, chunks, obj)
    return {"train_mode_loss": train["loss"], "eval_mode_loss": test["loss"], "gap": test["loss"] - train["loss"],
            "train_mode_acc": train["acc"], "eval_mode_acc": test["acc"], "count": train["count"]}


# --------------------------------------------------------------------------------------------------
# dropout at test time

def dropout_check(model: nn.Module, x: torch.Tensor, draws: int = 2000, seed: int = 0) -> Dict[str, Any]:
    """Measure what dropout does at test time in ``model`` on inputs ``x``.

    The convention: PyTorch's ``nn.Dropout`` is *inverted* dropout. In training a unit is kept with
    probability q = 1 - p and the kept ones are scaled by 1/q; at test time the layer is the
    identity. The study notes describe the original convention (Srivastava et al. 2014): no scaling
    in training, activations multiplied by q at test time. Both make the test-time output equal to the
    expectation of the training-time output, and the two networks are the same function once the
    weights after the layer are scaled by q. This measures it:

    - ``eval_deterministic``: two eval-mode passes over ``x`` give bitwise-equal outputs;
    - per dropout layer (its eval-mode input h, captured on ``x``): the mean of ``draws`` training-mode
      outputs against the eval output. ``rel_error`` = ||mean - eval|| / ||eval||; if the eval output
      is the expectation, this is Monte-Carlo noise of size ``expected_rel_error`` = sqrt(p / (q * draws))
      (the standard error of the mean of h * mask / q); ``error_ratio`` = rel_error / expected_rel_error
      stays near 1 (a test-time output off by the factor q would give rel_error = p);
    - for the whole network: the mean of ``draws`` training-mode outputs against the eval output
      (``network_rel_error``). Non-linear layers after the dropout make this an approximation (the
      "weight scaling inference rule"), so it is measured, not assumed.

    Only dropout layers change between the modes in this measurement: other modules (BatchNorm)
    are kept in eval mode. Model, buffers and RNG are restored afterwards.

    Raises:
        ValueError: the model has no active ``nn.Dropout`` layer (p > 0), or ``draws`` < 2.
    """
    check_int("draws", draws, 2)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Dropout) and m.p > 0]
    if not layers:
        raise ValueError("The model has no dropout layer with p > 0 whose test-time behaviour could be measured.")
    device = next(model.parameters()).device
    x = x.to(device)
    captured: Dict[str, torch.Tensor] = {}

    def capture(name):
        def record(module, inputs):
            captured.setdefault(name, inputs[0].detach().clone())
        return record

    out: Dict[str, Any] = {"convention": "inverted", "draws": draws, "layers": []}
    with _untouched(model), torch.no_grad():
        model.eval()
        handles = [m.register_forward_pre_hook(capture(n)) for n, m in layers]
        try:
            first = model(x)
        finally:
            for h in handles:
                h.remove()
        second = model(x)
        out["eval_deterministic"] = bool(torch.equal(first, second))
        torch.manual_seed(seed)
        for name, module in layers:
            h = captured[name]
            eval_out = module(h)  # eval mode: identity
            module.train()
            mean = sum(module(h).double() for _ in range(draws)) / draws
            module.eval()
            p = float(module.p)
            rel = float((mean - eval_out.double()).norm() / eval_out.double().norm().clamp_min(1e-30))
            expected = math.sqrt(p / ((1 - p) * draws))
            out["layers"].append({"name": name, "p": p, "eval_is_identity": bool(torch.equal(eval_out, h)),
                                  "rel_error": rel, "expected_rel_error": expected, "error_ratio": rel / expected})
        for _, m in layers:
            m.train()
        net_mean = sum(model(x).double() for _ in range(draws)) / draws
        varies = not torch.equal(model(x), model(x))
        for _, m in layers:
            m.eval()
        out["train_mode_varies"] = bool(varies)
        out["network_rel_error"] = float((net_mean - first.double()).norm() / first.double().norm().clamp_min(1e-30))
    out["max_error_ratio"] = max(layer["error_ratio"] for layer in out["layers"])
    return out


__all__ = ["ACTIVATION_TYPES", "dead_units", "dropout_check", "flow_ratios", "gradient_ratio", "mode_gap",
           "weight_change"]
