"""`landscape info`: what a surface file holds — format, settings, grid, progress, value ranges.

Reads our files (any format 1.x) and files in the reference code's layout. Safe to run while a
`landscape surface` job is still writing the file.
"""
from __future__ import annotations

import json

import click
import numpy as np

_SKIP = {"format", "format_version", "created_by", "created_at", "library_versions", "model_spec"}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, separator=", ", threshold=8)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 100 else text[:97] + "..."
    return str(value)


def _axis(name: str, v: np.ndarray) -> str:
    if len(v) > 1 and np.allclose(np.diff(v), v[1] - v[0]):
        return f"{name}: {v[0]:.4g} .. {v[-1]:.4g}, {len(v)} points (step {v[1] - v[0]:.4g})"
    return f"{name}: {len(v)} points {_fmt(v)}"


def _adaptive(surf, done) -> str:
    """What an adaptive grid spent, and that its other cells are interpolated."""
    s = surf.points
    k, budget = len(s["index"]), int(s.get("budget", len(s["index"])))
    rounds = int(np.max(s["round"])) + 1 if k else 0
    if not done.all():
        return (f"adaptive:  {k}/{budget} evaluations so far ({rounds} rounds); the grid is interpolated from them "
                "when the job ends (rerun the same command to resume)")
    return (f"adaptive:  {k} evaluations ({100.0 * k / done.size:.1f}% of the {done.size} cells, budget {budget}, "
            f"{rounds} rounds); the other {done.size - k} cells are interpolated from them")


def describe(surf) -> str:
    """The text `landscape info` prints for a loaded :class:`landscape.io.Surface`."""
    a = surf.attrs
    lines = [f"file:      {surf.path}"]
    lines.append(f"format:    {a.get('format', '?')}" + (f" {a['format_version']}" if "format_version" in a else ""))
    if "created_by" in a:
        lines.append(f"created:   {a.get('created_at', '?')} by {a['created_by']}")
    if isinstance(a.get("library_versions"), dict):
        lines.append("versions:  " + ", ".join(f"{k} {v}" for k, v in sorted(a["library_versions"].items())))
    if a.get("model_spec"):
        lines.append(f"model:     {a.get('model_name', '')} {_fmt(a['model_spec'])}")
    settings = {k: v for k, v in a.items() if k not in _SKIP}
    if settings:
        lines.append("settings:")
        width = max(len(k) for k in settings)
        lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in sorted(settings.items())]
    lines.append(f"grid:      {surf.ndim}D, " + " x ".join(str(n) for n in reversed(surf.shape)) + " cells")
    lines.append("  " + _axis("x", surf.x))
    if surf.y is not None:
        lines.append("  " + _axis("y", surf.y))
    done = surf.done()
    lines.append(f"done:      {int(done.sum())}/{done.size} cells ({100.0 * done.sum() / done.size:.1f}%)")
    if surf.points is not None:
        lines.append(_adaptive(surf, done))
    if surf.directions:
        n = sum(t.numel() for t in surf.directions[0].values())
        lines.append(f"directions: {len(surf.directions)} stored, {len(surf.directions[0])} tensors, {n} numbers each")
    if surf.trajectory:
        lines.append(f"trajectory: {len(np.asarray(surf.trajectory.get('coords', [])))} points"
                     + (f", explained variance {_fmt(np.asarray(surf.trajectory['explained']))}"
                        if "explained" in surf.trajectory else ""))
    if surf.metrics:
        lines.append("metrics:   " + ", ".join(sorted(surf.metrics)))
    if surf.values:
        lines.append("values:")
        for name in surf.values:
            e = surf.extremes(name)
            # done cells whose value is NaN/inf: the loss overflowed there (far from the minimum)
            bad = int((done & ~np.isfinite(surf.values[name])).sum())
            diverged = f"; {bad} done cells NaN/inf (diverged)" if bad else ""
            if e["argmin"] is None:
                lines.append(f"  {name}: no finite value yet{diverged}")
                continue
            at = lambda c: "(" + ", ".join(f"{v:.4g}" for v in c) + ")"  # noqa: E731
            lines.append(f"  {name}: min {e['min']:.6g} at {at(e['argmin_coords'])}, "
                         f"max {e['max']:.6g} at {at(e['argmax_coords'])}{diverged}")
    return "\n".join(lines)


def describe_paths(paths) -> str:
    """What `landscape info` prints for a path file: settings, progress and both barriers."""
    from .connect import barrier_lines

    a = paths.attrs
    skip = {"format", "format_version", "created_by", "created_at", "library_versions", "model_spec", "values"}
    lines = [f"file:      {paths.path}", f"format:    {a.get('format')} {a.get('format_version', '')}"]
    if "created_by" in a:
        lines.append(f"created:   {a.get('created_at', '?')} by {a['created_by']}")
    if a.get("model_spec"):
        lines.append(f"model:     {a.get('model_name', '')} {_fmt(a['model_spec'])}")
    settings = {k: v for k, v in a.items() if k not in skip}
    width = max(len(k) for k in settings)
    lines.append("settings:")
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in sorted(settings.items())]
    for which in ("line", "curve"):
        values = paths.values(which)
        done = int(np.isfinite(next(iter(values.values()))).sum()) if values else 0
        lines.append(f"{which + ':':<10} {done}/{len(paths.t)} points done")
    if paths.plane is not None:
        d = paths.plane.done()
        lines.append(f"plane:     {int(d.sum())}/{d.size} cells done; bend at "
                     f"({paths.points[2][0]:.4g}, {paths.points[2][1]:.4g}) with A = (0, 0), B = (1, 0)")
    lines.append(f"training:  {len(paths.training.get('epoch', []))} epochs, last loss on the curve "
                 f"{_fmt(float(paths.training['loss'][-1])) if len(paths.training.get('loss', [])) else '?'}")
    lines.append(barrier_lines(paths))
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
def info(path):
    """Show a surface file's settings, grid, progress and value ranges.

    Works for files written by `landscape surface` and for the reference code's layout
    (tomgoldstein/loss-landscape). For a path file (`landscape connect`): its settings, progress
    and the barrier along the straight line and along the curve.

    \b
    Examples:
      landscape info mlp20.h5
      landscape info runs/demo/surfaces/mlp20_2d.h5
      landscape info ab.h5          # a `landscape connect` file: both barriers
    """
    from landscape.storage import io, pathfile

    if pathfile.is_path_file(path):  # a `landscape connect` file: both paths and their barriers

        click.echo(describe_paths(pathfile.load(path)))
        return
    click.echo(describe(io.load(path)))
