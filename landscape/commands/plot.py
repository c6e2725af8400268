"""`landscape plot`, `landscape compare`, `landscape export`: figures and exports from surface files.

Thin wrappers: read the files with ``landscape.io.load``, call ``landscape.plot`` /
``landscape.export``, save. Bad input (unknown kind, style or value name, a 1D file asked for a
contour, a file that is not HDF5) raises ValueError in the library, which the command group turns
into one line and exit status 2.
"""
from __future__ import annotations

import os
from typing import List, Optional

import click

from ._common import FINITE

KIND_HELP = "line|contour|contourf|heatmap|surface|all"


def _load(path: str):
    from landscape import io

    return io.load(path)


def _plot_kwargs(log: Optional[bool], vmin: Optional[float], vmax: Optional[float], levels: Optional[int]) -> dict:
    kw = {"log": log, "vmin": vmin, "vmax": vmax}
    if levels is not None:
        kw["levels"] = levels
    return kw


def _suffixed(out: str, kind: str) -> str:
    root, ext = os.path.splitext(out)
    return f"{root}_{kind}{ext}"


def _check_out(out: str) -> None:
    from landscape.plot.style import FORMATS

    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"The value for `--out` must end in one of {['.' + f for f in FORMATS]}, but {out!r} was passed.")


def _style_context(style: Optional[str], width: str):
    import contextlib

    from landscape import plot

    return plot.style(style, width=width) if style else contextlib.nullcontext()


def common_options(f):
    f = click.option("--width", default="single", show_default=True, metavar="single|double",
                     help="Paper column width (with --style paper): 3.5 or 7.0 inches.")(f)
    f = click.option("--style", "style_name", default=None, metavar="paper|slides",
                     help="paper: column-width figure, 8 pt TrueType type; slides: 16:9, large type.")(f)
    f = click.option("--dpi", type=click.FloatRange(min=10), default=None,
                     help="Resolution of PNGs and of the rasterized parts of PDF/SVG (default: the style's).")(f)
    f = click.option("--levels", type=click.IntRange(min=2), default=None,
                     help="About how many contour levels (default 20).")(f)
    f = click.option("--vmax", type=FINITE, default=None, help="Top of the colour scale; higher values are clipped.")(f)
    f = click.option("--vmin", type=FINITE, default=None, help="Bottom of the colour scale.")(f)
    f = click.option("--log/--linear", "log", default=None,
                     help="Logarithmic or linear colour scale / loss axis (default: log when the loss "
                          "spans 2 decades or more).")(f)
    f = click.option("--value", default="train_loss", show_default=True,
                     help="Which value to draw: train_loss, train_acc, test_loss, test_acc, ...")(f)
    f = click.option("--out", "-o", required=True, metavar="FIG",
                     help="Output figure; the extension picks the format: .png, .pdf or .svg.")(f)
    return f


@click.command()
@click.argument("surface", metavar="SURFACE.h5")
@click.option("--kind", "-k", default="contour", show_default=True, metavar=KIND_HELP,
              help="What to draw; 'all' writes one file per kind, adding _KIND to the name.")
@common_options
@click.option("--trajectory/--no-trajectory", default=None,
              help="Draw the training path of a PCA-plane surface (default: when the file has one).")
def plot(surface, kind, out, value, log, vmin, vmax, levels, dpi, style_name, width, trajectory):
    """Draw a surface file: line, contour, filled contour, heatmap or 3D surface.

    \b
    Examples:
      landscape plot surf.h5 --kind contour --out fig.png
      landscape plot surf.h5 --kind all --style paper --out figs/surf.pdf
      landscape plot surf.h5 --kind surface --log --vmax 10 --out surface.png
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape import plot as lplot
    from landscape.errors import check_choice

    check_choice("--kind", kind, lplot.KINDS + tuple(lplot.ALIASES) + ("all",))
    if style_name is not None:
        check_choice("--style", style_name, lplot.STYLES)
    _check_out(out)
    surf = _load(surface)
    if kind == "all":
        kinds = lplot.kinds_for(surf)
    else:
        kinds = [kind]
    # check the value name up front, so `--kind all` fails before writing anything
    check_choice("--value", value, list(surf.values))
    written: List[str] = []
    with _style_context(style_name, width):
        for k in kinds:
            kw = _plot_kwargs(log, vmin, vmax, levels)
            if lplot.normalize_kind(k) != "line":
                kw["trajectory"] = trajectory
            value_arg = None if (k == "line" and value == "train_loss") else value
            fig = lplot.draw(surf, k, value_arg, **kw)
            try:
                written.append(lplot.save(fig, _suffixed(out, k) if kind == "all" else out, dpi=dpi))
            finally:
                plt.close(fig)
    for p in written:
        click.echo(f"wrote {p}")


class GridShape(click.ParamType):
    """``ROWSxCOLS`` such as ``2x3``: two whole numbers of at least 1."""

    name = "ROWSxCOLS"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
            self.fail(f"{value!r} is not of the form ROWSxCOLS with whole numbers of at least 1 (for example 2x3).",
                      param, ctx)
        return int(parts[0]), int(parts[1])


@click.command()
@click.argument("surfaces", nargs=-1, required=True, metavar="A.h5 B.h5 [...]")
@click.option("--kind", "-k", default="contour", show_default=True, metavar="line|contour|contourf|heatmap|surface",
              help="What to draw in each panel.")
@common_options
@click.option("--title", "titles", multiple=True,
              help="Panel title, once per file (default: each file's model name from its spec, with what "
                   "tells the files apart).")
@click.option("--grid", type=GridShape(), default=None,
              help="Lay the panels out in ROWS rows of COLS, the files row by row (default: one row). Row and "
                   "column labels name the model option that varies along them (e.g. skip / no skip, depth).")
@click.option("--row-label", "row_labels", multiple=True, help="With --grid: a row's label, once per row.")
@click.option("--col-label", "col_labels", multiple=True, help="With --grid: a column's label, once per column.")
def compare(surfaces, kind, out, value, log, vmin, vmax, levels, dpi, style_name, width, titles, grid,
            row_labels, col_labels):
    """Draw surfaces side by side, or in a grid, on shared scales (e.g. with and without skip connections).

    Every panel gets the same contour levels, colours, z-limits and view; one colour bar.

    \b
    Examples:
      landscape compare resnet56.h5 resnet56_noskip.h5 --kind surface --out compare.png
      landscape compare r20.h5 r56.h5 r110.h5 r20_ns.h5 r56_ns.h5 r110_ns.h5 --grid 2x3 --out fig5.png
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape import plot as lplot
    from landscape.errors import check_choice

    if len(surfaces) < 2:
        raise ValueError(f"compare draws two or more surface files side by side, got one ({surfaces[0]!r}); "
                         "to draw a single file use `landscape plot`.")
    lplot.normalize_kind(kind)
    if style_name is not None:
        check_choice("--style", style_name, lplot.STYLES)
    _check_out(out)
    if titles and len(titles) != len(surfaces):
        raise ValueError(f"Give one --title per file ({len(surfaces)}) or none, but {len(titles)} were passed.")
    if grid is None and (row_labels or col_labels):
        raise ValueError("--row-label and --col-label label the rows and columns of a --grid; give --grid ROWSxCOLS.")
    if grid is not None:
        rows, cols = grid
        if rows * cols != len(surfaces):
            raise ValueError(f"--grid {rows}x{cols} has {rows * cols} panels, but {len(surfaces)} files were given; "
                             "give one file per panel, row by row.")
        for opt, given, count in (("--row-label", row_labels, rows), ("--col-label", col_labels, cols)):
            if given and len(given) != count:
                raise ValueError(f"Give one {opt} per {opt[2:5]} ({count}) or none, but {len(given)} were passed.")
    surfs = [_load(p) for p in surfaces]
    with _style_context(style_name, width):
        fig = lplot.compare(surfs, kind=kind, value=value, titles=list(titles) or None, grid=grid,
                            row_labels=list(row_labels) or None, col_labels=list(col_labels) or None,
                            **_plot_kwargs(log, vmin, vmax, levels))
        try:
            path = lplot.save(fig, out, dpi=dpi)
        finally:
            plt.close(fig)
    click.echo(f"wrote {path}")


@click.command()
@click.argument("surface", metavar="SURFACE.h5")
@click.option("--to", "to", default=None, metavar="vtp|obj|gif|mp4",
              help="Format (default: from the --out extension). vtp: ParaView; obj: mesh; gif/mp4: animation.")
@click.option("--out", "-o", required=True, metavar="PATH", help="Output file.")
@click.option("--value", default="train_loss", show_default=True, help="Which value gives the height / colour.")
@click.option("--log/--linear", "log", default=None,
              help="Height / colour = log10(value) or linear (default: linear for vtp/obj; for animations "
                   "log when the loss spans 2 decades or more).")
@click.option("--vmax", type=FINITE, default=None, help="Clip heights above this value.")
@click.option("--animation", "anim", default=None, metavar="rotate|trajectory",
              help="gif/mp4: turn the 3D surface, or draw the training path (default: path if the file has one).")
@click.option("--frames", type=click.IntRange(min=2), default=36, show_default=True, help="Frames of a rotation.")
@click.option("--fps", type=click.IntRange(min=1), default=12, show_default=True, help="Animation frames per second.")
def export(surface, to, out, value, log, vmax, anim, frames, fps):
    """Export a surface for ParaView (.vtp), as a mesh (.obj) or as an animation (.gif/.mp4).

    \b
    Examples:
      landscape export surf.h5 --out surf.vtp          # open in ParaView
      landscape export surf.h5 --to gif --out turn.gif
    """
    import matplotlib

    matplotlib.use("Agg")
    from landscape import export as lexport

    to_given = to is not None
    if to is None:
        to = os.path.splitext(out)[1].lower().lstrip(".")
        if not to:
            raise ValueError(f"Give --to {'|'.join(lexport.FORMATS)}, or an --out name ending in one of them; "
                             f"{out!r} has no extension.")
    if to not in lexport.FORMATS:
        given = f"--to {to}" if to_given else f"--out {out!r} (its extension)"
        raise ValueError(f"{given}: cannot export to {to!r}; the formats are {', '.join(lexport.FORMATS)} "
                         "(.vtp for ParaView, .obj a mesh, .gif/.mp4 an animation).")
    surf = _load(surface)
    kw = {"log": log, "vmax": vmax}
    if to in ("gif", "mp4"):
        kw.update(kind=anim, frames=frames, fps=fps)
    elif anim is not None:
        raise ValueError(f"--animation applies to gif/mp4, but --to {to} was asked for.")
    path = lexport.export(surf, out, to=to, value=value, **kw)
    click.echo(f"wrote {path}")
