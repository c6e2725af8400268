"""The shape of a sampled surface: curvature, basin size and roughness, plus the curvature map.

Grid metrics work on a :class:`landscape.io.Surface` alone (no model needed):

- :func:`quadratic_fit` — least-squares quadratic ``c + g.u + u^T H u / 2`` over a small window
  around the grid minimum: per-direction curvature (the diagonal of ``H``) and the 2x2 Hessian of
  the fit, in loss per squared direction unit.
- :func:`basins` — the connected region around the minimum where the loss stays below
  ``min + delta``: its width along each axis through the minimum and its area ("flat area").
- :func:`roughness` — local minima on the grid (cells below every neighbour by more than twice the
  larger standard error of the two, where the file has them) and the residual energy of one
  quadratic fit over the whole grid (0 for a clean bowl, towards 1 for a chaotic surface; Li et al.
  2018, Fig. 5).
- :func:`escape_barrier` — the lowest rise above the minimum at which a walk from the minimum
  reaches the grid's edge (the basin's depth as the grid sees it).
- :func:`grid_metrics` — all of the above as a flat dict ready for ``landscape.io.save_metrics``.

:func:`curvature_map` needs the model: the largest and smallest Hessian eigenvalues at points of a
coarse grid in the plane of the directions, and ``|lambda_min / lambda_max|`` (Li et al. 2018,
"Visualizing the Loss Landscape of Neural Nets", Sec. 6 and Fig. 7: a small ratio means the surface
is locally convex along its dominant curvature, a large one that negative curvature is as strong).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from landscape.base.progress import bar
from landscape.core.params import ParamFilter, restored
from landscape.storage.io import Surface

DEFAULT_THRESHOLDS = (0.1, 0.5, 1.0)


def _values(surf: Surface, value: str) -> np.ndarray:
    if value not in surf.values:
        raise ValueError(f"The value for `value` must be one of {sorted(surf.values)}, but {value!r} was passed.")
    v = np.asarray(surf.values[value], dtype=np.float64)
    if not np.isfinite(v).any():
        raise ValueError(f"The surface has no finite {value!r} cell yet; compute it first.")
    return v


def _argmin(v: np.ndarray) -> Tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(np.where(np.isfinite(v), v, np.inf).argmin(), v.shape))


def _axes(surf: Surface) -> List[np.ndarray]:
    """Coordinates per array axis: [x] for a line, [y, x] for a plane (values are indexed [y, x])."""
    return [np.asarray(surf.x, np.float64)] if surf.y is None else [np.asarray(surf.y, np.float64), np.asarray(surf.x, np.float64)]


def _design(u: np.ndarray) -> np.ndarray:
    """Quadratic features of offsets ``u`` (m, d): 1, u_i, and u_i u_j (halved on the diagonal)."""
    d = u.shape[1]
    cols = [np.ones(len(u))] + [u[:, i] for i in range(d)]
    cols += [u[:, i] * u[:, j] * (0.5 if i == j else 1.0) for i in range(d) for j in range(i, d)]
    return np.stack(cols, 1)


def _fit(u: np.ndarray, z: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Least squares ``z ~ c + g.u + u^T H u / 2``; returns (c, g, H, residuals)."""
    A = _design(u)
    if len(z) < A.shape[1] or np.linalg.matrix_rank(A) < A.shape[1]:
        raise ValueError(f"A quadratic fit in {u.shape[1]}D needs {A.shape[1]} computed cells that are not all on "
                         f"one line; got {len(z)}. Use a larger window or compute more of the grid.")
    coef, *_ = np.linalg.lstsq(A, z, rcond=None)
    d = u.shape[1]
    H = np.zeros((d, d))
    k = 1 + d
    for i in range(d):
        for j in range(i, d):
            H[i, j] = H[j, i] = coef[k]
            k += 1
    return float(coef[0]), coef[1:1 + d], H, z - A @ coef


@dataclass
class QuadraticFit:
    """A quadratic fitted around the grid minimum. Coordinates are ``(x,)`` or ``(x, y)``.

    hessian: (d, d) second derivatives of the fit (loss per squared direction unit), order (x, y)
    curvature: (d,) its diagonal, the curvature along each direction;  eigenvalues: (d,) of hessian
    gradient: (d,) slope of the fit at the grid minimum;  r2: fraction of variance explained
    """

    value: str
    center: Tuple[float, ...]
    min_value: float
    hessian: np.ndarray
    curvature: np.ndarray
    eigenvalues: np.ndarray
    gradient: np.ndarray
    residual_rms: float
    r2: float
    n_points: int
    window: int

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: (getattr(self, f.name).tolist() if isinstance(getattr(self, f.name), np.ndarray)
                         else getattr(self, f.name)) for f in fields(self)}


def quadratic_fit(surf: Surface, value: str = "train_loss", window: int = 2) -> QuadraticFit:
    """Fit ``L(u) ~ c + g.u + u^T H u / 2`` to the finite cells within ``window`` cells of the minimum.

    ``u`` is the offset from the grid minimum in the surface's coordinates (x first, then y), so
    ``H[0, 0]`` is the curvature along the first direction. The window is clipped at the grid's edge.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive whole number of cells, but {window!r} was passed.")
    v = _values(surf, value)
    center = _argmin(v)
    axes = _axes(surf)
    slices = tuple(slice(max(c - window, 0), c + window + 1) for c in center)
    grids = np.meshgrid(*[a[s] - a[c] for a, s, c in zip(axes, slices, center)], indexing="ij")
    z = v[slices]
    ok = np.isfinite(z)
    u = np.stack([g[ok] for g in grids], 1)[:, ::-1]  # array order (y, x) -> direction order (x, y)
    c, g, H, res = _fit(u, z[ok])
    tss = float(((z[ok] - z[ok].mean()) ** 2).sum())
    return QuadraticFit(value=value, center=surf.coords(center), min_value=float(v[center]), hessian=H,
                        curvature=np.diag(H).copy(), eigenvalues=np.linalg.eigvalsh(H), gradient=g,
                        residual_rms=float(np.sqrt(np.mean(res ** 2))),
                        r2=float(1 - (res ** 2).sum() / tss) if tss > 0 else 1.0, n_points=int(ok.sum()),
                        window=int(window))


def _cell_widths(a: np.ndarray) -> np.ndarray:
    """Width of each grid cell along one axis (midpoint to midpoint; half cells at the ends doubled)."""
    if len(a) == 1:
        return np.ones(1)
    mids = (a[1:] + a[:-1]) / 2
    edges = np.concatenate([[a[0] - (mids[0] - a[0])], mids, [a[-1] + (a[-1] - mids[-1])]])
    return np.diff(edges)


def basins(surf: Surface, value: str = "train_loss", thresholds: Sequence[float] = DEFAULT_THRESHOLDS
           ) -> List[Dict[str, Any]]:
    """Size of the basin around the grid minimum for each loss rise ``delta`` in ``thresholds``.

    The basin is the connected region (4-neighbour) containing the minimum where the value is at most
    ``min + delta``. For each delta: ``width`` per direction (x, y) — the length of the unbroken run of
    basin cells through the minimum along that axis, summing cell widths — ``area`` (cells times cell
    area, squared direction units; the width for a line), ``fraction`` of the grid, ``clipped``:
    the basin touches the grid's edge, so the numbers are lower bounds, and ``cells``: the run's
    length in cells per direction (1: the basin is one cell wide, narrower than the grid resolves).
    """
    from scipy import ndimage

    deltas = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if deltas.ndim != 1 or deltas.size == 0 or not (np.isfinite(deltas).all() and (deltas > 0).all()):
        raise ValueError(f"thresholds must be positive loss rises above the minimum, but {thresholds!r} was passed.")
    v = _values(surf, value)
    center = _argmin(v)
    widths = [_cell_widths(a) for a in _axes(surf)]
    cell_area = widths[0] if v.ndim == 1 else np.outer(widths[0], widths[1])
    out = []
    for delta in deltas:
        inside = np.isfinite(v) & (v <= v[center] + delta)
        labels, _ = ndimage.label(inside)
        region = labels == labels[center]
        run_widths, run_cells = [], []
        for axis in range(v.ndim):
            line = list(center)
            line[axis] = slice(None)
            run = region[tuple(line)]
            lo = hi = center[axis]
            while lo > 0 and run[lo - 1]:
                lo -= 1
            while hi < len(run) - 1 and run[hi + 1]:
                hi += 1
            run_widths.append(float(widths[axis][lo:hi + 1].sum()))
            run_cells.append(int(hi - lo + 1))
        edge = np.zeros_like(region)
        for axis in range(v.ndim):
            idx = [slice(None)] * v.ndim
            for end in (0, -1):
                idx[axis] = end
                edge[tuple(idx)] = True
        out.append({
            "delta": float(delta),
            "level": float(v[center] + delta),
            "width": run_widths[::-1],  # array order (y, x) -> direction order (x, y)
            "area": float(cell_area[region].sum()),
            "fraction": float(region.sum() / region.size),
            "clipped": bool((region & edge).any()),
            "cells": run_cells[::-1],
        })
    return out


def _significant_minima(v: np.ndarray, se: np.ndarray, k: float = 2.0) -> np.ndarray:
    """Cells below every finite neighbour (8 in 2D, 2 on a line) by more than ``k`` times the larger
    standard error of the two (``se`` 0: strictly below). A cell with no finite neighbour is none."""
    finite = np.isfinite(v)
    out = finite.copy()
    any_neighbour = np.zeros_like(finite)
    pad = [(1, 1)] * v.ndim
    vp = np.pad(np.where(finite, v, np.nan), pad, constant_values=np.nan)
    sp = np.pad(se, pad, constant_values=0.0)
    for shift in np.ndindex(*(3,) * v.ndim):
        if all(s == 1 for s in shift):
            continue
        window = tuple(slice(s, s + n) for s, n in zip(shift, v.shape))
        nv, ns = vp[window], sp[window]
        real = np.isfinite(nv)
        any_neighbour |= real
        with np.errstate(invalid="ignore"):
            out &= ~real | (v + k * np.maximum(se, ns) < nv)
    return out & any_neighbour


def roughness(surf: Surface, value: str = "train_loss") -> Dict[str, Any]:
    """How far the surface is from one smooth bowl.

    n_local_minima:  cells below all their finite neighbours (8 in 2D, 2 on a line) by more than
                     twice the larger standard error of the two (the data noise of each cell's mean,
                     ``surf.se``; strictly below where the file has none), plus the grid's lowest
                     cell, which always counts (1 for a convex surface, however flat its floor)
    n_local_minima_strict: cells strictly below all their neighbours, noise or not (the old count)
    residual_energy: ``1 - R^2`` of a single quadratic fitted to every finite cell: the share of the
                     surface's variance a quadratic cannot explain. Steep walls far above the basin
                     dominate it: a smooth bowl inside walls that rise faster than a parabola scores
                     as rough.
    residual_energy_below_cap: the same over the cells at or below ``roughness_cap``, the top of
                     the figures' colour scale for a loss (``landscape.plot.loss_cap`` of the
                     minimum: 10 for a loss whose minimum is below 5), so it measures the region a
                     reader sees drawn; NaN when fewer cells than a quadratic has coefficients
                     (``cells_below_cap`` says how many). For an accuracy every cell counts.
    """
    v = _values(surf, value)
    finite = np.isfinite(v)
    se = np.asarray(surf.se.get(value, np.zeros(v.shape)), dtype=np.float64)
    se = np.where(np.isfinite(se), se, 0.0)
    minima = _significant_minima(v, se)
    minima[_argmin(v)] = True  # the grid's lowest cell: a minimum even where its basin is flat within noise
    strict = _significant_minima(v, np.zeros(v.shape), 0.0)
    if surf.points is not None:  # an adaptive grid: only evaluated cells can show a minimum
        minima &= evaluated_mask(surf)
        strict &= evaluated_mask(surf)
    grids = np.meshgrid(*_axes(surf), indexing="ij")
    u = np.stack([g[finite] for g in grids], 1)[:, ::-1]
    z = v[finite]
    cap = _cap(value, z)
    below = z <= cap
    return {"n_local_minima": int(minima.sum()), "n_local_minima_strict": int(strict.sum()),
            "se_known": bool(value in surf.se), "residual_energy": _residual_energy(u, z),
            "residual_energy_below_cap": _residual_energy(u[below], z[below]), "roughness_cap": cap,
            "cells_below_cap": int(below.sum())}


def _cap(value: str, z: np.ndarray) -> float:
    """The figures' default top for ``value`` (a loss: ``loss_cap`` of its minimum; else inf)."""
    if z.size == 0 or "acc" in value:
        return float("inf")
    from landscape.plot import loss_cap

    return float(loss_cap(float(z.min())))


def _residual_energy(u: np.ndarray, z: np.ndarray) -> float:
    """``1 - R^2`` of one quadratic through the points ``(u, z)``; NaN for too few points."""
    if len(z) == 0:
        return float("nan")
    tss = float(((z - z.mean()) ** 2).sum())
    try:
        _, _, _, res = _fit(u, z)
    except ValueError:
        return float("nan")  # too few cells for a quadratic
    return float((res ** 2).sum() / tss) if tss > 0 else 0.0


def escape_barrier(surf: Surface, value: str = "train_loss") -> float:
    """The lowest rise above the grid minimum at which the cells at most that high, connected to the
    minimum (8-neighbour), reach the grid's edge: how far the loss must climb to leave the basin
    within the grid. 0 when the minimum lies on the edge. Resolution: the grid's cells only (the
    true pass between two cells may lie lower)."""
    from scipy import ndimage

    v = _values(surf, value)
    center = _argmin(v)
    finite = np.isfinite(v)
    edge = np.zeros(v.shape, dtype=bool)
    for axis in range(v.ndim):
        idx = [slice(None)] * v.ndim
        for end in (0, -1):
            idx[axis] = end
            edge[tuple(idx)] = True
    levels = np.unique(v[finite & (v >= v[center])])
    structure = np.ones((3,) * v.ndim, dtype=bool)
    lo, hi = 0, len(levels) - 1
    if not (edge & finite).any():
        return float("nan")
    while lo < hi:  # the smallest level whose region around the minimum touches the edge
        mid = (lo + hi) // 2
        labels, _ = ndimage.label(finite & (v <= levels[mid]), structure=structure)
        if (edge & (labels == labels[center])).any():
            hi = mid
        else:
            lo = mid + 1
    return float(levels[lo] - v[center])


def grid_metrics(surf: Surface, value: str = "train_loss", thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                 window: int = 2, partial: bool = False) -> Dict[str, Any]:
    """Every grid metric of ``surf[value]`` as a flat dict of numbers and arrays (for ``save_metrics``).

    Keys: value, min, argmin (coordinates), fit_* (see :func:`quadratic_fit`; ``curvature_x``,
    ``curvature_y``), basin_* arrays over ``thresholds`` (see :func:`basins`; widths per direction,
    ``basin_cells_*`` their length in cells), n_local_minima(_strict) and residual_energy (see
    :func:`roughness`), barrier (:func:`escape_barrier`), ``cell_x``/``cell_y`` (the grid's step:
    the resolution every width and position is limited by), min_se (the minimum cell's standard
    error), cells_done and cells_total.

    A partly computed surface (an interrupted job) raises ValueError: the minimum, the fit and the
    basins of the computed rows alone describe another grid. ``partial=True`` measures it anyway;
    ``cells_done < cells_total`` then says so.
    """
    done = surf.done()
    if not partial and not done.all():
        raise ValueError(f"The surface is partly computed ({int(done.sum())} of {done.size} cells); its metrics would "
                         "describe the computed cells only. Finish it first, or pass partial=True.")
    fit = quadratic_fit(surf, value, window)
    found = basins(surf, value, thresholds)
    names = ["x", "y"][:surf.ndim]
    out: Dict[str, Any] = {"value": value, "min": fit.min_value, "argmin": list(fit.center),
                           "cells_done": int(done.sum()), "cells_total": int(done.size)}
    for name, c in zip(names, fit.curvature):
        out[f"curvature_{name}"] = float(c)
    out.update({
        "fit_hessian": fit.hessian, "fit_eigenvalues": fit.eigenvalues, "fit_gradient": fit.gradient,
        "fit_residual_rms": fit.residual_rms, "fit_r2": fit.r2, "fit_window": fit.window,
        "fit_points": fit.n_points,
        "basin_thresholds": np.array([b["delta"] for b in found]),
        "basin_area": np.array([b["area"] for b in found]),
        "basin_fraction": np.array([b["fraction"] for b in found]),
        "basin_clipped": np.array([b["clipped"] for b in found]),
    })
    for i, name in enumerate(names):
        out[f"basin_width_{name}"] = np.array([b["width"][i] for b in found])
        out[f"basin_cells_{name}"] = np.array([b["cells"][i] for b in found])
        a = np.asarray(surf.x if name == "x" else surf.y, np.float64)
        out[f"cell_{name}"] = float(np.median(np.diff(a))) if len(a) > 1 else float("nan")
    if surf.points is not None:
        out.update(sampled_resolution(surf, value, found))
    out.update(roughness(surf, value))
    out["barrier"] = escape_barrier(surf, value)
    se = surf.se.get(value)
    out["min_se"] = float(np.asarray(se)[_argmin(_values(surf, value))]) if se is not None else float("nan")
    return out


def evaluated_mask(surf: Surface) -> np.ndarray:
    """Cells of an adaptive surface that were evaluated (the others are interpolated); all cells of
    a uniform one."""
    if surf.points is None:
        return np.ones(surf.shape, bool)
    mask = np.zeros(surf.shape, bool)
    mask.reshape(-1)[np.asarray(surf.points["index"], np.int64)] = True
    return mask


def sampled_resolution(surf: Surface, value: str, found: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """How finely an adaptive surface was sampled where its basin widths end.

    A basin width reads the grid, but between evaluated points the grid is interpolated: an end of a
    width (the last basin cell on the line through the minimum, and the first cell beyond it) is
    known to within about the distance to the evaluated points around it. ``basin_width_resolution_
    <x|y>`` (per threshold) is, for the worse of the two ends, one cell width plus the distances from
    those two cells to their nearest evaluated cells, in direction units (one cell width where every
    cell there was evaluated); ``evaluated`` counts the evaluated cells.
    """
    from scipy.spatial import cKDTree

    v = _values(surf, value)
    center = _argmin(v)
    mask = evaluated_mask(surf)
    axes = _axes(surf)
    grids = np.meshgrid(*axes, indexing="ij")
    tree = cKDTree(np.stack([g[mask] for g in grids], 1))
    out: Dict[str, Any] = {"evaluated": int(mask.sum())}
    for i, name in enumerate(["x", "y"][:surf.ndim]):
        axis = v.ndim - 1 - i  # x is the last array axis
        a = axes[axis]
        step = float(np.min(np.diff(a))) if len(a) > 1 else 0.0
        res = []
        for b in found:
            line = list(center)
            line[axis] = slice(None)
            run = (np.isfinite(v) & (v <= b["level"]))[tuple(line)]
            lo = hi = center[axis]
            while lo > 0 and run[lo - 1]:
                lo -= 1
            while hi < len(run) - 1 and run[hi + 1]:
                hi += 1
            worst = 0.0
            for end, beyond in ((lo, max(lo - 1, 0)), (hi, min(hi + 1, len(a) - 1))):
                cells = []
                for k in (end, beyond):
                    at = list(center)
                    at[axis] = k
                    cells.append([g[tuple(at)] for g in grids])
                worst = max(worst, float(tree.query(np.array(cells))[0].sum()))
            res.append(step + worst)
        out[f"basin_width_resolution_{name}"] = np.array(res)
    return out


# --------------------------------------------------------------------------------------------------
# the |lambda_min / lambda_max| map (needs the model)


@dataclass
class CurvatureMap:
    """Extreme Hessian eigenvalues on a grid in the plane of two directions (Li et al. 2018, Fig. 7).

    x: (nx,), y: (ny,) coordinates; lambda_max, lambda_min, ratio: (ny, nx) arrays indexed [y, x]
    (``(nx,)`` on a line), ``ratio = |lambda_min / lambda_max|``.
    """

    x: np.ndarray
    y: Optional[np.ndarray]
    lambda_max: np.ndarray
    lambda_min: np.ndarray
    ratio: np.ndarray
    n_samples: int
    seed: int
    iterations: int
    tol: float
    method: str

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: (getattr(self, f.name).tolist() if isinstance(getattr(self, f.name), np.ndarray)
                         else getattr(self, f.name)) for f in fields(self)}


def curvature_map(model: nn.Module, data: Any, directions: Sequence[Mapping[str, torch.Tensor]], x: Sequence[float],
                  y: Optional[Sequence[float]] = None, loss: Any = "cross_entropy", params: ParamFilter = None,
                  bn: str = "eval", method: str = "lanczos", tol: float = 1e-3, seed: int = 0,
                  batch_size: Optional[int] = None, progress: bool = False) -> CurvatureMap:
    """``lambda_max``, ``lambda_min`` and ``|lambda_min / lambda_max|`` at ``w + x_j d1 + y_i d2``.

    ``directions`` are dicts keyed by parameter (or buffer) name, as :mod:`landscape.directions` makes
    them; one for a line (``y=None``), two for a plane. Each point costs two eigenvalue solves
    (:func:`landscape.sharpness.hessian_eigs`, LA and SA), so keep the grid coarse (5x5 is typical).
    The model is restored bitwise afterwards.
    """
    from .sharpness import hessian_eigs

    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ys = None if y is None else np.atleast_1d(np.asarray(y, dtype=np.float64))
    dirs = list(directions)
    if len(dirs) != (1 if ys is None else 2):
        raise ValueError(f"curvature_map needs {1 if ys is None else 2} direction(s) for "
                         f"{'a line (y=None)' if ys is None else 'a plane'}, but {len(dirs)} were passed.")
    live = model.state_dict(keep_vars=True)
    unknown = sorted({k for d in dirs for k in d} - set(live))
    if unknown:
        raise ValueError(f"The directions name tensors the model does not have, e.g. {unknown[:2]}; "
                         "they belong to another architecture.")
    shape = (len(xs),) if ys is None else (len(ys), len(xs))
    lam_max, lam_min = np.full(shape, np.nan), np.full(shape, np.nan)
    iterations, count = 0, 0
    with restored(model), bar(int(np.prod(shape)), "curvature map", progress) as b:
        origin = {k: live[k].detach().clone() for d in dirs for k in d}
        for index in np.ndindex(*shape):
            coords = (xs[index[0]],) if ys is None else (xs[index[1]], ys[index[0]])
            with torch.no_grad():
                for k, w0 in origin.items():
                    step = sum(c * d[k].to(w0.device, w0.dtype) for c, d in zip(coords, dirs) if k in d)
                    live[k].copy_(w0 + step)
            top = hessian_eigs(model, data, k=1, which="LA", method=method, loss=loss, params=params, bn=bn,
                               seed=seed, tol=tol, batch_size=batch_size)
            low = hessian_eigs(model, data, k=1, which="SA", method=method, loss=loss, params=params, bn=bn,
                               seed=seed, tol=tol, batch_size=batch_size)
            lam_max[index], lam_min[index] = top.values[0], low.values[0]
            iterations += top.iterations + low.iterations
            count = top.n_samples
            b.update(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(lam_min / lam_max)
    return CurvatureMap(x=xs, y=ys, lambda_max=lam_max, lambda_min=lam_min, ratio=ratio, n_samples=count, seed=seed,
                        iterations=iterations, tol=tol, method=method)


def coarse_axis(coords: np.ndarray, n: int) -> np.ndarray:
    """``n`` coordinates picked evenly from a surface axis (ends included), so a coarse map overlays it."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of points per axis, but {n!r} was passed.")
    idx = np.unique(np.round(np.linspace(0, len(coords) - 1, min(n, len(coords)))).astype(int))
    return np.asarray(coords, dtype=np.float64)[idx]


def surface_curvature_map(surf: Surface, model: nn.Module, data: Any, n: int = 5, **kwargs: Any) -> CurvatureMap:
    """:func:`curvature_map` on an ``n`` x ``n`` subset of ``surf``'s own grid, along its stored directions."""
    if not surf.directions:
        raise ValueError("The surface file holds no directions, so the plane cannot be rebuilt; recompute the "
                         "surface with landscape surface (which stores them).")
    ys = None if surf.y is None else coarse_axis(surf.y, n)
    return curvature_map(model, data, surf.directions, coarse_axis(surf.x, n), ys, **kwargs)
