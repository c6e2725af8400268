"""The study pipeline's extension points, one registry each: measures (numbers per member, with the
table columns they fill), figure makers and drawers, and report sections.

A study config names registered items (``[metrics] extra``, ``[figures] extra``, ``[report]
sections``); the config is checked against these registries only, so the stages that *use* the
items (``pipeline.measures``, ``pipeline.figures``, ``report``) sit above the config and nothing
calls back down. Modules whose import registers items are listed in :data:`PLUGINS` and imported
by :func:`load_plugins` before a config is checked (``landscape.studies.chapter`` registers the
chapter studies' items; append a module of your own to add yours).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional

from landscape.base.errors import check_choice

# modules whose import registers measures, figures or report sections (imported once, on demand)
PLUGINS: List[str] = ["landscape.studies.chapter", "landscape.studies.transformer", "landscape.studies.stability"]


def load_plugins() -> None:
    for name in PLUGINS:
        importlib.import_module(name)


class Registry(dict):
    """Names -> items, filled by a decorator; ``param`` names the config key that selects them."""

    def __init__(self, param: str):
        super().__init__()
        self.param = param

    def register(self, name: str, wrap: Optional[Callable[[Callable], Any]] = None):
        """Decorator: store ``fn`` (or ``wrap(fn)``) under ``name``; the function itself is returned."""

        def decorate(fn):
            self[name] = wrap(fn) if wrap is not None else fn
            return fn

        return decorate

    def check(self, names: Iterable[str]) -> None:
        """ValueError naming the choices for a name that nothing registered."""
        load_plugins()
        for name in names:
            check_choice(self.param, name, list(self))


@dataclass(frozen=True)
class Measure:
    """A number per member: ``fn(ctx, member) -> {key: value}``, the table ``columns`` it fills
    (``{key: label}``) and a ``version`` (a changed version recomputes it)."""

    name: str
    fn: Callable[..., Dict[str, Any]]
    columns: Dict[str, str]
    version: int = 1


MEASURES = Registry("metrics.extra")     # name -> Measure
MAKERS = Registry("figures.extra")       # name -> fn(ctx, add): adds the figure jobs of a study
DRAWERS = Registry("figure recipe fn")   # name -> fn(inputs, **recipe) -> Figure
SECTIONS = Registry("report.sections")   # name -> fn(summary) -> list of Markdown lines


def register_measure(name: str, columns: Dict[str, str], version: int = 1):
    """Decorator: make ``fn(ctx, member) -> {key: value}`` the measure ``name``."""
    return MEASURES.register(name, lambda fn: Measure(name, fn, dict(columns), version))


def measure_columns(names: Iterable[str]) -> Dict[str, str]:
    """The table columns (key -> label) the measures ``names`` fill."""
    load_plugins()
    out: Dict[str, str] = {}
    for name in names:
        out.update(MEASURES[name].columns)
    return out
