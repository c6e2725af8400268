"""Which parameters a landscape moves, and putting them back exactly as they were.

Directions, surfaces and sharpness all work on the same subspace: by default every parameter with
``requires_grad=True`` (a frozen backbone stays fixed), or the explicit ``params=`` choice.
"""
from __future__ import annotations

import contextlib
import re
from typing import Callable, Dict, Iterable, Iterator, Optional, Union

import torch
from torch import nn

ParamFilter = Union[None, str, Iterable[str], Callable[[str, nn.Parameter], bool]]


def select(model: nn.Module, params: ParamFilter = None) -> Dict[str, nn.Parameter]:
    """The named parameters a landscape moves, in ``model.named_parameters()`` order.

    ``params`` may be None (all trainable parameters), a regular expression matched against names
    (``re.search``), a collection of exact names, or a predicate ``f(name, parameter) -> bool``.
    Raises ValueError when the choice matches nothing, or names a parameter the model lacks.
    """
    named = dict(model.named_parameters())
    if params is None:
        chosen = {n: p for n, p in named.items() if p.requires_grad}
        what = "trainable parameters (requires_grad=True)"
    elif isinstance(params, str):
        pattern = re.compile(params)
        chosen = {n: p for n, p in named.items() if pattern.search(n)}
        what = f"parameters whose name matches {params!r}"
    elif callable(params):
        chosen = {n: p for n, p in named.items() if params(n, p)}
        what = "parameters accepted by the params= predicate"
    else:
        wanted = list(params)
        missing = [n for n in wanted if n not in named]
        if missing:
            raise ValueError(
                f"params= names {missing[:3]} which the model does not have; "
                f"pass names from model.named_parameters(), e.g. {list(named)[:3]}."
            )
        chosen = {n: named[n] for n in named if n in set(wanted)}
        what = "the named parameters"
    if not chosen:
        raise ValueError(
            f"The model has no {what}; pass params=None (all trainable parameters), a name regex, "
            f"a list of names from model.named_parameters() or a predicate f(name, param) -> bool."
        )
    return chosen


def snapshot(model: nn.Module) -> Dict[str, torch.Tensor]:
    """An exact copy of every parameter and buffer (the state to restore later)."""
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}


def restore(model: nn.Module, saved: Dict[str, torch.Tensor]) -> None:
    """Write ``saved`` back into the model's own tensors, bitwise, without replacing them."""
    current = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for k, v in saved.items():
            current[k].copy_(v)


@contextlib.contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: on exit (also on error) parameters, buffers and train/eval mode are as before."""
    saved = snapshot(model)
    modes = {name: m.training for name, m in model.named_modules()}
    try:
        yield model
    finally:
        restore(model, saved)
        for name, m in model.named_modules():
            m.training = modes.get(name, m.training)


def num_params(named: Dict[str, torch.Tensor]) -> int:
    return sum(p.numel() for p in named.values())


def first_device(model: nn.Module, default: Optional[torch.device] = None) -> torch.device:
    """The device the model lives on (its first parameter or buffer); CPU for an empty model."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return default or torch.device("cpu")
