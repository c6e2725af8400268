"""`landscape surface`: sample loss and accuracy around a checkpoint into a resumable HDF5 file.

A thin layer: it loads the checkpoint and the data the checkpoint was trained on (same dataset and
normalization unless told otherwise), builds the directions, records every setting and calls
``landscape.surface.compute``.

Under ``torchrun`` every rank runs this command: each loads the checkpoint and data and builds the
(seeded) directions, ``compute`` shards the cells, rank 0 writes the file and alone prints. See
docs/scaling.md, e.g. ``torchrun --standalone --nproc-per-node 2 -m landscape surface ...``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import click
import numpy as np

from landscape import data

from ._common import RANGE, data_root_option, device_option, progress_option, setup_compute, threads_option, trained_on

log = logging.getLogger(__name__)

KINDS = ("random", "target", "pca", "hessian")
SPLITS = ("train", "test")


def _splits(value: str) -> List[str]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    bad = [p for p in parts if p not in SPLITS]
    if not parts or bad or len(set(parts)) != len(parts):
        raise click.BadParameter(f"{value!r}: give one or both of {', '.join(SPLITS)}, comma-separated "
                                 "(for example train,test).", param_hint="--split")
    return parts


def _directions(kind: str, model, ndim: int, opts: Dict[str, Any], train_xy, loss: str, device):
    """Build the directions of ``kind`` and the settings that describe them."""
    from landscape.core import directions
    from landscape.storage import checkpoint, rundir

    extra: Dict[str, Any] = {}
    if kind != "target" and opts["target"]:
        raise ValueError("--target is only used with --dir target.")
    if kind != "pca" and opts["trajectory"]:
        raise ValueError("--trajectory is only used with --dir pca.")
    if kind == "random":
        return directions.random(model, n=ndim, norm=opts["norm"], ignore=None if opts["ignore"] == "none" else "biasbn",
                                 include_buffers=opts["include_buffers"], seed=opts["seed"],
                                 store=not opts.get("low_memory")), extra
    if kind == "target":
        targets = opts["target"]
        if len(targets) != ndim:
            raise ValueError(f"--dir target needs {ndim} --target checkpoint(s) for a {ndim}D surface "
                             f"(1D: the line to one model; 2D: the plane through this model and two others), "
                             f"got {len(targets)}.")
        loaded = [checkpoint.load_model(t, device) for t in targets]
        for path, (other, other_ckpt) in zip(targets, loaded):
            differs = checkpoint.architecture_differences(opts["spec"], other_ckpt.get("model"))
            if differs and not opts["allow_other_model"]:
                what = ", ".join(f"{k} {b!r} vs {a!r}" for k, (a, b) in differs.items())
                base = opts["checkpoint_path"]
                raise ValueError(f"--target {path} is a {_display_name(other_ckpt.get('model'), other)}, but {base} is a "
                                 f"{_display_name(opts['spec'], model)} ({what}): at x = 1 the target's weights would run "
                                 f"in {base}'s architecture, not as the target model. Pass --allow-other-model to do "
                                 "that anyway.")
            if differs:
                extra["target_other_architecture"] = _display_name(other_ckpt.get("model"), other)
                log.warning("--target %s is another architecture (%s): x = 1 holds its weights, not its behaviour.",
                            path, ", ".join(differs))
        others = [other for other, _ in loaded]
        extra["target"] = [str(Path(t).resolve()) for t in targets]
        extra["target_sha256"] = [checkpoint.sha256(t) for t in targets]
        try:
            if ndim == 1:
                return directions.target(model, others[0], include_buffers=opts["include_buffers"]), extra
            return directions.plane(model, others[0], others[1], include_buffers=opts["include_buffers"]), extra
        except ValueError as exc:  # the library names its arguments (model_b ...); say which files
            raise ValueError(f"--target {' '.join(targets)} does not fit the checkpoint: {exc}") from None
    if kind == "pca":
        if not opts["trajectory"]:
            raise ValueError("--dir pca needs --trajectory RUN_DIR (a training run with snapshots/).")
        run_dir = Path(opts["trajectory"])
        try:
            states, epochs = rundir.load_snapshots(run_dir)
        except ValueError as exc:
            raise ValueError(f"--trajectory: {exc}") from None
        result = directions.pca(states, model, n=ndim, include_buffers=opts["include_buffers"], epochs=epochs)
        extra["trajectory_dir"] = str(run_dir.resolve())
        extra["n_snapshots"] = len(states)
        extra["explained_variance"] = [float(v) for v in result.explained]
        lo, hi = result.coords.min(0), result.coords.max(0)
        log.warning("PCA: explained variance %s; trajectory spans %s",
                    ", ".join(f"{v:.1%}" for v in result.explained),
                    ", ".join(f"{a:.3g}..{b:.3g}" for a, b in zip(lo, hi)))
        _check_covers(lo, hi, opts["axes"])
        return result, extra
    # hessian: the top eigenvectors (unit norm) as axes
    import importlib

    try:
        sharpness = importlib.import_module("landscape.analysis.sharpness")
    except ImportError as exc:
        raise ValueError(f"--dir hessian needs landscape.sharpness, which cannot be imported here ({exc}).") from exc
    eig = sharpness.hessian_eigs(model, train_xy, k=ndim, which="LA", loss=loss, seed=opts["seed"],
                                 batch_size=opts["batch_size"])
    extra["hessian_eigenvalues"] = [float(v) for v in eig.values]
    dirs = directions.Directions([{k: v.to(device) for k, v in vec.items()} for vec in eig.vectors[:ndim]],
                                 {"direction_kind": "hessian", "norm": "none", "ignore": "none", "seed": opts["seed"]})
    return dirs, extra


def _check_covers(lo, hi, axes) -> None:
    """Say plainly (stderr) when the grid leaves part of the PCA trajectory out, and by how much."""
    for name, rng, a, b in zip(("x", "y"), axes, lo, hi):
        if rng is None:
            continue
        below, above = max(0.0, rng.start - float(a)), max(0.0, float(b) - rng.stop)
        if below or above:
            span = rng.stop - rng.start
            parts = ([f"{below:.3g} below {rng.start:g}"] if below else []) + ([f"{above:.3g} above {rng.stop:g}"] if above else [])
            click.echo(f"Warning: the grid does not cover the trajectory along {name}: it reaches {float(a):.3g}..{float(b):.3g}, "
                       f"{' and '.join(parts)} ({(below + above) / span:.0%} of the --{name} span); the path will be "
                       f"drawn cut off. To cover it: --{name} {min(rng.start, float(a)):.3g}:{max(rng.stop, float(b)):.3g}:{rng.num}.",
                       err=True)


# Settings that describe directions computed from data (Hessian) or a run (PCA), copied from a file
# whose directions are reused.
_DERIVED = ("hessian_eigenvalues", "trajectory_dir", "n_snapshots", "explained_variance")
_DIRECTION_ATTRS = ("direction_kind", "norm", "ignore", "seed", "include_buffers", "orthogonal", "buffer_range")


def _stored_directions(out: str, kind: str, seed: int, ckpt_sha: str, device, trajectory: Optional[str] = None):
    """When resuming a Hessian or PCA surface, its stored directions (recomputing them costs time and
    need not reproduce them bitwise, e.g. with another thread count); None when there is nothing to
    reuse — the surface job then compares every setting as usual."""
    from landscape.base.errors import FileFormatError
    from landscape.core import directions
    from landscape.storage import io

    if kind not in ("hessian", "pca") or not Path(out).is_file():
        return None
    try:
        stored = io.load(out)
    except FileFormatError:
        return None
    a = stored.attrs
    if (a.get("format") != io.FORMAT or a.get("direction_kind") != kind or a.get("checkpoint_sha256") != ckpt_sha
            or (kind == "hessian" and a.get("seed") != seed) or not stored.directions):
        return None
    if kind == "pca" and (not trajectory or a.get("n_snapshots") != len(list(Path(trajectory).glob("snapshots/epoch_*.pt")))):
        return None
    log.info("Resuming %s: reusing the %s directions stored in it.", out, kind)
    dirs = directions.Directions([{k: v.to(device) for k, v in d.items()} for d in stored.directions],
                                 {k: a[k] for k in _DIRECTION_ATTRS if k in a})
    return dirs, {k: a[k] for k in _DERIVED if k in a}


def _display_name(spec, model) -> str:
    try:
        from landscape.training.train import display_name
    except ImportError:
        return type(model).__name__
    return display_name(spec, model)


@click.command()
@click.argument("checkpoint_path", metavar="[CHECKPOINT]", type=click.Path(dir_okay=False), required=False)
@click.option("--x", "x_range", type=RANGE, default="-1:1:51", show_default=True,
              help="First axis MIN:MAX:NUM (filter-normalized units for random directions).")
@click.option("--y", "y_range", type=RANGE, default=None, help="Second axis MIN:MAX:NUM; omit for a 1D line. At most 4096 x 4096 cells in all.")
@click.option("--dir", "kind", type=click.Choice(KINDS), default="random", show_default=True,
              help="random: seeded Gaussian directions; target: toward --target model(s); pca: principal "
                   "directions of --trajectory; hessian: top Hessian eigenvectors.")
@click.option("--norm", type=click.Choice(["filter", "layer", "weight", "none"]), default="filter", show_default=True,
              help="Normalization of random directions (filter: Li et al. 2018).")
@click.option("--ignore", type=click.Choice(["biasbn", "none"]), default="biasbn", show_default=True,
              help="biasbn: biases and norm-layer parameters stay fixed (random directions).")
@click.option("--include-buffers/--no-include-buffers", default=None,
              help="Move BatchNorm running statistics too [default: only for --dir target, so that x = 1 is "
                   "exactly the target model].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random directions.")
@click.option("--planes", type=click.IntRange(min=1, max=1024), default=1, show_default=True, metavar="K",
              help="Direction ensemble: K random planes (or lines) from seeds SEED, SEED+1, ... in one file; `landscape "
                   "info` and the metrics then give the median and 95% interval over planes, `landscape plot --kind "
                   "planes` draws them all. Example: --planes 5.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=None, metavar="T",
              help="Evaluate each cell on growing seeded blocks of samples (128, 256, 384, ...) until the standard error of "
                   "its loss is at most T, its interval lies wholly above the figures' cap (loss 10), or the data run "
                   "out; the samples per cell are stored. The same picture for a fraction of the forward passes. "
                   "Example: --tol 0.01.")
@click.option("--dataset", default=None, help="Dataset to evaluate on [default: the checkpoint's].")
@data_root_option()
@click.option("--n-samples", type=click.IntRange(min=1), default=None,
              help="Evaluate on a seeded random subset of N samples per split [default: all].")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the --n-samples subset.")
@click.option("--split", "split", default="train,test", show_default=True, help="Data splits to evaluate.")
@click.option("--bn", type=click.Choice(["eval", "recompute"]), default="eval", show_default=True,
              help="eval: BatchNorm running statistics as stored; recompute: re-estimated at every point.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Evaluation batch size [default: from the model's activation size: small on CPUs, large on GPUs].")
@click.option("--precision", type=click.Choice(["fp32", "tf32", "bf16"]), default="fp32", show_default=True,
              help="fp32: IEEE float32 (exact); tf32: TF32 tensor cores on CUDA (fp32 on CPUs); bf16: autocast "
                   "to bfloat16, fast on GPUs and on CPUs with AVX512-BF16 or AMX, about 10x slower than fp32 on "
                   "other CPUs (a warning says so). Recorded in the file.")
@click.option("--fold-bn/--no-fold-bn", default=True, show_default=True,
              help="Fold eval-mode BatchNorm into the preceding layer (same values up to float rounding).")
@click.option("--channels-last/--no-channels-last", default=None,
              help="channels_last memory format for conv nets [default: on when the model has 2D convolutions].")
@click.option("--points-per-pass", type=click.IntRange(min=1), default=None,
              help="Grid points evaluated together in one vmapped pass [default: 1 on CPUs; several for small "
                   "non-convolutional models on CUDA].")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the forward pass (pays off on long jobs).")
@device_option
@threads_option
@click.option("--target", multiple=True, type=click.Path(dir_okay=False),
              help="Checkpoint to move toward (--dir target); give two with --y for the plane through three models.")
@click.option("--trajectory", type=click.Path(file_okay=False), default=None,
              help="Training run directory with snapshots/ (--dir pca).")
@click.option("--allow-other-model", is_flag=True,
              help="Accept a --target checkpoint of another architecture with the same tensor shapes (e.g. mlp20 "
                   "toward mlp20_noskip); x = 1 is then its weights in this checkpoint's architecture.")
@click.option("--adaptive", type=int, default=None, metavar="N",
              help="Spend N evaluations instead of one per cell: a coarse uniform start, then refinement where "
                   "the figure needs it (contour levels, the basin floor, the minimum; never above the cap but to "
                   "locate it); the other cells are interpolated and the points kept in the file. Example: "
                   "--x -1:1:51 --y -1:1:51 --adaptive 780 (30% of the 2,601 cells).")
@click.option("--overwrite", is_flag=True, help="Replace --out even if it holds another surface.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@progress_option()
@click.option("--round-seconds", type=click.FloatRange(min=0.0), default=2.0, hidden=True,
              help="Seconds of work between writes to the file.")
@click.option("--hf", type=click.Path(file_okay=False), default=None,
              help="A local Hugging Face causal-LM directory (save_pretrained) instead of CHECKPOINT; needs --text and "
                   "the extra hf (pip install -e \".[hf]\"). Example: --hf ./gpt2 --text book.txt --seq-len 128")
@click.option("--text", type=click.Path(dir_okay=False), default=None,
              help="With --hf: UTF-8 text file cut into seeded sequences (--seq-len, --n-seqs, --data-seed).")
@click.option("--seq-len", type=click.IntRange(min=2), default=None, help="With --hf: tokens per sequence [default: 128].")
@click.option("--n-seqs", type=click.IntRange(min=1), default=None, help="With --hf: sequences drawn from --text [default: 8].")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="With --hf: the weights' dtype in memory [default: fp32]; bf16 halves the memory.")
@click.option("--low-memory/--no-low-memory", default=None,
              help="Random directions drawn again per tensor from their seed (not stored) and the model moved in place: "
                   "peak memory about one copy of the weights plus one forward pass [default: on with --hf]. "
                   "Example: landscape surface --hf ./gpt2 --text book.txt --low-memory --out lm.h5")
def surface(checkpoint_path, x_range, y_range, kind, norm, ignore, include_buffers, seed, planes, tol, dataset, root, n_samples,
            data_seed, split, bn, batch_size, precision, fold_bn, channels_last, points_per_pass, compile_, device,
            threads, target, trajectory, allow_other_model, adaptive, overwrite, out, progress, round_seconds, hf=None, text=None,
            seq_len=None, n_seqs=None, dtype=None, low_memory=None):
    """Sample loss and accuracy on a 1D line or 2D plane around CHECKPOINT into an HDF5 file.

    The file is written as it goes; rerun the same command to resume after an interruption.

    \b
    Examples:
      landscape surface runs/mlp20/final.pt --x -1:1:51 --y -1:1:51 --out mlp20.h5
      landscape surface a.pt --dir target --target b.pt --x -0.5:1.5:41 --out a_to_b.h5
      landscape surface runs/mlp20/final.pt --dir pca --trajectory runs/mlp20 --x -5:5:41 --y -5:5:41 --out pca.h5
      landscape surface runs/mlp20/final.pt --x -1:1:21 --y -1:1:21 --planes 5 --out mlp20_5planes.h5
      landscape surface runs/mlp20/final.pt --x -1:1:51 --y -1:1:51 --tol 0.01 --out mlp20_tol.h5
      landscape surface --hf ./my-gpt2 --text book.txt --seq-len 128 --x -1:1:11 --y -1:1:11 --out lm.h5
      landscape surface runs/mlp20/final.pt --x -1:1:51 --y -1:1:51 --adaptive 780 --out adaptive.h5
    """
    from ._hf import check_choice_of_model, surface_hf

    check_choice_of_model(checkpoint_path, hf, text=text, seq_len=seq_len, n_seqs=n_seqs, dtype=dtype)
    if hf:
        return surface_hf(hf, text, seq_len or 128, n_seqs or 8, data_seed, dtype, x_range, y_range, kind, norm,
                          ignore, seed, batch_size, precision, low_memory, device, threads, overwrite, out, progress,
                          round_seconds)
    from landscape.core import distributed, surface as surface_mod
    from landscape.core.engine import EngineOptions
    from landscape.storage import checkpoint

    from landscape.storage import io

    from .outputs import HDF5, check_output

    # never onto the checkpoint (or a target), never a figure's name, never over a file of another kind
    check_output(out, [("checkpoint", checkpoint_path)] + [("--target", t) for t in target], extensions=HDF5,
                 writes="an HDF5 surface file", replaces=(io.FORMAT,))
    splits = _splits(split)
    if tol is not None and not np.isfinite(tol):
        raise click.BadParameter(f"{tol!r} is not a standard error: give a positive number such as 0.01.", param_hint="--tol")
    if adaptive is not None:  # before any loading: a bad budget is a usage error at once
        from landscape.core.adaptive import check

        check(adaptive, (x_range.num,) if y_range is None else (y_range.num, x_range.num), "--adaptive")
    dev = setup_compute(device, threads)
    ctx = distributed.init(dev)  # a no-op outside torchrun
    dev = distributed.device_for(dev, ctx)  # one GPU per local rank
    model, ckpt = checkpoint.load_model(checkpoint_path, dev)
    on = trained_on(ckpt, checkpoint_path, dataset, root)
    name, loss = on.dataset, on.loss
    loaded = {s: data.load_at_most(name, s, n_samples, data_seed, on.root, on.normalize) for s in splits}
    if planes > 1 and kind != "random":
        raise click.BadParameter(f"{planes} planes redraw random directions from seeds {seed}, {seed + 1}, ...; "
                                 f"--dir {kind} has one set. Use --dir random, or --planes 1.", param_hint="--planes")
    # a subset of a split: its standard errors get the finite-population correction toward the whole split
    sizes = data.info(name, on.root, inspect=False)["sizes"]
    population = {s: int(sizes[s]) for s in splits if sizes.get(s) and len(loaded[s][0]) < int(sizes[s])}
    bn_data = loaded["train"] if "train" in loaded else (
        data.load_at_most(name, "train", n_samples, data_seed, on.root, on.normalize) if bn == "recompute" else None)

    ndim = 1 if y_range is None else 2
    if include_buffers is None:
        include_buffers = kind == "target"
    opts = {"norm": norm, "ignore": ignore, "include_buffers": include_buffers, "seed": seed, "target": target,
            "trajectory": trajectory, "batch_size": batch_size, "spec": ckpt.get("model"),
            "allow_other_model": allow_other_model, "checkpoint_path": checkpoint_path, "axes": (x_range, y_range),
            "low_memory": bool(low_memory)}
    if low_memory and kind != "random":
        raise ValueError(f"--low-memory applies to random directions; --dir {kind} directions are stored.")
    if kind != "random" and (norm != "filter" or ignore != "biasbn"):
        log.warning("--norm/--ignore apply to random directions only; %s directions are used as they are.", kind)
    train_xy = bn_data if bn_data is not None else next(iter(loaded.values()))
    ckpt_sha = checkpoint.sha256(checkpoint_path)
    reused = None if overwrite else _stored_directions(out, kind, seed, ckpt_sha, dev, trajectory)
    dirs, extra = reused if reused is not None else _directions(kind, model, ndim, opts, train_xy, loss, dev)

    attrs = {
        "model_name": ckpt.get("name") or _display_name(ckpt.get("model"), model),
        "model_spec": ckpt.get("model"),
        "checkpoint": str(Path(checkpoint_path).resolve()),
        "checkpoint_sha256": ckpt_sha,
        "checkpoint_epoch": ckpt.get("epoch") if ckpt.get("epoch") is not None else -1,
        "dataset": name,
        "normalize": on.normalize if isinstance(on.normalize, (bool, int, float, str)) else str(on.normalize),
        "data_seed": data_seed,
        "n_samples_requested": n_samples or 0,
        "splits": ",".join(splits),
        **extra,
    }
    result = surface_mod.compute(
        model, dirs, x=x_range, y=y_range, data={s: loaded[s] for s in splits}, loss=loss, bn=bn, precision=precision,
        batch_size=batch_size, path=out, resume=True, overwrite=overwrite, progress=progress, attrs=attrs,
        round_seconds=round_seconds, bn_data=bn_data if "train" not in loaded else None, planes=planes, tol=tol,
        population=population or None,
        engine=EngineOptions(fold_bn=fold_bn, channels_last=channels_last, points_per_pass=points_per_pass,
                             compile=compile_), adaptive=adaptive)
    if not ctx.is_main:
        return
    done = int(result.done().sum())
    click.echo(f"Wrote {out}: {'x'.join(str(n) for n in reversed(result.shape))} grid, {done}/{result.done().size} cells done"
               + (f", interpolated from {len(result.points['index'])} evaluated points (adaptive)." if result.points else "."))
    for value in result.values:
        ext = result.extremes(value)
        if ext["argmin"] is not None:
            where = ", ".join(f"{c:.4g}" for c in ext["argmin_coords"])
            click.echo(f"  {value}: min {ext['min']:.6g} at ({where}), max {ext['max']:.6g}")
    if result.planes is not None:
        seeds = result.planes.seeds
        click.echo(f"  {len(seeds)} planes (seeds {seeds[0]}..{seeds[-1]}), {int(result.planes.done.sum())} cells done in all; "
                   f"`landscape info {out}` gives every metric as median and 95% interval over them.")
    if result.samples:
        for split, used in (result.planes.samples if result.planes is not None else result.samples).items():
            full = int(result.attrs.get("population", {}).get(split, 0)) or int(used.max())
            done_cells = (result.planes.done if result.planes is not None else result.done())
            share = used[done_cells].sum() / max(1, full * int(done_cells.sum()))
            click.echo(f"  --tol {tol:g}: {split} cells used {share:.0%} of the samples a full evaluation needs "
                       f"(median {int(np.median(used[done_cells]))} of {full} per cell).")
    losses = [v for name, v in result.values.items() if name.endswith("_loss")]
    diverged = int((result.done() & ~np.all([np.isfinite(v) for v in losses], axis=0)).sum()) if losses else 0
    if diverged:
        click.echo(f"  {diverged} of {done} cells have a non-finite loss (the network diverged there): every value of "
                   "those cells is NaN.")
