"""1 process or several (torchrun), threads per process: what a surface job gains on one machine.

Runs the same surface job (ResNet-20 with BatchNorm, CIFAR-shaped random samples, a grid of
filter-normalized random directions, fp32) under several launch configurations and prints, for each,
the seconds per grid point inside ``landscape.surface.compute`` (rank 0's clock, from the call to
the finished file: sharding, gathering and writing included, process start-up excluded), the wall
time of the whole command (start-up included), the speed-up over 1 process x 1 thread, and whether
the file equals the 1 x 1 file bit for bit.

    python benchmarks/distributed_speed.py                     # CPU: 1x1, 1x2, 2x1 (this machine: 2 cores)
    python benchmarks/distributed_speed.py --configs 1x1,2x1,4x1 --samples 2048 --grid 7
    python benchmarks/distributed_speed.py --device cuda       # 1 process, and 2 sharing the GPU (gloo)

A configuration ``PxT`` is P processes (torchrun --standalone --nproc-per-node P) with T threads
each (OMP_NUM_THREADS=T). P = 1 runs without torchrun.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(args) -> None:
    sys.path.insert(0, ROOT)
    import torch

    from landscape import models
    from landscape.core import directions, distributed, surface

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ctx = distributed.init(device)
    device = distributed.device_for(device, ctx)
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(args.samples, 3, 32, 32, generator=g), torch.randint(0, 10, (args.samples,), generator=g)
    model = models.create(args.model, seed=0)
    with torch.no_grad():  # realistic BatchNorm statistics
        model.train()
        for i in range(0, len(X), 256):
            model(X[i:i + 256])
    model.eval().to(device)
    dirs = directions.random(model, n=2, seed=0)
    start = time.perf_counter()
    s = surface.compute(model, dirs, x=(-1, 1, args.grid), y=(-1, 1, args.grid), data=(X, Y), path=args.out,
                        batch_size=args.batch_size, device=device, progress=False, overwrite=True)
    seconds = time.perf_counter() - start
    if ctx.is_main:
        print("RESULT " + json.dumps({"seconds": seconds, "points": int(s.done().sum())}), flush=True)


def launch(p: int, t: int, out: str, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(t), PYTHONPATH=ROOT)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    if args.device == "cuda" and p > 1:
        env["LANDSCAPE_DIST_BACKEND"] = "gloo"  # NCCL refuses two ranks on one GPU
    job = [os.path.abspath(__file__), "--worker", "--threads", str(t), "--out", out, "--samples", str(args.samples),
           "--grid", str(args.grid), "--model", args.model, "--device", args.device]
    if args.batch_size:
        job += ["--batch-size", str(args.batch_size)]
    cmd = [sys.executable, *job] if p == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={p}", *job]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{p}x{t} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return {**json.loads(line[7:]), "wall": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--configs", default=None, help="comma-separated PxT (default CPU: 1x1,1x2,2x1; cuda: 1x1,2x1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--grid", type=int, default=5, help="grid is GRID x GRID")
    p.add_argument("--batch-size", type=int, default=None, help="default: the engine's automatic choice")
    p.add_argument("--repeats", type=int, default=1, help="runs per configuration (the fastest is reported)")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    configs = (args.configs or ("1x1,2x1" if args.device == "cuda" else "1x1,1x2,2x1")).split(",")
    sys.path.insert(0, ROOT)
    import numpy as np

    from landscape.storage import io

    print(f"{args.model}, {args.samples} samples, {args.grid}x{args.grid} grid, batch {args.batch_size or 'auto'}, {args.device}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows, base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in configs:
            procs, threads = (int(v) for v in cfg.lower().split("x"))
            out = os.path.join(tmp, f"{cfg}.h5")
            best = min((launch(procs, threads, out, args) for _ in range(args.repeats)), key=lambda r: r["seconds"])
            values = io.load(out).values
            if base is None:
                base = (best, values)
            same = all(np.array_equal(values[k], base[1][k]) for k in values)
            rows.append((cfg, best["seconds"] / best["points"], best["wall"], base[0]["seconds"] / best["seconds"], same))
            print(f"  {cfg}: {best['seconds'] / best['points']:.3f} s/point", flush=True)
    print(f"\n{'processes x threads':<20}{'s/point':>10}{'wall s':>9}{'speed-up':>10}  same as {configs[0]}")
    for cfg, spp, wall, speed, same in rows:
        print(f"{cfg:<20}{spp:>10.3f}{wall:>9.1f}{speed:>10.2f}  {'bitwise' if same else 'NO'}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
