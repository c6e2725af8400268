"""How many CPU threads a job uses when nobody says: small models one, others the cores free now.

torch's own default, one intra-op thread per core, is fast on an idle machine and a trap on a busy
one: each operator splits its work over every thread and waits for the slowest, so while another
process holds a core, every operator waits for a thread that is not running. With one of two cores
busy, a small MLP's surface took 10-100x longer at torch's default than with one thread (issue 21;
``benchmarks/busy_core.py`` measures it, docs/scaling.md section 4 has the numbers). Hence:

- a model whose forward pass is small (under ``SMALL_FLOPS`` per sample) gets **one thread**: its
  operators are too short for threads to pay off even on an idle machine, and one thread cannot be
  stalled by a busy core;
- a larger model gets **the cores free now**: the cores this process may run on, less the other
  tasks the kernel counts as runnable (``/proc/loadavg``), at least one, and never more than
  torch's current setting (so ``torch.set_num_threads`` and ``OMP_NUM_THREADS`` still cap it).

``landscape.surface.compute`` (through the engine) and every Hessian computation
(``landscape.hessian.operator``: eigenvalues, trace, density) use :func:`auto`; pass ``threads``
(the CLI's ``--threads N``; :func:`fixed` in a script) to choose yourself.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import statistics
import time
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

SMALL_FLOPS = 10e6  # forward FLOPs per sample below which one thread is used (digits mlp20: 0.16 M; ResNet-20 on CIFAR: 81 M)


def cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or taskset allocation)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _runnable_others() -> Optional[int]:
    """Tasks other than this one that the kernel counts as runnable right now (Linux), else None."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - 1)  # the reading thread itself is running


def free_cores(samples: int = 5, interval: float = 0.01) -> int:
    """Cores not busy with other work now: :func:`cores` less the median count of other runnable
    tasks over ``samples`` reads ``interval`` seconds apart; at least 1. Where the kernel does not say
    (not Linux), the one-minute load average stands in."""
    counts = []
    for i in range(samples):
        if i:
            time.sleep(interval)
        n = _runnable_others()
        if n is None:
            break
        counts.append(n)
    if counts:
        busy = statistics.median(counts)
    else:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
    return max(1, cores() - int(round(busy)))


def flops_per_sample(model: nn.Module, forward: Callable[[], object], n_samples: int) -> Optional[float]:
    """Forward FLOPs per sample of ``forward()`` (a call of ``model`` on ``n_samples`` samples) in its
    linear and convolution layers, ``2 x output elements x weights per output``, counted by forward
    hooks (``torch.utils.flop_counter`` would cost seconds of import); None when the call fails."""
    total = [0]

    def hook(module, args, out):
        if isinstance(out, torch.Tensor):
            total[0] += 2 * out.numel() * module.weight[0].numel()

    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, layers)]
    try:
        with torch.no_grad():
            forward()
    except Exception as exc:  # not ours to report here: the job's own checks say what is wrong
        log.debug("threads: FLOPs not countable (%s)", exc)
        return None
    finally:
        for h in handles:
            h.remove()
    return total[0] / max(1, n_samples)


def for_data(model: nn.Module, batches: Sequence[Any], objective: Callable[[nn.Module, Any], Any]) -> Optional[int]:
    """:func:`auto` for a job scoring ``model`` on ``batches`` with ``objective`` (its FLOPs counted
    on one sample of the first batch); None on GPUs, where torch's setting stays."""
    from .evaluate import batch_len, head
    from .params import first_device, restored

    if first_device(model).type != "cpu" or not batches:
        return None
    one = head(batches[0], 1)
    with restored(model):  # eval mode for the count: a training-mode BatchNorm would update its statistics
        model.eval()
        return auto(flops_per_sample(model, lambda: objective(model, one), batch_len(one)))


_fixed: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("landscape_threads", default=None)


@contextlib.contextmanager
def fixed(n: int) -> Iterator[None]:
    """Inside the block every job uses ``n`` threads (:func:`auto` returns ``n``): the CLI's
    ``--threads N``, or ``with landscape.threads.fixed(4): ...`` in a script."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive whole number, but {n!r} was passed.")
    token = _fixed.set(n)
    try:
        with using(n):
            yield
    finally:
        _fixed.reset(token)


def auto(flops: Optional[float] = None) -> int:
    """The thread count for a job whose model does ``flops`` forward FLOPs per sample (None: unknown):
    the number fixed by :func:`fixed` if any; else 1 below ``SMALL_FLOPS``, else the free cores,
    capped by ``torch.get_num_threads()``."""
    if _fixed.get() is not None:
        return _fixed.get()
    size = "unknown" if flops is None else f"{flops:.3g}"
    if flops is not None and flops < SMALL_FLOPS:
        log.info("threads: 1 (a small model: %s forward FLOPs per sample)", size)
        return 1
    free = free_cores()
    n = max(1, min(torch.get_num_threads(), free))
    log.info("threads: %d (%s forward FLOPs per sample; %d of %d cores free)", n, size, free, cores())
    return n


@contextlib.contextmanager
def using(n: Optional[int]) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: as they are), then restore torch's setting."""
    saved = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(saved)
