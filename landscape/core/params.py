"""Which parameters a landscape moves, and putting them back exactly as they were.

Directions, surfaces and sharpness all work on the same subspace: by default every parameter with
``requires_grad=True`` (a frozen backbone stays fixed), or the explicit ``params=`` choice.
"""
from __future__ import annotations

import contextlib
import re
from collections import abc
from typing import Callable, Dict, Iterable, Iterator, Optional, Union

import torch
from torch import nn

# None (trainable ones) | name regex | names | predicate(name, param) | submodule | parameters
ParamFilter = Union[None, str, Iterable[str], Callable[[str, nn.Parameter], bool], nn.Module, Iterable[torch.Tensor]]


def select(model: nn.Module, params: ParamFilter = None) -> Dict[str, nn.Parameter]:
    """The named parameters a landscape moves, in ``model.named_parameters()`` order.

    ``params`` may be:

    - None: every trainable parameter (``requires_grad=True``), so a frozen backbone stays fixed;
    - a regular expression matched against names (``re.search``), e.g. ``r"^head\\."``;
    - a collection of exact names from ``model.named_parameters()``;
    - a predicate ``f(name, parameter) -> bool``;
    - a submodule of ``model`` (its parameters), or an iterable of the parameters themselves
      (e.g. ``model.head.parameters()``), matched by identity.

    Raises ValueError when ``model`` is not an ``nn.Module``, when the choice matches nothing, or when
    it names (or hands over) a parameter the model does not have.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}; pass the network itself "
                         "(for a wrapped model, the nn.Module inside it).")
    named = dict(model.named_parameters())
    if params is None:
        chosen = {n: p for n, p in named.items() if p.requires_grad}
        if named and not chosen:
            raise ValueError(
                f"The model has no trainable parameters: all {len(named)} have requires_grad=False, so nothing "
                "would move; unfreeze the ones to study (p.requires_grad_(True)) or choose them with params= "
                "(a name regex, a list of names, a predicate f(name, param) -> bool or a submodule).")
        what = "trainable parameters (requires_grad=True)"
    elif isinstance(params, str):
        try:
            pattern = re.compile(params)
        except re.error as exc:
            raise ValueError(f"params={params!r} is not a valid regular expression ({exc}); pass a regex matched "
                             f"against parameter names such as {list(named)[:3]}.") from None
        chosen = {n: p for n, p in named.items() if pattern.search(n)}
        what = f"parameters whose name matches {params!r}"
    elif isinstance(params, nn.Module):
        chosen = _by_identity(named, list(params.parameters()), "params= (a submodule)")
        what = "parameters in the params= submodule"
    elif callable(params):
        chosen = {n: p for n, p in named.items() if params(n, p)}
        what = "parameters accepted by the params= predicate"
    else:
        if isinstance(params, abc.Iterator):
            # A generator such as model.head.parameters() would be used up by the first of the several
            # calls one measurement makes (directions, then the surface or the Hessian).
            raise ValueError("params= got a one-shot iterator (such as model.head.parameters()); pass the "
                             "submodule itself (params=model.head) or a list (list(model.head.parameters())).")
        try:
            wanted = list(params)
        except TypeError:
            raise ValueError(
                f"params= must be None, a name regex, a list of names, a predicate f(name, param) -> bool, a "
                f"submodule or an iterable of parameters; got {type(params).__name__}.") from None
        if wanted and all(isinstance(w, torch.Tensor) for w in wanted):
            chosen = _by_identity(named, wanted, "params=")
            what = "parameters handed over in params="
        else:
            bad = [w for w in wanted if not isinstance(w, str)]
            if bad:
                raise ValueError(f"params= as a list must hold parameter names (str) or parameters (tensors), not a "
                                 f"mix; got {type(bad[0]).__name__}.")
            missing = [n for n in wanted if n not in named]
            if missing:
                raise ValueError(
                    f"params= names {missing[:3]} which the model does not have; "
                    f"pass names from model.named_parameters(), e.g. {list(named)[:3]}.")
            chosen = {n: named[n] for n in named if n in set(wanted)}
            what = "the named parameters"
    if not chosen:
        raise ValueError(
            f"The model has no {what}; pass params=None (all trainable parameters), a name regex, "
            f"a list of names from model.named_parameters() (e.g. {list(named)[:3]}) or a predicate "
            f"f(name, param) -> bool.")
    return chosen


def _by_identity(named: Dict[str, nn.Parameter], tensors: list, what: str) -> Dict[str, nn.Parameter]:
    """The entries of ``named`` that are (by identity) among ``tensors``; every tensor must be one of them."""
    ids = {id(t) for t in tensors}
    chosen = {n: p for n, p in named.items() if id(p) in ids}
    if len({id(p) for p in chosen.values()}) != len(ids):
        raise ValueError(f"{what} holds tensors that are not parameters of the model; pass parameters of this "
                         "model (e.g. model.head.parameters()) or their names.")
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
