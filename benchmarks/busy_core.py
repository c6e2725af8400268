"""Threads on a busy machine: torch's default against one thread against landscape's automatic choice.

Issue 21.6: with one of two cores held by another process, ``landscape surface`` and the API at
torch's default thread count (one per core) ran 10-100x slower than with one thread. This script
starts that other process itself (a Python busy loop, killed at the end), then times in the same run,
rows interleaved repeat after repeat:

  surface   ``landscape.surface.compute`` on an N x N grid: mlp20 (BatchNorm, ReLU, 20 layers) on
            the digits training and test sets (1,797 samples);
  hessian   ``landscape.sharpness.hessian_eigs`` (top eigenvalue, Lanczos, tol 1e-3) of the same
            model on 512 training samples;

each with ``threads`` = torch's default (``torch.get_num_threads()`` at start-up: one per core),
1, and automatic (``landscape.threads.auto``, the library's default). It prints the median seconds
of each row, the ratios, and the load average before and after. ``--no-busy`` runs the same rows
without the busy process (the quiet-machine comparison).

    python benchmarks/busy_core.py                # busy core, 7 x 7 grid, 3 repeats
    python benchmarks/busy_core.py --grid 11 --repeats 2
    python benchmarks/busy_core.py --no-busy
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from landscape import data, models
from landscape.analysis import sharpness  # noqa: E402
from landscape.core import directions, surface, threads
from landscape.core.engine import EngineOptions  # noqa: E402

TORCH_DEFAULT = torch.get_num_threads()


def _surface(model, xy, test, grid: int, n):
    opts = EngineOptions() if n is None else EngineOptions(threads=n)
    dirs = directions.random(model, n=2, seed=0)
    surface.compute(model, dirs, x=(-1, 1, grid), y=(-1, 1, grid), data={"train": xy, "test": test},
                    progress=False, engine=opts)


def _hessian(model, xy, n):
    def run():
        return sharpness.hessian_eigs(model, xy, k=1, tol=1e-3, seed=0)

    if n is None:
        return run()
    with threads.fixed(n):
        return run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=int, default=7, help="points per axis of the surface (default 7)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-busy", action="store_true", help="do not start the busy process")
    ap.add_argument("--cases", default="surface,hessian")
    args = ap.parse_args()

    model = models.create("mlp20", in_shape=(1, 8, 8), num_classes=10, seed=0).eval()
    xy, test = data.load("digits", "train"), data.load("digits", "test")
    small = data.load("digits", "train", n=512, seed=0)
    rows = {"torch default (%d)" % TORCH_DEFAULT: TORCH_DEFAULT, "1 thread": 1, "automatic (new default)": None}
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    work = {"surface": lambda n: _surface(model, xy, test, args.grid, n), "hessian": lambda n: _hessian(model, small, n)}

    busy = None if args.no_busy else subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let the scheduler see it
        print(f"cores {threads.cores()}, busy process: {'none' if busy is None else busy.pid}, "
              f"free cores now {threads.free_cores()}, torch default threads {TORCH_DEFAULT}, "
              f"load average at start {os.getloadavg()[0]:.2f}")
        times = {(c, r): [] for c in cases for r in rows}
        for rep in range(args.repeats):
            for c in cases:
                for label, n in rows.items():
                    torch.set_num_threads(TORCH_DEFAULT)
                    t0 = time.perf_counter()
                    work[c](n)
                    times[(c, label)].append(time.perf_counter() - t0)
                print(f"  repeat {rep + 1}/{args.repeats} done", flush=True)
        for c in cases:
            med = {label: statistics.median(times[(c, label)]) for label in rows}
            what = f"{args.grid}x{args.grid} surface, 1,797 + 1,797 samples" if c == "surface" else "top Hessian eigenvalue, 512 samples"
            print(f"\n{c} ({what}); median of {args.repeats} (seconds):")
            for label in rows:
                print(f"  {label:<26} {med[label]:8.2f}   (all: {', '.join(f'{t:.2f}' for t in times[(c, label)])})")
            default, one, new = (med[label] for label in rows)
            print(f"  torch default / 1 thread = {default / one:.2f}x;  torch default / automatic = {default / new:.2f}x;"
                  f"  automatic / 1 thread = {new / one:.2f}x")
        print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


if __name__ == "__main__":
    main()
