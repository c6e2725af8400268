"""What the training loop draws from: ``(X, Y)`` tensors from what a caller hands over, the seeded
validation split, the default augmentation, the chunks of a full-batch step, and the RNG states a
resumed run restores. (:mod:`landscape.training.train` runs the loop.)"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from landscape.core import evaluate


def as_tensors(data: Any, param: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(X, Y)`` tensors from a pair of tensors or a map-style Dataset of ``(x, y)`` items."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        X, Y = data
    elif isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        batch = evaluate.batches(data, batch_size=len(data))[0]
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"`{param}` must yield (input, target) pairs to train on; got {type(batch).__name__} items.")
        X, Y = batch
    else:
        raise ValueError(f"The value for `{param}` must be (X, Y) tensors or a Dataset of (x, y) pairs, "
                         f"but {type(data).__name__} was passed.")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"`{param}` has {X.shape[0]} inputs but {Y.shape[0]} targets.")
    if X.shape[0] == 0:
        raise ValueError(f"`{param}` is empty.")
    return X, Y


def default_augment(dataset: Optional[str]) -> Callable[..., torch.Tensor]:
    """``data.augment`` with the dataset's recommended arguments (the CIFAR recipe for unknown data)."""
    import functools

    from landscape import data

    kwargs = data.default_augmentation(dataset) if dataset in data.list_datasets() else {}
    return functools.partial(data.augment, **kwargs)


def split_validation(X: torch.Tensor, Y: torch.Tensor, fraction: float, seed: int):
    """Hold out ``round(fraction * N)`` random samples (seeded): ``((X_train, Y_train), (X_val, Y_val))``."""
    n_val = int(round(fraction * X.shape[0]))
    if n_val < 1 or n_val >= X.shape[0] - 1:
        raise ValueError(f"`val_fraction`={fraction} of {X.shape[0]} training samples leaves {n_val} for validation "
                         f"and {X.shape[0] - n_val} for training; both need at least 2 samples.")
    # a generator of its own (offset seed) so the split does not shift the shuffling stream
    perm = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(seed + 7919))
    val, train = perm[:n_val], perm[n_val:]
    return (X[train], Y[train]), (X[val], Y[val])


def rng_state(gen: torch.Generator) -> Dict[str, Any]:
    """Every RNG the loop draws from, as tensors (weights_only-loadable)."""
    return {"generator": gen.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(gen: torch.Generator, saved: Dict[str, Any]) -> None:
    gen.set_state(saved["generator"])
    torch.set_rng_state(saved["torch"])
    if saved.get("cuda") and torch.cuda.is_available() and len(saved["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(saved["cuda"])


def full_batch_chunks(n: int, size: int) -> List[Tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of ``size`` samples covering all ``n`` (a last chunk of
    one sample joins the one before: batch norm cannot normalize a single sample)."""
    bounds = list(range(0, n, size)) + [n]
    chunks = list(zip(bounds[:-1], bounds[1:]))
    if len(chunks) > 1 and chunks[-1][1] - chunks[-1][0] < 2:
        chunks[-2:] = [(chunks[-2][0], n)]
    return chunks
