"""`landscape info`: what a surface file holds — format, settings, grid, progress, value ranges.

Reads our files (any format 1.x) and files in the reference code's layout. Safe to run while a
`landscape surface` job is still writing the file.
"""
from __future__ import annotations

import json

import click
import numpy as np

from landscape.base.words import plural

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


def _tree(d: dict, indent: str) -> list:
    """A nested dict of metrics as aligned lines, one per number or array, groups indented."""
    lines = []
    width = max((len(k) for k, v in d.items() if not isinstance(v, dict)), default=0)
    for k, v in sorted(d.items(), key=lambda kv: (isinstance(kv[1], dict), kv[0])):
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines += _tree(v, indent + "  ")
        else:
            lines.append(f"{indent}{k:<{width}}  {' '.join(_fmt(v).split())}")
    return lines


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
    if surf.metrics:  # what `landscape sharpness FILE` stored (and rewrites when rerun)
        lines.append("metrics:")
        lines += _tree(surf.metrics, "  ")
    if surf.planes is not None:
        seeds = surf.planes.seeds
        lines.append(f"planes:    {len(seeds)} direction sets (seeds {seeds[0]}..{seeds[-1]}), "
                     f"{int(surf.planes.done.sum())}/{surf.planes.done.size} cells done; values below: plane 0")
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
            se = surf.se.get(name)
            se_note = (f" (s.e. {se[e['argmin']]:.2g} there)" if se is not None and np.isfinite(se[e["argmin"]]) else "")
            lines.append(f"  {name}: min {e['min']:.6g}{se_note} at {at(e['argmin_coords'])}, "
                         f"max {e['max']:.6g} at {at(e['argmax_coords'])}{diverged}")
    lines += _data_noise(surf)
    lines += _metrics(surf)
    return "\n".join(lines)


def _data_noise(surf) -> list:
    """What the per-cell standard errors and (with --tol) sample counts say."""
    lines = []
    if surf.se:
        pop = surf.attrs.get("population") or {}
        fpc = (f"; finite-population correction toward {', '.join(f'{k} {v:,}' for k, v in pop.items())} samples"
               if pop else "")
        parts = [f"{n} median {np.nanmedian(v):.2g}" for n, v in surf.se.items() if np.isfinite(v).any()]
        if parts:
            lines.append(f"data noise: standard error per cell over its samples ({', '.join(parts)}{fpc})")
    ensemble = surf.planes is not None and surf.planes.samples
    for split, used in (surf.planes.samples if ensemble else surf.samples).items():
        done = surf.planes.done if ensemble else surf.done()
        full = int((surf.attrs.get("population") or {}).get(split, 0)) or int(used.max())
        if done.any():
            lines.append(f"  --tol {surf.attrs.get('tol', 0):g}: {split} cells used {used[done].sum() / (full * done.sum()):.0%} "
                         f"of the samples (median {int(np.median(used[done]))} of {full} per cell)")
    return lines


def _metrics(surf) -> list:
    """Grid metrics of the loss, as median and 95% interval over planes, resolution said."""
    from landscape.analysis import planes

    losses = [n for n in surf.values if n.endswith("_loss")]
    if not losses or surf.ndim not in (1, 2):
        return []
    value = "train_loss" if "train_loss" in losses else losses[0]
    done = surf.done()
    try:
        m = planes.plane_metrics(surf, value, partial=True)
    except ValueError as exc:
        return [f"geometry:  n/a ({exc})"]
    lines = ["geometry:  " + planes.describe(m, surf.ndim)[0]] + planes.describe(m, surf.ndim)[1:]
    if not done.all():
        lines.append("  (the grid is partly computed: these describe the cells done so far)")
    return lines


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
    lines.append(f"training:  {plural(len(paths.training.get('epoch', [])), 'epoch')}, last loss on the curve "
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
    from pathlib import Path

    from landscape.analysis.connect import state_path_for
    from landscape.storage import io, pathfile

    if not Path(path).exists() and state_path_for(path).is_file():  # a connect job stopped while training
        raise ValueError(f"{path!r} is not written yet: a `landscape connect` job writing it was stopped while "
                         f"training its curve (its state is in {str(state_path_for(path))!r}); rerun the same "
                         "connect command to continue it.")
    if pathfile.is_path_file(path):  # a `landscape connect` file: both paths and their barriers

        click.echo(describe_paths(pathfile.load(path)))
        return
    click.echo(describe(io.load(path)))
