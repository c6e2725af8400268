"""Stage 2: each live member's surfaces, with ``landscape.surface.compute`` into ``OUT/surfaces/``.

A 2D plane and a 1D line along filter-normalized random directions drawn with one seed (so the
members of a pair are cut along the same draws, each scaled to its own filters; Li et al. 2018,
sec. 4), train and test values; and a plane through the PCA directions of the training trajectory
with the path (sec. 7). A file holding the same job with every cell done is reused; a partial one
is resumed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from landscape.storage import io, rundir
from landscape.studies.specs import SURFACE_KINDS

from .context import Context, key

KINDS = SURFACE_KINDS


def run(ctx: Context) -> None:
    from landscape.core import directions
    from landscape.core.surface import compute

    c, g = ctx.config, ctx.config.grid
    live = ctx.live()
    ctx.say(f"[surfaces] {len(live) * (2 + (g.pca > 0))} surfaces: {g.plane[2]}x{g.plane[2]} planes and "
            f"{g.line[2]}-point lines on [{g.plane[0]:g}, {g.plane[1]:g}]"
            + (f", {g.pca}x{g.pca} PCA planes" if g.pca else ""))
    for name in live:
        files = ctx.surfaces.setdefault(name, {})
        loss = ctx.members[name].train.loss
        model = None
        for kind in KINDS:
            if (kind == "pca" and not g.pca) or (ctx.kinds is not None and kind not in ctx.kinds):
                continue
            splits = {split: ctx.load(name, split, g.n_samples, g.data_seed)
                      for split in (("train", "test") if kind in g.test_on else ("train",))}
            path = ctx.path("surfaces", f"{name}_{kind}.h5")
            job = _job(ctx, name, kind)
            state = surface_state(path, job)
            if state == "done" and not ctx.fresh:
                ctx.found("surfaces", path.name)
                files[kind] = path
                continue
            model = model if model is not None else ctx.model(name)
            if state == "partial" and kind == "pca" and not ctx.fresh:
                dirs, grid, extra = _stored_pca(path, ctx.device, directions)
            else:
                dirs, grid, extra = _directions(ctx, model, name, kind, directions)
            if dirs is None:
                continue
            attrs = {**_attrs(ctx, name, kind), **extra, "experiment_job": key(job)}
            verb = "resuming" if state == "partial" and not ctx.fresh else "computing"
            ctx.say(f"  {name} {kind}: {verb} {path}")
            more = {"planes": g.planes} if g.planes > 1 and kind != "pca" else {}  # direction sets: seed, seed+1, ...
            compute(model, dirs, x=grid[0], y=grid[1], data=splits, loss=loss, bn=g.bn, precision=c.precision,
                    batch_size=g.batch_size, path=str(path), resume=True,
                    overwrite=ctx.fresh or state == "other", progress=ctx.bars, attrs=attrs,
                    adaptive=g.adaptive if kind == "plane" else None, **more)
            ctx.computed["surfaces"].append(path.name)
            files[kind] = path


def pending(ctx: Context, name: str) -> List[str]:
    """The kinds of surface of the trained member ``name`` that are missing, unfinished or of other settings."""
    kinds = [k for k in KINDS if k != "pca" or ctx.config.grid.pca]
    return [k for k in kinds if ctx.fresh or surface_state(ctx.out / "surfaces" / f"{name}_{k}.h5",
                                                          _job(ctx, name, k)) != "done"]


def _job(ctx: Context, name: str, kind: str) -> Dict[str, Any]:
    """Everything a surface file's numbers depend on: equal jobs mean the file can be reused."""
    c, g, d = ctx.config, ctx.config.grid, ctx.config.directions
    job = {"kind": kind, "checkpoint_sha256": ctx.runs[name]["sha256"], "n_samples": g.n_samples,
           "data_seed": g.data_seed, "bn": g.bn, "batch_size": g.batch_size, "precision": c.precision,
           "loss": ctx.members[name].train.loss, "data": ctx.data_meta(name)}
    if kind not in g.test_on:  # (absent when tested, so files made before the option are still this job)
        job["test"] = False
    if kind == "pca":
        job.update(points=g.pca, margin=g.pca_margin, axes=PCA_AXES_RULE,
                   snapshots=len(list((ctx.runs[name]["run_dir"] / "snapshots").glob("epoch_*.pt"))))
    else:
        job.update(grid=list(g.plane if kind == "plane" else g.line), norm=d.norm, ignore=d.ignore, seed=d.seed)
        if g.planes > 1:  # (absent for one plane, so files made before the option are still this job)
            job["planes"] = g.planes
    if kind == "plane" and g.adaptive is not None:  # (absent otherwise: files made before the option stay this job)
        job["adaptive"] = g.adaptive
    return job


def _attrs(ctx: Context, name: str, kind: str) -> Dict[str, Any]:
    """The settings ``landscape surface`` records, so ``landscape info/plot/sharpness`` read our files alike."""
    r, g, d = ctx.runs[name], ctx.config.grid, ctx.members[name].data
    ckpt = r["run_dir"] / "final.pt"
    return {"model_name": name, "model_spec": ctx.members[name].spec, "checkpoint": str(ckpt.resolve()),
            "checkpoint_sha256": r["sha256"], "checkpoint_epoch": r["epoch"] if r["epoch"] is not None else -1,
            "dataset": d.dataset, "normalize": d.normalize, "data_seed": g.data_seed,
            "n_samples_requested": g.n_samples or 0,
            "splits": "train,test" if kind in g.test_on else "train", "experiment": ctx.config.name}


def _directions(ctx: Context, model, name: str, kind: str, directions):
    """(directions, (x, y), extra attrs) of one surface; (None, ...) when it cannot be made."""
    g, d = ctx.config.grid, ctx.config.directions
    ignore = None if d.ignore == "none" else d.ignore
    if kind == "plane":
        return directions.random(model, n=2, norm=d.norm, ignore=ignore, seed=d.seed), (g.plane, g.plane), {}
    if kind == "line":
        return directions.random(model, n=1, norm=d.norm, ignore=ignore, seed=d.seed), (g.line, None), {}
    run_dir = ctx.runs[name]["run_dir"]
    states, epochs = rundir.load_snapshots(run_dir)
    if len(states) < 3:
        ctx.note(name, f"{name}: no PCA surface: its run has {len(states)} snapshots and a plane needs 3 "
                       "(train more epochs, or set train.save_every lower).")
        return None, None, None
    try:
        pca = directions.pca(states, model, n=2, epochs=epochs)
    except ValueError as exc:
        ctx.note(name, f"{name}: no PCA surface: {exc}")
        return None, None, None
    x, y = pca_axes(pca.coords, g.pca, g.pca_margin)
    extra = {"trajectory_dir": str(run_dir.resolve()), "n_snapshots": len(states),
             "explained_variance": [float(v) for v in pca.explained]}
    return pca, (x, y), extra


PCA_AXES_RULE = 2  # how pca_axes frames the path; 2: the final model on a grid node (older files: redone)


def pca_axes(coords: np.ndarray, n: int, margin: float) -> Tuple[Tuple[float, float, int], Tuple[float, float, int]]:
    """Grid axes framing a PCA trajectory: the span of its coordinates (n, 2) and of the origin
    (the final model), widened by ``margin`` of that span on each side. PCA coordinates are in
    parameter units, so the extent can only be known from the trajectory itself.

    The origin is always a grid node: a sharp minimum can be far narrower than a cell (a 56-layer
    net without skips: a basin of 0.1 filter-normalized units in a plane 200 parameter units
    wide), and a grid that steps over it would show the final model on a ridge it is not on."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    lo = np.minimum(coords.min(axis=0), 0.0)
    hi = np.maximum(coords.max(axis=0), 0.0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - margin * span, hi + margin * span
    return _through_origin(lo[0], hi[0], n), _through_origin(lo[1], hi[1], n)


def _through_origin(lo: float, hi: float, n: int) -> Tuple[float, float, int]:
    """The ``n``-point axis with 0 on a node that covers [lo, hi] (lo <= 0 <= hi) with the
    smallest step: 0 is node k, the step the larger of -lo / k and hi / (n - 1 - k)."""
    def step(k: int) -> float:
        below = -lo / k if k else (np.inf if lo < 0 else 0.0)
        above = hi / (n - 1 - k) if k < n - 1 else (np.inf if hi > 0 else 0.0)
        return max(below, above)

    k = min(range(n), key=step)
    return (float(-k * step(k)), float((n - 1 - k) * step(k)), n)


def surface_state(path: Path, job: Dict[str, Any]) -> str:
    """"missing", "done" (this job, every cell computed), "partial" (this job, cells missing) or
    "other" (another job, or not a surface file we can read)."""
    if not path.exists():
        return "missing"
    try:
        surf = io.load(path)
    except (ValueError, OSError):
        return "other"
    if surf.attrs.get("experiment_job") != key(job):
        return "other"
    return "done" if bool(surf.done().all()) else "partial"


def _stored_pca(path: Path, device: torch.device, directions):
    """Directions, grid and settings of an unfinished PCA surface, to resume it exactly: the PCA of
    the snapshots need not come out bitwise equal on another thread count, and the file's job
    check compares directions bitwise (the same reason ``landscape surface`` reuses them)."""
    surf = io.load(path)
    a = surf.attrs
    keys = ("direction_kind", "norm", "ignore", "seed", "include_buffers", "orthogonal")
    dirs = directions.Directions([{k: v.to(device) for k, v in d.items()} for d in surf.directions],
                                 {k: a[k] for k in keys if k in a})
    extra = {k: a[k] for k in ("trajectory_dir", "n_snapshots", "explained_variance") if k in a}
    return dirs, (surf.x, surf.y), extra
