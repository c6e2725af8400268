"""The model registry: families (classes with switches) and thin named builders over them.

A *family* is a class such as ``ResNet`` registered under ``"resnet"``; a *builder* such as
``resnet56_noskip`` is a name, a family and a few default options. Both are valid names for
``models.create``. The family modules register themselves on import (``models/__init__.py``
imports them), in the style of timm's ``_registry.py``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Type

from torch import nn

FAMILIES: Dict[str, Type[nn.Module]] = {}
BUILDERS: Dict[str, "Builder"] = {}


@dataclass(frozen=True)
class Builder:
    """A named architecture: ``family`` with ``defaults`` (any option not given keeps the family's)."""

    name: str
    family: str
    description: str
    defaults: Dict[str, Any] = field(default_factory=dict)

    def __call__(self, **overrides: Any) -> nn.Module:
        return FAMILIES[self.family](**{**self.defaults, **overrides})


def register_family(name: str) -> Callable[[Type[nn.Module]], Type[nn.Module]]:
    """Class decorator: make ``cls`` creatable as ``name`` and record ``cls.family = name``."""

    def decorate(cls: Type[nn.Module]) -> Type[nn.Module]:
        cls.family = name
        FAMILIES[name] = cls
        return cls

    return decorate


def register_builder(name: str, family: str, description: str, **defaults: Any) -> Builder:
    """Register and return the builder ``name`` (call it with overrides to build the model)."""
    unknown = set(defaults) - set(family_options(family))
    if unknown:  # a typo in a builder table is a programming error, caught at import
        raise TypeError(f"builder {name!r}: {sorted(unknown)} are not options of family {family!r}")
    builder = Builder(name, family, description, dict(defaults))
    BUILDERS[name] = builder
    return builder


def family_options(family: str) -> Dict[str, Any]:
    """The constructor options of ``family`` and their defaults, in signature order."""
    params = inspect.signature(FAMILIES[family].__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self"}
