"""Sampling loss and accuracy on a 1D line or a 2D plane around a model (Li et al. 2018).

``compute`` evaluates ``f(a, b) = L(w + a·d1 + b·d2)`` on a grid, in *rounds*: a round is a batch of
pending cells (sized to take about ``round_seconds``), evaluated by a
:class:`landscape.engine.PointEvaluator` and, when a ``path`` is given, written to the HDF5 file
before the next round starts. A killed job loses at most one round; rerunning it fills only the
missing cells (see ``landscape.io`` for why the file survives a kill at any moment).

    grid cells ──pending──> rounds ──PointEvaluator──> values ──sink──> file (write_cells) / arrays

The pieces are separate on purpose: ``run_rounds`` is the loop ``landscape.distributed`` shards
across ``torchrun`` ranks (detected from the environment; rank 0 alone writes the file), and the
evaluator (``landscape.engine``) is where the speed comes from.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from landscape.base import progress
from landscape.base.errors import FileFormatError, check_choice
from landscape.base.joblock import output_lock
from landscape.storage import h5attrs, io

from . import adaptive as adaptive_mod, directions as directions_mod, distributed, ensemble, inplace, seeded
from .cells import Tolerance, blocked
from .engine import BN_MODES, PRECISIONS, EngineOptions, PointEvaluator, auto_batch_size, bf16_cpu_warning
from .evaluate import (
    DEFAULT_BATCH_SIZE,
    batch_size_of,
    batches as make_batches,
    check_model_accepts,
    head,
    objective as make_objective,
)
from .params import ParamFilter, first_device, restored, select

log = logging.getLogger(__name__)

AxisSpec = Union[tuple, Sequence[float], np.ndarray]
MAX_ROUND = 4096  # cells per round at most: keeps per-round memory bounded on huge grids
# Cells per grid at most (4096 x 4096): a file of 0.5 GB and hours of work even at 1 ms a cell. Larger
# grids are almost always a typo (10001 x 10001 would allocate GBs before computing anything).
MAX_CELLS = 4096 * 4096


def axis(spec: AxisSpec, name: str = "x") -> np.ndarray:
    """Grid coordinates along one axis: ``(start, stop, num)`` (like ``np.linspace``, both ends
    included), an object with ``as_tuple()`` (the CLI's ``Range``), or an array of coordinates."""
    if hasattr(spec, "as_tuple"):
        spec = spec.as_tuple()
    if isinstance(spec, tuple) and len(spec) == 3 and isinstance(spec[2], (int, np.integer)) \
            and not isinstance(spec[2], bool):
        start, stop, num = spec
        if not 1 <= num <= MAX_CELLS:
            raise ValueError(f"{name}=(start, stop, num) needs 1 <= num <= {MAX_CELLS:,}, got {num}.")
        out = np.linspace(float(start), float(stop), int(num))
    else:
        try:
            out = np.asarray(spec, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be (start, stop, num) or an array of coordinates, got {spec!r}.") from None
    if out.size == 0 or not np.isfinite(out).all():
        raise ValueError(f"{name} must hold at least one finite coordinate, got {spec!r}.")
    if out.size > 1 and not (np.diff(out) > 0).all():
        raise ValueError(f"{name} coordinates must be strictly increasing, got {spec!r}.")
    return out


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, dtypes, shapes, bytes): recorded in the file so a
    resume against other weights is refused even when no checkpoint file is involved."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _model_spec(model: nn.Module) -> Optional[dict]:
    spec = getattr(model, "spec", None)
    if isinstance(spec, dict):
        return spec
    try:  # models/ is optional for the core: any nn.Module works without it
        from landscape import models

        return models.spec(model)
    except Exception:
        return None


def _check_directions(model: nn.Module, dirs: Sequence[Mapping[str, torch.Tensor]], params: ParamFilter):
    state = model.state_dict(keep_vars=True)
    names = list(dirs[0])
    for k, d in enumerate(dirs):
        if list(d) != names:
            raise ValueError(f"All directions must name the same tensors; direction {k} differs from direction 0.")
    unknown = [n for n in names if n not in state]
    if unknown:
        raise ValueError(f"The directions name {unknown[:3]}, which the model does not have; "
                         f"build directions from this model (e.g. landscape.directions.random(model)).")
    for d in dirs:
        for n, t in d.items():
            if tuple(t.shape) != tuple(state[n].shape) or not state[n].is_floating_point():
                raise ValueError(f"Direction entry {n!r} has shape {tuple(t.shape)}; the model's tensor is "
                                 f"{tuple(state[n].shape)} ({state[n].dtype}). Build directions from this model.")
    if params is not None:
        chosen = set(select(model, params))
        kept = [n for n in names if n in chosen]
        if not kept:
            raise ValueError("params= selects none of the tensors the directions move; pass params=None to move "
                             "everything the directions name.")
        dirs = directions_mod.Directions([{n: d[n] for n in kept} for d in dirs], getattr(dirs, "attrs", {}))
    return dirs


def _named_splits(data: Any, test_data: Any) -> Dict[str, Any]:
    # A dict of tensors is one data set (sliced into dict batches); a dict of anything else names splits.
    one_dataset = isinstance(data, Mapping) and data and all(isinstance(v, torch.Tensor) for v in data.values())
    if isinstance(data, Mapping) and not one_dataset and not any(k in data for k in ("input", "inputs", "x")):
        if test_data is not None:
            raise ValueError("Pass test data either as test_data= or as a 'test' entry of data=, not both.")
        bad = [k for k in data if not isinstance(k, str) or not k.isidentifier()]
        if not data or bad:
            raise ValueError(f"data= as a dict needs split names such as 'train' and 'test' as keys, got {list(data)}.")
        return dict(data)
    out = {"train": data}
    if test_data is not None:
        out["test"] = test_data
    return out


def cell_coords(x: np.ndarray, y: Optional[np.ndarray], flat: np.ndarray) -> np.ndarray:
    """Coordinates (k, ndim) of cells given by flat indices into the row-major grid ([y, x] for 2D)."""
    flat = np.asarray(flat, dtype=np.int64)
    if y is None:
        return x[flat][:, None]
    iy, ix = np.divmod(flat, len(x))
    return np.stack([x[ix], y[iy]], axis=1)


def run_rounds(evaluate_round: Callable[[np.ndarray], Dict[str, np.ndarray]], pending: np.ndarray,
               coords_of: Callable[[np.ndarray], np.ndarray], sink: Callable[[np.ndarray, Dict[str, np.ndarray]], None],
               bar=None, round_seconds: float = 2.0, max_round: int = MAX_ROUND) -> None:
    """Evaluate ``pending`` cells (flat indices) in rounds and hand each round to ``sink``.

    The first round is one cell; later rounds hold as many cells as fit in ``round_seconds`` at the
    measured speed (at least 1, at most ``max_round``), so a kill loses little work while the
    per-round write cost stays negligible.
    """
    size, i = 1, 0
    while i < len(pending):
        idx = pending[i:i + size]
        start = time.monotonic()
        values = evaluate_round(coords_of(idx))
        elapsed = time.monotonic() - start
        sink(idx, values)
        i += len(idx)
        if bar is not None:
            bar.update(len(idx))
            first = next(iter(values))
            bar.set_postfix_str(f"{first}={values[first][-1]:.4g}", refresh=False)
        per_cell = elapsed / len(idx)
        size = int(max(1, min(max_round, round_seconds / max(per_cell, 1e-9))))


def compute(model: nn.Module, directions, x: AxisSpec = (-1.0, 1.0, 51), y: Optional[AxisSpec] = None,
            data: Any = None, test_data: Any = None, loss: Any = "cross_entropy",
            metrics: Sequence[str] = ("loss", "acc"), bn: str = "eval", precision: str = "fp32",
            batch_size: Optional[int] = None, device: Optional[Union[str, torch.device]] = None,
            path: Optional[str] = None, resume: bool = True, overwrite: bool = False, progress: bool = True,
            params: ParamFilter = None, attrs: Optional[Mapping[str, Any]] = None,
            round_seconds: float = 2.0, bn_data: Any = None, engine: Optional[EngineOptions] = None,
            planes: int = 1, tol: Union[None, float, Tolerance] = None,
            population: Optional[Mapping[str, int]] = None, adaptive: Optional[int] = None) -> io.Surface:
    """Loss (and accuracy) of ``model`` on a grid around its weights, along ``directions``.

    Args:
        model: any ``nn.Module``; evaluated in eval mode; its weights, buffers and train/eval modes
            are restored bitwise afterwards, also on error or Ctrl-C.
        directions: one dict per axis ``{name: Tensor}`` (``landscape.directions``), or a
            ``PCADirections`` (its trajectory is stored too). Tensors named move; others stay fixed.
        x, y: grid axes: ``(start, stop, num)`` or arrays of coordinates; ``y=None`` for a 1D line.
        data: ``(X, Y)`` tensors, a Dataset, a DataLoader or an iterable of batches -> ``train_*``
            values; or a dict of named splits ``{"train": ..., "test": ...}`` -> ``<name>_*`` values.
        test_data: optional second data set -> ``test_*`` values.
        loss: "cross_entropy", "mse", "nll", a loss module or ``f(model, batch)`` (``landscape.evaluate``).
        metrics: of ("loss", "acc"); accuracy only where the loss has it (classification).
        bn: "eval" — BatchNorm uses the model's running statistics at every point (the reference
            code's behaviour); "recompute" — re-estimate them at every point with one pass over
            ``data`` (BatchNorm layers alone in train mode, equal-weight average over batches), then
            evaluate in eval mode. Costs one more pass over the training data per point.
        precision: "fp32" (IEEE float32 everywhere, TF32 disabled; matches a naive loop to ~1e-6),
            "tf32" (TF32 tensor cores on CUDA; plain fp32 on CPUs) or "bf16" (autocast to bfloat16);
            recorded in the file. See ``landscape.engine.precision_context``.
        batch_size: evaluation batch size for tensors/Datasets; no effect on the mean except float
            rounding, but it is recorded and part of the job's identity. Default for (X, Y) tensors:
            chosen from the model's largest activation per sample (``engine.auto_batch_size``: small
            on CPUs, where a batch that stays in cache is fastest, large on GPUs); else 1024. A
            resumed file keeps the batch size it records.
        device: where to evaluate (default: the model's device); the model is moved back afterwards.
        path: HDF5 file to write as it goes (resumable); None keeps everything in memory.
        resume: with an existing file of the same job, compute only its missing cells.
        overwrite: replace an existing file, whatever it holds.
        progress: show a progress bar with ETA (stderr; TTY-aware).
        params: restrict what moves to this selection (``landscape.params.select``) of the tensors
            the directions name; default: everything they name.
        attrs: settings to record (the CLI passes model, checkpoint, dataset …); merged with what
            ``compute`` knows itself (loss, bn, precision, sample counts, direction settings, …).
        round_seconds: target duration of a round (how much work a kill can lose).
        bn_data: data for ``bn="recompute"`` (default: the "train" split).
        engine: speed choices (:class:`landscape.engine.EngineOptions`: BatchNorm folding,
            channels_last, points per vmapped pass, torch.compile, threads); default: chosen per device,
            threads on CPUs from the model's size and the free cores (:mod:`landscape.threads`).
        planes: K >= 1 direction sets: ``directions`` (from ``landscape.directions.random``, seed s) and
            the same kind redrawn from seeds s+1, …, s+K-1, evaluated plane after plane into one file
            (plane 0 in the root datasets, all K in ``planes/``; :mod:`landscape.core.ensemble`).
        tol: a standard error (loss units) each cell's loss must reach: cells are evaluated on growing
            seeded blocks of samples until their s.e. is at most ``tol``, their interval lies wholly
            above the figures' cap (loss 10), or the data run out; the count per cell is stored
            (``samples/``). A :class:`landscape.core.cells.Tolerance` sets the cap, first block and
            seed. Needs ``(X, Y)`` tensor data. None: every sample at every cell.
        population: split -> size of the data set the given samples were drawn from without
            replacement: the standard errors get the finite-population correction (with ``tol``, the
            samples given are the population unless told otherwise). Default: no correction.
        adaptive: a budget of N evaluations instead of every cell: a coarse uniform start, then
            refinement where the default figure needs it; the other cells are interpolated, and the
            points are kept in ``Surface.points`` / the file's ``adaptive/`` group
            (:mod:`landscape.core.adaptive`). Between ``2 * 3**ndim`` and the number of cells.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every rank calls ``compute`` with the
    same arguments: the cells are sharded across ranks, rank 0 alone writes ``path`` and shows
    progress, and every rank returns the same Surface (``landscape.distributed``). The ranks check
    that they hold the same weights and settings; rank 0's directions are used if theirs differ.

    Returns:
        The :class:`landscape.io.Surface` (read back from ``path`` when given). Values: ``(ny, nx)``
        arrays indexed [y, x] (2D) or ``(nx,)`` (1D); accuracy as a fraction; ``se``: their standard
        errors over the samples (built-in losses); ``planes``: the ensemble (planes > 1).

    Raises:
        ValueError: bad option values, data the model does not accept, directions of another model,
            an existing ``path`` holding a different job (pass ``overwrite=True``), or a ``path``
            that another live job is filling (``landscape.joblock``).
    """
    req = _check_request(model, directions, x, y, data, bn, precision, params, planes, tol, adaptive)
    dirs, xs, ys, lowmem, trajectory = req.dirs, req.xs, req.ys, req.lowmem, req.trajectory
    planes, tol, adaptive, ndim = req.planes, req.tol, req.adaptive, 1 if req.ys is None else 2

    home = first_device(model)
    dev = torch.device(device) if device is not None else home
    slow = bf16_cpu_warning(precision, dev)
    if slow:
        log.warning(slow)
    ctx = distributed.init(dev) if distributed.from_env().active else distributed.Context()
    if ctx.active and device is not None:
        dev = distributed.device_for(dev, ctx)
    obj = make_objective(loss)
    fingerprint = weights_fingerprint(model)
    if ctx.active and lowmem:
        raise ValueError("directions.random(..., store=False) is for one process; under torchrun use stored "
                         "directions.")
    if ctx.active:
        dirs = _agree(ctx, fingerprint, dirs, dev)
    moved = False
    job = contextlib.ExitStack()  # holds the output's job lock (joblock) on rank 0
    try:
        if dev != home:
            model.to(dev)
            moved = True
        named = _named_splits(data, test_data)
        if batch_size is None:
            batch_size = (distributed.on_main(lambda: _resumed_batch_size(path, resume, overwrite), ctx)
                          or _auto_batch_size(model, named, dev))
        splits = {name: make_batches(d, batch_size, dev) for name, d in named.items()}
        if bn == "recompute":
            bn_batches = make_batches(bn_data, batch_size, dev) if bn_data is not None else splits.get("train")
            if bn_batches is None:
                raise ValueError("bn='recompute' re-estimates BatchNorm statistics on training data: include a "
                                 "'train' split in data= or pass bn_data=.")
        else:
            bn_batches = None
        if tol is not None:  # each split as one seeded permutation, cut on block ends (landscape.core.cells)
            cut = {name: blocked(d, tol, batch_size or DEFAULT_BATCH_SIZE) for name, d in named.items()}
            splits = {name: make_batches(b, None, dev) for name, (b, _) in cut.items()}
            blocks = {name: ends for name, (_, ends) in cut.items()}
            population = {name: (population or {}).get(name) or batch_size_of(d[0]) for name, d in named.items()}
        else:
            blocks = None
        with (inplace.guard(model, dirs) if lowmem else restored(model)) as kept:
            model.eval()
            for batches in splits.values():  # a few samples suffice to catch a shape mismatch
                check_model_accepts(model, [head(batches[0], 2)], obj)

            def evaluator_for(plane_dirs):
                if lowmem:
                    return inplace.InPlaceEvaluator(model, plane_dirs, splits, obj, kept, metrics, precision,
                                                    engine.threads if engine else None)
                buffer_range = (getattr(plane_dirs, "attrs", {}) or {}).get("buffer_range")
                return PointEvaluator(model, plane_dirs, splits, obj, metrics, bn=bn, bn_batches=bn_batches,
                                      precision=precision, options=engine, population=population, tol=tol,
                                      blocks=blocks, tol_batch=batch_size or DEFAULT_BATCH_SIZE,
                                      buffer_range=buffer_range)

            evaluator = evaluator_for(dirs)
            names = evaluator.value_names
            settings = _settings(model, dirs, obj.name, bn, precision, batch_size, splits, names, fingerprint,
                                 evaluator, attrs)
            settings.update(_ensemble_settings(planes, tol, population))
            shape = (len(xs),) if ys is None else (len(ys), len(xs))
            if adaptive is not None:
                settings.update(adaptive_mod.settings(adaptive, shape, names))
            if ctx.active and not distributed.same_everywhere("settings", _digest(settings)):
                raise ValueError("The ranks of this job were given different settings or data (see the log); "
                                 "every rank must run the same command.")
            seeds = ensemble.seeds(settings.get("seed", 0), planes) if planes > 1 else None
            layout = dict(se_names=getattr(evaluator, "se_names", ()),
                          sample_splits=getattr(evaluator, "sample_splits", ()),
                          plane_seeds=seeds, build_extra=adaptive_mod.allocator(adaptive, ndim, names)
                          if adaptive is not None else None)
            if path is not None:
                distributed.on_main(lambda: job.enter_context(output_lock(path)), ctx)
                out = _Output(path, ctx, distributed.on_main(
                    lambda: io.prepare(path, xs, ys, names, settings, None if lowmem else dirs, trajectory,
                                       resume=resume, overwrite=overwrite, **layout), ctx))
            else:
                out = _Output(None, ctx, np.zeros((planes,) + shape, dtype=bool))
            done, arrays = out.done, out.arrays

            total = int(np.prod(shape)) * planes
            todo = int((~done).sum())
            log.info("surface: %d of %d cells to compute (%s)%s%s", todo, total, ", ".join(names),
                     f", {planes} planes" if planes > 1 else "", f" on {ctx.world_size} ranks" if ctx.active else "")
            coords_of = lambda idx: cell_coords(xs, ys, idx)  # noqa: E731
            if adaptive is not None:  # the budget's points, then the grid interpolated from them
                def evaluate(todo_cells, put, bar):  # the sampler keeps the values it refines on
                    keep = lambda idx, vals: put(idx, {n: vals[n] for n in names})  # noqa: E731
                    if ctx.active:
                        distributed.run_sharded(evaluator, todo_cells, coords_of, keep, bar, round_seconds, ctx=ctx)
                    else:
                        run_rounds(evaluator, todo_cells, coords_of, keep, bar, round_seconds)

                points = adaptive_mod.sample(evaluate, xs, ys, names, adaptive, path, ctx, progress and ctx.is_main,
                                             coords_of)
                if arrays is not None:
                    arrays.update({n: g[None] for n, g in points["grid"].items()})
                    done[...] = True
            with progress_bar(total, total - todo, progress and ctx.is_main and adaptive is None) as bar:
                for k in range(planes if adaptive is None else 0):
                    pending = np.flatnonzero(~done[k].reshape(-1))
                    if not len(pending):
                        continue
                    if k > 0:  # plane k: the same kind of directions from seed + k, its own evaluator
                        evaluator = evaluator_for(ensemble.redraw(model, dirs, seeds[k]))
                    plane_sink = lambda idx, vals, k=k: out.put(k, idx, vals)  # noqa: E731
                    if ctx.active:
                        distributed.run_sharded(evaluator, pending, coords_of, plane_sink, bar, round_seconds, ctx=ctx)
                    else:
                        run_rounds(evaluator, pending, coords_of, plane_sink, bar, round_seconds)
                    evaluator = None  # frees its copy of the model before the next plane's
    finally:
        job.close()
        if moved:
            model.to(home)
    if path is not None:
        return distributed.on_main(lambda: io.load(path), ctx)
    surf = _in_memory(xs, ys, names, arrays, done, {**io.stamp(), **settings}, None if lowmem else dirs, trajectory,
                      seeds)
    if adaptive is not None:
        surf.points = _memory_points(points, xs, ys, adaptive)
    return surf


class _Request(NamedTuple):
    """What ``compute`` was asked for, checked: the directions as a list (or a seeded set), the axes,
    whether the model moves in place, the trajectory of PCA directions, and the ensemble options."""

    dirs: Any
    xs: np.ndarray
    ys: Optional[np.ndarray]
    lowmem: bool
    trajectory: Any
    planes: int
    tol: Optional[Tolerance]
    adaptive: Optional[int]


def _check_request(model, directions, x, y, data, bn, precision, params, planes, tol, adaptive) -> _Request:
    """``compute``'s arguments checked against each other (ValueError naming what is wrong)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}; wrap a function in an "
                         "nn.Module whose forward calls it.")
    check_choice("bn", bn, BN_MODES)
    check_choice("precision", precision, PRECISIONS)
    if data is None:
        raise ValueError("compute needs data=: (X, Y) tensors, a Dataset, a DataLoader or an iterable of batches.")
    trajectory = directions.trajectory() if isinstance(directions, directions_mod.PCADirections) else None
    # directions.random(..., store=False): drawn per tensor when needed, the model moved in place (core.inplace)
    lowmem = seeded.is_seeded(directions)
    dirs = directions if lowmem else directions_mod.as_list(directions)
    xs = axis(x, "x")
    ys = axis(y, "y") if y is not None else None
    ndim = 1 if ys is None else 2
    cells = len(xs) * (1 if ys is None else len(ys))
    if cells > MAX_CELLS:
        size = f"{len(xs)}" if ys is None else f"{len(xs)} x {len(ys)}"
        raise ValueError(f"The grid has {cells:,} cells ({size}); at most {MAX_CELLS:,} (4096 x 4096) are "
                         "allowed: use fewer points per axis.")
    if len(dirs) != ndim:
        raise ValueError(f"A {ndim}D grid (y {'given' if ys is not None else 'None'}) needs {ndim} direction(s), "
                         f"got {len(dirs)}; pass y=... for a plane or a single direction for a line.")
    if lowmem:
        inplace.check_options(params, bn)
        if planes != 1 or tol is not None:
            raise ValueError("directions.random(..., store=False) evaluates one plane on every sample: pass planes=1 "
                             "and tol=None (or stored directions for an ensemble or a tolerance).")
    else:
        dirs = _check_directions(model, dirs, params)
    planes = ensemble.check_planes(planes, dirs)
    if tol is not None and not isinstance(tol, Tolerance):
        tol = Tolerance(tol)
    if adaptive is not None:
        adaptive = adaptive_mod.check(adaptive, (len(xs),) if ys is None else (len(ys), len(xs)))
        if planes != 1 or tol is not None or lowmem:
            raise ValueError("adaptive=N samples one plane of stored directions on every sample: pass planes=1 and "
                             "tol=None (a direction ensemble or a tolerance needs the whole grid).")
    return _Request(dirs, xs, ys, lowmem, trajectory, planes, tol, adaptive)


class _Output:
    """Where a job's cells go: the HDF5 file at ``path`` (rank 0 writes; ``done`` is what it already
    held) or, with no path, ``arrays`` in memory: one ``(planes, *grid)`` array per value name."""

    def __init__(self, path: Optional[str], ctx: distributed.Context, done: np.ndarray):
        self.path, self.ctx, self.done = path, ctx, done
        self.arrays: Optional[Dict[str, np.ndarray]] = None if path is not None else {}

    def put(self, plane: int, idx: np.ndarray, vals: Mapping[str, np.ndarray]) -> None:
        if self.arrays is None:
            if self.ctx.is_main:
                io.write_cells(self.path, idx, vals, plane=plane)
            return
        for n, v in vals.items():  # a cell's sample count starts at 0, a value at NaN (not computed)
            self.arrays.setdefault(n, np.full(self.done.shape, 0 if n.startswith("samples/") else np.nan))
            self.arrays[n][plane].reshape(-1)[idx] = v
        self.done[plane].reshape(-1)[idx] = True


def _ensemble_settings(planes: int, tol, population) -> Dict[str, Any]:
    """The settings of a direction ensemble, a tolerance and the standard errors' population."""
    out: Dict[str, Any] = {}
    if planes > 1:
        out["planes"] = int(planes)
    if tol is not None:
        out.update(tol.attrs())
    if population:
        out["population"] = {k: int(v) for k, v in population.items() if v}
    return out


def _in_memory(xs, ys, names, arrays, done, settings, dirs, trajectory, seeds) -> io.Surface:
    """The Surface of a job kept in memory (``path=None``): plane 0 at the top, all of them in planes."""
    shape = done.shape[1:]

    def pick(prefix, k):
        return {n[len(prefix):]: v[k] for n, v in arrays.items() if n.startswith(prefix)}

    values = {n: arrays[n][0] if n in arrays else np.full(shape, np.nan) for n in names}
    planes = None
    if seeds is not None:
        planes = io.Planes(seeds=np.asarray(seeds),
                           values={n: arrays.get(n, np.full(done.shape, np.nan)) for n in names},
                           done=done.copy(), se={n[3:]: v for n, v in arrays.items() if n.startswith("se/")},
                           samples={n[8:]: v for n, v in arrays.items() if n.startswith("samples/")})
    return io.Surface(x=xs, y=ys, values=values, attrs=settings,
                      directions=None if dirs is None else [{k: v.detach().cpu() for k, v in d.items()} for d in dirs],
                      trajectory=trajectory,
                      computed=done[0], se=pick("se/", 0), samples=pick("samples/", 0), planes=planes)


def _memory_points(points: Mapping[str, Any], xs: np.ndarray, ys: Optional[np.ndarray], budget: int) -> Dict[str, Any]:
    """``Surface.points`` of an adaptive job kept in memory (what ``io.load`` reads from a file)."""
    return {"index": points["index"], "coords": cell_coords(xs, ys, points["index"]), "round": points["round"],
            "values": points["values"], "budget": budget, "attrs": {"sampler": adaptive_mod.SAMPLER}}


def _resumed_batch_size(path: Optional[str], resume: bool, overwrite: bool) -> Optional[int]:
    """The batch size recorded in a file this job will resume, if any: resuming keeps it (it is part
    of the job's identity) even where the automatic choice would now differ (another device, or a
    file from a version with other defaults). Unreadable files are left to ``io.prepare`` to report."""
    if path is None or overwrite or not resume or not os.path.exists(path):
        return None
    try:
        stored = io.read_attrs(path).get("batch_size")
    except (OSError, FileFormatError):
        return None
    return int(stored) if stored is not None else None


def _auto_batch_size(model: nn.Module, named: Mapping[str, Any], device: torch.device) -> Optional[int]:
    """The engine's batch size for (X, Y) tensor data (``landscape.engine.auto_batch_size``); other
    data keeps the library default (DataLoaders and iterables keep their own batches anyway)."""
    first = next(iter(named.values()))
    tensors = isinstance(first, (tuple, list)) and len(first) == 2 and isinstance(first[0], torch.Tensor)
    if tensors and len(first[0]) > 1:
        was = model.training
        model.eval()
        try:
            return auto_batch_size(model, first[0], device)
        finally:
            model.train(was)
    return None


def _digest(settings: Mapping[str, Any]) -> str:
    import json

    return hashlib.sha256(json.dumps(h5attrs.jsonable(dict(settings)), sort_keys=True).encode()).hexdigest()


def _agree(ctx: distributed.Context, fingerprint: str, dirs, device: torch.device):
    """Check every rank holds the same weights (else ValueError) and directions (else take rank 0's:
    a Hessian or PCA direction need not come out bitwise equal on every machine)."""
    if not distributed.same_everywhere("model weights", fingerprint):
        raise ValueError("The model's weights differ between ranks; every rank must load the same checkpoint.")
    if distributed.same_everywhere("directions", distributed.checksum(dirs)):
        return dirs
    log.warning("Using rank 0's directions on every rank.")
    cpu = distributed.broadcast([{k: v.detach().cpu() for k, v in d.items()} for d in dirs])
    return directions_mod.Directions([{k: cpu[i][k].to(device=t.device, dtype=t.dtype) for k, t in d.items()}
                                      for i, d in enumerate(dirs)], getattr(dirs, "attrs", {}))


def progress_bar(total: int, done: int, enabled: bool):
    return progress.bar(total=total, desc="surface", enabled=enabled, initial=done)


def _settings(model, dirs, loss_name, bn, precision, batch_size, splits, names, fingerprint, evaluator,
              attrs: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Every setting that determines the values, for the file's root attributes."""
    from .evaluate import DEFAULT_BATCH_SIZE, batch_size_of

    counts = {split: sum(batch_size_of(b) for b in batches) for split, batches in splits.items()}
    first = "train" if "train" in counts else next(iter(counts))
    spec = _model_spec(model)
    out: Dict[str, Any] = {
        "model_name": str(spec.get("name")) if spec and spec.get("name") else type(model).__name__,
        "model_spec": spec,
        "direction_kind": "custom", "norm": "none", "ignore": "none", "seed": -1,
        "loss": loss_name, "bn": bn, "precision": precision,
        "batch_size": int(batch_size or DEFAULT_BATCH_SIZE),
        "n_samples": counts[first],
        **{f"n_{split}_samples": n for split, n in counts.items() if split != first},
        "values": list(names),
        "moved_tensors": len(dirs[0]),
        "moved_numel": dirs.numel() if seeded.is_seeded(dirs) else int(sum(t.numel() for t in dirs[0].values())),
        "weights_sha256": fingerprint,
        "ndim": len(dirs),
    }
    out.update(getattr(dirs, "attrs", {}) or {})
    out.update(dict(attrs or {}))
    return out
