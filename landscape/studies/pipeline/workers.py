"""Members in parallel: with ``workers = N`` (N > 1), N processes do the train, surfaces and
sharpness work of a study before the stages run in the main process and find it finished.

Why: the networks of a study are small enough that one CPU thread runs them about as fast as two
(the threads mostly wait for each other), so on a 2-core machine two processes of one thread
each do about twice the work of one process. The work is cut into tasks: each member's training,
then (once it is trained) each of its surfaces (plane, line, PCA plane) and its Hessian numbers.
Trainings are queued first, largest member first, so a worker that finishes early samples the
surfaces of a trained member while the other still trains. Each worker is a ``spawn`` process
that builds the same :class:`~landscape.pipeline.context.Context` and runs one stage on one member
(and one kind of surface); the results are the files the stages write, so the main process then
reuses them and counts them as made in this run. Numbers are the same as a serial run's with the
same thread count: every task is seeded and independent of the others. CPU only.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Dict, List, Tuple

from landscape.base import progress
from landscape.studies.config import ExperimentConfig

from .context import Context

Task = Tuple[str, str]  # (member, "train" | "plane" | "line" | "pca" | "sharpness")


def run(ctx: Context) -> bool:
    """Do the members' pending work in ``config.workers`` processes; False (nothing done) when that
    is 1, the device is not a CPU, or fewer than two tasks are pending."""
    from . import training

    n = ctx.config.workers
    if n <= 1 or ctx.device.type != "cpu":
        return False
    size = {m: sum(p.numel() for p in ctx.members[m].model.parameters()) for m in ctx.members}
    order = sorted(ctx.members, key=lambda m: -size[m])
    untrained = [m for m in order if training.run_state(ctx, m) != "done"]
    after = {m: _measure_tasks(ctx, m) for m in order if m not in untrained}
    if len(untrained) + sum(len(t) for t in after.values()) < 2:
        return False
    ctx.say(f"[members] {len(order)} networks in {n} processes of {ctx.config.threads or 1} thread(s) each "
            "(train, surfaces, sharpness)")
    pool = ProcessPoolExecutor(max_workers=n, mp_context=_QuietSpawn())
    try:
        _run_tasks(ctx, pool, untrained, order, after)
    except BaseException:  # Ctrl-C (or a failed task): stop the workers now, do not wait for their tasks
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return True


class _QuietProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that ignores SIGINT from its first instruction: Ctrl-C at a terminal reaches
    every process of the foreground group, and a worker still importing torch would print its own
    KeyboardInterrupt traceback. A signal ignored in the parent stays ignored through fork and exec,
    and Python then keeps it so, so the parent ignores SIGINT for the moment of the spawn (a few
    milliseconds; a Ctrl-C in exactly that moment is lost, and a second one stops the run). The
    parent alone handles Ctrl-C and stops the workers (:func:`_stop`)."""

    def start(self):
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():  # signal.signal needs the main thread
            return super().start()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return super().start()
        finally:
            signal.signal(signal.SIGINT, handler)


class _QuietSpawn(multiprocessing.context.SpawnContext):
    Process = _QuietProcess


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers at once (what they finished is on disk; a task cut short is redone, every
    file being written whole or not at all) and let the pool go without waiting for them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)


def _run_tasks(ctx: Context, pool: ProcessPoolExecutor, untrained: List[str], order: List[str],
               after: Dict[str, List[Task]]) -> None:
    """Submit the trainings, then each trained member's surfaces and sharpness, until all are done."""
    running: Dict[Future, Task] = {}

    def submit(task: Task) -> None:
        running[pool.submit(work_on, ctx.config, str(ctx.out), ctx.fresh, *task)] = task

    for m in untrained:
        submit((m, "train"))
    for m in order:
        for task in after.get(m, []):
            submit(task)
    # workers show no bars of their own (two processes would write over each other's line)
    with progress.bar(None, desc="member tasks", enabled=ctx.bars) as bar:
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                member, what = running.pop(future)
                computed = future.result()
                for stage, items in computed.items():
                    ctx.premade[stage].update(items)
                bar.update(1)
                ctx.say(f"  {member} {what}: done")
                if what == "train":
                    for task in _measure_tasks(ctx, member):
                        submit(task)


def _measure_tasks(ctx: Context, member: str) -> List[Task]:
    """The surfaces and Hessian numbers still to make for a trained ``member`` (none if it diverged)."""
    from . import measures, surfaces, training

    training.record(ctx, member)
    if ctx.runs[member]["diverged"]:
        return []
    tasks = [(member, kind) for kind in surfaces.pending(ctx, member)]
    return tasks + ([(member, "sharpness")] if measures.pending(ctx, member) else [])


def work_on(config: ExperimentConfig, out: str, fresh: bool, member: str, what: str) -> Dict[str, List[str]]:
    """In a worker process: one task (see :data:`Task`); returns what it made, per stage. The
    parent's stop (SIGTERM, :func:`_stop`) unwinds the task like Ctrl-C, so its temporary files are
    removed, and then ends the process."""
    import os
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _work_on(config, out, fresh, member, what)
    except KeyboardInterrupt:
        os._exit(130)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # between tasks a stop just ends the process


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _work_on(config: ExperimentConfig, out: str, fresh: bool, member: str, what: str) -> Dict[str, List[str]]:
    import torch

    from . import load_plugins, measures, surfaces, training

    load_plugins()  # a spawned process starts bare: the registered measures and figures are not there yet
    torch.set_num_threads(config.threads or 1)
    # a task after training must not redo it: only the training task itself is "fresh"
    ctx = Context(config, Path(out), fresh and what == "train", False, None, only=[member])
    training.run(ctx)
    if what in surfaces.KINDS:
        ctx.kinds = {what}
        ctx.fresh = fresh
        surfaces.run(ctx)
    elif what == "sharpness":
        ctx.fresh = fresh
        measures.run(ctx)
    return {stage: list(items) for stage, items in ctx.computed.items() if items}
