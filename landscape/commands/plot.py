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

from ._common import FINITE, progress_option

KIND_HELP = "line|contour|contourf|heatmap|surface|planes|all"


def _load(path: str):
    from landscape.storage import io

    return io.load(path)


def _plot_kwargs(log: Optional[bool], vmin: Optional[float], vmax: Optional[float], levels: Optional[int]) -> dict:
    kw = {"log": log, "vmin": vmin, "vmax": vmax}
    if levels is not None:
        kw["levels"] = levels
    return kw


def _suffixed(out: str, kind: str) -> str:
    root, ext = os.path.splitext(out)
    return f"{root}_{kind}{ext}"


def _check_out(out: str, inputs=(), html: bool = False) -> None:
    """A figure's --out: a figure extension (.png, .pdf, .svg; .html where a page is possible), not
    one of the input files, not over a file of data (``outputs.check_output``)."""
    from landscape.plot.style import FORMATS

    from .outputs import check_output

    allowed = ["." + f for f in FORMATS] + ([".html"] if html else [])
    ext = os.path.splitext(out)[1].lower()
    if ext not in allowed:
        raise ValueError(f"The value for `--out` must end in one of {allowed}, but {out!r} was passed.")
    check_output(out, [("surface file", p) for p in inputs], extensions=allowed, writes="a figure")


def _style_context(style: Optional[str], width: str):
    import contextlib

    from landscape import plot

    return plot.style(style, width=width) if style else contextlib.nullcontext()


def plot_paths(path: str, kind: str, kind_given: bool, out: str, value: str, log, vmin, vmax, levels, dpi,
               style_context) -> List[str]:
    """`landscape plot` for a path file: 'line' draws the loss along both paths, 'contour' (or
    'contourf') the plane with the curve; no --kind, both side by side in one figure at ``out``;
    'all', each in a file of its own (suffixed _line, _contour)."""
    import matplotlib.pyplot as plt

    from landscape import plot as lplot
    from landscape.base.errors import check_choice
    from landscape.plot import paths as ppaths
    from landscape.storage import pathfile

    paths = pathfile.load(path)
    if not kind_given:
        check_choice("--value", value, list(paths.curve))
        with style_context:
            fig = ppaths.overview(paths, value=value, log=log, vmin=vmin, vmax=vmax, levels=levels)
            try:
                return [lplot.save(fig, out, dpi=dpi)]
            finally:
                plt.close(fig)
    kinds = list(ppaths.KINDS) if kind == "all" else [kind]
    for k in kinds:
        check_choice("--kind (for a path file)", k, ppaths.KINDS)
    check_choice("--value", value, list(paths.curve))
    written = []
    with style_context:
        for k in kinds:
            fig = ppaths.draw(paths, k, value=value, log=log, vmin=vmin, vmax=vmax, levels=levels)
            try:
                target = out if len(kinds) == 1 else _suffixed(out, k)
                written.append(lplot.save(fig, target, dpi=dpi))
            finally:
                plt.close(fig)
    return written


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
                     help="Logarithmic or linear colour scale / loss axis (default: linear, a loss from its "
                          "lowest minimum up to 10, clipped above; the colour bar names the scale).")(f)
    f = click.option("--value", default="train_loss", show_default=True,
                     help="Which value to draw: train_loss, train_acc, test_loss, test_acc, ...")(f)
    f = click.option("--show-points", is_flag=True,
                     help="Dots where an adaptive surface (surface --adaptive N) was evaluated; its other cells are "
                          "interpolated. Example: --kind contour --show-points.")(f)
    f = click.option("--out", "-o", required=True, metavar="FIG",
                     help="Output figure; the extension picks the format: .png, .pdf or .svg.")(f)
    return f


@click.command()
@click.argument("surface", metavar="SURFACE.h5")
@click.option("--kind", "-k", default=None, metavar=KIND_HELP,
              help="What to draw (default: contour for a 2D file, line for a 1D one); 'all' writes one "
                   "file per kind, adding _KIND to the name.")
@common_options
@click.option("--trajectory/--no-trajectory", default=None,
              help="Draw the training path of a PCA-plane surface (default: when the file has one).")
@click.option("--se", is_flag=True,
              help="Line plots: draw each curve's 95% data-noise band, ± 1.96 standard errors per cell (stored by "
                   "`landscape surface`). Example: landscape plot line.h5 --kind line --se --out line.png")
def plot(surface, kind, out, value, log, vmin, vmax, levels, dpi, style_name, width, show_points, trajectory, se):
    """Draw a surface file: line, contour, filled contour, heatmap or 3D surface.

    \b
    Examples:
      landscape plot surf.h5 --kind contour --out fig.png
      landscape plot surf.h5 --kind all --style paper --out figs/surf.pdf
      landscape plot surf.h5 --kind surface --log --vmax 10 --out surface.png
      landscape plot planes5.h5 --kind planes --out planes.png    # a --planes 5 file: 5 panels, shared levels
      landscape plot line.h5 --kind line --se --out line.png      # with the data-noise band
      landscape plot adaptive.h5 --kind contour --show-points --out where.png
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape import plot as lplot
    from landscape.base.errors import check_choice

    if kind is not None:
        check_choice("--kind", lplot.ALIASES.get(kind, kind), lplot.KINDS + ("planes", "all"))  # aliases work, unlisted
    if style_name is not None:
        check_choice("--style", style_name, lplot.STYLES)
    _check_out(out, [surface])
    from landscape.storage import pathfile

    if pathfile.is_path_file(surface):  # a `landscape connect` file: its own figures

        given = click.get_current_context().get_parameter_source("kind") != click.core.ParameterSource.DEFAULT
        for p in plot_paths(surface, kind, given, out, value, log, vmin, vmax, levels, dpi,
                            _style_context(style_name, width)):
            click.echo(f"wrote {p}")
        return
    surf = _load(surface)
    if kind is None:
        kind = lplot.default_kind([surf])
    if kind == "all":
        kinds = lplot.kinds_for(surf)
    else:
        kinds = [kind]
    # check the value name up front, so `--kind all` fails before writing anything
    check_choice("--value", value, list(surf.values))
    if show_points:
        if not lplot.points_available(surf):
            raise ValueError(f"--show-points: {surface!r} is a uniform grid (every cell was evaluated); it applies to "
                             "surfaces made with `landscape surface --adaptive N`.")
        kinds = [k for k in kinds if lplot.normalize_kind(k) != "surface"] if kind == "all" else kinds
    if se and kind not in ("line", "all"):
        raise click.BadParameter(f"--se draws the data-noise band of line plots; --kind {kind} has none. Use --kind line "
                                 "(on a 2D file: the slice through y = 0).", param_hint="--se")
    if se and not surf.se:
        raise click.BadParameter(f"{surface} stores no standard errors (made before format 1.1, or with a loss "
                                 "without per-sample values); recompute it with `landscape surface`.", param_hint="--se")
    if kind == "planes":
        with _style_context(style_name, width):
            fig = lplot.planes(surf, value, **_plot_kwargs(log, vmin, vmax, levels))
            try:
                click.echo(f"wrote {lplot.save(fig, out, dpi=dpi)}")
            finally:
                plt.close(fig)
        return
    written: List[str] = []
    with _style_context(style_name, width):
        for k in kinds:
            kw = _plot_kwargs(log, vmin, vmax, levels)
            if lplot.normalize_kind(k) != "line":
                kw["trajectory"] = trajectory
            elif se:
                kw["se"] = True
            value_arg = None if (k == "line" and value == "train_loss") else value
            fig = lplot.draw(surf, k, value_arg, show_points=show_points, **kw)
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
@click.option("--kind", "-k", default=None, metavar="line|contour|contourf|heatmap|surface",
              help="What to draw in each panel (default: contour, or line when every file is 1D).")
@common_options
@click.option("--title", "titles", multiple=True,
              help="Panel title, once per file (default: each file's model name from its spec, with what "
                   "tells the files apart).")
@click.option("--grid", type=GridShape(), default=None,
              help="Lay the panels out in ROWS rows of COLS, the files row by row (default: one row). Row and "
                   "column labels name the model option that varies along them (e.g. skip / no skip, depth).")
@click.option("--row-label", "row_labels", multiple=True, help="With --grid: a row's label, once per row.")
@click.option("--col-label", "col_labels", multiple=True, help="With --grid: a column's label, once per column.")
def compare(surfaces, kind, out, value, log, vmin, vmax, levels, dpi, style_name, width, show_points, titles, grid,
            row_labels, col_labels):
    """Draw surfaces side by side, or in a grid, on shared scales (e.g. with and without skip connections).

    Every panel gets the same contour levels, colours, z-limits and view; one colour bar.
    With --out X.html: one offline page to turn in a browser, a 3D and a contour panel per file,
    the 3D cameras linked (--kind does not apply; needs pip install 'loss-landscape-lab[html]').

    \b
    Examples:
      landscape compare resnet56.h5 resnet56_noskip.h5 --kind surface --out compare.png
      landscape compare resnet56.h5 resnet56_noskip.h5 --out compare.html
      landscape compare r20.h5 r56.h5 r110.h5 r20_ns.h5 r56_ns.h5 r110_ns.h5 --grid 2x3 --out fig5.png
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape import plot as lplot
    from landscape.base.errors import check_choice

    if len(surfaces) < 2:
        raise ValueError(f"compare draws two or more surface files side by side, got one ({surfaces[0]!r}); "
                         "to draw a single file use `landscape plot`.")
    if kind is not None:
        check_choice("--kind", lplot.ALIASES.get(kind, kind), lplot.KINDS)
    _check_out(out, surfaces, html=True)
    if out.lower().endswith(".html"):
        if show_points:
            raise ValueError(f"--show-points applies to PNG/PDF/SVG figures, not to an .html page ({out!r}).")
        return _compare_page(surfaces, out, value, log, vmin, vmax, levels, dpi, style_name, titles)
    if style_name is not None:
        check_choice("--style", style_name, lplot.STYLES)
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
                            show_points=show_points, **_plot_kwargs(log, vmin, vmax, levels))
        try:
            path = lplot.save(fig, out, dpi=dpi)
        finally:
            plt.close(fig)
    click.echo(f"wrote {path}")


def _compare_page(paths, out, value, log, vmin, vmax, levels, dpi, style_name, titles) -> None:
    """compare --out X.html: one page, a 3D and a contour panel per file, cameras linked."""
    from landscape.plot import html

    for name, given in (("--dpi", dpi), ("--style", style_name)):
        if given is not None:
            raise ValueError(f"{name} applies to PNG/PDF/SVG figures, not to an .html page ({out!r}).")
    surfs = [_load(p) for p in paths]
    path = html.to_html(surfs, out, value, log=log, vmin=vmin, vmax=vmax, levels=levels, titles=list(titles) or None)
    click.echo(f"wrote {path}")


# what each export format may be named, and what it is in words (for the error naming a wrong one)
EXPORT_EXTENSIONS = {"vtp": (".vtp",), "obj": (".obj",), "html": (".html", ".htm"), "gif": (".gif",), "mp4": (".mp4",)}
EXPORT_WORDS = {"vtp": "a ParaView file", "obj": "a mesh", "html": "a web page", "gif": "a GIF animation",
                "mp4": "an MP4 movie"}


@click.command()
@click.argument("surface", metavar="SURFACE.h5")
@click.option("--to", "to", default=None, metavar="vtp|obj|html|gif|mp4",
              help="Format (default: from the --out extension). vtp: ParaView; obj: mesh; html: a page to "
                   "turn the surface in a browser (offline); gif/mp4: animation.")
@click.option("--out", "-o", required=True, metavar="PATH", help="Output file.")
@click.option("--value", default="train_loss", show_default=True, help="Which value gives the height / colour.")
@click.option("--log/--linear", "log", default=None,
              help="Height / colour = log10(value) or linear (default: linear, as for the figures; a page "
                   "opens linear and has a switch to log).")
@click.option("--vmax", type=FINITE, default=None, help="Clip heights above this value.")
@click.option("--animation", "anim", default=None, metavar="rotate|trajectory",
              help="gif/mp4: draw the training path epoch by epoch, or turn the 3D surface "
                   "(default: the path if the file has one).")
@click.option("--frames", type=click.IntRange(min=2), default=36, show_default=True, help="Frames of a rotation.")
@click.option("--fps", type=click.IntRange(min=1), default=12, show_default=True, help="Animation frames per second.")
@progress_option("Progress bar for animations.")
def export(surface, to, out, value, log, vmax, anim, frames, fps, progress):
    """Export a surface: ParaView (.vtp), a mesh (.obj), an interactive page (.html), a movie (.gif/.mp4).

    \b
    Examples:
      landscape export surf.h5 --out surf.html         # turn it in a browser; works offline
      landscape export pca.h5 --out path.mp4           # training epoch by epoch over the PCA plane
      landscape export surf.h5 --out surf.vtp          # open in ParaView
      landscape export surf.h5 --to gif --animation rotate --out turn.gif

    .html needs plotly (pip install 'loss-landscape-lab[html]'), .mp4 the ffmpeg of imageio-ffmpeg
    (pip install 'loss-landscape-lab[movie]').
    """
    import matplotlib

    matplotlib.use("Agg")
    from landscape.base.progress import bar
    from landscape.plot import export as lexport, movie

    to_given = to is not None
    if to is None:
        to = os.path.splitext(out)[1].lower().lstrip(".")
        if not to:
            raise ValueError(f"Give --to {'|'.join(lexport.FORMATS)}, or an --out name ending in one of them; "
                             f"{out!r} has no extension.")
    if to not in lexport.FORMATS:
        given = f"--to {to}" if to_given else f"--out {out!r} (its extension)"
        raise ValueError(f"{given}: cannot export to {to!r}; the formats are {', '.join(lexport.FORMATS)} "
                         "(.vtp for ParaView, .obj a mesh, .html a page, .gif/.mp4 an animation).")
    from .outputs import check_output

    check_output(out, [("surface file", surface)], extensions=EXPORT_EXTENSIONS[to], writes=EXPORT_WORDS[to])
    if anim is not None:  # in the command's words (the library's parameter is `kind`)
        from landscape.base.errors import check_choice

        check_choice("--animation", anim, movie.ANIMATIONS)
    surf = _load(surface)
    if anim == "trajectory" and not surf.trajectory and to in ("gif", "mp4"):
        raise ValueError(f"--animation trajectory needs a surface with a training path (`landscape surface --dir pca "
                         f"--trajectory RUN`), but {surface!r} has none; use --animation rotate.")
    kw = {"log": log, "vmax": vmax}
    if to not in ("gif", "mp4"):
        if anim is not None:
            raise ValueError(f"--animation applies to gif/mp4, but --to {to} was asked for.")
        path = lexport.export(surf, out, to=to, value=value, **kw)
    else:
        with bar(movie.frame_count(surf, anim, frames), desc="frames", enabled=progress) as b:
            path = lexport.export(surf, out, to=to, value=value, kind=anim, frames=frames, fps=fps,
                                  progress=lambda i, n: b.update(1), **kw)
    click.echo(f"wrote {path}")
    if to in ("vtp", "obj"):  # a mesh has no colour bar to say it: the plots' "clipped at" note, here
        import numpy as np

        _, ok, scale = lexport.heights(surf, value, log=bool(log), vmax=vmax)
        if scale.clipped:
            top = float(np.max(np.asarray(surf.values[value])[ok]))
            click.echo(f"Heights clipped at {scale.fmt(scale.vmax)}: the {value} data reach {top:.4g}"
                       + ("" if vmax is not None else " (outliers or diverged cells); --vmax sets the cap") + ".")
