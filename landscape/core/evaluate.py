"""Data and loss, made uniform: whatever the user hands us becomes resident batches and an objective.

Data may be ``(X, Y)`` tensors, a ``Dataset``, a ``DataLoader`` or any iterable of batches (tuples,
dicts or objects with ``.to(device)``). It is materialized once, on the model's device, so a surface
of thousands of grid points never rebuilds a DataLoader.

An objective scores one batch and returns sums, so means over the whole data are exact whatever the
batch sizes: ``(loss_sum, count, correct)``; ``correct`` is None where accuracy means nothing. The
built-in losses also score each sample (``Objective.samples``): the evaluation engine sums their
squares too, which gives every grid cell a standard error at no extra forward pass.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from landscape.base.errors import check_choice

from .causal_lm import causal_lm

Batch = Any
BatchScore = Tuple[torch.Tensor, int, Optional[torch.Tensor]]  # (loss_sum, count, correct or None)
SampleScores = Tuple[torch.Tensor, Optional[torch.Tensor]]  # (loss per sample (N,), correct per sample (N,) or None)

DEFAULT_BATCH_SIZE = 1024
LOSSES = ("cross_entropy", "mse", "nll")


@dataclass(frozen=True)
class Objective:
    """How to score a model on one batch. ``fn(model, batch) -> (loss_sum, count, correct|None)``."""

    name: str
    fn: Callable[[nn.Module, Batch], BatchScore]
    has_accuracy: bool
    # per-sample scores ``samples(model, batch) -> (losses (N,), correct (N,) or None)``, where known
    # (the built-in losses); summing them gives ``fn``'s sums up to float rounding
    samples: Optional[Callable[[nn.Module, Batch], SampleScores]] = None

    def __call__(self, model: nn.Module, batch: Batch) -> BatchScore:
        return self.fn(model, batch)


def _upcast(t: torch.Tensor) -> torch.Tensor:
    """Losses are summed in at least float32 (half outputs are upcast); float64 stays float64 so that
    second-order quantities (Hessians in landscape.sharpness) of a float64 model keep their precision."""
    return t if t.dtype == torch.float64 else t.float()


def _split_xy(batch: Batch) -> Tuple[Any, torch.Tensor]:
    if isinstance(batch, dict):
        keys = [k for k in ("input", "inputs", "x") if k in batch], [k for k in ("target", "targets", "label", "labels", "y") if k in batch]
        if keys[0] and keys[1]:
            return batch[keys[0][0]], batch[keys[1][0]]
        raise ValueError(
            f"A built-in loss needs batches of (inputs, targets); got a dict with keys {sorted(batch)}. "
            "Pass loss=callable(model, batch) -> mean loss (or (loss_sum, count)) for dict batches."
        )
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    got = (f"a tuple of {len(batch)} items" if isinstance(batch, (tuple, list))
           else f"a single Tensor {tuple(batch.shape)}" if isinstance(batch, torch.Tensor) else type(batch).__name__)
    raise ValueError(
        f"A built-in loss needs batches of (inputs, targets); got {got}. Pass data=(X, Y) or batches of "
        "(inputs, targets), or loss=callable(model, batch) -> mean loss (or (loss_sum, count)) for other batches."
    )


def _cross_entropy(model: nn.Module, batch: Batch) -> BatchScore:
    x, y = _split_xy(batch)
    out = model(x)
    _check_class_targets("cross_entropy", out, y)
    loss = F.cross_entropy(_upcast(out), y, reduction="sum")
    return loss, y.shape[0], (out.argmax(1) == y).sum()


def _cross_entropy_samples(model: nn.Module, batch: Batch) -> SampleScores:
    x, y = _split_xy(batch)
    out = model(x)
    _check_class_targets("cross_entropy", out, y)
    return F.cross_entropy(_upcast(out), y, reduction="none"), out.argmax(1) == y


def _check_class_targets(name: str, out: Any, y: Any) -> None:
    """Classification losses take outputs (N, classes) and integer class indices (N,)."""
    if not isinstance(out, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(
            f"loss={name!r} needs the model to return a Tensor of scores (N, classes) and targets as a Tensor; "
            f"got {type(out).__name__} and {type(y).__name__}. For other outputs pass loss=callable(model, batch).")
    if out.dim() != 2 or y.dim() != 1:
        raise ValueError(
            f"loss={name!r} needs model outputs (N, classes) and integer targets (N,); got outputs "
            f"{tuple(out.shape)} and targets {tuple(y.shape)}. Use loss='mse' for regression, or "
            "loss=callable(model, batch) for other shapes (e.g. per-token or per-pixel classes).")
    if y.is_floating_point() or y.is_complex():
        raise ValueError(
            f"loss={name!r} needs integer class indices as targets (int64, values 0..{out.shape[1] - 1}); got "
            f"{y.dtype}. Pass Y.long(), or loss='mse' if the targets are real-valued (regression).")


def _nll(model: nn.Module, batch: Batch) -> BatchScore:
    x, y = _split_xy(batch)
    out = model(x)
    _check_class_targets("nll", out, y)
    return F.nll_loss(_upcast(out), y, reduction="sum"), y.shape[0], (out.argmax(1) == y).sum()


def _nll_samples(model: nn.Module, batch: Batch) -> SampleScores:
    x, y = _split_xy(batch)
    out = model(x)
    _check_class_targets("nll", out, y)
    return F.nll_loss(_upcast(out), y, reduction="none"), out.argmax(1) == y


def _mse(model: nn.Module, batch: Batch) -> BatchScore:
    x, y = _split_xy(batch)
    out = _upcast(model(x))
    if out.shape != y.shape:
        reshape = ", ".join(["-1"] + [str(d) for d in out.shape[1:]])
        hint = (f" Pass targets shaped like the outputs, e.g. Y.reshape({reshape})." if out.numel() == y.numel()
                else " For class indices use loss='cross_entropy'." if y.dim() == 1 and not y.is_floating_point()
                else "")
        raise ValueError(f"loss='mse' needs outputs and targets of one shape; got outputs {tuple(out.shape)} "
                         f"and targets {tuple(y.shape)}.{hint}")
    per_sample = (out - y.to(out.dtype)).pow(2).reshape(out.shape[0], -1).mean(1)
    return per_sample.sum(), out.shape[0], None


def _mse_samples(model: nn.Module, batch: Batch) -> SampleScores:
    x, y = _split_xy(batch)
    out = _upcast(model(x))
    if out.shape != y.shape:
        _mse(model, batch)  # raises the explanatory error
    return (out - y.to(out.dtype)).pow(2).reshape(out.shape[0], -1).mean(1), None


_BUILTIN = {"cross_entropy": (_cross_entropy, True, _cross_entropy_samples), "nll": (_nll, True, _nll_samples),
            "mse": (_mse, False, _mse_samples), "causal_lm": (causal_lm, True, None)}
# loss="causal_lm" (token batches of language models, landscape.causal_lm) is an evaluation objective, not a
# training recipe's loss: LOSSES (which trainconfig checks) leaves it out
OBJECTIVES = LOSSES + ("causal_lm",)


def batch_size_of(batch: Batch) -> int:
    """Samples in a batch: the leading size of its first tensor (tuples, lists, dicts, objects)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else vars(batch).values()
    for item in items:
        if isinstance(item, torch.Tensor) and item.dim() > 0:
            return item.shape[0]
    raise ValueError("Cannot tell the batch size: no tensor in the batch; pass batch_size_fn=f(batch) -> int.")


def batch_len(batch: Batch) -> int:
    """:func:`batch_size_of`, or 1 for a batch with no tensor in it (a cost estimate's count)."""
    try:
        return batch_size_of(batch)
    except ValueError:
        return 1


def head(batch: Batch, n: int = 8) -> Batch:
    """The first ``n`` samples of an ``(inputs, targets)`` batch or of a dict of tensors sharing their
    first dimension (a token batch); other batch kinds: the whole batch."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch) \
            and batch[0].dim() > 0 and batch[0].shape[0] == batch[1].shape[0]:
        return type(batch)(t[:n] for t in batch)
    if isinstance(batch, dict) and batch and all(isinstance(t, torch.Tensor) and t.dim() > 0 for t in batch.values()) \
            and len({t.shape[0] for t in batch.values()}) == 1:
        return {k: t[:n] for k, t in batch.items()}
    return batch


def objective(loss: Any = "cross_entropy", batch_size_fn: Optional[Callable[[Batch], int]] = None) -> Objective:
    """Turn ``loss`` into an :class:`Objective`.

    ``loss`` is a name (``"cross_entropy"``, ``"mse"``, ``"nll"``), a loss module such as
    ``nn.CrossEntropyLoss()`` (applied as ``loss(model(x), y)``, mean over the batch), or a function
    ``loss(model, batch)`` returning either the mean loss over the batch (the batch size then comes from
    ``batch_size_fn`` or the batch's first tensor) or a tuple ``(loss_sum, count)``.
    """
    if isinstance(loss, Objective):
        return loss
    if isinstance(loss, str):
        check_choice("loss", loss, OBJECTIVES)
        fn, acc, samples = _BUILTIN[loss]
        return Objective(loss, fn, acc, samples)
    if isinstance(loss, nn.modules.loss._Loss):
        criterion = loss

        def module_loss(model, batch):
            x, y = _split_xy(batch)
            value = criterion(model(x), y)
            _check_scalar(value, type(criterion).__name__)
            n = y.shape[0]
            return _upcast(value) * n, n, None

        return Objective(type(loss).__name__, module_loss, False)
    if callable(loss):
        _check_signature(loss)
        if batch_size_fn is not None and not callable(batch_size_fn):
            raise ValueError(f"batch_size_fn must be a function f(batch) -> number of samples, got "
                             f"{type(batch_size_fn).__name__}.")
        size_of = batch_size_fn or batch_size_of

        def custom(model, batch):
            value = loss(model, batch)
            if isinstance(value, (tuple, list)):
                if len(value) != 2:
                    raise ValueError("A custom loss must return a scalar mean loss or a tuple (loss_sum, count).")
                _check_scalar(value[0], getattr(loss, "__name__", "loss"))
                return _upcast(value[0]), int(value[1]), None
            _check_scalar(value, getattr(loss, "__name__", "loss"))
            n = size_of(batch)
            return _upcast(value) * n, n, None

        return Objective(getattr(loss, "__name__", "custom"), custom, False)
    raise ValueError(
        f"The value for `loss` must be one of {list(OBJECTIVES)}, a loss module or a callable(model, batch); "
        f"got {type(loss).__name__}."
    )


def _check_signature(loss: Callable) -> None:
    """A custom loss is called as ``loss(model, batch)``: refuse, before any work, one that cannot be."""
    try:
        sig = inspect.signature(loss)
    except (TypeError, ValueError):  # some builtins have no signature to inspect: let the call decide
        return
    try:
        sig.bind(None, None)
    except TypeError:
        name = getattr(loss, "__name__", type(loss).__name__)
        raise ValueError(
            f"A custom loss is called as loss(model, batch) and returns the mean loss over the batch (or "
            f"(loss_sum, count)); {name}{sig} cannot take those two arguments. For a criterion f(outputs, "
            f"targets) pass loss=lambda model, batch: f(model(batch[0]), batch[1]).") from None


def _check_scalar(value: Any, name: str) -> None:
    """A loss value must be a one-element Tensor (a Python number would cut it off from autograd)."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"The loss {name!r} returned a {type(value).__name__}, not a Tensor; return the mean loss over the "
            "batch as a scalar Tensor computed from the model's outputs (no .item(): the Hessian needs its "
            "graph), or a tuple (loss_sum, count).")
    if value.numel() != 1:
        raise ValueError(
            f"The loss {name!r} returned a Tensor of shape {tuple(value.shape)}, not a scalar; return the mean "
            "over the batch (e.g. loss.mean(), or reduction='mean') or a tuple (loss_sum, count).")


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move every tensor in a batch (nested tuples, lists, dicts, or ``.to``-able objects) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    if hasattr(batch, "to"):
        return batch.to(device)
    return batch


def batches(data: Any, batch_size: Optional[int] = None, device: Optional[torch.device] = None) -> List[Batch]:
    """Materialize ``data`` as a list of batches resident on ``device``.

    ``(X, Y)`` tensors, a dict of tensors sharing their first dimension (``{"tokens": T, "labels": L}``,
    cut into dict batches) and Datasets are cut into batches of ``batch_size`` (default 1024) in order;
    a DataLoader or other iterable keeps its own batches. Raises ValueError for an empty, mismatched or
    unsupported input, saying what to pass instead.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0):
        raise ValueError(f"batch_size must be a positive number of samples, got {batch_size!r}.")
    size = batch_size or DEFAULT_BATCH_SIZE
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        X, Y = data
        if X.dim() == 0 or Y.dim() == 0 or X.shape[0] != Y.shape[0]:
            raise ValueError(f"data=(X, Y) must have as many targets as inputs (one row per sample); got X "
                             f"{tuple(X.shape)} and Y {tuple(Y.shape)}.")
        out = [(X[i:i + size].to(device), Y[i:i + size].to(device)) for i in range(0, X.shape[0], size)]
    elif isinstance(data, (tuple, list)) and data and any(_is_array(t) for t in data):
        raise ValueError(
            "data=(X, Y) must be torch tensors, got " + ", ".join(type(t).__name__ for t in data)
            + "; pass (torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(Y)) (int64 Y for class indices).")
    elif isinstance(data, Mapping) and data and all(isinstance(t, torch.Tensor) for t in data.values()):
        lengths = {k: (t.shape[0] if t.dim() else None) for k, t in data.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            raise ValueError(f"data as a dict of tensors needs one row per sample in every entry; got first "
                             f"dimensions {lengths}.")
        n = next(iter(lengths.values()))
        out = [{k: t[i:i + size].to(device) for k, t in data.items()} for i in range(0, n, size)]
    elif isinstance(data, Dataset) and not isinstance(data, DataLoader) and hasattr(data, "__len__"):
        n = len(data)
        out = [to_device(default_collate([data[j] for j in range(i, min(i + size, n))]), device) for i in range(0, n, size)]
    elif isinstance(data, torch.Tensor) or _is_array(data):
        raise ValueError(
            f"data= got a single {type(data).__name__} {tuple(data.shape)}; pass data=(X, Y) with the targets, or "
            "(for a loss without targets) an iterable of batches such as list(X.split(256)) together with "
            "loss=f(model, batch).")
    elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, Mapping)):
        out = [to_device(b, device) for b in data]
    else:
        raise ValueError(
            f"data must be (X, Y) tensors, a dict of tensors, a Dataset, a DataLoader or an iterable of batches; "
            f"got {type(data).__name__}.")
    if not out:
        raise ValueError("data is empty: there is no batch to evaluate.")
    return out


def _is_array(obj: Any) -> bool:
    """A numpy (or other non-torch) array: something with a shape and dtype that is not a Tensor."""
    return not isinstance(obj, torch.Tensor) and hasattr(obj, "shape") and hasattr(obj, "dtype")


def describe(batch: Batch) -> str:
    """A short description of a batch's layout for error messages: shapes of the tensors in it."""
    if isinstance(batch, torch.Tensor):
        return f"Tensor {tuple(batch.shape)} {str(batch.dtype).replace('torch.', '')}"
    if isinstance(batch, Mapping):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in batch.items()) + "}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(describe(v) for v in batch) + ")"
    return type(batch).__name__


@torch.no_grad()
def evaluate(model: nn.Module, data_batches: Sequence[Batch], obj: Objective) -> Dict[str, Optional[float]]:
    """Mean loss (and accuracy, where it means something) of ``model`` as it is, over all batches.

    Sums are accumulated in float64 so the result does not depend on how the data was batched.
    """
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.float64)
    count = 0
    for batch in data_batches:
        l, n, c = obj(model, batch)
        loss_sum += l.detach().double().cpu()
        count += int(n)
        if c is not None:
            correct += c.double().cpu()
    return {
        "loss": float(loss_sum / count),
        "acc": float(correct / count) if obj.has_accuracy else None,
        "count": count,
    }


def check_model_accepts(model: nn.Module, data_batches: Sequence[Batch], obj: Objective) -> None:
    """Score the first batch once, turning a mismatch between model, data and loss into a ValueError
    that shows the batch's layout and says what to pass."""
    batch = data_batches[0]
    try:
        with torch.no_grad():
            obj(model, batch)
    except ValueError:
        raise
    except (RuntimeError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"The model could not be evaluated on the data (first batch: {describe(batch)[:300]}): "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200].rstrip('.')}. Pass data shaped as the model expects "
            "(data=(X, Y) calls model(X)), or loss=f(model, batch) that calls the model the way it needs."
        ) from exc
