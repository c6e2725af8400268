"""Memory and time of a loss-surface plane for a GPT-2-small-shaped model (issue 28), per mode.

Each mode runs in a child process of its own, so the peak resident set size it reports (the
kernel's ``ru_maxrss`` of that child, from ``os.wait4``) is that mode's alone:

  model     the reference: build the model, one forward pass over the data through the same
            objective (``loss="causal_lm"``, under ``torch.inference_mode``). "What the model alone
            occupies plus its forward pass."
  low       ``directions.random(model, n=2, store=False)`` + ``surface.compute``: directions drawn
            per tensor from their seeds, the model moved in place, its origin in a temporary file
            (``landscape.core.inplace``); the whole ``--grid`` x ``--grid`` plane.
  stored    today's stored directions: ``directions.random(model, n=2)`` + ``surface.compute``
            (the engine keeps the origin and both directions resident); a ``--stored-grid`` plane
            (its peak is reached at the first point; the time per point is the engine's).
  interrupt ``low`` on the full plane, sent SIGINT (Ctrl-C) ``--interrupt-after`` seconds into the
            grid: the child reports whether the weights' SHA-256 is what it was before.

Every child builds the model from ``GPT2Config()`` (124,439,808 parameters; seeded, nothing
downloaded) and hashes every parameter and buffer before and after (``weights_fingerprint``).
The data: ``--seqs`` random token sequences of ``--seq-len`` tokens (seeded).

    nice -n 10 python benchmarks/large_model.py                     # the acceptance run (slow on CPUs)
    python benchmarks/large_model.py --grid 3 --stored-grid 2 --layers 2   # a quick check

Prints one row per mode: peak RSS (MiB), its ratio to ``model``'s, seconds per grid point (wall
clock, and CPU seconds of the process, which another job's load does not inflate; both include the
job's setup), and whether the weights' hash is unchanged; then the acceptance line (low <= 1.5 x
model).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time


def child(args) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import transformers
    from landscape.core import directions, surface
    from landscape.core.causal_lm import causal_lm
    from landscape.core.surface import weights_fingerprint

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=args.layers)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (args.seqs, args.seq_len), generator=torch.Generator().manual_seed(1))
    before = weights_fingerprint(model)
    n_params = sum(p.numel() for p in model.parameters())
    report = {"mode": args.child, "n_params": n_params}
    if args.child == "model":
        with torch.inference_mode():
            start, cpu = time.perf_counter(), time.process_time()
            loss, n, _ = causal_lm(model, {"input_ids": ids})
            report["s_per_point"] = time.perf_counter() - start
            report["cpu_s_per_point"] = time.process_time() - cpu
            report["loss"] = float(loss) / int(n)
    else:
        grid = args.stored_grid if args.child == "stored" else args.grid
        dirs = directions.random(model, n=2, seed=0, store=args.child == "stored")
        path = os.path.join(args.tmp, f"{args.child}.h5")
        if args.child == "interrupt":
            print(json.dumps({"ready": True}), flush=True)  # the parent starts its clock now
        start, cpu = time.perf_counter(), time.process_time()
        try:
            surf = surface.compute(model, dirs, x=(-1, 1, grid), y=(-1, 1, grid), data={"input_ids": ids},
                                   loss="causal_lm", batch_size=args.seqs, path=path, overwrite=True,
                                   progress=False)
            report["s_per_point"] = (time.perf_counter() - start) / grid ** 2
            # CPU seconds: what a point costs whatever else the machine runs (wall time on a shared
            # machine measures the other jobs too); includes the job's setup (hashing the weights ...)
            report["cpu_s_per_point"] = (time.process_time() - cpu) / grid ** 2
            report["points"] = grid ** 2
            report["loss_centre"] = float(surf.values["train_loss"][grid // 2, grid // 2])
            report["loss_range"] = [float(np.nanmin(surf.values["train_loss"])), float(np.nanmax(surf.values["train_loss"]))]
        except KeyboardInterrupt:
            report["interrupted_after_s"] = time.perf_counter() - start
            from landscape.storage import io
            report["cells_written"] = int(io.read_done(path).sum()) if os.path.exists(path) else 0
    report["hash_unchanged"] = weights_fingerprint(model) == before
    print(json.dumps(report), flush=True)


def run_child(args, mode: str) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--tmp", args.tmp] + [
        f"--{k.replace('_', '-')}={getattr(args, k)}" for k in ("grid", "stored_grid", "seqs", "seq_len", "threads", "layers")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    if mode == "interrupt":
        line = proc.stdout.readline()  # "ready": the model is built, the grid starts
        if not line:
            raise RuntimeError("the interrupt child died before starting the grid")
        time.sleep(args.interrupt_after)
        proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"mode {mode} failed (exit {os.waitstatus_to_exitcode(status)})")
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--grid", type=int, default=11, help="points per axis of the low-memory plane (default 11)")
    p.add_argument("--stored-grid", type=int, default=3, help="points per axis of the stored-directions plane")
    p.add_argument("--seqs", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--layers", type=int, default=12, help="transformer blocks (12: GPT-2 small)")
    p.add_argument("--interrupt-after", type=float, default=60.0,
                   help="seconds after the model is built to send SIGINT (mid-grid: cells_written says)")
    p.add_argument("--modes", default="model,low,stored,interrupt")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        rows = []
        for mode in args.modes.split(","):
            t0 = time.perf_counter()
            rows.append(run_child(args, mode))
            rows[-1]["wall_s"] = time.perf_counter() - t0
            print(json.dumps(rows[-1]), flush=True)
    ref = next((r["peak_rss_mib"] for r in rows if r["mode"] == "model"), None)
    print(f"\nGPT-2 config with {args.layers} blocks: {rows[0]['n_params']:,} parameters; {args.seqs} x {args.seq_len} "
          f"tokens; {args.threads} thread(s); low plane {args.grid}x{args.grid}, stored plane "
          f"{args.stored_grid}x{args.stored_grid}")
    print(f"{'mode':<10} {'peak RSS MiB':>12} {'x model':>8} {'s/point':>8} {'CPU s/pt':>8} {'hash same':>9}")
    for r in rows:
        ratio = f"{r['peak_rss_mib'] / ref:.2f}" if ref else "-"
        sp = f"{r['s_per_point']:.2f}" if "s_per_point" in r else "-"
        cp = f"{r['cpu_s_per_point']:.2f}" if "cpu_s_per_point" in r else "-"
        note = (f"  (Ctrl-C after {r['interrupted_after_s']:.0f} s, {r['cells_written']} cells written)"
                if "interrupted_after_s" in r else "")
        print(f"{r['mode']:<10} {r['peak_rss_mib']:>12.0f} {ratio:>8} {sp:>8} {cp:>8} {str(r['hash_unchanged']):>9}{note}")
    low = next((r for r in rows if r["mode"] == "low"), None)
    if ref and low:
        ok = low["peak_rss_mib"] <= 1.5 * ref
        print(f"low-memory peak {low['peak_rss_mib']:.0f} MiB {'<=' if ok else '>'} 1.5 x {ref:.0f} MiB "
              f"(model + forward): {'holds' if ok else 'does not hold'}")


if __name__ == "__main__":
    main()
