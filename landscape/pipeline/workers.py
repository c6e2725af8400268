"""Members in parallel: with ``workers = N`` (N > 1), N processes train, sample and measure whole
members at once, before the stages run in the main process and find that work finished.

Why: the networks of a study are small enough that one CPU thread runs them about as fast as two
(the threads mostly wait for each other), so on a 2-core machine two processes of one thread
each do twice the work of one process. Each worker is a fresh ``spawn`` process that builds the
same :class:`~landscape.pipeline.context.Context` for one member and runs the train, surfaces and
sharpness stages on it alone; the results are the files those stages write, so the main process
then reuses them (and counts them as made in this run). Numbers are the same as a serial run's
with the same thread count: every member's work is seeded and independent of the others'.
The largest members go first, so the last one to finish is a small one. CPU only.
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Dict

from .. import progress
from ..study import ExperimentConfig
from .context import Context

PARALLEL_STAGES = ("train", "surfaces", "sharpness")


def run(ctx: Context) -> bool:
    """Work on the members in ``config.workers`` processes; False (nothing done) when that is 1,
    the device is not a CPU, or fewer than two members have work left."""
    n = ctx.config.workers
    if n <= 1 or ctx.device.type != "cpu":
        return False
    order = sorted((m for m in ctx.members if _pending(ctx, m)),
                   key=lambda m: -sum(p.numel() for p in ctx.members[m].model.parameters()))
    if len(order) < 2:
        return False
    ctx.say(f"[members] {len(order)} networks in {n} processes of {ctx.config.threads or 1} thread(s) each "
            "(train, surfaces, sharpness)")
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(work_on, ctx.config, str(ctx.out), ctx.fresh, name): name for name in order}
        # workers show no bars of their own (two processes would write over each other's line)
        for future in progress.track(as_completed(futures), total=len(futures), desc="members", enabled=ctx.bars):
            result = future.result()
            for stage, items in result["computed"].items():
                ctx.premade[stage].update(items)
            ctx.say(f"  {futures[future]}: {result['seconds']:.1f}s, made "
                    + ", ".join(f"{len(v)} {k}" for k, v in result["computed"].items()))
    return True


def _pending(ctx: Context, name: str) -> bool:
    """True when a stage still has work on ``name`` (a diverged run has none after training)."""
    from . import measures, surfaces, training

    if training.run_state(ctx, name) != "done":
        return True
    training.record(ctx, name)
    if ctx.runs[name]["diverged"]:
        return False
    return surfaces.pending(ctx, name) or measures.pending(ctx, name)


def work_on(config: ExperimentConfig, out: str, fresh: bool, member: str) -> Dict[str, Any]:
    """In a worker process: the train, surfaces and sharpness stages for ``member`` alone."""
    import torch

    from . import measures, surfaces, training

    start = time.perf_counter()
    torch.set_num_threads(config.threads or 1)
    ctx = Context(config, Path(out), fresh, False, None, only=[member])
    for stage in (training.run, surfaces.run, measures.run):
        stage(ctx)
    return {"computed": {s: list(ctx.computed[s]) for s in PARALLEL_STAGES},
            "seconds": time.perf_counter() - start}
