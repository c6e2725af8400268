"""Figures of the chapter's studies, registered with the pipeline (``[figures] extra``).

Makers (``fn(ctx, add)``) decide which figures a study gets, from its members' variable values and
measured numbers; drawers (``fn(inputs, **recipe) -> Figure``) draw them with
:mod:`landscape.plot.studies`. A recipe holds the numbers it draws (JSON) and :data:`DRAWING_VERSION`, so a
figure is redrawn exactly when a number, an input file, the figure settings or the drawing change.

- ``activations``: every activation of the study and its derivative, the 1/4 bound marked;
- ``gradient_by_layer``: gradient norm by layer at initialization and in the last epoch, one panel
  per ``depth``, one line per ``activation`` (from the runs' ``gradient_flow.json``);
- ``accuracy_vs_batch``: test accuracy against ``batch_size``, one line per ``norm``, beside the
  eval-mode minus train-mode loss (the ``mode_gap`` measure);
- ``remedy_curves``: train, validation and test loss per epoch, one panel per member, the kept
  epoch marked;
- ``landscapes_1d``: every member's 1D train loss on one pair of axes (the line surfaces).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, List

from landscape.storage import rundir
from landscape.studies import members
from landscape.studies.pipeline.figures import register_drawer, register_maker

STUDY = "study"  # owner of the figures that span all members
# part of every recipe: bump it when a drawer draws differently, so finished studies redraw
DRAWING_VERSION = 3


def _drawer(name: str):
    """``register_drawer(name)`` for a drawer that ignores the recipe's ``version``."""
    def decorate(fn):
        def draw(inputs, version=None, **recipe):
            return fn(inputs, **recipe)
        register_drawer(name)(draw)
        return fn
    return decorate


def _add(add, stem: str, inputs, **recipe) -> None:
    add(STUDY, stem, stem, inputs, fn=stem, version=DRAWING_VERSION, **recipe)


def _coord(ctx, member: str, variable: str) -> Any:
    coords = ctx.members[member].coords
    if variable not in coords:
        raise ValueError(f"This figure needs the study variable `{variable}`, but member {member!r} has only "
                         f"{sorted(coords) or 'none'}.")
    return coords[variable]


def shown(ctx, live: bool = False) -> List[str]:
    """The members a figure draws: with ``[study] seeds``, each member's first seed (the others are in
    the tables' intervals); ``live``: only those that trained to finite weights."""
    first = members.shown(ctx.members)
    return [m for m in (ctx.live() if live else ctx.members) if m in first]


def label(ctx, member: str) -> str:
    """A member's legend label: its variable values ("dropout 0.3", "batch, 16"), else its name."""
    coords = ctx.members[member].coords
    return ", ".join(str(v) for v in coords.values()) if coords else member


# --- makers ----------------------------------------------------------------------------------------

@register_maker("activations")
def _activations(ctx, add) -> None:
    names = list(dict.fromkeys(_coord(ctx, m, "activation") for m in ctx.members))
    _add(add, "activations", [], activations=names)


@register_maker("gradient_by_layer")
def _gradient_by_layer(ctx, add) -> None:
    # every member, a diverged one too: its gradient flow at initialization was measured all the same
    drawn = shown(ctx)
    keys = [[_coord(ctx, m, "depth"), _coord(ctx, m, "activation")] for m in drawn]
    _add(add, "gradient_by_layer", [ctx.runs[m]["run_dir"] for m in drawn], keys=keys)


@register_maker("accuracy_vs_batch")
def _accuracy_vs_batch(ctx, add) -> None:
    rows = []  # every seed: the figure draws the median and the range over seeds
    for m in ctx.live():
        acc = ctx.runs[m]["final"].get("test_acc")
        gap = ctx.sharp.get(m, {}).get("mode_gap")
        rows.append([_coord(ctx, m, "norm"), int(ctx.members[m].train.batch_size), acc, gap])
    if rows:
        _add(add, "accuracy_vs_batch", [], rows=rows)


@register_maker("remedy_curves")
def _remedy_curves(ctx, add) -> None:
    drawn = shown(ctx)
    _add(add, "remedy_curves", [ctx.runs[m]["run_dir"] for m in drawn],
         names=[label(ctx, m) for m in drawn],
         # the kept epoch is worth a mark only where early stopping chose it
         kept=[ctx.runs[m]["epoch"] if ctx.members[m].train.patience is not None else None for m in drawn])


@register_maker("landscapes_1d")
def _landscapes_1d(ctx, add) -> None:
    have = [m for m in shown(ctx, live=True) if "line" in ctx.surfaces.get(m, {})]
    if not have:
        return
    # a study of two or more variables: one panel per value of its column variable (depth, batch size),
    # the other variables as lines; one variable: every member on one panel
    panels, cols = None, ctx.config.study.cols if ctx.config.study is not None else None
    if cols and all(len(ctx.members[m].coords) > 1 for m in have):
        panels = {}
        for m in have:
            coords = ctx.members[m].coords
            rest = ", ".join(str(v) for k, v in coords.items() if k != cols)
            title = members.axis_label(cols, coords[cols], ctx.config.study.variable(cols).bundle)
            panels.setdefault(title, []).append([label(ctx, m), rest])
    _add(add, "landscapes_1d", [ctx.surfaces[m]["line"] for m in have],
         names=[label(ctx, m) for m in have], panels=panels)


# --- drawers ---------------------------------------------------------------------------------------

@_drawer("activations")
def _draw_activations(inputs, activations: List[str]):
    from landscape.plot import studies

    return studies.activation_derivatives(activations)


@_drawer("gradient_by_layer")
def _draw_gradient_by_layer(inputs, keys: List[List[Any]]):
    from landscape.plot import studies

    init: Dict[int, Dict[str, list]] = defaultdict(dict)
    last: Dict[int, Dict[str, list]] = defaultdict(dict)
    for run_dir, (depth, activation) in zip(inputs, keys):
        flow = rundir.load_history(run_dir)["gradient_flow"]
        init[depth][activation] = flow["norms"][0]
        last[depth][activation] = flow["norms"][-1]
    order = sorted(init)
    return studies.gradient_by_layer({d: init[d] for d in order}, {d: last[d] for d in order})


@_drawer("accuracy_vs_batch")
def _draw_accuracy_vs_batch(inputs, rows: List[List[Any]]):
    from landscape.plot import studies

    acc: Dict[str, Dict[int, List[float]]] = defaultdict(lambda: defaultdict(list))
    gap: Dict[str, Dict[int, List[float]]] = defaultdict(lambda: defaultdict(list))
    for norm, batch, a, g in rows:  # one row per member and seed
        if a is not None:
            acc[norm][batch].append(a)
        if g is not None:
            gap[norm][batch].append(g)
    return studies.accuracy_vs_batch({n: dict(v) for n, v in acc.items()}, {n: dict(v) for n, v in gap.items()} or None)


@_drawer("remedy_curves")
def _draw_remedy_curves(inputs, names: List[str], kept: List[Any]):
    from landscape.plot import studies

    histories = {n: rundir.load_history(p)["epochs"] for n, p in zip(names, inputs)}
    return studies.train_test_curves(histories, best=dict(zip(names, kept)))


@_drawer("landscapes_1d")
def _draw_landscapes_1d(inputs, names: List[str], panels=None):
    """``panels``: None (one panel), or ``{title: [[member label, legend label], ...]}``."""
    from landscape.plot import studies
    from landscape.storage import io

    loaded = {n: io.load(p) for n, p in zip(names, inputs)}
    if not panels:
        return studies.landscapes_1d(loaded)
    return studies.landscapes_1d({title: {short: loaded[name] for name, short in pairs}
                                  for title, pairs in panels.items()})
