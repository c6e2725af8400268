"""Adaptive grids: the picture of a uniform grid for a fraction of its evaluations.

Most cells of a uniform plane lie on the flat floor of the basin or on the steep walls far above
the figure's cap, where nothing drawn changes. ``compute(..., adaptive=N)`` spends a budget of N
evaluations instead, on points of the requested grid's lattice (so every evaluated cell holds its
exact value), and fills the other cells by interpolation:

1. a coarse uniform start over the whole range (about N/4 points, at least 3 per axis);
2. rounds of refinement: the start's cells form a tree (quadtree in 2D, binary in 1D); a leaf is
   refined by evaluating the midpoints of its edges and its centre, which splits it in four. Each
   round refines the leaves where the figure is least certain, ranked by
   ``size² × (badness + 0.1)``, where badness (in units of the figure's contour spacing) is the
   largest of

   - how far a local quadratic fit (over the points around the leaf) disagrees with the leaf's
     multilinear interpolation at the points a refinement would add, and with the points it
     already has (a rough neighbourhood fits no quadratic);
   - for a leaf whose corners straddle a contour level of the figure's scale (``plot.shared_scale``:
     the levels a contour plot draws, plus ``min + 0.1 / 0.5 / 1`` where basin widths are measured),
     the same disagreement as a shift of the contour in cells (a contour placed within half a cell
     costs nothing more);
   - 2 on the basin's floor (the lowest contour band), 30 on a leaf touching the lowest point found
     (the minimum is located down to one lattice cell: its curvature fit and narrow pits need it);

   a leaf wholly above the figure's cap is never refined: points above the cap are spent only
   where a leaf straddles it, to locate it.
3. the regular grid at the requested resolution: evaluated cells exactly, the rest interpolated
   (Clough-Tocher, C1 piecewise cubic on the Delaunay triangulation of the points, in log space for
   positive losses, clipped to the range of the sampled values; PCHIP on a line); a cell inside a
   triangle with a non-finite corner is NaN.

Every choice is a pure function of the points evaluated in earlier rounds, the budget and the grid:
the same job gives the same points and the same grid bit for bit, whatever the number of processes
or how often it was killed and resumed. A round is recorded in the file before it is evaluated
(``landscape.storage.points``); a resumed job replays the rounds from the file, checks they are
the rounds it would choose, and evaluates only the points not done.

Why not python-adaptive's ``Learner2D`` (tried: adaptive 1.5.2): it refines a triangulation at
arbitrary points (no lattice: no exact cells, nothing shared with the uniform grid of a comparison),
its ask/tell state (the stack of candidate points, the pending set) must be pickled to resume and
replayed call by call to be deterministic, and its loss sees no figure (cap, contour levels, basin
floor). Measured on the benchmark's planes (README, "Adaptive grids"), 441 points snapped to the
101 x 101 lattice: on the raw loss it put 6-10% of its points below the cap, with a largest error
there of 1.24 / 5.03 (ResNet-56 / without skips; this module: 0.32 / 1.07); told the loss clipped at
the cap, it put half of them below the cap and reached 0.23 / 0.81, better than this module's
quadtree on that one number. Resume, determinism, lattice cells, the floor and the minimum, and no
five new dependencies decided for our own refinement (~200 lines).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from landscape.plot import shared_scale

SAMPLER = "landscape-quadtree-1"   # recorded in the file: a resumed job must choose points the same way
MIN_AXIS = 5                       # lattice points per axis an adaptive grid needs (3 for the start + 2)
MIN_START = 3                      # start points per axis at least
START_SHARE = 0.25                 # of the budget spent on the coarse uniform start
ROUNDS = 12                        # refinement rounds (about): the budget after the start, in equal rounds
MIN_ROUND = 8                      # points per round at least
BASIN_DELTAS = (0.1, 0.5, 1.0)     # the rises above the minimum where basin widths are measured
FLOOR_BADNESS = 2.0
MIN_BADNESS = 30.0

Cell = Tuple[Tuple[int, int], ...]  # per array axis, (lo, hi) lattice indices of a leaf's corners


def check(budget: Any, shape: Sequence[int], name: str = "adaptive") -> int:
    """The budget as an int, or ValueError (one line) naming ``name``, the value and the limits."""
    cells = int(np.prod(shape))
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number of evaluations, got {budget!r}.")
    small = [n for n in shape if n < MIN_AXIS]
    if small:
        size = " x ".join(str(n) for n in reversed(shape))
        raise ValueError(f"{name} {budget} needs at least {MIN_AXIS} points per axis to refine between, but the grid "
                         f"is {size}: use a finer grid (e.g. -1:1:51) or a uniform one (no {name}).")
    least = min(2 * MIN_START ** len(shape), cells)
    if not least <= budget <= cells:
        raise ValueError(f"{name} {budget} is not allowed for this {len(shape)}D grid: give between {least} "
                         f"evaluations (a {MIN_START}-point start per axis and as many to refine) and the grid's "
                         f"{cells:,} cells.")
    return int(budget)


def start_axes(shape: Sequence[int], budget: int) -> List[np.ndarray]:
    """Lattice indices of the coarse start along each axis: about ``budget / 4`` points in all."""
    m = max(MIN_START, int(math.floor((budget * START_SHARE) ** (1 / len(shape)))))
    return [np.unique(np.round(np.linspace(0, n - 1, min(m, n))).astype(np.int64)) for n in shape]


def round_size(shape: Sequence[int], budget: int) -> int:
    start = int(np.prod([len(a) for a in start_axes(shape, budget)]))
    return max(MIN_ROUND, math.ceil((budget - start) / ROUNDS))


def _splits(lo: int, hi: int) -> tuple:
    return (lo, hi) if hi - lo < 2 else (lo, (lo + hi) // 2, hi)


def _children(c: Cell) -> Optional[List[Cell]]:
    sp = [_splits(lo, hi) for lo, hi in c]
    if all(len(s) == 2 for s in sp):
        return None  # one lattice cell: nothing left to refine
    kids: List[Cell] = [()]
    for s in sp:
        kids = [k + ((s[i], s[i + 1]),) for k in kids for i in range(len(s) - 1)]
    return kids


def _new_points(c: Cell) -> List[tuple]:
    """The lattice points a refinement of ``c`` adds (its corners are known)."""
    corners = set(itertools.product(*c))
    return [p for p in itertools.product(*[_splits(lo, hi) for lo, hi in c]) if p not in corners]


def leaves(shape: Sequence[int], axes: Sequence[np.ndarray], have: np.ndarray) -> List[Cell]:
    """The leaves of the refinement tree, read off the evaluated lattice points ``have`` (bool,
    ``shape``): a cell is refined exactly when every point its refinement adds is evaluated."""
    cells: List[Cell] = [()]
    for a in axes:
        cells = [c + ((int(a[i]), int(a[i + 1])),) for c in cells for i in range(len(a) - 1)]
    out: List[Cell] = []
    stack = list(reversed(cells))
    while stack:
        c = stack.pop()
        kids = _children(c)
        if kids is None or not all(have[p] for p in _new_points(c)):
            out.append(c)
        else:
            stack.extend(reversed(kids))
    return out


def _quadratic(u: np.ndarray) -> np.ndarray:
    d = u.shape[1]
    cols = [np.ones(len(u))] + [u[:, i] for i in range(d)] + [u[:, i] * u[:, j] for i in range(d) for j in range(i, d)]
    return np.stack(cols, 1)


def _multilinear(corners: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Interpolate a (2,)*d block of corner values (a size-1 axis is constant) at ``t`` (k, d) in [0, 1]."""
    out = np.zeros(len(t))
    for bits in itertools.product(*[range(s) for s in corners.shape]):
        w = np.ones(len(t))
        for ax, b in enumerate(bits):
            if corners.shape[ax] > 1:
                w = w * (t[:, ax] if b else 1 - t[:, ax])
        out += w * corners[bits]
    return out


def figure_levels(values: np.ndarray, value: str) -> Tuple[float, float, np.ndarray]:
    """``(vmin, cap, levels)`` of the default figure of ``values`` (``plot.shared_scale``) plus the
    basin-width levels ``vmin + BASIN_DELTAS`` below the cap."""
    scale = shared_scale([values], value=value)
    extra = scale.vmin + np.asarray(BASIN_DELTAS)
    return scale.vmin, scale.vmax, np.unique(np.concatenate([scale.levels, extra[extra < scale.vmax]]))


def next_points(shape: Sequence[int], budget: int, flat: np.ndarray, values: np.ndarray, value: str = "train_loss"
                ) -> np.ndarray:
    """The next round: sorted flat indices of new lattice points (empty when done).

    ``flat`` (k,) are the points evaluated so far, ``values`` (k,) the figure's value there
    (non-finite: a diverged loss, above any cap). A pure function of its arguments.
    """
    flat = np.asarray(flat, np.int64)
    left = budget - len(flat)
    v = np.asarray(values, np.float64)
    finite = np.isfinite(v)
    if left <= 0 or not finite.any():
        return np.zeros(0, np.int64)
    vmin, cap, levels = figure_levels(v[finite], value)
    spacing = float(np.diff(levels).min()) if len(levels) > 1 else 1.0
    raw = np.full(shape, np.nan)
    raw.reshape(-1)[flat] = np.where(finite, v, np.inf)
    have = np.zeros(shape, bool)
    have.reshape(-1)[flat] = True
    pts = np.stack(np.unravel_index(flat, shape), 1).astype(np.float64)  # (k, d) lattice coordinates
    z_all = raw.reshape(-1)[flat]
    below = z_all < cap
    ranked = []
    for c in leaves(shape, start_axes(shape, budget), have):
        new = _new_points(c)
        if not new:
            continue
        block = raw[tuple(slice(lo, hi + 1) for lo, hi in c)]
        known = np.minimum(block[~np.isnan(block)], cap)
        lo_v, hi_v = float(known.min()), float(known.max())
        if lo_v >= cap:
            continue  # wholly above the cap: nothing of the figure here
        size = max(hi - lo for lo, hi in c)
        bad = _badness(c, new, raw, pts, z_all, below, cap) / spacing
        if np.any((levels > lo_v) & (levels < hi_v)):  # a contour crosses: its shift in cells
            bad = max(bad, bad * spacing * size / max(hi_v - lo_v, 1e-300) / 0.5)
        if lo_v <= vmin + spacing:
            bad = max(bad, FLOOR_BADNESS)
        if lo_v <= vmin:
            bad = max(bad, MIN_BADNESS)
        ranked.append((size ** 2 * (bad + 0.1), c, new))
    ranked.sort(key=lambda r: -r[0])  # stable: ties keep the leaves' (deterministic) order
    limit = min(left, round_size(shape, budget))
    chosen: List[int] = []
    planned = set()
    for _, c, new in ranked:
        need = [p for p in new if not have[p] and p not in planned]
        if len(chosen) + len(need) > limit:
            if len(chosen) + len(need) > left:
                continue  # does not fit the budget: a smaller leaf may
            break
        planned.update(need)
        chosen += [int(np.ravel_multi_index(p, shape)) for p in need]
        if len(chosen) >= limit:
            break
    return np.array(sorted(chosen), np.int64)


def _badness(c: Cell, new: List[tuple], raw: np.ndarray, pts: np.ndarray, z_all: np.ndarray, below: np.ndarray,
             cap: float) -> float:
    """How far a quadratic fitted to the points around leaf ``c`` (below the cap, within one leaf
    size of it) is from the leaf's interpolation at the points it would add, or from its own points."""
    lo = np.array([a for a, _ in c], np.float64)
    hi = np.array([b for _, b in c], np.float64)
    width = np.maximum(hi - lo, 1.0)
    near = below & np.all((pts >= lo - width) & (pts <= hi + width), axis=1)
    p, z = pts[near], z_all[near]
    corners = raw[tuple(slice(int(a), int(b) + 1, max(1, int(b - a))) for a, b in zip(lo, hi))]
    A = _quadratic((p - (lo + hi) / 2) / width)
    if len(z) < A.shape[1]:
        known = np.minimum(corners[np.isfinite(corners)], cap)
        return float(known.max() - known.min()) if known.size else 0.0
    coef, _, rank, _ = np.linalg.lstsq(A, z, rcond=None)
    if rank < A.shape[1]:  # the points around lie on a line: no curvature to read
        known = np.minimum(corners[np.isfinite(corners)], cap)
        return float(known.max() - known.min()) if known.size else 0.0
    at = np.array(new, np.float64)
    q = np.minimum(_quadratic((at - (lo + hi) / 2) / width) @ coef, cap)
    with np.errstate(invalid="ignore", over="ignore"):
        lin = np.minimum(_multilinear(np.minimum(corners, 1e300), (at - lo) / width), cap)
    inside = np.all((p >= lo) & (p <= hi), axis=1)
    residual = np.abs(z - A @ coef)[inside]
    return float(max(np.abs(q - lin).max(), residual.max() if residual.size else 0.0))


# --- the grid -----------------------------------------------------------------------------------

def interpolate(shape: Sequence[int], flat: np.ndarray, values: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The regular grid (``shape``) of each value from the points ``flat`` (exact there).

    2D: Clough-Tocher on the Delaunay triangulation of the lattice coordinates (log space for a
    positive ``*_loss``), clipped to the sampled range; a cell in a triangle with a non-finite
    corner is NaN. 1D: PCHIP (monotone between points, no overshoot), same rules.
    """
    from scipy.interpolate import CloughTocher2DInterpolator, PchipInterpolator
    from scipy.spatial import Delaunay

    flat = np.asarray(flat, np.int64)
    order = np.argsort(flat, kind="stable")
    flat = flat[order]
    pts = np.stack(np.unravel_index(flat, tuple(shape)), 1).astype(np.float64)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij"), -1).reshape(-1, len(shape))
    tri = Delaunay(pts) if len(shape) == 2 else None
    out = {}
    for name, v in values.items():
        v = np.asarray(v, np.float64)[order]
        ok = np.isfinite(v)
        res = np.full(int(np.prod(shape)), np.nan)
        if ok.sum() >= (3 if len(shape) == 2 else 2):
            logspace = name.endswith("_loss") and bool((v[ok] > 0).all())
            w = np.log(v[ok]) if logspace else v[ok]
            if len(shape) == 1:
                res = PchipInterpolator(pts[ok, 0], w, extrapolate=False)(grid[:, 0])
                bad_cell = _neighbour_not_finite_1d(flat, ok, shape[0])
            else:
                res = CloughTocher2DInterpolator(pts[ok], w)(grid)
                simplex = tri.find_simplex(grid)
                bad_cell = (~ok)[tri.simplices[simplex]].any(1) | (simplex < 0)
            res = np.clip(res, w.min(), w.max())
            res = np.exp(res) if logspace else res
            res[bad_cell] = np.nan
        res[flat] = v  # evaluated cells: exact, including inf
        out[name] = res.reshape(tuple(shape))
    return out


def _neighbour_not_finite_1d(flat: np.ndarray, ok: np.ndarray, n: int) -> np.ndarray:
    """Cells of a line between two points of which one is not finite."""
    bad = np.zeros(n, bool)
    for i in range(len(flat) - 1):
        if not (ok[i] and ok[i + 1]):
            bad[flat[i]:flat[i + 1] + 1] = True
    return bad


# --- the job ------------------------------------------------------------------------------------

class MemoryStore:
    """Where the points of a job go without a file (and on ranks other than 0)."""

    def __init__(self, budget: int, names: Sequence[str]):
        self.slots = {"index": np.full(budget, -1, np.int64), "round": np.full(budget, -1, np.int32),
                      "done": np.zeros(budget, bool), "values": {n: np.full(budget, np.nan) for n in names}}

    def read(self) -> Dict[str, Any]:
        return self.slots

    def plan(self, first: int, flat: np.ndarray, round_: int) -> None:
        self.slots["index"][first:first + len(flat)] = flat
        self.slots["round"][first:first + len(flat)] = round_

    def put(self, slots: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        for n, v in values.items():
            self.slots["values"][n][slots] = v
        self.slots["done"][slots] = True


def run(evaluate: Callable[[np.ndarray, Callable], None], shape: Sequence[int], budget: int, value: str,
        store, plan_on_main: Callable[[Callable[[], Any]], Any] = lambda fn: fn()) -> Dict[str, Any]:
    """Spend ``budget`` evaluations on the lattice ``shape``; returns the points in evaluation order
    ``{"index", "round", "values"}``.

    evaluate(pending, sink): evaluates flat indices ``pending`` in rounds (one process or sharded
        across ranks) and calls ``sink(flat, values)`` with each finished batch, on every rank.
    store: ``read()`` -> slots (as ``MemoryStore.slots``: a resumed file's), ``plan(first_slot,
        flat, round)``, ``put(slots, values)``.
    plan_on_main: runs a planning step on rank 0 and returns its result everywhere (so every rank
        follows rank 0's choice bit for bit).
    """
    slots = store.read()
    names = list(slots["values"])
    flat_all: List[np.ndarray] = []
    vals_all: Dict[str, List[np.ndarray]] = {n: [] for n in names}
    rounds: List[np.ndarray] = []
    used, r = 0, 0
    while used < budget:
        if r == 0:
            axes = start_axes(shape, budget)
            grids = np.meshgrid(*axes, indexing="ij")
            plan = np.sort(np.ravel_multi_index(tuple(g.ravel() for g in grids), tuple(shape)))
        else:
            so_far = np.concatenate(flat_all)
            figure = np.concatenate(vals_all[value])
            plan = plan_on_main(lambda: next_points(shape, budget, so_far, figure, value))
        if len(plan) == 0:
            break
        span = slice(used, used + len(plan))
        stored = slots["index"][span]
        if ((stored >= 0) & (stored != plan)).any():
            raise ValueError(f"The file's adaptive points differ from the ones this job chooses at round {r} (made by "
                             "another version of the sampler?); use --overwrite (overwrite=True) to start again.")
        if (stored < 0).any():
            store.plan(used, plan, r)
        vals = {n: np.array(slots["values"][n][span], np.float64) for n in names}
        done = np.array(slots["done"][span], bool)
        pending = plan[~done]
        position = {int(f): i for i, f in enumerate(plan)}

        def sink(idx, values, used=used, vals=vals, position=position):
            where = np.array([position[int(i)] for i in idx], np.int64)
            for n in names:
                vals[n][where] = values[n]
            store.put(used + where, values)

        if len(pending):
            evaluate(pending, sink)
        flat_all.append(plan)
        for n in names:
            vals_all[n].append(vals[n])
        rounds.append(np.full(len(plan), r, np.int32))
        used += len(plan)
        r += 1
    return {"index": np.concatenate(flat_all), "round": np.concatenate(rounds),
            "values": {n: np.concatenate(v) for n, v in vals_all.items()}}


def figure_value(names: Sequence[str]) -> str:
    """The value whose figure steers the refinement: train_loss, else the first loss, else the first value."""
    losses = [n for n in names if n.endswith("_loss")]
    return "train_loss" if "train_loss" in names else (losses[0] if losses else list(names)[0])


def settings(budget: int, shape: Sequence[int], names: Sequence[str]) -> Dict[str, Any]:
    """What an adaptive job records in the file's settings (and what a resume must match)."""
    return {"adaptive": int(budget), "adaptive_sampler": SAMPLER, "adaptive_value": figure_value(names),
            "adaptive_start": [len(a) for a in reversed(start_axes(shape, budget))]}


def allocator(budget: int, ndim: int, names: Sequence[str]) -> Callable:
    """``io.create(build_extra=...)``: allocates the file's ``adaptive/`` group of ``budget`` slots."""
    from landscape.storage import points as samples

    return lambda f: samples.allocate(f, budget, ndim, names, {"sampler": SAMPLER})


class FileStore(MemoryStore):
    """The points of a job in memory and, on rank 0, in the file's ``adaptive/`` group."""

    def __init__(self, path, budget: int, names: Sequence[str], coords_of: Callable[[np.ndarray], np.ndarray],
                 slots: Optional[Dict[str, Any]] = None, write: bool = True):
        super().__init__(budget, names)
        if slots is not None:
            self.slots = slots
        self.path, self.coords_of, self.write = path, coords_of, write

    def plan(self, first, flat, round_):
        from landscape.storage import points as samples

        super().plan(first, flat, round_)
        if self.write:
            samples.write_plan(self.path, first, flat, self.coords_of(flat), round_)

    def put(self, slots, values):
        from landscape.storage import points as samples

        super().put(slots, values)
        if self.write:
            samples.write_values(self.path, slots, values)


def sample(evaluate: Callable[[np.ndarray, Callable, Any], None], x: np.ndarray, y: Optional[np.ndarray],
           names: Sequence[str], budget: int, path=None, ctx=None, progress: bool = True,
           coords_of: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> Dict[str, Any]:
    """The adaptive job of ``landscape.core.surface.compute``: sample, then write the grid.

    evaluate(pending, sink, bar): ``run_rounds`` (or its sharded version) over flat indices.
    With ``path`` (a file ``io.prepare`` made with :func:`allocator`), rank 0 records every round
    and value there and finally the interpolated grid in the root arrays (done cells: all);
    a file whose grid is already complete is left untouched.
    Returns ``{"index", "round", "values", "grid"}`` (``grid``: name -> array of the grid's shape).
    """
    from landscape.base import progress as progress_mod
    from landscape.storage import io, points as samples_mod

    from . import distributed

    ctx = ctx or distributed.Context()
    shape = (len(x),) if y is None else (len(y), len(x))
    on_main = (lambda fn: distributed.on_main(fn, ctx)) if ctx.active else (lambda fn: fn())
    if path is not None:
        slots = on_main(lambda: samples_mod.read(path))
        complete = on_main(lambda: bool(io.read_done(path).all()))
        store = FileStore(path, budget, names, coords_of, slots, write=ctx.is_main)
    else:
        complete, store = False, MemoryStore(budget, names)
    value = figure_value(names)
    have = int(store.read()["done"].sum())
    with progress_mod.bar(total=budget, desc="adaptive", enabled=progress and not complete, initial=have) as bar:
        points = run(lambda pending, sink: evaluate(pending, sink, bar), shape, budget, value, store, on_main)
    points["grid"] = interpolate(shape, points["index"], points["values"])
    if path is not None and ctx.is_main and not complete:
        io.write_cells(path, np.arange(int(np.prod(shape))), {n: g.reshape(-1) for n, g in points["grid"].items()})
    return points
