"""``summary.json``: every number the report states, and nothing the stages did not measure."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from landscape.storage import io
from landscape.studies import replicates, verdicts
from landscape.studies.claims import resolutions
from landscape.studies.members import axis_label, grids, groups, shown

from .context import Context, rel
from .measures import finite

SUMMARY_VERSION = 3  # 3: [study] seeds; members fold their replicates (median, spread), "replicates" per seed
# measure -> True when a larger value means a sharper minimum
SHARPNESS_MEASURES = {"lambda_max": True, "trace": True, "curvature": True, "basin_width": False}


def summarize(ctx: Context) -> Dict[str, Any]:
    """The ``summary.json`` document: config, members (accuracy, losses, sharpness, roughness,
    files, variable values), pairs (which member is sharper by which measure), the study's figure
    grids, notes, timings. With ``[study] seeds`` a member's entry folds its replicates (medians, and
    ``spread`` per number; ``landscape.studies.replicates``), ``replicates`` keeps each seed's entry,
    and a pair compares two members over their seeds (``comparison["judged"]``)."""
    c = ctx.config
    members: Dict[str, Any] = {}
    for name, m in ctx.members.items():
        r = ctx.runs.get(name, {})
        final = r.get("final", {})
        hist = r.get("history", {}).get("epochs", [])
        entry = {"spec": m.spec, "run_dir": rel(r.get("run_dir"), ctx.out), "diverged": r.get("diverged", False),
                 "coords": dict(m.coords), "labels": _labels(ctx, m.coords),
                 "epochs_trained": hist[-1]["epoch"] if hist else None, "weights_epoch": r.get("epoch"),
                 "n_params": int(sum(t.numel() for t in m.model.parameters())),
                 "train_seconds": float(sum(h.get("seconds") or 0 for h in hist)) if hist else None,
                 "epochs": m.train.epochs, "batch_size": m.train.batch_size, "train_samples": int(len(ctx.load(name, "train")[1]))}
        for k in ("test_acc", "test_loss", "train_acc", "train_loss"):
            entry[k] = finite(final.get(k))
        for k in ("test", "train"):
            acc = entry[f"{k}_acc"]
            entry[f"{k}_error"] = None if acc is None else 1.0 - acc
        entry.update({k: (finite(v) if isinstance(v, float) else v) for k, v in ctx.sharp.get(name, {}).items()})
        entry["surfaces"] = {k: rel(v, ctx.out) for k, v in ctx.surfaces.get(name, {}).items()}
        entry["figures"] = {k: rel(v, ctx.out) for k, v in ctx.figures.get(name, {}).items()}
        entry["notes"] = ctx.notes.get(name, [])
        members[name] = entry
    per_seed, group = members, {n: m.group for n, m in ctx.members.items()}
    if c.seeds:
        members = replicates.fold(per_seed, groups(ctx.members), c.seeds)
    pairs = []
    showing = shown(ctx.members)
    for pair in ctx.pairs:
        if pair.with_ not in showing:
            continue  # a later seed's pair: folded into the first seed's
        a, b = ctx.members[pair.with_].coords, ctx.members[pair.without].coords
        A, B = group[pair.with_], group[pair.without]
        pairs.append({"name": f"{A}_vs_{B}", "vary": pair.vary, "with": A, "without": B,
                      "labels": ({"with": _label(ctx, pair.vary, a[pair.vary]),
                                  "without": _label(ctx, pair.vary, b[pair.vary])} if pair.vary in a else None),
                      "comparison": compare_members(members[A], members[B],
                                                    resolutions(c.to_dict()).get("basin_width_x")),
                      "figures": {k: rel(v, ctx.out) for k, v in ctx.figures.get(pair.name, {}).items()}})
    study_grids = []
    if c.study is not None:
        for g in grids(ctx.members, c.study):
            study_grids.append({"name": g.name, "fixed": dict(g.fixed), "rows": list(g.rows), "cols": list(g.cols),
                                "cells": [None if x is None else group[x] for x in g.cells],
                                "row_labels": list(g.row_labels),
                                "col_labels": list(g.col_labels),
                                "figures": {k: rel(v, ctx.out) for k, v in ctx.figures.get(g.name, {}).items()}})
    first = next(iter(ctx.members))
    return {
        "format": "landscape-experiment-summary", "version": SUMMARY_VERSION,
        "name": c.name, "title": c.title, "config": c.to_dict(),
        "data": {"dataset": c.data.dataset, "train_samples": int(len(ctx.load(first, "train")[1])),
                 "test_samples": int(len(ctx.load(first, "test")[1])), "input_shape": list(ctx.info["input_shape"]),
                 "num_classes": int(ctx.info["num_classes"]), "source": ctx.info.get("source")},
        "grid_samples": {"train": int(len(ctx.load(first, "train", c.grid.n_samples, c.grid.data_seed)[1])),
                         "test": int(len(ctx.load(first, "test", c.grid.n_samples, c.grid.data_seed)[1]))},
        "environment": {"device": str(ctx.device), "threads": ctx.threads, **io.library_versions()},
        "members": members, "pairs": pairs, "grids": study_grids,
        **({"replicates": per_seed} if c.seeds else {}),
        "figures": {k: rel(v, ctx.out) for k, v in ctx.figures.get("pairs", {}).items()},
        "timings": dict(ctx.timings), "made_timings": made_timings(ctx), "reused": ctx.reused,
        "computed": ctx.computed,
    }


def made_timings(ctx: Context) -> Dict[str, float]:
    """Seconds per stage of the run that made its results: this run's for a stage that made
    something, the earlier run's (its ``summary.json``) for one whose results were all reused, so
    a rerun that reuses everything keeps the report's timings of the real work (issue 30.7)."""
    from .context import read_json

    before = read_json(ctx.out / "summary.json") if not ctx.fresh else None
    if not before or before.get("name") != ctx.config.name:
        before = {}
    old = before.get("made_timings") or before.get("timings") or {}
    out: Dict[str, float] = {}
    if "members" not in ctx.timings and not ctx.computed.get("train") and "members" in old:
        out["members"] = float(old["members"])  # the worker processes' time when they made the runs
    for stage, secs in ctx.timings.items():
        if stage == "total":
            continue
        made = stage == "members" or stage == "report" or bool(ctx.computed.get(stage))
        out[stage] = float(secs if made or stage not in old else old[stage])
    out["total"] = sum(out.values())
    return out


def _label(ctx: Context, var: str, value: Any) -> str:
    return axis_label(var, value, ctx.config.study.variable(var).bundle)


def _labels(ctx: Context, coords: Dict[str, Any]) -> Dict[str, str]:
    return {var: _label(ctx, var, value) for var, value in coords.items()}


def compare_members(a: Dict[str, Any], b: Dict[str, Any], cell: Optional[float] = None) -> Dict[str, Any]:
    """How member ``b`` (without the feature) compares with ``a`` (with it), measure by measure.

    For each measure: both values, ``ratio`` b / a (None unless both are positive and finite) and
    ``b_sharper`` (None when either is missing). Curvature and basin width are the means over the
    plane's two directions. Also the test-accuracy gap in points and ``sharper_count``. Members run
    with several seeds also get ``judged``: per measure, the verdict (``verdicts.order``, seed by
    seed) on "b is the sharper"; basin widths within one grid ``cell`` get no vote.
    """
    out: Dict[str, Any] = {}
    for measure, larger_is_sharper in SHARPNESS_MEASURES.items():
        va, vb = _measure(a, measure), _measure(b, measure)
        entry: Dict[str, Any] = {"a": va, "b": vb, "ratio": None, "b_sharper": None}
        if measure == "basin_width" and _at_resolution(a, b, va, vb):
            entry["at_resolution"] = True  # a width of one grid step says nothing: no vote
        elif va is not None and vb is not None:
            entry["b_sharper"] = bool(vb > va) if larger_is_sharper else bool(vb < va)
            if va > 0 and vb > 0:
                entry["ratio"] = vb / va
        out[measure] = entry
    known = [e["b_sharper"] for e in out.values() if e["b_sharper"] is not None]
    judged = {}
    if "spread" in a and "spread" in b:
        for measure, larger_is_sharper in SHARPNESS_MEASURES.items():
            va, vb = _seed_values(a, measure), _seed_values(b, measure)
            if len(va) == len(vb) and any(v is not None for v in va + vb):
                hi, lo = (vb, va) if larger_is_sharper else (va, vb)
                judged[measure] = verdicts.order(hi, lo, cell if measure == "basin_width" else None).to_dict()
    acc_a, acc_b = a.get("test_acc"), b.get("test_acc")
    return {"measures": out, "sharper_count": int(sum(known)), "measured": len(known), "judged": judged,
            "test_acc_gap_points": None if acc_a is None or acc_b is None else 100.0 * (acc_a - acc_b)}


def _seed_values(m: Dict[str, Any], measure: str) -> list:
    """Per-seed values of a measure (curvature and basin width: the mean over the two directions)."""
    if measure in ("curvature", "basin_width"):
        xs, ys = replicates.values(m, f"{measure}_x"), replicates.values(m, f"{measure}_y")
        return [None if x is None or y is None else (x + y) / 2 for x, y in zip(xs, ys)]
    return replicates.values(m, measure)


def _at_resolution(a: Dict[str, Any], b: Dict[str, Any], va: Optional[float], vb: Optional[float]) -> bool:
    """Whether either basin width is at the grid's resolution (at most one cell of its plane)."""
    for m, v in ((a, va), (b, vb)):
        cells = [c for c in (m.get("cell_x"), m.get("cell_y")) if c]
        step = min(cells) if cells else None
        if v is not None and step and v <= step * (1 + 1e-9):
            return True
    return False


def _measure(m: Dict[str, Any], measure: str) -> Optional[float]:
    if measure in ("curvature", "basin_width"):
        xs = [m.get(f"{measure}_x"), m.get(f"{measure}_y")]
        if any(v is None for v in xs):
            return None
        return float(np.mean(xs))
    return m.get(measure)
