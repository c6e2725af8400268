"""Stage 3: the numbers of each live member, into ``OUT/sharpness/`` and the surface files.

- Hessian top eigenvalue (Lanczos) and Hutchinson trace on a seeded training subset
  (``landscape.sharpness``), into ``OUT/sharpness/<member>.json``;
- grid curvature, basin widths and roughness (local minima, residual energy) of the 2D train loss
  (``landscape.geometry.grid_metrics``), stored in the surface file's ``metrics/train_loss``;
- the registered measures the config's ``[metrics] extra`` names, into
  ``OUT/measures/<measure>/<member>.json``.

A registered measure is a function ``fn(ctx, member) -> {key: number}`` with the table columns it
fills (``{key: label}``)::

    @register("error_gap", columns={"error_gap": "test − train error"})
    def error_gap(ctx, member): ...

Its result is kept and reused while the member's checkpoint, data and recipe and the measure's
``version`` stay the same.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from landscape.storage import io, rundir

from ..registry import MEASURES, Measure, load_plugins, measure_columns, register_measure  # noqa: F401
from .context import Context, as_json, read_json

# the registry lives in landscape.studies.registry; these names stay for plug-ins written against them
register = register_measure
columns = measure_columns
check = MEASURES.check


def run(ctx: Context) -> None:
    from landscape.analysis import geometry, sharpness as S

    m = ctx.config.metrics
    live = ctx.live()
    ctx.say(f"[sharpness] Hessian λmax and trace ({m.trace_probes} probes) on {m.n_samples or 'all'} training "
            f"samples, grid curvature, basin widths and roughness"
            + (f", {', '.join(m.extra)}" if m.extra else "") + f", for {len(live)} networks")
    for name in live:
        sub = ctx.load(name, "train", m.n_samples, m.data_seed)
        loss = ctx.members[name].train.loss
        path = ctx.path("sharpness", f"{name}.json")
        job = _job(ctx, name)
        saved = read_json(path)
        if saved is not None and saved.get("job") == job and not ctx.fresh:
            ctx.found("sharpness", path.name)
            result = saved
        else:
            model = ctx.model(name)
            common = dict(loss=loss, seed=m.seed, batch_size=m.batch_size, progress=ctx.bars)
            eig = S.hessian_eigs(model, sub, k=1, which="LA", tol=m.eig_tol, **common)
            trace = S.hessian_trace(model, sub, n_probes=m.trace_probes, **common)
            result = {"job": job, "eigenvalues": eig.to_dict(), "trace": trace.to_dict()}
            rundir.write_json(result, path)
            ctx.computed["sharpness"].append(path.name)
        ctx.sharp[name] = {"lambda_max": result["eigenvalues"]["values"][0],
                           "lambda_max_residual": result["eigenvalues"]["residuals"][0],
                           "hvp_products": result["eigenvalues"]["iterations"],
                           "trace": result["trace"]["trace"], "trace_stderr": result["trace"]["stderr"],
                           "n_samples": result["eigenvalues"]["n_samples"]}
        plane = ctx.surfaces.get(name, {}).get("plane")
        if plane is not None:
            ctx.sharp[name].update(_grid_metrics(ctx, plane, geometry))
        for measure in m.extra:
            ctx.sharp[name].update(_extra(ctx, MEASURES[measure], name))


def _job(ctx: Context, name: str) -> Dict[str, Any]:
    """Everything the Hessian numbers of ``name`` depend on (JSON form): equal jobs, reusable results."""
    m = ctx.config.metrics
    n = len(ctx.load(name, "train", m.n_samples, m.data_seed)[1])
    return as_json({"checkpoint_sha256": ctx.runs[name]["sha256"], "n_samples": n, "data_seed": m.data_seed,
                    "seed": m.seed, "trace_probes": m.trace_probes, "eig_tol": m.eig_tol, "batch_size": m.batch_size,
                    "loss": ctx.members[name].train.loss, "data": ctx.data_meta(name)})


def _extra_job(ctx: Context, measure: Measure, name: str) -> Dict[str, Any]:
    return as_json({"measure": measure.name, "version": measure.version, "checkpoint_sha256": ctx.runs[name]["sha256"],
                    "data": ctx.data_meta(name), "train": ctx.members[name].train.to_dict()})


def pending(ctx: Context, name: str) -> bool:
    """True when a number of the trained member ``name`` is not stored for its current settings."""
    saved = [read_json(ctx.out / "sharpness" / f"{name}.json")]
    jobs = [_job(ctx, name)]
    for measure in ctx.config.metrics.extra:
        saved.append(read_json(ctx.out / "measures" / measure / f"{name}.json"))
        jobs.append(_extra_job(ctx, MEASURES[measure], name))
    return ctx.fresh or any(s is None or s.get("job") != j for s, j in zip(saved, jobs))


def _extra(ctx: Context, measure: Measure, name: str) -> Dict[str, Any]:
    path = ctx.path("measures", measure.name, f"{name}.json")
    job = _extra_job(ctx, measure, name)
    saved = read_json(path)
    if saved is not None and saved.get("job") == job and not ctx.fresh:
        ctx.found("sharpness", f"{measure.name}/{path.name}")
        return saved["values"]
    values = as_json(measure.fn(ctx, name))
    rundir.write_json({"job": job, "values": values}, path)
    ctx.computed["sharpness"].append(f"{measure.name}/{path.name}")
    return values


def _grid_metrics(ctx: Context, path: Path, geometry) -> Dict[str, Any]:
    """Quadratic-fit curvature, basin widths and roughness of the plane's train loss; stored in the
    file's ``metrics/train_loss`` (as ``landscape sharpness SURFACE.h5`` does) unless already there."""
    m = ctx.config.metrics
    surf = io.load(path)
    metrics = geometry.grid_metrics(surf, "train_loss", m.thresholds, m.window)
    metrics["thresholds_are"] = "loss rise above the grid minimum"
    stored = surf.metrics.get("train_loss") if isinstance(surf.metrics, dict) else None
    if not _same_metrics(stored, metrics):
        io.save_metrics(path, metrics, group="metrics/train_loss")
    i = 0  # the report's basin width is at the first threshold
    values = np.asarray(surf.values["train_loss"], dtype=float)
    return {"curvature_x": float(metrics["curvature_x"]), "curvature_y": float(metrics["curvature_y"]),
            "fit_r2": float(metrics["fit_r2"]), "grid_min": float(metrics["min"]),
            "grid_max": finite(np.nanmax(values)) if np.isfinite(values).any() else None,
            "basin_delta": float(metrics["basin_thresholds"][i]),
            "basin_width_x": float(metrics["basin_width_x"][i]),
            "basin_width_y": float(metrics["basin_width_y"][i]),
            "basin_area": float(metrics["basin_area"][i]), "basin_clipped": bool(metrics["basin_clipped"][i]),
            "n_local_minima": int(metrics["n_local_minima"]),
            "n_local_minima_strict": int(metrics["n_local_minima_strict"]),
            "basin_cells_x": int(metrics["basin_cells_x"][i]), "basin_cells_y": int(metrics["basin_cells_y"][i]),
            "cell_x": float(metrics["cell_x"]), "cell_y": float(metrics["cell_y"]),
            "residual_energy": finite(metrics["residual_energy"]),
            # roughness where the figure draws the surface (cells below its loss cap)
            "residual_energy_below_cap": finite(metrics["residual_energy_below_cap"]),
            "roughness_cap": finite(metrics["roughness_cap"])}


def _same_metrics(stored: Optional[Dict[str, Any]], new: Dict[str, Any]) -> bool:
    if not isinstance(stored, dict):
        return False
    for k, v in new.items():
        if k not in stored:
            return False
        try:
            if not np.array_equal(np.asarray(stored[k]), np.asarray(v), equal_nan=np.asarray(v).dtype.kind == "f"):
                return False
        except TypeError:
            if stored[k] != v:
                return False
    return True


def finite(v: Any) -> Optional[float]:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@register("error_gap", columns={"error_gap": "test − train error"})
def error_gap(ctx: Context, member: str) -> Dict[str, Any]:
    """Test error minus training error of the final weights (both from the run's last evaluation):
    the overfitting a remedy should shrink."""
    final = ctx.runs[member]["final"]
    train, test = final.get("train_acc"), final.get("test_acc")
    return {"error_gap": None if train is None or test is None else float(train) - float(test)}
