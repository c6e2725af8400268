"""Sharding a surface across processes started by ``torchrun`` (torch.distributed).

Grid cells are independent, so the pending cells are dealt out to the ranks in *rounds*: round
``r`` takes the next ``size × world_size`` pending cells and rank ``k`` evaluates every
``world_size``-th of them, starting at ``k``. At the end of each round every rank's results are
gathered; rank 0 alone writes them to the HDF5 file (and alone shows progress). The round size is
set from the slowest rank's measured speed, the same number on every rank, so the ranks stay in
step and a kill loses at most one round.

    rank 0: prepare file ─broadcast done mask─> round: evaluate its share ─gather─> write ─> next round
    rank k:              <─────────────────────  round: evaluate its share ─gather─>        next round

A cell's value does not depend on which rank or round computed it (``landscape.engine`` evaluates
every point the same way), so a sharded grid equals a one-process grid bit for bit (fp32, same
threads per process). Restarts need nothing special: ``torchrun --max-restarts=K`` starts the group
again and rank 0 finds the cells already in the file, as a rerun of the same command would.

Process groups: gloo on CPUs, NCCL on GPUs with one GPU per local rank (``cuda:LOCAL_RANK``). Only
small Python objects travel (cell indices, values, timings): they are a few kilobytes per round.
"""
from __future__ import annotations

import atexit
import datetime
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

TIMEOUT = datetime.timedelta(minutes=30)  # a collective waiting longer than this means a rank is stuck


@dataclass(frozen=True)
class Context:
    """Where this process sits in the job: ``rank`` of ``world_size`` processes, ``local_rank`` on its
    machine. ``world_size == 1`` is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"Environment variable {name}={value!r} must be a whole number (torchrun sets it).") from None


def from_env() -> Context:
    """The context ``torchrun`` describes in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (a single
    process when they are absent)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} do not describe a process of a job; "
                         "start the job with torchrun.")
    return Context(rank, world, local)


def context() -> Context:
    """The running context: the initialized process group if there is one, else the environment."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", dist.get_rank()))
    return from_env()


def device_for(device: torch.device, ctx: Optional[Context] = None) -> torch.device:
    """One GPU per local rank: a CUDA device without an index becomes ``cuda:LOCAL_RANK`` in a
    multi-process job; anything else is returned as is."""
    ctx = ctx or context()
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and ctx.active:
        return torch.device("cuda", ctx.local_rank % max(1, torch.cuda.device_count()))
    return device


def init(device: torch.device = torch.device("cpu")) -> Context:
    """Join the process group ``torchrun`` set up, once (gloo for CPU work, NCCL for CUDA).

    A single process (no ``WORLD_SIZE`` > 1) does nothing. Idempotent: later calls return the
    running context. The group is destroyed at interpreter exit.
    """
    import torch.distributed as dist

    ctx = from_env()
    if not ctx.active or (dist.is_available() and dist.is_initialized()):
        return context()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed.")
    device = torch.device(device)
    # LANDSCAPE_DIST_BACKEND=gloo lets several ranks share one GPU (NCCL refuses that), e.g. to test
    # the multi-process path on a one-GPU machine; surfaces only exchange small Python objects.
    backend = os.environ.get("LANDSCAPE_DIST_BACKEND") or ("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device_for(device, ctx))
    # torchrun keeps one TCPStore across restarts of the worker group: without a fresh key prefix per
    # attempt, a restarted rank can read the address a dead rank published in the last attempt and
    # fail to connect ("Gloo connectFullMesh failed ... Connection refused"). Seen with torch 2.13.
    store, rank, world = next(dist.rendezvous("env://", timeout=TIMEOUT))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.PrefixStore(f"landscape/attempt_{attempt}", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=TIMEOUT)
    atexit.register(_destroy)
    log.info("rank %d of %d joined the %s process group", ctx.rank, ctx.world_size, backend)
    return context()


def _destroy() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (pickled; small objects only)."""
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather(obj: Any) -> List[Any]:
    """Every rank's ``obj``, in rank order, on every rank (pickled; small objects only)."""
    import torch.distributed as dist

    out: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def checksum(tensors: Sequence[Mapping[str, torch.Tensor]]) -> str:
    """SHA-256 of named tensors (names, dtypes, shapes, bytes), e.g. a list of directions."""
    h = hashlib.sha256()
    for i, group in enumerate(tensors):
        for name, t in group.items():
            t = t.detach().cpu().contiguous()
            h.update(f"{i}|{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def same_everywhere(label: str, value: Any) -> bool:
    """Whether every rank holds an equal ``value`` (compared on every rank; all ranks agree)."""
    values = all_gather(value)
    if all(v == values[0] for v in values):
        return True
    log.warning("%s differs between ranks: %s", label, ", ".join(f"rank {i}: {str(v)[:16]}" for i, v in enumerate(values)))
    return False


def on_main(fn: Callable[[], Any], ctx: Optional[Context] = None) -> Any:
    """Run ``fn`` on rank 0 only and return its result on every rank. An exception there is raised on
    every rank (ValueError stays a ValueError, so the CLI reports a usage error everywhere) instead
    of leaving the other ranks waiting for a result that never comes."""
    ctx = ctx or context()
    if not ctx.active:
        return fn()
    payload, error = None, None
    if ctx.is_main:
        try:
            payload = ("ok", fn())
        except Exception as exc:  # re-raised below, on every rank
            error = exc
            payload = ("error", isinstance(exc, ValueError), " ".join(str(exc).split()) or type(exc).__name__)
    payload = broadcast(payload)
    if payload[0] == "ok":
        return payload[1]
    if error is not None:
        raise error
    raise (ValueError if payload[1] else RuntimeError)(f"rank 0: {payload[2]}")


def run_sharded(evaluate_round: Callable[[np.ndarray], Dict[str, np.ndarray]], pending: np.ndarray,
                coords_of: Callable[[np.ndarray], np.ndarray], sink: Callable[[np.ndarray, Dict[str, np.ndarray]], None],
                bar=None, round_seconds: float = 2.0, max_round: int = 4096, ctx: Optional[Context] = None) -> None:
    """``landscape.surface.run_rounds`` across ranks: every rank calls it with the same ``pending``.

    Each round, rank ``k`` evaluates ``chunk[k::world_size]`` of the next ``size × world_size``
    pending cells; the results of all ranks are gathered on every rank and handed to ``sink`` (which
    on rank 0 writes the file; other ranks may keep them or ignore them). ``size`` starts at 1 and then
    holds as many cells per rank as the slowest rank did in ``round_seconds``.
    """
    ctx = ctx or context()
    world, rank = ctx.world_size, ctx.rank
    size, i = 1, 0
    while i < len(pending):
        chunk = pending[i:i + size * world]
        mine = chunk[rank::world]
        start = time.monotonic()
        values = evaluate_round(coords_of(mine)) if len(mine) else None
        elapsed = time.monotonic() - start
        parts = all_gather((mine, values, elapsed))
        done = [(idx, vals) for idx, vals, _ in parts if vals is not None and len(idx)]
        idx_all = np.concatenate([idx for idx, _ in done])
        names = list(done[0][1])
        vals_all = {n: np.concatenate([vals[n] for _, vals in done]) for n in names}
        sink(idx_all, vals_all)
        i += len(chunk)
        if bar is not None:
            bar.update(len(idx_all))
            bar.set_postfix_str(f"{names[0]}={vals_all[names[0]][-1]:.4g}", refresh=False)
        per_cell = max(t / max(1, len(idx)) for idx, _, t in parts if len(idx))
        size = int(max(1, min(max_round, round_seconds / max(per_cell, 1e-9))))
