"""Architectures with switches, built in pairs that differ in exactly one of them.

    model = models.create("resnet56", in_shape=(1, 8, 8), seed=0)
    model_1d = models.create("resnet56", in_shape=(1, 40), seed=0)   # (C, L): Conv1d for 1D signals
    with_skip, without = models.pair("resnet56", vary="skip", seed=0)
    spec = models.spec(model)                 # JSON-able; models.create(**spec) rebuilds it
    models.list_models()                      # builder names: resnet20 ... vgg9_nonorm
    models.info("resnet56")                   # family, options, parameter count

Families (also valid names for ``create``): ``"resnet"`` (:class:`models.resnet.ResNet`, He et al.
2016), ``"mlp"`` (:class:`models.mlp.MLP`), ``"vgg"`` (:class:`models.vgg.VGG`, Li et al. 2018) and
``"transformer"`` (:class:`models.transformer.Transformer`, a non-causal encoder classifier whose
``norm`` is ``"pre"``/``"post"``/``"none"`` LayerNorm placement; builders ``transformer12``,
``transformer12_noskip``, ``transformer12_postnorm``, ``transformer12_nonorm``).
All share the options ``norm``, ``activation``, ``dropout``, ``width``, ``depth``, ``in_shape``,
``num_classes`` and ``seed``; ResNet, MLP and the transformer also have ``skip`` (the transformer's
``norm`` is a LayerNorm placement, and it has ``heads``, ``patch``, ``vocab``). Builders are thin names for option
sets (``resnet56_noskip`` = resnet with depth=56, skip=False); ``models.resnet56(...)`` works too.

Both members of a pair have identical parameter names and shapes, and with one seed identical
initial weights, so one set of seeded directions applies to both. ``in_shape=(C, H, W)`` builds the
image networks (Conv2d); ``in_shape=(C, L)`` the same architectures natively in 1D (Conv1d, 1D norms
and shortcuts, MaxPool1d) for signals such as MNIST-1D.
"""
from __future__ import annotations

import copy
import difflib
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import mlp, resnet, transformer, vgg  # noqa: F401  (importing registers the families and builders)
from ._registry import BUILDERS, FAMILIES, family_options
from .layers import ACTIVATIONS, NORMS

__all__ = ["create", "list_models", "list_families", "pair", "spec", "info", "layer_order", "NORMS",
           "ACTIVATIONS", "VARY"]

VARY = ("skip", "norm")


def list_models(family: Optional[str] = None) -> List[str]:
    """Names of the built-in builders (optionally only one ``family``'s), numbers in numeric order:
    ``mlp8, mlp20, ..., resnet20, ..., resnet110, ...``."""
    if family is not None:
        _check_name("family", family, list(FAMILIES))
    names = [n for n, b in BUILDERS.items() if family is None or b.family == family]
    return sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


def list_families() -> List[str]:
    """Names of the families (``"mlp"``, ``"resnet"``, ``"vgg"``)."""
    return sorted(FAMILIES)


def _check_name(param: str, value: Any, names: Sequence[str]) -> None:
    if value in names:
        return
    close = difflib.get_close_matches(str(value), list(names), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"Unknown {param} {value!r}.{hint} Known: {', '.join(sorted(names))}.")


def resolve(name: str, **overrides: Any) -> Tuple[str, Dict[str, Any]]:
    """``(family, options)`` that ``create(name, **overrides)`` would build, without building it.

    ``options`` holds every constructor option (defaults filled in). Raises ValueError for an
    unknown name (listing close matches) or an option the family does not have.
    """
    _check_name("model", name, list(BUILDERS) + list(FAMILIES))
    if name in FAMILIES:
        family, defaults = name, {}
    else:
        family, defaults = BUILDERS[name].family, BUILDERS[name].defaults
    options = family_options(family)
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        raise ValueError(f"{name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"its options are {', '.join(options)}.")
    resolved = {**options, **defaults, **overrides}
    if isinstance(resolved.get("in_shape"), (list, tuple)):
        resolved["in_shape"] = tuple(resolved["in_shape"])
    return family, resolved


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the model ``name`` (a builder such as ``"resnet56"`` or a family such as ``"resnet"``).

    ``overrides`` replace the builder's options, e.g. ``create("resnet56", in_shape=(1, 8, 8),
    num_classes=10, seed=0)``. The result carries ``model.spec`` (see :func:`spec`).
    """
    family, options = resolve(name, **overrides)
    return FAMILIES[family](**options)


def pair(name: str, vary: str = "skip", **overrides: Any) -> Tuple[nn.Module, nn.Module]:
    """Two models that differ only in ``vary``: ``(with, without)``.

    ``vary="skip"``: ``skip=True`` / ``skip=False``. ``vary="norm"``: the builder's norm (the
    family's default, ``"batch"`` or the transformer's ``"pre"``, if it has none) / ``norm="none"``. Everything else, including ``seed``, is shared: if no seed is
    given one is drawn from torch's global RNG (so ``torch.manual_seed`` makes pairs reproducible)
    and recorded in both specs. Parameter names and shapes are identical, and so are the initial
    weights. Raises ValueError if the family has no such switch (VGG has no ``skip``).
    """
    from landscape.base.errors import check_choice

    check_choice("vary", vary, VARY)
    family, options = resolve(name, **overrides)
    if vary not in options:
        raise ValueError(f"{name!r} ({family}) has no `{vary}` switch, so it has no {vary} pair; "
                         f"families with one: {', '.join(f for f in FAMILIES if vary in family_options(f))}.")
    if options.get("seed") is None:
        options["seed"] = int(torch.randint(0, 2**31 - 1, (1,)).item())
    if vary == "skip":
        on, off = {"skip": True}, {"skip": False}
    else:
        default = family_options(family)["norm"]
        on, off = {"norm": options["norm"] if options["norm"] != "none" else default}, {"norm": "none"}
    cls = FAMILIES[family]
    return cls(**{**options, **on}), cls(**{**options, **off})


def spec(model: nn.Module) -> Dict[str, Any]:
    """The JSON-able spec of a built-in model: ``{"name": family, **every constructor option}``.

    ``models.create(**models.spec(model))`` rebuilds the same architecture (and, when ``seed`` is
    set, the same initial weights). Checkpoints store it. Raises ValueError for other modules.
    """
    found = getattr(model, "spec", None)
    if not isinstance(found, dict) or found.get("name") not in FAMILIES:
        raise ValueError(f"{type(model).__name__} is not a built-in model (no `spec`); only models made by "
                         "models.create have one.")
    return copy.deepcopy(found)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (trainable or not; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def info(name: str, **overrides: Any) -> Dict[str, Any]:
    """What ``create(name, **overrides)`` would build, without allocating it.

    Returns ``{"name", "family", "description", "options" (the spec), "parameters" (count for the
    given ``in_shape``/``num_classes``, default CIFAR-10's 3x32x32 and 10)}``. The model is built on
    PyTorch's meta device, so even a wide ResNet costs no memory or init time.
    """
    family, options = resolve(name, **overrides)
    with torch.device("meta"):
        model = FAMILIES[family](**options)
    description = BUILDERS[name].description if name in BUILDERS else (FAMILIES[family].__doc__ or "").split("\n")[0]
    return {"name": name, "family": family, "description": description, "options": spec(model),
            "parameters": count_parameters(model)}


def layer_order(model: nn.Module, example_input: Optional[torch.Tensor] = None,
                weights_only: bool = True) -> List[str]:
    """Parameter names in depth order, input to output — the x axis of a gradient-flow plot.

    By default only the weights of conv and linear layers (``"conv1.weight"``,
    ``"layer1.0.conv1.weight"``, …, ``"fc.weight"``): one entry per layer, so a per-layer gradient
    norm log reads ``{name: param.grad.norm()}`` in this order. ``weights_only=False`` lists every
    parameter (norm scales and shifts, PReLU slopes, biases) in the same order.

    Built-in models register their modules in the order ``forward`` calls them, so registration
    order is depth order. For other models pass ``example_input`` (a batch the model accepts): the
    order is then taken from the order in which modules actually run in one forward pass (no
    gradients are computed; the model's train/eval mode is left as it is).
    """
    names = {id(p): n for n, p in model.named_parameters()}
    if example_input is None:
        modules = [m for _, m in model.named_modules()]
    else:
        called: List[nn.Module] = []
        seen = set()

        def record(module: nn.Module, args: Any) -> None:
            if id(module) not in seen:
                seen.add(id(module))
                called.append(module)

        handles = [m.register_forward_pre_hook(record) for m in model.modules()]
        try:
            with torch.no_grad():
                model(example_input)
        finally:
            for handle in handles:
                handle.remove()
        # the hooks fire parent-first; keep only modules that own parameters directly, plus any
        # that never ran (appended at the end in registration order, so nothing is lost)
        modules = called + [m for m in model.modules() if id(m) not in seen]
    order: List[str] = []
    for module in modules:
        if weights_only and not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            continue
        for p in module.parameters(recurse=False):
            if (not weights_only or p is getattr(module, "weight", None)) and names.get(id(p)) not in order:
                order.append(names[id(p)])
    if not weights_only:
        order += [n for n in names.values() if n not in order]  # parameters held by no module
    return order


def __getattr__(name: str):
    """``models.resnet56(**overrides)`` and friends: every builder is also an attribute."""
    if name in BUILDERS:
        return BUILDERS[name]
    raise AttributeError(f"module 'models' has no attribute {name!r}")
