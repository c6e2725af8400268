"""`landscape train` and `landscape pair`: train one network, or both members of a pair, on a dataset.

Both build a :class:`landscape.train.TrainConfig` from the options (unset options take the dataset's
recipe, :func:`landscape.train.recommended`), load the data with ``data.load``, build the model with
``models.create``/``models.pair`` for the dataset's input shape and class count, and call
:func:`landscape.train.fit`. The run directory layout is described in :mod:`landscape.train`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from ._common import THREADS_HELP, data_root_option, device_option, progress_option, setup_compute


class MilestonesType(click.ParamType):
    """Comma-separated epochs such as ``150,225,275`` (increasing, each >= 1)."""

    name = "E1,E2,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            epochs = tuple(int(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of whole epochs (for example 150,225).", param, ctx)
        if any(e < 1 for e in epochs) or list(epochs) != sorted(set(epochs)):
            self.fail(f"{value!r}: milestones must be increasing epochs >= 1 (for example 150,225).", param, ctx)
        return epochs


def _options(f):
    """The options `train` and `pair` share (applied bottom-up, so listed here in reverse help order)."""
    opts = [
        click.option("--dataset", default="digits", show_default=True, help="Dataset name (see `landscape data list`)."),
        data_root_option("data_root"),
        click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False),
                     help="Run directory to write (checkpoints, snapshots, history, gradient flow)."),
        click.option("--n-train", type=click.IntRange(min=2), default=None,
                     help="Train on a seeded random subset of this many training examples (default: all)."),
        click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0,
                     show_default=True, help="Hold out this fraction of the training set (seeded) for validation."),
        click.option("--patience", type=click.IntRange(min=1), default=None,
                     help="Early stopping: stop after this many epochs without a better validation loss and "
                          "restore the best weights (needs --val-fraction)."),
        click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs (default: dataset recipe; digits 40)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Batch size (digits 64); with --optimizer gd the chunk the full-batch gradient is summed over "
                          "(memory only; gd default 1024)."),
        click.option("--optimizer", type=click.Choice(["sgd", "adam", "adamw", "gd"]), default=None,
                     help="Optimizer (digits sgd). gd: full-batch gradient descent, one step per epoch (a pass over "
                          "--n-train), constant step, no momentum or weight decay unless given, e.g. "
                          "--optimizer gd --lr 0.4 --epochs 500 --track-sharpness 10."),
        click.option("--lr", type=click.FloatRange(min=0.0, min_open=True), default=None, help="Peak learning rate (digits 0.05)."),
        click.option("--momentum", type=click.FloatRange(0.0, 1.0, max_open=True), default=None, help="SGD momentum (0.9)."),
        click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum for SGD (digits on)."),
        click.option("--weight-decay", type=click.FloatRange(min=0.0), default=None, help="Weight decay (5e-4)."),
        click.option("--schedule", type=click.Choice(["constant", "step", "cosine"]), default=None,
                     help="Learning-rate schedule (digits cosine)."),
        click.option("--milestones", type=MilestonesType(), default=None,
                     help="Epochs after which --schedule step multiplies the rate by --gamma, e.g. 150,225."),
        click.option("--gamma", type=click.FloatRange(min=0.0, min_open=True), default=None, help="Step decay factor (0.1)."),
        click.option("--warmup", type=click.FloatRange(min=0.0), default=None, help="Linear warmup epochs (digits 2)."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seeds the initial weights, data order, augmentation, dropout and the validation split."),
        click.option("--augment/--no-augment", default=None,
                     help="The dataset's augmentation each batch: random crops (and flips where they make sense) "
                          "for images, shifts and a little noise for mnist1d (default: the dataset recipe, off "
                          "for digits and mnist1d)."),
        click.option("--dropout", type=click.FloatRange(0.0, 1.0, max_open=True), default=None,
                     help="Dropout probability passed to the model (default: the model's)."),
        click.option("--normalize/--no-normalize", default=True, show_default=True,
                     help="Standardize inputs with the train split's per-channel mean and std."),
        click.option("--save-every", type=click.IntRange(min=0), default=None,
                     help="Snapshot every K epochs for PCA trajectories (0: only first and last; digits 1)."),
        click.option("--track-sharpness", "track_sharpness", type=click.IntRange(min=1), default=None, metavar="EVERY",
                     help="Measure the top Hessian eigenvalue every EVERY optimizer steps (and at step 0), warm-started "
                          "Lanczos on a fixed seeded training subset, into history.json and sharpness.csv with the step "
                          "size and its 2/lr line, e.g. --track-sharpness 10."),
        click.option("--track-samples", type=click.IntRange(min=2), default=None, metavar="N",
                     help="Training samples the tracked Hessian is taken on, a fixed seeded subset, e.g. --track-samples 2000 "
                          "[default: 1000, or all when fewer]."),
        click.option("--track-top-k", type=click.IntRange(min=1), default=None, metavar="K",
                     help="Track the K largest eigenvalues, e.g. --track-top-k 3 [default: 1]."),
        click.option("--track-method", type=click.Choice(["lanczos", "power"]), default=None,
                     help="Eigenvalue solver for tracking, warm-started from the last eigenvector, e.g. --track-method power "
                          "[default: lanczos]."),
        click.option("--track-trace", type=click.IntRange(min=2), default=None, metavar="PROBES",
                     help="Also the Hessian trace, Hutchinson with PROBES probes, e.g. --track-trace 20."),
        click.option("--track-batch-sharpness", "track_batch", type=click.IntRange(min=1), default=None, metavar="BATCHES",
                     help="Also the batch sharpness (curvature of mini-batch Hessians along their own gradients, "
                          "Andreyev & Beneventano 2024) over BATCHES fixed batches of --batch-size, e.g. 8."),
        click.option("--track-preconditioned", is_flag=True, default=None,
                     help="Adam/AdamW: also the preconditioned sharpness λmax(P⁻¹H) from the optimizer's second "
                          "moments, whose threshold is 38/lr (Cohen et al. 2022)."),
        device_option,
        click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True, help=THREADS_HELP),
        click.option("--resume", is_flag=True, help="Continue an interrupted run in --out from its last epoch."),
        click.option("--overwrite", is_flag=True, help="Replace a run already in --out."),
        progress_option(),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


_CONFIG_KEYS = {"epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer", "lr": "lr",
                "momentum": "momentum", "nesterov": "nesterov", "weight_decay": "weight_decay",
                "schedule": "schedule", "milestones": "milestones", "gamma": "gamma", "warmup": "warmup_epochs",
                "seed": "seed", "val_fraction": "val_fraction", "patience": "patience", "augment": "augment",
                "save_every": "save_every", "track_sharpness": "track_sharpness", "track_samples": "track_samples",
                "track_top_k": "track_top_k", "track_method": "track_method", "track_trace": "track_trace",
                "track_batch": "track_batch", "track_preconditioned": "track_preconditioned"}


def _prepare(opts: Dict[str, Any]):
    """Config, device, data and data description from the parsed options."""
    from landscape import data
    from landscape.training.train import recommended

    if opts["resume"] and opts["overwrite"]:
        raise click.UsageError("--resume and --overwrite exclude each other: continue the run or replace it.")
    info = data.info(opts["dataset"], opts["data_root"])
    if opts["n_train"] is not None and opts["n_train"] > info["sizes"]["train"]:
        raise click.BadParameter(f"{opts['n_train']} is more than the {info['sizes']['train']} training samples of "
                                 f"{opts['dataset']}.", param_hint="--n-train")
    overrides = {key: opts[opt] for opt, key in _CONFIG_KEYS.items() if opts[opt] is not None}
    tracking = [o for o in _CONFIG_KEYS if o.startswith("track_") and o != "track_sharpness" and opts[o] is not None]
    if tracking and opts["track_sharpness"] is None:
        raise click.UsageError(f"--{tracking[0].replace('_', '-')} sets up sharpness tracking; add --track-sharpness "
                               "EVERY (for example --track-sharpness 10).")
    config = recommended(opts["dataset"], **overrides)
    device = setup_compute(opts["device"], opts["threads"])
    common = {"root": opts["data_root"], "normalize": opts["normalize"]}
    train_xy = data.load(opts["dataset"], "train", n=opts["n_train"], seed=opts["seed"], **common)
    test_xy = data.load(opts["dataset"], "test", **common)
    meta = {"dataset": opts["dataset"], "root": opts["data_root"], "normalize": opts["normalize"],
            "n_train": opts["n_train"], "seed": opts["seed"], "val_fraction": config.val_fraction,
            "augment": config.augment, "mean": info.get("mean"), "std": info.get("std")}
    build = {"in_shape": tuple(info["input_shape"]), "num_classes": info["num_classes"], "seed": opts["seed"]}
    if opts["dropout"] is not None:
        build["dropout"] = opts["dropout"]
    return config, device, train_xy, test_xy, meta, build


def _fit(model, name: str, run_dir: Path, config, device, train_xy, test_xy, meta, opts):
    from landscape.analysis.tracking import SharpnessTracker
    from landscape.core import threads
    from landscape.core.params import restored
    from landscape.training.train import fit

    model = model.to(device)
    n_threads = None
    if device.type == "cpu":  # --threads N was applied by setup_compute; 0: chosen from the model (auto)
        sample = train_xy[0][:1].to(device)
        with restored(model):
            n_threads = threads.auto(threads.flops_per_sample(model, lambda: model.eval()(sample), 1))
    with threads.using(n_threads):
        return fit(model, train_xy, test_data=test_xy, config=config, run_dir=run_dir,
                   resume=opts["resume"], overwrite=opts["overwrite"], name=name, data_meta=meta,
                   progress_bar=opts["progress"], desc=name,
                   tracker=SharpnessTracker(config) if config.track_sharpness else None)


def member_names(model: str, vary: str) -> Tuple[str, str]:
    """Directory/display names of a pair's members: ``("mlp20", "mlp20_noskip")``."""
    suffix = f"_no{vary}"
    base = model[: -len(suffix)] if model.endswith(suffix) else model
    return base, base + suffix


@click.command("train", context_settings={"max_content_width": 100})
@click.argument("model")
@_options
def train(model: str, **opts):
    """Train MODEL (see `landscape models list`) on --dataset into --out.

    Writes final.pt, best.pt, snapshots/epoch_NNNN.pt, history.json/.csv, gradient_flow.json and
    config.json, then prints a summary. Unset hyperparameters take the dataset's recipe. With
    --track-sharpness also sharpness.csv and sharpness.png (λmax with its 2/lr line beside the loss).

    \b
    Examples:
      landscape train mlp20 --dataset digits --out runs/mlp20
      landscape train mlp8 --dataset mnist1d --n-train 1000 --optimizer gd --lr 0.1 --epochs 300 --track-sharpness 10 --out runs/gd
    """
    from landscape import models
    from landscape.core import distributed
    from landscape.training.train import check_run_dir

    models.resolve(model)  # an unknown name fails before any data is read
    out = Path(opts["out"])
    main = distributed.from_env().is_main  # under torchrun, rank 0 alone checks the directory and prints
    if main:
        check_run_dir(out, opts["resume"], opts["overwrite"])
    config, device, train_xy, test_xy, meta, build = _prepare(opts)
    net = models.create(model, **build)
    run = _fit(net, model, out, config, device, train_xy, test_xy, meta, opts)
    if not main:
        return
    click.echo(summary_table([run]))
    click.echo(f"Wrote {out}/ (final.pt, best.pt, snapshots/, history.json, gradient_flow.json"
               f"{', sharpness.csv' if run.sharpness else ''}).")
    if run.sharpness:
        click.echo(f"Wrote {sharpness_figure([out], out / 'sharpness.png')} (sharpness and its threshold beside the loss).")


def sharpness_figure(run_dirs: Sequence[Path], path: Path) -> Path:
    """Draw the tracked sharpness of ``run_dirs`` (one column each, shared axes) into ``path``."""
    import matplotlib.pyplot as plt

    from landscape import plot
    from landscape.storage.rundir import load_history

    fig = plot.sharpening([load_history(d) for d in run_dirs])
    try:
        plot.save(fig, path)
    finally:
        plt.close(fig)
    return path


@click.command("pair", context_settings={"max_content_width": 100})
@click.argument("model")
@click.option("--vary", type=click.Choice(["skip", "norm"]), default="skip", show_default=True,
              help="The switch the two members differ in: skip connections, or normalization (norm vs none).")
@_options
def pair(model: str, vary: str, **opts):
    """Train both members of MODEL's pair (with and without --vary) into --out/<member>/.

    Same seed, initial weights (where shapes match), data order and hyperparameters for both; then a
    side-by-side summary.

    \b
    Examples:
      landscape pair mlp20 --vary skip --dataset digits --out runs/pair
      landscape pair mlp8 --vary skip --dataset mnist1d --optimizer gd --lr 0.05 --epochs 200 --track-sharpness 10 --out runs/eos
    """
    from landscape import models
    from landscape.core import distributed
    from landscape.training.train import check_run_dir

    models.resolve(model)
    out = Path(opts["out"])
    names = member_names(model, vary)
    main = distributed.from_env().is_main  # under torchrun, rank 0 alone checks the directories and prints
    for name in names:
        if main:
            check_run_dir(out / name, opts["resume"], opts["overwrite"])
    config, device, train_xy, test_xy, meta, build = _prepare(opts)
    members = models.pair(model, vary=vary, **build)
    runs = [_fit(net, name, out / name, config, device, train_xy, test_xy, meta, opts)
            for name, net in zip(names, members)]
    if not main:
        return
    click.echo(summary_table(runs))
    click.echo(f"Wrote {out}/{names[0]}/ and {out}/{names[1]}/.")
    if any(r.sharpness for r in runs):
        click.echo(f"Wrote {sharpness_figure([out / n for n in names], out / 'sharpness.png')} (both members, shared axes).")


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.4g}"


def summary_table(runs: Sequence[Any]) -> str:
    """A plain-text table, one column per run: test/train/val accuracy and loss, best epoch, time."""
    rows: List[Tuple[str, List[str]]] = [("", [r.name for r in runs])]
    f = [r.final for r in runs]
    rows += [
        ("test acc", [_pct(x["test_acc"]) for x in f]),
        ("test loss", [_num(x["test_loss"]) for x in f]),
        ("train acc", [_pct(x["train_acc"]) for x in f]),
        ("train loss", [_num(x["train_loss"]) for x in f]),
    ]
    if any(x["val_loss"] is not None for x in f):
        rows += [("val acc", [_pct(x["val_acc"]) for x in f]), ("val loss", [_num(x["val_loss"]) for x in f])]
    rows += [
        ("weights of epoch", [str(x["epoch"]) for x in f]),
        ("best epoch", [str(r.best_epoch) for r in runs]),
        ("epochs trained", [str(r.history[-1]["epoch"]) + (" (early stop)" if r.stopped_early else "")
                            + (" (diverged)" if r.diverged else "") for r in runs]),
        ("time", [f"{sum(h['seconds'] for h in r.history):.1f}s" for r in runs]),
    ]
    if any(r.sharpness for r in runs):
        last = [r.sharpness[-1] if r.sharpness else {} for r in runs]
        rows += [
            ("lambda_max, last", [f"{x['lambda_max']:.4g} (step {x['step']})" if x else "-" for x in last]),
            ("threshold", [f"{x['threshold']:.4g}" if x else "-" for x in last]),
            ("tracking time", [f"{sum(t['seconds'] for t in r.sharpness):.1f}s ({len(r.sharpness)} measurements)"
                               if r.sharpness else "-" for r in runs]),
        ]
    label_w = max(len(label) for label, _ in rows)
    col_w = [max(len(cells[i]) for _, cells in rows) for i in range(len(runs))]
    lines = ["  ".join([label.ljust(label_w)] + [c.rjust(w) for c, w in zip(cells, col_w)]) for label, cells in rows]
    rule = "-" * len(lines[0])
    return "\n".join([lines[0], rule] + lines[1:])
