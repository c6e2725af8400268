"""``--tol``: the same picture for a fraction of the forward passes? Full data against ``tol``, side by side.

One run computes, on one model, data and plane (random filter-normalized directions, seed 0):

  (a) the full-data surface: every cell on every sample of the split;
  (b) the same surface with ``tol=T`` (``landscape surface --tol T``): each cell on growing seeded
      blocks of samples (128, 256, 384, …) until the standard error of its loss is at most T, its
      interval lies wholly above the figures' cap (loss 10), or the data run out;

and prints: the samples (b) evaluated as a share of (a)'s (forward passes per sample are equal, so
this is the share of forward passes), the wall time of each (loaded machine: read the ratio), the
share of cells below the cap whose (b) loss lies within 2T of (a)'s, and the cells above the cap
(by (a)) that (b) draws below it (should be none).

Cases (``--case``):
  digits-mlp20      mlp20 (20-layer residual MLP, BN) trained 10 epochs on digits (seconds), the
                    1,437 training samples, a 51x51 plane over [-1, 1]^2.
  mnist1d-resnet56  the 1D ResNet-56 (BN) trained 3 epochs on MNIST-1D, the 4,000 training
                    sequences, a 21x21 plane over [-1, 1]^2 (minutes).

    python benchmarks/tol.py --case digits-mlp20 --tol 0.01 --threads 1
    python benchmarks/tol.py --case mnist1d-resnet56 --tol 0.01 --points 11
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from landscape import data, models
from landscape.core import directions, surface
from landscape.core.cells import DEFAULT_CAP, Tolerance
from landscape.training import train
from landscape.training.trainconfig import TrainConfig


def trained(case: str):
    if case == "digits-mlp20":
        X, Y = data.load("digits", "train")
        model = models.create("mlp20", seed=0, in_shape=(1, 8, 8), num_classes=10)
        train.fit(model, (X, Y), config=TrainConfig(epochs=10, seed=0), progress_bar=False)
        return model.eval(), (X, Y), (-1, 1, 51)
    X, Y = data.load("mnist1d", "train")
    model = models.create("resnet56", seed=0, in_shape=(1, 40), num_classes=10)
    train.fit(model, (X, Y), config=TrainConfig(epochs=3, seed=0, lr=0.05), progress_bar=False)
    return model.eval(), (X, Y), (-1, 1, 21)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=("digits-mlp20", "mnist1d-resnet56"), default="digits-mlp20")
    p.add_argument("--tol", type=float, default=0.01)
    p.add_argument("--cap", type=float, default=DEFAULT_CAP)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--points", type=int, default=None, help="points per axis (default: 51 digits, 21 mnist1d)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model, xy, axis = trained(args.case)
    if args.points:
        axis = (axis[0], axis[1], args.points)
    print(f"{args.case}: trained in {time.perf_counter() - started:.1f} s; {len(xy[0])} samples, "
          f"{axis[2]}x{axis[2]} plane over [{axis[0]}, {axis[1]}]^2, tol {args.tol}, cap {args.cap}")
    d = directions.random(model, n=2, seed=0)
    grid = dict(x=axis, y=axis, data=xy, progress=False)
    t0 = time.perf_counter()
    full = surface.compute(model, d, **grid)
    t1 = time.perf_counter()
    fast = surface.compute(model, d, tol=Tolerance(args.tol, cap=args.cap), **grid)
    t2 = time.perf_counter()
    ref, got, used = full.values["train_loss"], fast.values["train_loss"], fast.samples["train"]
    n = len(xy[0])
    share = used.sum() / (n * used.size)
    below, above = ref <= args.cap, ref > args.cap
    close = np.abs(got - ref)[below] <= 2 * args.tol
    wrong_side = int((got[above] <= args.cap).sum())
    print(f"  forward passes: {used.sum():,} of {n * used.size:,} ({share:.1%} of full data); samples per cell: "
          f"median {int(np.median(used))}, min {used.min()}, max {used.max()}; "
          f"{int((used == n).sum())} of {used.size} cells used all {n}")
    print(f"  time: full {t1 - t0:.1f} s, tol {t2 - t1:.1f} s ({(t2 - t1) / (t1 - t0):.2f}x; loaded machine: the "
          "share of forward passes is the machine-independent number)")
    print(f"  cells below the cap ({int(below.sum())}): {close.mean():.1%} within {2 * args.tol:g} of the full-data "
          f"loss (largest error {np.abs(got - ref)[below].max():.3g})")
    print(f"  cells above the cap ({int(above.sum())}): {wrong_side} drawn below it")


if __name__ == "__main__":
    main()
