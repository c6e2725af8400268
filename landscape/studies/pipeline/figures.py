"""Stage 4: the figures of a study, with ``landscape.plot`` into ``OUT/figures/``.

Which ones the config's [figures] says: per member (contour, 3D surface, PCA plane with its path),
per pair (contours and 3D on shared scales, the 1D curves, the gradient flow), per study grid (Li
et al. 2018 Fig. 5: rows x cols of members on shared levels, contours and 3D), the training curves
(train and test error per epoch, one panel per column value), and registered extra figures.

Every figure is a :class:`FigureJob`: inputs (surface files or run directories) and a JSON-able
recipe naming a registered drawer. A figure whose inputs, recipe and settings have not changed is
not redrawn (``OUT/figures/manifest.json``). Extending::

    @register_drawer("my_plot")            # fn(inputs, **recipe) -> Figure
    def my_plot(inputs, **kw): ...

    @register_maker("my_figures")          # fn(ctx, add) -> None; add(owner, label, stem, inputs, fn=..., **recipe)
    def my_figures(ctx, add): add("study", "my_plot", "my_plot", [run_dirs...], fn="my_plot")

and ``[figures] extra = ["my_figures"]`` in the config.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from landscape.base import progress
from landscape.storage import io, rundir
from landscape.studies import members
from landscape.studies.members import grids

from ..registry import DRAWERS, MAKERS, load_plugins  # noqa: F401
from .context import Context, key, read_json

# the registries live in landscape.studies.registry; these names stay for plug-ins written against them
register_drawer = DRAWERS.register   # @register_drawer(name): fn(inputs, **recipe) -> Figure
register_maker = MAKERS.register     # @register_maker(name): fn(ctx, add) adds the jobs of [figures] extra
check = MAKERS.check


@dataclass(frozen=True)
class FigureJob:
    """One figure: who it belongs to (member, pair, grid or "study"), its kind, file, inputs
    (surface files or run directories) and recipe (``how["fn"]``: a registered drawer, the rest
    its keyword arguments; JSON-able, so a changed recipe is noticed)."""

    owner: str
    kind: str
    path: Path
    inputs: Tuple[Path, ...]
    how: Dict[str, Any]

    def stamped(self) -> List[Path]:
        """The files whose change makes the figure stale (a run directory: its history files)."""
        out: List[Path] = []
        for p in self.inputs:
            out += [p / "gradient_flow.json", p / "history.json"] if p.is_dir() else [p]
        return out

    def draw(self) -> Any:
        return DRAWERS[self.how["fn"]](list(self.inputs), **{k: v for k, v in self.how.items() if k != "fn"})


# --- drawers -------------------------------------------------------------------------------------

@register_drawer("draw")
def _draw_one(inputs, kind: str, **kw):
    from landscape import plot

    return plot.draw(io.load(inputs[0]), kind, "train_loss", **kw)


@register_drawer("compare")
def _compare(inputs, **kw):
    from landscape import plot

    return plot.compare([io.load(p) for p in inputs], **kw)


@register_drawer("gradient_flow")
def _gradient_flow(inputs):
    from landscape import plot

    return plot.gradient_flow([rundir.load_history(p) for p in inputs])


@register_drawer("grid")
def _grid(inputs, kind: str, cells: List[Any], shape: List[int], row_labels: List[str], col_labels: List[str]):
    """Li et al. 2018 Fig. 5: rows x cols of surfaces on one scale; ``cells`` index ``inputs``
    row by row (None: an empty panel, a member without a surface)."""
    from landscape import plot

    loaded = [io.load(p) for p in inputs]
    surfaces = [None if i is None else loaded[i] for i in cells]
    # the row and column labels name each member's values: a member name above every panel repeats them
    # (and, long, ran into its neighbour's)
    return plot.compare(surfaces, kind=kind, grid=tuple(shape), row_labels=row_labels,
                        col_labels=None if col_labels == [""] else col_labels,
                        titles=None if col_labels == [""] else [""] * len(surfaces))


@register_drawer("curves")
def _curves(inputs, cells: List[Any], shape: List[int], row_labels: List[Any], col_labels: List[str]):
    from .curves import training_curves

    histories = [rundir.load_history(p) for p in inputs]
    rows, cols = shape
    panels = [[None if cells[r * cols + c] is None else histories[cells[r * cols + c]] for r in range(rows)]
              for c in range(cols)]
    return training_curves(panels, col_labels, row_labels)


# --- which figures -------------------------------------------------------------------------------

def jobs(ctx: Context) -> List[FigureJob]:
    """Every figure the config asks for (see module docstring)."""
    f = ctx.config.figures
    out: List[FigureJob] = []

    def add(owner: str, label: str, stem: str, inputs: List[Path], /, **how: Any) -> None:
        out.append(FigureJob(owner, label, ctx.path("figures", f"{stem}.{f.format}"), tuple(inputs), how))

    # No log/linear choice here: the plots' default (linear, a loss from its minimum up to the cap
    # of plot._scale, clipped above), and compare decides once for all the surfaces it is given.
    shown = set(members.shown(ctx.members))  # with [study] seeds: the first seed's replicates
    pairs = [p for p in ctx.pairs if p.with_ in shown]
    for name in (n for n in ctx.live() if n in shown):
        files = ctx.surfaces.get(name, {})
        if "contour" in f.member and "plane" in files:
            add(name, "contour", f"{name}_contour", [files["plane"]], fn="draw", kind="contour")
        if "surface" in f.member and "plane" in files:
            add(name, "surface", f"{name}_surface", [files["plane"]], fn="draw", kind="surface")
        if "pca" in f.member and "pca" in files:
            add(name, "pca", f"{name}_pca", [files["pca"]], fn="draw", kind="contour", trajectory=True)
    for pair in pairs:
        fa, fb = ctx.surfaces.get(pair.with_, {}), ctx.surfaces.get(pair.without, {})
        for kind in ("contour", "surface"):
            if kind in f.pair and "plane" in fa and "plane" in fb:
                add(pair.name, f"compare_{kind}", f"{pair.name}_{kind}", [fa["plane"], fb["plane"]],
                    fn="compare", kind=kind)
        if "lines" in f.pair and "line" in fa and "line" in fb:
            add(pair.name, "lines", f"{pair.name}_lines", [fa["line"], fb["line"]], fn="compare", kind="line")
        if "gradient_flow" in f.pair:
            runs = [ctx.runs[pair.with_]["run_dir"], ctx.runs[pair.without]["run_dir"]]
            add(pair.name, "gradient_flow", f"{pair.name}_gradient_flow", runs, fn="gradient_flow")
    if ctx.config.study is not None:
        _grid_jobs(ctx, add)
    elif f.curves and pairs:
        # one panel per pair, its two members as the series: the training side of each comparison
        runs = list(dict.fromkeys(m for p in pairs for m in (p.with_, p.without)))
        cells = [runs.index(getattr(p, side)) for side in ("with_", "without") for p in pairs]
        add("pairs", "curves", "training_curves", [ctx.runs[m]["run_dir"] for m in runs], fn="curves", cells=cells,
            shape=[2, len(pairs)], row_labels=[[_run_label(ctx, p.with_), _run_label(ctx, p.without)]
                                               for p in pairs],
            col_labels=[p.name.replace("_vs_", " vs ") for p in pairs])
    for name in f.extra:
        MAKERS[name](ctx, add)
    return out


def _grid_jobs(ctx: Context, add: Callable[..., None]) -> None:
    f = ctx.config.figures
    for g in grids(ctx.members, ctx.config.study):
        shape = [len(g.rows), len(g.cols)]
        labels = {"row_labels": list(g.row_labels), "col_labels": list(g.col_labels)}
        planes = [ctx.surfaces.get(m, {}).get("plane") if m is not None else None for m in g.cells]
        if any(p is not None for p in planes):
            for kind in f.grid:
                add(g.name, kind, f"{g.name}_{kind}", [p for p in planes if p is not None], fn="grid", kind=kind,
                    cells=_indices(planes), shape=shape, **labels)
        if f.curves:
            add(g.name, "curves", f"{g.name}_curves", [ctx.runs[m]["run_dir"] for m in g.cells if m is not None],
                fn="curves", cells=_indices(g.cells), shape=shape, **labels)


def _run_label(ctx: Context, name: str) -> str:
    return f"{name} (diverged)" if ctx.runs[name]["diverged"] else name


def _indices(items: List[Any]) -> List[Any]:
    """Positions among the present items (None stays None): [a, None, b] -> [0, None, 1]."""
    out, i = [], 0
    for item in items:
        out.append(None if item is None else i)
        i += item is not None
    return out


def run(ctx: Context) -> None:
    if not ctx.config.figures.draw:
        ctx.say("[figures] not drawn (figures.draw = false)")
        return
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    import landscape
    from landscape import plot

    todo = jobs(ctx)
    ctx.say(f"[figures] {len(todo)} figures into {ctx.out / 'figures'}")
    manifest_path = ctx.path("figures", "manifest.json")
    manifest = {} if ctx.fresh else (read_json(manifest_path) or {})
    f = ctx.config.figures
    with plot.style(f.style) if f.style else contextlib.nullcontext():
        for job in progress.track(todo, desc="figures", enabled=ctx.bars):
            # redrawn when an input file, the recipe, the figure settings or landscape's version change
            stamp = key({"inputs": [_stamp(p) for p in job.stamped()], "how": job.how,
                         "format": f.format, "style": f.style, "dpi": f.dpi, "version": landscape.__version__})
            rel = str(job.path.relative_to(ctx.out))
            ctx.figures.setdefault(job.owner, {})[job.kind] = job.path
            if manifest.get(rel) == stamp and job.path.is_file():
                ctx.reused["figures"].append(rel)
                continue
            fig = job.draw()
            try:
                plot.save(fig, job.path, dpi=f.dpi)
            finally:
                plt.close(fig)
            manifest[rel] = stamp
            ctx.computed["figures"].append(rel)
    rundir.write_json(manifest, manifest_path)


def _stamp(path: Path) -> List[Any]:
    """Identity of an input file for the figure manifest: name, size, modification time."""
    try:
        st = path.stat()
    except OSError:
        return [str(path), None, None]
    return [path.name, st.st_size, st.st_mtime_ns]


__all__ = ["FigureJob", "DRAWERS", "MAKERS", "register_drawer", "register_maker", "jobs", "run"]
