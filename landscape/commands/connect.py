"""`landscape connect`: the straight line and a trained low-loss curve between two checkpoints.

A thin layer over ``landscape.connect.connect``: it loads both checkpoints (they must share one
architecture) and the data checkpoint A was trained on, records every setting and writes one path
file (``landscape.pathfile``). ``landscape plot`` and ``landscape info`` read path files too; the
hooks there (``describe_paths`` in ``info``, ``plot_paths`` in ``plot``) use :func:`barrier_lines` here.
"""
from __future__ import annotations

from pathlib import Path

import click

from ._common import device_option, setup_compute, threads_option, trained_on


def _load_pair(path_a: str, path_b: str, device):
    """Both models, or a one-line ValueError naming the files when they are not one architecture."""
    from landscape.storage import checkpoint

    model_a, ckpt_a = checkpoint.load_model(path_a, device)
    ckpt_b = checkpoint.load(path_b)

    def arch(c):  # the spec without the seed of the initial weights
        return {k: v for k, v in (c.get("model") or {}).items() if k != "seed"}

    if ckpt_b.get("model") is not None and arch(ckpt_a) != arch(ckpt_b):
        def name(c):
            return ", ".join(f"{k}={v}" for k, v in arch(c).items()) or "an unknown architecture"
        raise ValueError(f"{path_a!r} and {path_b!r} are different architectures ({name(ckpt_a)} vs {name(ckpt_b)}); "
                         "connect needs two checkpoints of one architecture (e.g. trained from two seeds).")
    model_b, _ = checkpoint.load_model(path_b, device) if ckpt_b.get("model") else (None, None)
    if model_b is None:  # a bare state dict: it must fit A's architecture
        import copy

        model_b = copy.deepcopy(model_a)
        checkpoint.check_finite(ckpt_b["state_dict"], path_b)
        checkpoint.check_compatible(model_b, ckpt_b["state_dict"], path_b)
        model_b.load_state_dict(ckpt_b["state_dict"])
    return model_a, ckpt_a, model_b, ckpt_b


@click.command()
@click.argument("checkpoint_a", metavar="A.pt", type=click.Path(dir_okay=False))
@click.argument("checkpoint_b", metavar="B.pt", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output path file (HDF5).")
@click.option("--curve", type=click.Choice(["bezier", "polychain"]), default="bezier", show_default=True,
              help="bezier: quadratic Bézier curve; polychain: two line segments through the bend.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True,
              help="Epochs of training the bend (a random point of the curve per batch).")
@click.option("--points", type=click.IntRange(min=3), default=61, show_default=True,
              help="Points evaluated along each path, t = 0 .. 1.")
@click.option("--plane", type=click.IntRange(min=0), default=21, show_default=True,
              help="Grid points along B - A of the plane through A, B and the bend (0: no plane, >= 5 otherwise).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="Peak learning rate of SGD on the bend (cosine decay).")
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True, help="Training batch size.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=5e-4, show_default=True,
              help="L2 penalty on the weights at the sampled point of the curve.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds the data order and the points drawn on the curve.")
@click.option("--dataset", default=None, help="Dataset [default: the one A.pt was trained on].")
@click.option("--root", type=click.Path(file_okay=False), default=None, help="Data root for on-disk datasets.")
@click.option("--n-samples", type=click.IntRange(min=1), default=None,
              help="Use a seeded random subset of N samples per split [default: all].")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the --n-samples subset.")
@device_option
@threads_option
@click.option("--overwrite", is_flag=True, help="Start again even if --out holds another job.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars with ETA.")
def connect(checkpoint_a, checkpoint_b, out, curve, epochs, points, plane, lr, batch_size, weight_decay, seed,
            dataset, root, n_samples, data_seed, device, threads, overwrite, progress):
    """Train a low-loss curve between two checkpoints and measure the loss along it and the line.

    Two minima trained from different seeds are usually separated by a high barrier along the
    straight line between them, and joined by a simple curve along which the loss stays low
    (Garipov et al. 2018, Draxler et al. 2018). This trains the curve's bend (the ends stay fixed),
    evaluates train and test loss and accuracy at --points points of both paths (BatchNorm
    statistics re-estimated at each), and the loss on the plane through A, B and the bend. The
    barrier of a path is its highest loss minus the mean of its end losses.

    The file is written as it goes: after Ctrl-C, rerun the same command to continue.

    \b
    Examples:
      landscape connect runs/s0/final.pt runs/s1/final.pt --out ab.h5
      landscape connect a.pt b.pt --out ab_chain.h5 --curve polychain --epochs 40 --points 31
      landscape info ab.h5                  # both barriers
      landscape plot ab.h5 --out ab.png     # the loss along both paths beside the plane with the curve
      landscape plot ab.h5 --kind all --out ab.png   # each view alone: ab_line.png, ab_contour.png
    """
    from landscape import data
    from landscape.analysis import connect as connect_mod
    from landscape.storage import checkpoint
    from landscape.training import train as train_mod

    config = connect_mod.ConnectConfig(curve=curve, epochs=epochs, batch_size=batch_size, lr=lr,
                                       weight_decay=weight_decay, seed=seed, points=points, plane=plane)
    from landscape.storage import pathfile

    from .outputs import HDF5, check_output

    check_output(out, [("checkpoint A", checkpoint_a), ("checkpoint B", checkpoint_b)], extensions=HDF5,
                 writes="an HDF5 path file", replaces=(pathfile.FORMAT,))
    dev = setup_compute(device, threads)
    for p in (checkpoint_a, checkpoint_b):
        if not Path(p).is_file():
            raise ValueError(f"Checkpoint {p!r} does not exist (expected a .pt file written by `landscape train`).")
    model_a, ckpt_a, model_b, ckpt_b = _load_pair(checkpoint_a, checkpoint_b, dev)
    on = trained_on(ckpt_a, checkpoint_a, dataset, root)
    name, loss = on.dataset, on.loss
    train = data.load_at_most(name, "train", n_samples, data_seed, on.root, on.normalize)
    test = data.load_at_most(name, "test", n_samples, data_seed, on.root, on.normalize)
    attrs = {
        "model_name": ckpt_a.get("name") or train_mod.display_name(ckpt_a.get("model"), model_a),
        "checkpoint_a": str(Path(checkpoint_a).resolve()), "checkpoint_b": str(Path(checkpoint_b).resolve()),
        "checkpoint_a_sha256": checkpoint.sha256(checkpoint_a), "checkpoint_b_sha256": checkpoint.sha256(checkpoint_b),
        "dataset": name, "normalize": on.normalize if isinstance(on.normalize, (bool, int, float, str)) else str(on.normalize),
        "data_seed": data_seed, "n_samples_requested": n_samples or 0,
    }
    paths = connect_mod.connect(model_a, model_b, train, test, config=config, loss=loss, path=out,
                                overwrite=overwrite, progress=progress, attrs=attrs)
    click.echo(f"Wrote {out}: {len(paths.t)} points along the line and the {curve} curve"
               + (f", a {paths.plane.shape[1]}x{paths.plane.shape[0]} plane grid." if paths.plane is not None else "."))
    click.echo(barrier_lines(paths))


def barrier_lines(paths) -> str:
    rows = []
    for value, numbers in _by_value(paths).items():
        rows.append(f"  {value} barrier: line {numbers['line']:.4g}, curve {numbers['curve']:.4g}")
    return "barriers (max along the path - mean of the ends):\n" + "\n".join(rows)


def _by_value(paths) -> dict:
    out: dict = {}
    for which, numbers in paths.barriers().items():
        for value, b in numbers.items():
            out.setdefault(value, {})[which] = b
    return out
