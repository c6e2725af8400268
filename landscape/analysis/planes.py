"""Grid metrics over a direction ensemble: every number with its spread over planes, every number at
the grid's resolution said so.

:func:`plane_metrics` runs :func:`landscape.analysis.geometry.grid_metrics` on each plane of a surface
(``surface.compute(..., planes=K)``) and gives each metric per plane, its median and its central 95%
interval over planes (``landscape.base.spread.spread``). :func:`describe` turns that into the lines
``landscape info`` and ``landscape sharpness FILE`` print: a basin one cell wide reads
``< 0.1: one cell``, a curvature fitted across such a basin says it spans the walls, and the grid's
step stands beside every width.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from landscape.base.spread import Spread, fmt, mean_se, spread
from landscape.storage.io import Surface

from .geometry import DEFAULT_THRESHOLDS, grid_metrics

SCALARS = ("min", "min_se", "curvature_x", "curvature_y", "fit_r2", "n_local_minima", "n_local_minima_strict",
           "residual_energy", "barrier")
PER_THRESHOLD = ("basin_width_x", "basin_width_y", "basin_cells_x", "basin_cells_y", "basin_area", "basin_fraction",
                 "basin_clipped")
SAME = ("value", "cell_x", "cell_y", "cells_done", "cells_total", "fit_window", "basin_thresholds", "se_known")


def plane_metrics(surf: Surface, value: str = "train_loss", thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                  window: int = 2, partial: bool = False, level: float = 0.95) -> Dict[str, Any]:
    """Grid metrics of every plane and their spread: a flat dict for ``landscape.io.save_metrics``.

    Keys: ``planes`` (K), ``seeds`` (K,); per scalar metric (``min``, ``curvature_x``, ``barrier``,
    ``n_local_minima``, …) the per-plane array ``<key>`` (K,) and ``<key>_median``, ``<key>_lo``,
    ``<key>_hi``; per basin metric (``basin_width_x``, …) ``<key>`` (K, thresholds) and the same three
    over planes per threshold; the grid's settings (``cell_x``, ``basin_thresholds``, …) once.
    A surface without an ensemble is one plane: its intervals are that plane's number.
    """
    planes_ = surf.each_plane()
    per = [grid_metrics(p, value, thresholds, window, partial) for p in planes_]
    seeds = [int(p.attrs.get("seed", -1)) for p in surf.each_plane()]
    out: Dict[str, Any] = {"planes": len(per), "seeds": np.asarray(seeds, dtype=np.int64), "level": float(level)}
    out["min_on_edge"] = np.array([_on_edge(p, m["argmin"]) for p, m in zip(planes_, per)])
    for key in SAME:
        if key in per[0]:
            out[key] = per[0][key]
    for key in SCALARS:
        if key not in per[0]:
            continue
        arr = np.array([float(m[key]) for m in per])
        s = spread(arr, level, discrete=key.startswith("n_"))
        out.update({key: arr, f"{key}_median": s.median, f"{key}_lo": s.lo, f"{key}_hi": s.hi})
    for key in ("curvature_x", "curvature_y"):  # the mean along random directions estimates a (weighted) trace
        if key in out and len(per) > 1:
            # bootstrap-t suits skewed curvatures over many planes; with a few its resampled s.e. can be
            # ~0 and the interval explodes (K = 3 gave [-1e17, 1456]): Student's t there
            ms = mean_se(out[key], level, method="bootstrap-t" if len(per) >= 20 else "t")
            out.update({f"{key}_mean": ms.mean, f"{key}_mean_se": ms.se, f"{key}_mean_lo": ms.lo,
                        f"{key}_mean_hi": ms.hi})
    for key in PER_THRESHOLD:
        if key not in per[0]:
            continue
        arr = np.array([np.asarray(m[key], dtype=np.float64) for m in per])  # (K, thresholds)
        spreads = [spread(arr[:, i], level) for i in range(arr.shape[1])]
        out.update({key: arr, f"{key}_median": np.array([s.median for s in spreads]),
                    f"{key}_lo": np.array([s.lo for s in spreads]), f"{key}_hi": np.array([s.hi for s in spreads])})
    return out


def _on_edge(surf: Surface, coords) -> bool:
    """Whether coordinates ``(x,)``/``(x, y)`` lie on the grid's boundary."""
    axes = [surf.x] + ([surf.y] if surf.y is not None else [])
    return any(c <= a[0] or c >= a[-1] for c, a in zip(coords, axes))


def _spread_of(m: Dict[str, Any], key: str, i: int = None) -> Spread:
    pick = (lambda k: m[k]) if i is None else (lambda k: np.asarray(m[k])[..., i])
    arr = np.asarray(pick(key), dtype=np.float64)
    return Spread(float(pick(f"{key}_median")), float(pick(f"{key}_lo")), float(pick(f"{key}_hi")),
                  int(np.isfinite(arr).sum()), float(m.get("level", 0.95)))


def _number(m: Dict[str, Any], key: str, digits: int = 3, i: int = None) -> str:
    s = _spread_of(m, key, i)
    if m["planes"] == 1:
        return fmt(s.median, digits)
    return f"{fmt(s.median, digits)} [{fmt(s.lo, digits)}, {fmt(s.hi, digits)}]"


def resolution(m: Dict[str, Any], names: Sequence[str]) -> str:
    """``"cell 0.1 x 0.1"``: the grid's step per direction."""
    return "cell " + " x ".join(fmt(float(m[f"cell_{n}"]), 3) for n in names if f"cell_{n}" in m)


def describe(m: Dict[str, Any], ndim: int) -> List[str]:
    """The lines that report ``plane_metrics(...)``: median [95% interval] over planes, and what sits at
    the grid's resolution."""
    names = ["x", "y"][:ndim]
    K = int(m["planes"])
    head = (f"{m['value']} over {K} planes (median [95% interval]; seeds {m['seeds'][0]}..{m['seeds'][-1]})"
            if K > 1 else f"{m['value']} on one plane (one draw of directions: --planes K gives the spread)")
    lines = [f"{head}; grid {resolution(m, names)}:"]
    se = f" (s.e. {_number(m, 'min_se', 2)})" if m.get("se_known") and np.isfinite(m.get("min_se_median", np.nan)) else ""
    lines.append(f"  minimum: {_number(m, 'min', 4)}{se}, placed to ± half a cell ({resolution(m, names)})")
    if np.asarray(m.get("min_on_edge", [])).any():
        k = int(np.asarray(m["min_on_edge"]).sum())
        lines.append(f"  the grid's lowest cell is on its edge in {k} of {K} plane(s): the minimum may lie beyond the grid, "
                     "and every basin number there is a lower bound")
    one_cell = {n: np.asarray(m[f"basin_cells_{n}"])[:, 0] <= 1 for n in names}  # at the smallest threshold
    for n in names:
        note = ""
        if one_cell[n].any():
            note = (f"  (the basin is one cell wide along {n} in {int(one_cell[n].sum())} of {K} planes: the fit "
                    "spans its walls, not its bowl; the curvature there is beyond the grid's resolution)")
        mean = (f"; mean {fmt(m[f'curvature_{n}_mean'], 4)} ± {fmt(m[f'curvature_{n}_mean_se'], 2)} (95% "
                f"[{fmt(m[f'curvature_{n}_mean_lo'], 4)}, {fmt(m[f'curvature_{n}_mean_hi'], 4)}])"
                if f"curvature_{n}_mean" in m else "")
        lines.append(f"  curvature {n} (quadratic fit): {_number(m, f'curvature_{n}', 4)}{mean}{note}")
    for i, delta in enumerate(np.asarray(m["basin_thresholds"])):
        parts = []
        for n in names:
            cells = np.asarray(m[f"basin_cells_{n}"])[:, i]
            cell = float(m[f"cell_{n}"])
            if (cells <= 1).all():
                parts.append(f"{n} < {fmt(cell, 3)}: one cell" + (f" (all {K} planes)" if K > 1 else ""))
            else:
                ones = int((cells <= 1).sum())
                extra = f"; one cell in {ones} of {K}" if ones else ""
                parts.append(f"{n} {_number(m, f'basin_width_{n}', 3, i)} ({fmt(float(np.median(cells)), 3)} cells of "
                             f"{fmt(cell, 3)}{extra})")
        clipped = np.asarray(m["basin_clipped"])[:, i] > 0
        edge = (f"; reaches the grid edge in {int(clipped.sum())} of {K} planes (a lower bound there)"
                if clipped.any() and K > 1 else "; reaches the grid edge (a lower bound)" if clipped.any() else "")
        lines.append(f"  basin width at min+{delta:g}: {', '.join(parts)}{edge}")
    rule = "below every neighbour by > 2 s.e." if m.get("se_known") else "strictly below every neighbour (no s.e. stored)"
    strict = (f"; strictly below every neighbour: {_number(m, 'n_local_minima_strict', 3)}"
              if m.get("se_known") else "")
    lines.append(f"  local minima ({rule}): {_number(m, 'n_local_minima', 3)}{strict}")
    lines.append(f"  barrier to the grid's edge: {_number(m, 'barrier', 3)} (between cells: at the grid's resolution)")
    lines.append(f"  roughness (residual energy of one quadratic): {_number(m, 'residual_energy', 3)}")
    if int(m.get("cells_done", 0)) < int(m.get("cells_total", 0)):
        lines.append(f"  PARTIAL: {m['cells_done']} of {m['cells_total']} cells of plane 0 computed.")
    return lines
