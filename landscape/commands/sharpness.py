"""`landscape sharpness`: numbers for how sharp a minimum is.

Given a checkpoint it measures the Hessian (top-k and smallest eigenvalues, trace, spectral
density) and the worst-case loss rise nearby (ε-, SAM and ASAM sharpness) on the data the checkpoint
was trained on. Given a surface file it computes grid metrics (quadratic-fit curvature, basin widths,
roughness; optionally the |λmin/λmax| map) and stores them in the file's ``metrics/`` group. Which
one is meant is told by the file's content (HDF5 signature), not its name.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence

import click

from landscape import data

from ._common import data_root_option, device_option, progress_option, setup_compute, threads_option, trained_on

# options that only mean something for one kind of input
_CHECKPOINT_ONLY = ("top_k", "smallest", "method", "tol", "max_iter", "trace", "probes", "density", "lanczos_steps",
                    "eps", "sam", "asam", "steps", "eta", "split", "seed", "bn", "draws")
_SURFACE_ONLY = ("value", "thresholds", "window", "curvature_map", "checkpoint", "partial")


def _floats(values: Sequence[str], option: str) -> List[float]:
    """``--sam 0.05 --sam 0.1`` or ``--sam 0.05,0.1`` -> [0.05, 0.1]."""
    out = []
    for value in values:
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                value = float(part)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise click.BadParameter(f"{part!r} is not a positive number; give numbers such as 0.05 or 0.01,0.05.",
                                         param_hint=option) from None
            out.append(value)
    return out


def _is_surface_file(path: str) -> bool:
    if not Path(path).is_file():
        return False
    with open(path, "rb") as f:
        if f.read(8) == b"\x89HDF\r\n\x1a\n":
            return True
    import h5py

    return bool(h5py.is_hdf5(path))  # superblock at a later offset (user block)


def _given(ctx: click.Context, names: Sequence[str]) -> List[str]:
    return [n for n in names if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]


@click.command()
@click.argument("path", metavar="CHECKPOINT|SURFACE.h5", type=click.Path(exists=True, dir_okay=False))
@click.option("--top-k", type=click.IntRange(min=0), default=3, show_default=True,
              help="Largest Hessian eigenvalues to compute (0: none).")
@click.option("--smallest", is_flag=True, help="Also compute the smallest (most negative) eigenvalue.")
@click.option("--method", type=click.Choice(["lanczos", "power"]), default="lanczos", show_default=True,
              help="Eigenvalue solver: Lanczos (scipy eigsh) or power iteration with deflation.")
@click.option("--tol", type=click.FloatRange(min=0.0), default=None,
              help="Relative residual ||Hv - lambda v|| / |lambda| the eigenpairs must reach [default: 1e-4; "
                   "float32 products cannot go much below 1e-5].")
@click.option("--max-iter", type=click.IntRange(min=1), default=None, help="Iteration limit of the eigenvalue solver.")
@click.option("--trace", is_flag=True, help="Estimate the Hessian trace (Hutchinson, with standard error).")
@click.option("--probes", type=click.IntRange(min=2), default=100, show_default=True, help="Hutchinson probes.")
@click.option("--density", is_flag=True, help="Eigenvalue spectral density (stochastic Lanczos quadrature).")
@click.option("--lanczos-steps", type=click.IntRange(min=2), default=50, show_default=True,
              help="Lanczos steps per probe for --density.")
@click.option("--eps", multiple=True, metavar="R", help="ε-sharpness (Keskar et al. 2017) at box radius R (repeat or comma-separate).")
@click.option("--sam", multiple=True, metavar="RHO", help="SAM sharpness (Foret et al. 2021) at radius RHO.")
@click.option("--asam", multiple=True, metavar="RHO", help="ASAM adaptive sharpness (Kwon et al. 2021) at radius RHO.")
@click.option("--steps", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ascent steps for SAM/ASAM (1: the first-order step of the papers).")
@click.option("--eta", type=click.FloatRange(min=0.0), default=0.01, show_default=True, help="ASAM's eta.")
@click.option("--dataset", default=None, help="Dataset [default: the checkpoint's, or the surface's].")
@data_root_option()
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True,
              help="Which split the sharpness is measured on.")
@click.option("--n-samples", type=click.IntRange(min=1), default=None, help="A seeded random subset of N samples [default: all].")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the --n-samples subset.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random start vectors and probes.")
@click.option("--draws", type=click.IntRange(min=1), default=1, show_default=True, metavar="M",
              help="Repeat the eigenvalues, trace and density over M seeded draws (draw i: the --n-samples subset "
                   "of seed --data-seed + i, start vector/probes of seed --seed + i) and give each number as mean ± "
                   "s.e. and a 95% interval of the mean. Small samples bias λmax upward, not only scatter it: "
                   "compare with --n-samples left out. Example: --top-k 1 --trace --n-samples 128 --draws 10")
@click.option("--bn", type=click.Choice(["eval", "train"]), default="eval", show_default=True,
              help="BatchNorm statistics: running (eval) or per batch (train).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size for the Hessian products [default: 1024].")
@click.option("--value", "values", multiple=True, help="Surface value to measure [default: train_loss]; repeatable.")
@click.option("--thresholds", multiple=True, metavar="DELTA",
              help="Loss rises above the minimum for basin widths [default: 0.1,0.5,1.0].")
@click.option("--window", type=click.IntRange(min=1), default=2, show_default=True,
              help="Cells on each side of the minimum for the quadratic fit.")
@click.option("--curvature-map", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Also compute |λmin/λmax| on an N x N subset of the surface grid (needs the model; two "
                   "eigenvalue solves per point, so minutes for N=5 on a CPU).")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Model for --curvature-map [default: the checkpoint recorded in the surface file].")
@click.option("--partial", is_flag=True,
              help="Measure a partly computed surface (an interrupted job): the metrics then describe the computed "
                   "cells only, and say so. Without it such a file is refused.")
@device_option
@threads_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write the results as JSON.")
@progress_option()
@click.pass_context
def sharpness(ctx, path, **opts):
    """Measure sharpness: Hessian eigenvalues, trace, spectral density, SAM/ASAM/ε-sharpness of a
    CHECKPOINT, or grid curvature, basin widths and roughness of a SURFACE.h5 (stored in its metrics/).

    \b
    Examples:
      landscape sharpness runs/mlp20/final.pt --top-k 3 --smallest --trace --sam 0.05 --json mlp20.json
      landscape sharpness runs/mlp20/final.pt --top-k 1 --trace --n-samples 128 --draws 10   # spread over draws
      landscape sharpness mlp20.h5 --thresholds 0.1,0.5 --curvature-map 5
      landscape sharpness interrupted.h5 --partial     # the cells computed so far, marked as such
    """
    from landscape.base import atomic

    if opts["json_out"]:  # every output is checked before anything is computed or changed
        from .outputs import check_output

        check_output(opts["json_out"], [("file", path), ("--checkpoint", opts["checkpoint"])], extensions=(".json",),
                     writes="a JSON file", option="--json")
        atomic.check_writable(opts["json_out"])
    surface_file = _is_surface_file(path)
    if not surface_file and Path(path).suffix.lower() in (".h5", ".hdf5", ".hdf"):
        from landscape.storage import io

        io.load(path)  # named as a surface file but not HDF5: raises the readers' own one-line error
    if surface_file:
        wrong = _given(ctx, _CHECKPOINT_ONLY)
        if wrong:
            raise click.UsageError(f"--{wrong[0].replace('_', '-')} applies to a checkpoint; {path!r} is a surface file.")
        result = _surface(path, opts)
    else:
        wrong = _given(ctx, _SURFACE_ONLY)
        if wrong:
            raise click.UsageError(f"--{wrong[0].replace('_', '-')} applies to a surface file; {path!r} is not HDF5 "
                                   "(taken for a checkpoint).")
        result = _checkpoint(path, opts)
    if opts["json_out"]:
        atomic.write_text(opts["json_out"], json.dumps(result, indent=2, allow_nan=False, default=str) + "\n")
        click.echo(f"Wrote {opts['json_out']}")


# --- a checkpoint ----------------------------------------------------------------------------------

def _checkpoint(path: str, opts: Dict[str, Any]) -> Dict[str, Any]:
    from landscape.analysis import sharpness as S
    from landscape.storage import checkpoint

    eps, sam, asam = (_floats(opts[k], f"--{k}") for k in ("eps", "sam", "asam"))
    dev = setup_compute(opts["device"], opts["threads"])
    model, ckpt = checkpoint.load_model(path, dev)
    on = trained_on(ckpt, path, opts["dataset"], opts["root"])
    name, loss = on.dataset, on.loss
    xy = data.load_at_most(name, opts["split"], opts["n_samples"], opts["data_seed"], on.root, on.normalize)
    common = dict(loss=loss, bn=opts["bn"], batch_size=opts["batch_size"], progress=opts["progress"])

    from landscape.training.train import display_name

    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    label = ckpt.get("name") or display_name(ckpt.get("model"), model)
    out: Dict[str, Any] = {"checkpoint": str(Path(path).resolve()), "checkpoint_sha256": checkpoint.sha256(path),
                           "model_name": label, "dataset": name, "split": opts["split"], "n_samples": int(len(xy[1])),
                           "data_seed": opts["data_seed"], "n_params": n_params, "loss": str(loss), "bn": opts["bn"]}
    rows: List[tuple] = []
    eig_opts = dict(method=opts["method"], seed=opts["seed"], tol=opts["tol"], max_iter=opts["max_iter"], **common)
    if opts["draws"] > 1:
        out["draws"] = opts["draws"]
        whole = data.load_at_most(name, opts["split"], None, 0, on.root, on.normalize)
        rows += _over_draws(model, whole, opts, eig_opts, common, out)
    else:
        rows += _once(model, xy, opts, eig_opts, common, out)
    if eps:
        r = S.epsilon_sharpness(model, xy, rho=eps, **common)
        out["epsilon"] = r.to_dict()
        rows += [(f"eps-sharpness rho={rho:g}", f"{s:.6g}", "% of 1 + loss") for rho, s in zip(r.rho, r.sharpness)]
    if sam:
        r = S.sam_sharpness(model, xy, rho=sam, steps=opts["steps"], **common)
        out["sam"] = r.to_dict()
        rows += [(f"SAM rho={rho:g}", f"{s:.6g}", "loss rise") for rho, s in zip(r.rho, r.sharpness)]
    if asam:
        r = S.asam_sharpness(model, xy, rho=asam, steps=opts["steps"], eta=opts["eta"], **common)
        out["asam"] = r.to_dict()
        rows += [(f"ASAM rho={rho:g}", f"{s:.6g}", f"loss rise (eta {r.eta:g})") for rho, s in zip(r.rho, r.sharpness)]
    click.echo(f"{label} ({path}) on {name} {opts['split']}: {out['n_samples']} samples, {n_params:,} parameters, "
               f"loss {loss}, BN {opts['bn']}, seed {opts['seed']}")
    _table(rows)
    return out


def _once(model, xy, opts: Dict[str, Any], eig_opts: Dict[str, Any], common: Dict[str, Any],
          out: Dict[str, Any]) -> List[tuple]:
    """Eigenvalues, trace and density measured once, on ``xy``."""
    from landscape.analysis import sharpness as S

    rows: List[tuple] = []
    if opts["top_k"]:
        r = S.hessian_eigs(model, xy, k=opts["top_k"], which="LA", **eig_opts)
        out["eigenvalues"] = r.to_dict()
        for i, v in enumerate(r.values):
            rows.append((f"lambda_{i + 1}" if i else "lambda_max", f"{v:.6g}",
                         f"relative residual {r.relative_residuals[i]:.1e}"))
        rows.append(("", "", f"{r.method}, {r.iterations} Hessian-vector products" + _convergence(r)))
    if opts["smallest"]:
        r = S.hessian_eigs(model, xy, k=1, which="SA", **eig_opts)
        out["smallest"] = r.to_dict()
        rows.append(("lambda_min", f"{r.values[0]:.6g}", f"relative residual {r.relative_residuals[0]:.1e}"
                     + _convergence(r)))
        if opts["top_k"]:
            top = out["eigenvalues"]["values"][0]
            rows.append(("|lambda_min/lambda_max|", f"{abs(r.values[0] / top):.4g}" if top else "nan", ""))
    if opts["trace"]:
        r = S.hessian_trace(model, xy, n_probes=opts["probes"], seed=opts["seed"], **common)
        out["trace"] = r.to_dict()
        rows.append(("trace", f"{r.trace:.6g}", f"± {r.stderr:.2g} (std. error, {r.n_probes} probes)"))
    if opts["density"]:
        r = S.spectral_density(model, xy, steps=opts["lanczos_steps"], seed=opts["seed"], **common)
        out["density"] = r.to_dict()
        rows.append(("spectral density", f"{len(r.grid)} points",
                     f"eigenvalues {r.grid[0]:.3g} .. {r.grid[-1]:.3g}, sigma {r.sigma:.2g} (in the JSON)"))
    return rows


def _over_draws(model, whole, opts: Dict[str, Any], eig_opts: Dict[str, Any], common: Dict[str, Any],
                out: Dict[str, Any]) -> List[tuple]:
    """Eigenvalues, trace and density repeated over ``--draws`` seeded draws of ``whole``."""
    from landscape.analysis.draws import over_draws

    rows: List[tuple] = []
    m = opts["draws"]
    kw = dict(draws=m, n_samples=opts["n_samples"], data_seed=opts["data_seed"])
    eig_kw = {k: v for k, v in eig_opts.items() if k != "seed"}
    found = []
    if opts["top_k"]:
        found.append(("eigenvalues", over_draws("eigs", model, whole, k=opts["top_k"], which="LA", seed=opts["seed"],
                                                **kw, **eig_kw)))
    if opts["smallest"]:
        found.append(("smallest", over_draws("eigs", model, whole, k=1, which="SA", seed=opts["seed"], **kw, **eig_kw)))
    if opts["trace"]:
        found.append(("trace", over_draws("trace", model, whole, n_probes=opts["probes"], seed=opts["seed"], **kw,
                                          **common)))
    if opts["density"]:
        found.append(("density", over_draws("density", model, whole, steps=opts["lanczos_steps"], seed=opts["seed"],
                                            **kw, **common)))
    for key, r in found:
        out[key] = r.to_dict()
        for q in r.quantities.values():
            rows.append((q.name, f"{q.mean:.4g} ± {q.stderr:.2g}",
                         f"95% interval of the mean [{q.lo:.4g}, {q.hi:.4g}]; draws {q.values.min():.4g} .. "
                         f"{q.values.max():.4g}"))
    if found:
        r = found[0][1]
        what = (f"{m} draws of {r.n_samples} samples (subset seeds {opts['data_seed']}..{opts['data_seed'] + m - 1})"
                if r.data_seeds is not None else f"{m} draws of all {r.n_samples} samples (only the start vectors "
                                                 "and probes change)")
        rows.append(("", "", f"mean ± s.e. over {what}; seeds {opts['seed']}..{opts['seed'] + m - 1}"))
    return rows


def _convergence(r) -> str:
    return "" if r.converged else f"; NOT converged to --tol {r.tol:g} (see the relative residual)"


def _table(rows: List[tuple]) -> None:
    if not rows:
        click.echo("  (nothing asked for: pass --top-k, --trace, --density, --eps, --sam or --asam)")
        return
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for a, b, c in rows:
        click.echo(f"  {a:<{w0}}  {b:>{w1}}  {c}".rstrip())


# --- a surface file ------------------------------------------------------------------------------

def _surface(path: str, opts: Dict[str, Any]) -> Dict[str, Any]:
    from landscape.analysis import geometry
    from landscape.analysis.planes import describe as describe_planes, plane_metrics
    from landscape.base import atomic
    from landscape.storage import io

    atomic.check_writable(path)  # the metrics go into the file (rewritten beside itself)
    surf = io.load(path)
    done = surf.done()
    if not done.all() and not opts["partial"]:
        raise click.UsageError(f"{path!r} is partly computed ({int(done.sum())} of {done.size} cells): its metrics would "
                               "describe those cells only. Finish it (rerun the same `landscape surface` command) or pass "
                               "--partial.")
    values = list(opts["values"]) or (["train_loss"] if "train_loss" in surf.values else
                                     [v for v in surf.values if v.endswith("loss")][:1] or list(surf.values)[:1])
    thresholds = _floats(opts["thresholds"], "--thresholds") or list(geometry.DEFAULT_THRESHOLDS)
    out: Dict[str, Any] = {"surface": str(Path(path).resolve()), "model_name": surf.label()}
    # compute everything before writing anything: bad input, a model that does not fit the stored
    # directions or Ctrl-C during the (slow) curvature map leave the file as it was
    computed = {value: geometry.grid_metrics(surf, value, thresholds, opts["window"], partial=opts["partial"])
                for value in values}
    cmap = _curvature_map(surf, opts) if opts["curvature_map"] else None
    click.echo(f"{surf.label()} ({path}): {'x'.join(str(n) for n in reversed(surf.shape))} grid")
    if not done.all():
        click.echo(f"  PARTIAL: {int(done.sum())} of {done.size} cells computed; the metrics below (and in the file, "
                   "as cells_done) describe those cells only.")
    ensemble = ({value: plane_metrics(surf, value, thresholds, opts["window"], partial=opts["partial"])
                 for value in values} if surf.planes is not None else {})
    for value, metrics in computed.items():
        metrics["thresholds_are"] = "loss rise above the grid minimum"
        io.save_metrics(path, metrics, group=f"metrics/{value}")
        out[value] = _plain(metrics)
        _print_grid(value, metrics, surf.ndim)
        if value in ensemble:  # every plane's metrics, their median and 95% interval
            io.save_metrics(path, ensemble[value], group=f"metrics/{value}_planes")
            out[f"{value}_planes"] = _plain(ensemble[value])
            click.echo("  " + "\n  ".join(describe_planes(ensemble[value], surf.ndim)))
    if cmap is not None:
        arrays = {k: getattr(cmap, k) for k in cmap.__dataclass_fields__}  # arrays stay HDF5 datasets
        io.save_metrics(path, {**arrays, "definition": "|lambda_min / lambda_max| of the loss Hessian (Li et al. 2018)"},
                        group="metrics/curvature")
        out["curvature"] = _plain(cmap.to_dict())
        click.echo(f"  |lambda_min/lambda_max| on {'x'.join(str(n) for n in reversed(cmap.ratio.shape))} points: "
                   f"median {float(_nanmedian(cmap.ratio)):.3g}, max {float(_nanmax(cmap.ratio)):.3g}; "
                   f"lambda_max {float(_nanmax(cmap.lambda_max)):.4g} at most")
    click.echo(f"Wrote metrics into {path} (metrics/{', metrics/'.join(values + (['curvature'] if opts['curvature_map'] else []))})")
    return out


def _print_grid(value: str, m: Dict[str, Any], ndim: int) -> None:
    names = ["x", "y"][:ndim]
    curv = ", ".join(f"{n} {m[f'curvature_{n}']:.4g}" for n in names)
    click.echo(f"  {value}: min {m['min']:.6g} at ({', '.join(f'{c:.3g}' for c in m['argmin'])})")
    click.echo(f"    curvature (quadratic fit, {m['fit_points']} cells): {curv}"
               + (f"; fit Hessian eigenvalues {', '.join(f'{e:.4g}' for e in m['fit_eigenvalues'])}" if ndim == 2 else "")
               + f"; R^2 {m['fit_r2']:.3f}")
    for i, delta in enumerate(m["basin_thresholds"]):
        widths = ", ".join((f"{n} < {m[f'cell_{n}']:.3g}: one cell" if m[f"basin_cells_{n}"][i] <= 1 else
                            f"{n} {m[f'basin_width_{n}'][i]:.3g} ({m[f'basin_cells_{n}'][i]} cells of {m[f'cell_{n}']:.3g})")
                           + (f" (ends sampled to {m[f'basin_width_resolution_{n}'][i]:.2g})"
                              if f"basin_width_resolution_{n}" in m else "") for n in names)
        area = f", area {m['basin_area'][i]:.3g}" if ndim == 2 else ""
        clipped = " (reaches the grid edge: lower bound)" if m["basin_clipped"][i] else ""
        click.echo(f"    basin at min+{delta:g}: width {widths}{area}{clipped}")
    from landscape.base.words import plural

    rule = "> 2 s.e. below every neighbour" if m.get("se_known") else "strictly below every neighbour"
    below = m.get("residual_energy_below_cap")
    click.echo(f"    roughness: {plural(m['n_local_minima'], 'local minimum', 'local minima')} ({rule}; "
               f"{m['n_local_minima_strict']} strictly below), residual energy {m['residual_energy']:.3g}"
               + (f" ({below:.3g} over the {m['cells_below_cap']} cells at or below the figures' cap of "
                  f"{m['roughness_cap']:g})" if below is not None and math.isfinite(m.get("roughness_cap", math.inf))
                  else "")
               + (f"; barrier to the grid's edge {m['barrier']:.3g}" if "barrier" in m else "")
               + (f" (adaptive grid: {m['evaluated']} cells evaluated, minima counted at those)" if "evaluated" in m else ""))


def _curvature_map(surf, opts: Dict[str, Any]):
    from landscape.analysis import geometry
    from landscape.storage import checkpoint

    ckpt_path = opts["checkpoint"] or surf.attrs.get("checkpoint")
    if not ckpt_path or not Path(ckpt_path).is_file():
        raise ValueError(f"--curvature-map needs the model: the surface records checkpoint {ckpt_path!r}, which is "
                         "not there; pass --checkpoint PATH.")
    dev = setup_compute(opts["device"], opts["threads"])
    model, ckpt = checkpoint.load_model(ckpt_path, dev)
    meta = ckpt.get("data") or {}
    name = opts["dataset"] or surf.attrs.get("dataset") or meta.get("dataset")
    if not name:
        raise ValueError("Neither the surface nor the checkpoint says which dataset to use; pass --dataset NAME.")
    normalize = surf.attrs.get("normalize", meta.get("normalize", True))
    n = opts["n_samples"] or (surf.attrs.get("n_samples_requested") or None)
    seed = opts["data_seed"] if opts["n_samples"] else surf.attrs.get("data_seed", opts["data_seed"])
    xy = data.load_at_most(name, "train", n, seed, opts["root"] or meta.get("root"), normalize)
    loss = (ckpt.get("config") or {}).get("loss") or surf.attrs.get("loss") or "cross_entropy"
    return geometry.surface_curvature_map(surf, model, xy, n=opts["curvature_map"], loss=loss,
                                          batch_size=opts["batch_size"], progress=opts["progress"])


def _plain(d: Dict[str, Any]) -> Dict[str, Any]:
    import numpy as np

    def conv(v):
        if isinstance(v, np.ndarray):
            return [conv(x) for x in v.tolist()] if v.ndim else conv(v.item())
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, (np.floating, float)):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, (np.integer, np.bool_)):
            return v.item()
        return v

    return {k: conv(v) for k, v in d.items()}


def _nanmedian(a):
    import numpy as np

    return np.nanmedian(a) if np.isfinite(a).any() else float("nan")


def _nanmax(a):
    import numpy as np

    return np.nanmax(a) if np.isfinite(a).any() else float("nan")
