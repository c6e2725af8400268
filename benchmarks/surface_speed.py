"""How fast is a loss-surface grid point? The reference algorithm against our engine, side by side.

One run times, on the same model, data and grid points:

  (a) the reference algorithm, as the field's code does it: per grid point, copy the origin state
      dict, add the directions, ``load_state_dict``, ``model.eval()``, then under ``torch.no_grad()``
      iterate a ``DataLoader`` in batches of 128 (tensors on the host, moved to the device per batch),
      summing ``CrossEntropyLoss() * batch size`` and correct predictions as Python floats;
  (b) ``landscape.surface.compute`` (the public API, all of it) in each precision.

and prints, per row: seconds per grid point (the fastest of the repeats, total / points; the rows
run interleaved, repeat after repeat, so that load from other processes hits them alike), speed-up over (a),
achieved GFLOP/s (the model's forward FLOPs over the data from ``FlopCounterMode`` — convolutions
and matmuls of the *unfolded* model, so every row is credited with the same work — divided by the
time), that as a fraction of a large matmul's GFLOP/s at the same precision (measured in every
repeat of the same run, the best kept), peak memory, and the largest relative difference of the loss from (a) (and the largest absolute
difference of the accuracy).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during the row; on a CPU the peak resident
set size of this process while the row ran (sampled every 5 ms from /proc/self/statm) and how much
that exceeds the RSS at the start of the row — RSS includes torch's own allocator caches, so
"+MiB" is an upper bound on what the row itself needed.

Cases (``--case``):
  cpu-resnet20    ResNet-20 (BN), 2,048 CIFAR-shaped random samples, 11x11 grid; by default a
                  3x3 sub-grid (9 points) of it is timed, for (a) and (b) alike.
  cpu-mlp-digits  mlp20 (BN, 20 layers) on all 1,797 digits samples, 51x51 grid: (b) computes the
                  whole grid; (a) times an 11x11 sub-grid of it (121 points).
  cpu-resnet56-mnist1d
                  the 1D ResNet-56 (Conv1d, BN; at initialization, BN statistics calibrated) on the
                  4,000 MNIST-1D training sequences (1x40), 11x11 grid; a 3x3 sub-grid (9 points) is
                  timed for (a) and (b) alike.
  gpu-resnet56    ResNet-56 and ResNet-56-noskip, 10,000 CIFAR-shaped samples; (a) on 4 points
                  (a 2x2 sub-grid), (b) on a 5x5 sub-grid (25 points).
  cpu-conv1d      one kernel-3 convolution per stage of the 1D ResNet (16x40, 32x20, 64x10; batch
                  2048): F.conv1d against F.conv2d over (N, C, 1, L) in NCHW and in channels_last,
                  the layout the engine runs 1D convolutions in (landscape.fastnet.Conv1dAs2d).
  cpu-memory      memory stays flat: a tiny model on a 51x51 grid (twice: the first run warms up)
                  and a 201x201 grid written to a file; prints the peak RSS of each (about equal).

Run from the repository root, e.g.::

    python benchmarks/surface_speed.py --case cpu-resnet20 --threads 2
    python benchmarks/surface_speed.py --case cpu-mlp-digits --threads 2
    python benchmarks/surface_speed.py --case cpu-resnet56-mnist1d --threads 2 --precisions fp32
    python benchmarks/surface_speed.py --case gpu-resnet56            # (benchmarks/gpu_check.sh)

BatchNorm statistics are calibrated on the data first (one pass in training mode) so that folding
them is tested with realistic values, not the fresh zeros and ones.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from landscape import (
    data as datasets,  # noqa: E402
    models,  # noqa: E402
)
from landscape.core import directions, surface  # noqa: E402
from landscape.core.engine import EngineOptions, bf16_cpu_warning  # noqa: E402

# --- measuring ---------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory while the block runs: CUDA max_memory_allocated, or sampled RSS on a CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = self.start = 0
        self._stop = threading.Event()

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self.start = self.peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes())
        return False

    def describe(self) -> str:
        mib = 2 ** 20
        if self.device.type == "cuda":
            return f"{self.peak / mib:,.0f} MiB alloc"
        return f"{self.peak / mib:,.0f} MiB RSS (+{(self.peak - self.start) / mib:,.0f})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, precision: str, n: int, repeats: int = 5) -> float:
    """GFLOP/s of an n x n x n matmul at a precision (fp32 IEEE, tf32, bf16), best of ``repeats``."""
    from landscape.core.engine import precision_context

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    with precision_context("tf32" if precision == "tf32" else "fp32", device.type):
        for _ in range(repeats + 1):
            _sync(device)
            t = time.perf_counter()
            (a @ b)
            _sync(device)
            best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


_MM_SIZE = {"cuda": 8192, "cpu": 2048}


def forward_flops(model: nn.Module, X: torch.Tensor, batch: int = 1024) -> int:
    """FLOPs of one forward pass over all of X (FlopCounterMode: convolutions and matmuls)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        for i in range(0, len(X), batch):
            model(X[i:i + batch])
    return counter.get_total_flops()


# --- the two algorithms ------------------------------------------------------------------------------


def reference(model: nn.Module, dirs, coords: np.ndarray, X: torch.Tensor, Y: torch.Tensor,
              device: torch.device) -> np.ndarray:
    """(a): the field's per-point loop. Returns (k, 2) [loss, acc]."""
    net = copy.deepcopy(model).to(device)
    origin = copy.deepcopy(net.state_dict())
    loader = DataLoader(TensorDataset(X.cpu(), Y.cpu()), batch_size=128, shuffle=False)
    criterion = nn.CrossEntropyLoss()
    out = []
    for c in coords:
        state = copy.deepcopy(origin)
        for name in dirs[0]:
            for k, d in enumerate(dirs):
                state[name] = state[name] + float(c[k]) * d[name].to(device)
        net.load_state_dict(state)
        net.eval()
        total, correct, loss = 0, 0, 0.0
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                logits = net(x)
                loss += criterion(logits, y).item() * len(x)
                correct += (logits.argmax(1) == y).sum().item()
                total += len(x)
        out.append((loss / total, correct / total))
    return np.array(out)


def engine(model, dirs, xs, ys, X, Y, device, precision, options, batch_size) -> np.ndarray:
    """(b): landscape.surface.compute on the grid xs x ys. Returns (k, 2) [loss, acc] (row-major [y, x])
    and the batch size it used (``batch_size=None``: the engine's automatic choice)."""
    s = surface.compute(model, dirs, x=xs, y=ys, data=(X, Y), precision=precision, engine=options,
                        batch_size=batch_size, device=device, progress=False, round_seconds=3600.0)
    vals = np.stack([s.values["train_loss"].reshape(-1), s.values["train_acc"].reshape(-1)], axis=1)
    return vals, int(s.attrs["batch_size"])


# --- cases --------------------------------------------------------------------------------------------


def cifar_like(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


@torch.no_grad()
def calibrate_bn(model: nn.Module, X: torch.Tensor, batch: int = 512) -> nn.Module:
    """Running statistics from one training-mode pass over X (equal-weight average), then eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(0, len(X), batch):
        model(X[i:i + batch])
    for m in bns:
        m.momentum = 0.1
    return model.eval()


def sub_axis(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def _fmt_row(cols: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))


def run_case(name: str, args, mm: Dict[str, float]) -> List[Dict]:
    """Time (a) and (b) for a case; ``mm`` (precision -> matmul GFLOP/s) is updated in every repeat
    with the best matmul speed seen, so that the fraction is taken against the machine at its quietest."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit(f"--case {name} needs a CUDA device; none is available here.")
    if name == "cpu-resnet20":
        nets = ["resnet20"]
        X, Y = cifar_like(args.samples or 2048)
        grid, sub_b, sub_a, batch = 11, 3, 3, args.batch_size
    elif name == "cpu-mlp-digits":
        nets = ["mlp20"]
        Xtr, Ytr = datasets.load("digits", "train")
        Xte, Yte = datasets.load("digits", "test")
        X, Y = torch.cat([Xtr, Xte]), torch.cat([Ytr, Yte])
        if args.samples:
            X, Y = X[:args.samples], Y[:args.samples]
        grid, sub_b, sub_a, batch = 51, 51, 11, args.batch_size
    elif name == "cpu-resnet56-mnist1d":
        nets = ["resnet56"]
        X, Y = datasets.load("mnist1d", "train")
        if args.samples:
            X, Y = X[:args.samples], Y[:args.samples]
        grid, sub_b, sub_a, batch = 11, 3, 3, args.batch_size
    elif name == "gpu-resnet56":
        nets = ["resnet56", "resnet56_noskip"]
        X, Y = cifar_like(args.samples or 10000)
        grid, sub_b, sub_a, batch = 51, 5, 2, args.batch_size
    else:
        raise SystemExit(f"unknown case {name!r}")
    if args.points:
        sub_b = sub_a = max(1, int(round(args.points ** 0.5)))
    if args.models:
        nets = args.models.split(",")
    axis = np.linspace(-1, 1, grid)
    bx = axis[sub_axis(grid, sub_b)]
    ax = axis[sub_axis(grid, sub_a)]
    a_coords = np.array([(x, y) for y in ax for x in ax])
    in_shape = tuple(X.shape[1:])
    rows = []
    for net_name in nets:
        model = models.create(net_name, seed=0, in_shape=in_shape, num_classes=10).to(device)
        calibrate_bn(model, X.to(device))
        dirs = directions.random(model, n=2, seed=0)
        flops = forward_flops(model, X.to(device))
        print(f"\n{net_name}: {sum(p.numel() for p in model.parameters()):,} params, {len(X):,} samples, "
              f"{flops / 1e9:.2f} GFLOP per grid point (forward over all samples); grid {grid}x{grid}; "
              f"(a) on {len(a_coords)} points, (b) on {len(bx) ** 2}", flush=True)
        variants = [(p, EngineOptions(), batch, f"(b) engine {p}") for p in args.precisions]
        if args.ablations:
            variants += [("fp32", EngineOptions(fold_bn=False, channels_last=False), batch, "(b) fp32, no folding, NCHW"),
                         ("fp32", EngineOptions(fold_bn=False), batch, "(b) fp32, no BN folding"),
                         ("fp32", EngineOptions(channels_last=False), batch, "(b) fp32, NCHW (no channels_last)"),
                         ("bf16", EngineOptions(channels_last=False), batch, "(b) bf16, NCHW (no channels_last)"),
                         ("fp32", EngineOptions(), 128, "(b) fp32, batch 128"),
                         ("fp32", EngineOptions(), 512, "(b) fp32, batch 512"),
                         ("fp32", EngineOptions(), 1024, "(b) fp32, batch 1024"),
                         ("fp32", EngineOptions(), len(X), f"(b) fp32, batch {len(X)}"),
                         ("bf16", EngineOptions(), len(X), f"(b) bf16, batch {len(X)}"),
                         ("fp32", EngineOptions(points_per_pass=4), batch, "(b) fp32, vmap 4 points/pass")]
        if args.compile:
            variants += [(p, EngineOptions(compile=True), batch, f"(b) {p} + torch.compile") for p in args.precisions]
        # Warm up every row once (first-call costs; compilation), then time the rows *interleaved*,
        # repeat after repeat, and keep each row's fastest: load from other processes then hits every
        # row alike instead of whichever happened to run during a busy minute.
        reference(model, dirs, a_coords[:1], X, Y, device)
        for precision, opts, bs, _ in variants:
            engine(model, dirs, bx[:1], bx[:1], X, Y, device, precision, opts, bs)
        best = {"ref": float("inf"), **{i: float("inf") for i in range(len(variants))}}
        peak: Dict = {}
        out: Dict = {}
        for r in range(max(args.repeats, args.ref_repeats)):
            jobs = ([("ref", None)] if r < args.ref_repeats else []) + \
                   ([(i, v) for i, v in enumerate(variants)] if r < args.repeats else [])
            for key, v in jobs:
                with PeakMemory(device) as mem:
                    _sync(device)
                    t = time.perf_counter()
                    if key == "ref":
                        out[key] = reference(model, dirs, a_coords, X, Y, device)
                        n = len(a_coords)
                    else:
                        precision, opts, bs, _ = v
                        out[key] = engine(model, dirs, bx, bx, X, Y, device, precision, opts, bs)
                        n = len(bx) ** 2
                    _sync(device)
                    best[key] = min(best[key], (time.perf_counter() - t) / n)
                if key not in peak or mem.peak > peak[key].peak:
                    peak[key] = mem
            for prec in mm:
                mm[prec] = max(mm[prec], matmul_gflops(device, prec, _MM_SIZE[device.type], repeats=2))
            print(f"  repeat {r + 1}: " + ", ".join(f"{'(a)' if k == 'ref' else k}: {best[k]:.3f}" for k, _ in jobs)
                  + " s/point so far", flush=True)
        ref, best_a = out["ref"], best["ref"]
        rows.append(dict(model=net_name, variant="(a) reference, batch 128", precision="fp32", s_per_point=best_a,
                         gflops=flops / best_a / 1e9, memory=peak["ref"].describe(), rel_diff=0.0, acc_diff=0.0,
                         ratio=1.0))
        # where (b)'s grid and (a)'s points coincide, compare the values
        b_coords = np.array([(x, y) for y in bx for x in bx])
        shared = [int(np.flatnonzero((np.abs(b_coords - c) < 1e-12).all(1))[0]) for c in a_coords
                  if (np.abs(b_coords - c) < 1e-12).all(1).any()]
        ref_shared = np.array([r for c, r in zip(a_coords, ref) if (np.abs(b_coords - c) < 1e-12).all(1).any()])
        for i, (precision, opts, bs, label) in enumerate(variants):
            vals, used = out[i]
            got = vals[shared]
            rel = float(np.max(np.abs(got[:, 0] - ref_shared[:, 0]) / np.abs(ref_shared[:, 0]))) if len(shared) else float("nan")
            acc = float(np.max(np.abs(got[:, 1] - ref_shared[:, 1]))) if len(shared) else float("nan")
            if bs is None:
                label = f"{label} (batch {used})"
            rows.append(dict(model=net_name, variant=label, precision=precision, s_per_point=best[i], batch=used,
                             gflops=flops / best[i] / 1e9, memory=peak[i].describe(), rel_diff=rel, acc_diff=acc,
                             ratio=best_a / best[i]))
        del model
    return rows


def memory_case(args) -> List[Dict]:
    """Peak RSS increase of a 51x51 and a 201x201 surface written to a file (tiny model)."""
    torch.manual_seed(0)
    X, Y = datasets.load("digits", "train", n=64)
    model = models.create("mlp", depth=2, width=0.25, in_shape=(1, 8, 8), num_classes=10, seed=0).eval()
    dirs = directions.random(model, n=2, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (51, 51, 201):  # the first run warms up (imports, allocator pools); compare the other two
            path = os.path.join(tmp, f"s{n}.h5")
            with PeakMemory(torch.device("cpu")) as mem:
                t = time.perf_counter()
                surface.compute(model, dirs, x=(-1, 1, n), y=(-1, 1, n), data=(X, Y), path=path, progress=False,
                                overwrite=True)
                dt = time.perf_counter() - t
            rows.append(dict(grid=f"{n}x{n}", points=n * n, seconds=dt, peak_mib=mem.peak / 2 ** 20,
                             increase_mib=(mem.peak - mem.start) / 2 ** 20))
            print(f"  {n}x{n}: {n * n:,} points in {dt:.1f} s, peak RSS {mem.peak / 2 ** 20:,.1f} MiB "
                  f"(+{(mem.peak - mem.start) / 2 ** 20:,.1f} MiB over the start of the run)", flush=True)
    return rows


def conv1d_case(args) -> List[Dict]:
    """Milliseconds per kernel-3 convolution (C -> C channels, length L, batch 2048) in three layouts."""
    batch = args.samples or 2048
    g = torch.Generator().manual_seed(0)
    rows = []

    def best_of(f, repeats):
        f()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)

    for channels, length in ((16, 40), (32, 20), (64, 10)):
        x = torch.randn(batch, channels, length, generator=g)
        w = torch.randn(channels, channels, 3, generator=g)
        x2, w2 = x.unsqueeze(2), w.unsqueeze(2)  # (N, C, 1, L), (C, C, 1, 3)
        x2_cl = x2.contiguous(memory_format=torch.channels_last)
        ways = {"conv1d": lambda: F.conv1d(x, w, padding=1),
                "conv2d NCHW": lambda: F.conv2d(x2, w2, padding=(0, 1)),
                "conv2d channels_last": lambda: F.conv2d(x2_cl, w2, padding=(0, 1))}
        want = ways["conv1d"]()
        flops = 2 * batch * channels * channels * 3 * length
        for way, f in ways.items():
            seconds = best_of(f, max(3, args.repeats))
            diff = float((f().squeeze(2) - want).abs().max() / want.abs().max())
            rows.append(dict(channels=channels, length=length, layout=way, ms=seconds * 1e3,
                             gflops=flops / seconds / 1e9, max_rel_diff=diff))
            print(f"  {channels:3d} ch x {length:3d}: {way:22s} {seconds * 1e3:8.2f} ms  "
                  f"{flops / seconds / 1e9:6.1f} GFLOP/s  max diff {diff:.1e}", flush=True)
    return rows


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", required=True, choices=["cpu-resnet20", "cpu-mlp-digits", "cpu-resnet56-mnist1d", "gpu-resnet56",
                                                    "cpu-conv1d", "cpu-memory"])
    p.add_argument("--device", default=None, help="override the case's device (e.g. a CPU dry run of gpu-resnet56)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--precisions", default=None, help="comma-separated; default fp32,tf32,bf16 (bf16 only on a GPU or a CPU with AVX512-BF16/AMX)")
    p.add_argument("--points", type=int, default=None, help="time about this many grid points for (a) and (b)")
    p.add_argument("--samples", type=int, default=None, help="override the number of samples")
    p.add_argument("--models", default=None, help="comma-separated model names instead of the case's")
    p.add_argument("--batch-size", type=int, default=None, help="engine batch size (default: automatic)")
    p.add_argument("--repeats", type=int, default=3, help="engine repeats (the minimum is reported)")
    p.add_argument("--ref-repeats", type=int, default=1, help="reference repeats (the minimum is reported)")
    p.add_argument("--ablations", action="store_true", help="also time the engine without each optimization")
    p.add_argument("--compile", action="store_true", help="also time torch.compile rows")
    p.add_argument("--json", default=None, help="write the rows here as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = args.device or ("cuda" if args.case.startswith("gpu") else "cpu")
    if args.precisions is None:
        # bf16 only where the hardware has it: a CPU without AVX512-BF16/AMX emulates it, ~10x slower than fp32
        slow = bf16_cpu_warning("bf16", args.device)
        args.precisions = "fp32,tf32" + ("" if slow else ",bf16")
        if slow:
            print(f"bf16 left out (ask with --precisions fp32,bf16): {slow}", flush=True)
    args.precisions = args.precisions.split(",")
    device = torch.device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine())
    print(f"case {args.case}; {machine}; torch {torch.__version__}; {torch.get_num_threads()} threads; "
          f"load average {load:.2f}; {datetime.datetime.now().isoformat(timespec='seconds')}", flush=True)
    if args.case == "cpu-conv1d":
        rows = conv1d_case(args)
    elif args.case == "cpu-memory":
        rows = memory_case(args)
        print(f"201x201 (16x the points) peaks at {rows[2]['peak_mib'] - rows[1]['peak_mib']:+.1f} MiB RSS against "
              f"the second 51x51 run.")
    else:
        mm = {prec: matmul_gflops(device, prec, _MM_SIZE[device.type])
              for prec in sorted(set(args.precisions) | {"fp32"} | ({"bf16"} if args.ablations else set()))}
        rows = run_case(args.case, args, mm)
        print("\nlarge matmul (best seen during the run): "
              + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in mm.items()), flush=True)
        widths = [16, 40, 8, 7, 8, 5, 24, 8, 8]
        print()
        print(_fmt_row(["model", "variant", "s/point", "x (a)", "GFLOP/s", "of mm", "peak memory", "rel diff", "acc diff"], widths))
        for r in rows:
            frac = r["gflops"] / mm[r["precision"]]
            r["matmul_fraction"] = frac
            print(_fmt_row([r["model"], r["variant"], f"{r['s_per_point']:.4f}", f"{r['ratio']:.2f}",
                            f"{r['gflops']:,.1f}", f"{frac:.0%}", r["memory"], f"{r['rel_diff']:.1e}",
                            f"{r['acc_diff']:.1e}"], widths))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"case": args.case, "machine": machine, "threads": torch.get_num_threads(),
                       "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
