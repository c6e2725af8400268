"""Data and loss, made uniform: whatever the user hands us becomes resident batches and an objective.

Data may be ``(X, Y)`` tensors, a ``Dataset``, a ``DataLoader`` or any iterable of batches (tuples,
dicts or objects with ``.to(device)``). It is materialized once, on the model's device, so a surface
of thousands of grid points never rebuilds a DataLoader.

An objective scores one batch and returns sums, so means over the whole data are exact whatever the
batch sizes: ``(loss_sum, count, correct)``; ``correct`` is None where accuracy means nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from .errors import check_choice

Batch = Any
BatchScore = Tuple[torch.Tensor, int, Optional[torch.Tensor]]  # (loss_sum, count, correct or None)

DEFAULT_BATCH_SIZE = 1024
LOSSES = ("cross_entropy", "mse", "nll")


@dataclass(frozen=True)
class Objective:
    """How to score a model on one batch. ``fn(model, batch) -> (loss_sum, count, correct|None)``."""

    name: str
    fn: Callable[[nn.Module, Batch], BatchScore]
    has_accuracy: bool

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
    raise ValueError(
        f"A built-in loss needs batches of (inputs, targets); got {type(batch).__name__}. "
        "Pass loss=callable(model, batch) -> mean loss (or (loss_sum, count)) for other batches."
    )


def _cross_entropy(model: nn.Module, batch: Batch) -> BatchScore:
    x, y = _split_xy(batch)
    out = model(x)
    if out.dim() != 2 or y.dim() != 1:
        raise ValueError(
            f"loss='cross_entropy' needs model outputs (N, classes) and integer targets (N,); got outputs "
            f"{tuple(out.shape)} and targets {tuple(y.shape)}. Use loss='mse' for regression."
        )
    loss = F.cross_entropy(_upcast(out), y, reduction="sum")
    return loss, y.shape[0], (out.argmax(1) == y).sum()


def _nll(model: nn.Module, batch: Batch) -> BatchScore:
    x, y = _split_xy(batch)
    out = model(x)
    return F.nll_loss(_upcast(out), y, reduction="sum"), y.shape[0], (out.argmax(1) == y).sum()


def _mse(model: nn.Module, batch: Batch) -> BatchScore:
    x, y = _split_xy(batch)
    out = _upcast(model(x))
    if out.shape != y.shape:
        raise ValueError(f"loss='mse' needs outputs and targets of one shape; got {tuple(out.shape)} and {tuple(y.shape)}.")
    per_sample = (out - y.to(out.dtype)).pow(2).reshape(out.shape[0], -1).mean(1)
    return per_sample.sum(), out.shape[0], None


_BUILTIN = {"cross_entropy": (_cross_entropy, True), "nll": (_nll, True), "mse": (_mse, False)}


def batch_size_of(batch: Batch) -> int:
    """Samples in a batch: the leading size of its first tensor (tuples, lists, dicts, objects)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else vars(batch).values()
    for item in items:
        if isinstance(item, torch.Tensor) and item.dim() > 0:
            return item.shape[0]
    raise ValueError("Cannot tell the batch size: no tensor in the batch; pass batch_size_fn=f(batch) -> int.")


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
        check_choice("loss", loss, LOSSES)
        fn, acc = _BUILTIN[loss]
        return Objective(loss, fn, acc)
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
        f"The value for `loss` must be one of {list(LOSSES)}, a loss module or a callable(model, batch); "
        f"got {type(loss).__name__}."
    )


def _check_scalar(value: Any, name: str) -> None:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(
            f"The loss {name!r} returned {shape}, not a scalar; return the mean over the batch "
            "(e.g. loss.mean()) or a tuple (loss_sum, count)."
        )


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

    ``(X, Y)`` tensors and Datasets are cut into batches of ``batch_size`` (default 1024) in order; a
    DataLoader or other iterable keeps its own batches. Raises ValueError for an empty or mismatched input.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    size = batch_size or DEFAULT_BATCH_SIZE
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"batch_size must be a positive number of samples, got {batch_size}.")
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        X, Y = data
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"data=(X, Y) must have as many targets as inputs; got X {tuple(X.shape)} and Y {tuple(Y.shape)}.")
        out = [(X[i:i + size].to(device), Y[i:i + size].to(device)) for i in range(0, X.shape[0], size)]
    elif isinstance(data, Dataset) and not isinstance(data, DataLoader) and hasattr(data, "__len__"):
        n = len(data)
        out = [to_device(default_collate([data[j] for j in range(i, min(i + size, n))]), device) for i in range(0, n, size)]
    elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, torch.Tensor)):
        out = [to_device(b, device) for b in data]
    else:
        raise ValueError(
            f"data must be (X, Y) tensors, a Dataset, a DataLoader or an iterable of batches; got {type(data).__name__}."
        )
    if not out:
        raise ValueError("data is empty: there is no batch to evaluate.")
    return out


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
    """Score the first batch once, turning a shape mismatch into a ValueError that says what to pass."""
    batch = data_batches[0]
    try:
        with torch.no_grad():
            obj(model, batch)
    except ValueError:
        raise
    except (RuntimeError, TypeError, IndexError) as exc:
        shape = tuple(batch[0].shape) if isinstance(batch, (tuple, list)) and isinstance(batch[0], torch.Tensor) else type(batch).__name__
        raise ValueError(
            f"The model could not be evaluated on the data (first batch inputs {shape}): "
            f"{' '.join(str(exc).split())[:200]}. Pass data shaped as the model expects."
        ) from exc
