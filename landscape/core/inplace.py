"""Evaluating a large model with (almost) no memory beyond the model itself.

:class:`landscape.engine.PointEvaluator` keeps the origin weights and every direction resident:
for a plane, three extra copies of the moving weights. For a model that fills the machine that is
two copies too many. :class:`InPlaceEvaluator` instead

- writes each point ``w0 + a·d1 + b·d2`` **into the model's own tensors**, one tensor at a time;
- draws each direction entry from its seed when that tensor is written
  (:class:`landscape.core.seeded.SeededDirections`: one float32 tensor alive at a time, plus one number
  per filter kept for normalization);
- keeps the origin ``w0`` **outside the process's memory**: in an unlinked temporary file on disk
  for a model on the CPU (read back tensor by tensor, through the page cache, not the heap), or in
  host memory for a model on a GPU (where host memory is the cheap kind);
- puts the weights back **bitwise** from that copy when the job ends, also on error or Ctrl-C
  (:func:`guard`).

Peak memory is then one copy of the weights, one forward pass (activations and logits; no autograd
graph), and the largest moving tensor twice (its draw and its cast). Each point pays for drawing
``ndim x moving parameters`` Gaussian numbers and reading the origin back: for a plane of GPT-2
small on one CPU thread, 4.3 CPU-seconds per point against 3.4 for the forward pass over 8 x 128
tokens alone, at a peak resident memory 1.1-1.2x the model's plus its forward pass (stored
directions: 3.1x) (``benchmarks/large_model.py``; docs/guide.md, section 3.7).

The value at a point is bitwise what :class:`~landscape.engine.PointEvaluator` computes with the
same directions materialized (same arithmetic: ``(w0 + a·d1) + b·d2``) and the engine's speed-ups
off; BatchNorm folding, vmapped points, compile and ``bn="recompute"`` are not offered here.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from landscape.base.errors import check_choice

from . import threads
from .engine import PRECISIONS, precision_context
from .evaluate import Batch, Objective
from .params import first_device
from .seeded import SeededDirections

log = logging.getLogger(__name__)

ORIGINS = ("auto", "disk", "memory")


class Origin:
    """An exact copy of some of a model's tensors, kept on disk or in host memory.

    ``where="disk"``: one unlinked temporary file (``tempfile.TemporaryFile`` in ``directory``),
    tensors written as raw bytes and read back straight into the model's tensor (no heap copy for a
    CPU tensor). ``"memory"``: CPU clones (for a model on a GPU: host memory). ``"auto"``: disk for a
    model on the CPU, memory for a model on a GPU.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor], where: str = "auto", directory: Optional[str] = None):
        check_choice("origin", where, ORIGINS)
        on_cpu = all(t.device.type == "cpu" for t in tensors.values())
        self.where = ("disk" if on_cpu else "memory") if where == "auto" else where
        self.tensors = dict(tensors)
        self._offsets: Dict[str, int] = {}
        self._clones: Dict[str, torch.Tensor] = {}
        self._file = None
        if self.where == "memory":
            self._clones = {k: t.detach().to("cpu", copy=True) for k, t in tensors.items()}
            return
        self._file = tempfile.TemporaryFile(prefix="landscape-origin-", dir=directory)
        offset = 0
        for name, t in tensors.items():
            self._offsets[name] = offset
            self._file.write(memoryview(_bytes(t.detach().cpu())))
            offset += t.numel() * t.element_size()
        self._file.flush()

    @torch.no_grad()
    def load(self, name: str) -> None:
        """Write the saved bytes of ``name`` back into the model's tensor."""
        t = self.tensors[name]
        if self.where == "memory":
            t.copy_(self._clones[name])
            return
        self._file.seek(self._offsets[name])
        if t.device.type == "cpu" and t.is_contiguous():
            self._readinto(_bytes(t))
        else:
            buf = torch.empty(t.shape, dtype=t.dtype)
            self._readinto(_bytes(buf))
            t.copy_(buf)

    def _readinto(self, view: np.ndarray) -> None:
        mv, done = memoryview(view), 0
        while done < len(mv):
            got = self._file.readinto(mv[done:])
            if not got:
                raise OSError("the origin file ended early: the weights could not be restored")
            done += got

    def restore(self) -> None:
        """Every saved tensor back, bitwise."""
        for name in self.tensors:
            self.load(name)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._clones = {}


def _bytes(t: torch.Tensor) -> np.ndarray:
    """A uint8 numpy view of a contiguous CPU tensor's memory (any dtype, bfloat16 included)."""
    return t.detach().reshape(-1).view(torch.uint8).numpy()


@contextlib.contextmanager
def guard(model: nn.Module, directions: SeededDirections, where: str = "auto",
          directory: Optional[str] = None) -> Iterator[Origin]:
    """Save the tensors ``directions`` move (:class:`Origin`) and the modules' train/eval modes;
    on exit, also on error or Ctrl-C, put both back exactly."""
    state = model.state_dict(keep_vars=True)
    missing = [n for n in directions.names if n not in state]
    if missing:
        raise ValueError(f"The directions name {missing[:3]}, which the model does not have; build them from "
                         "this model (landscape.directions.random(model, store=False)).")
    wrong = [n for n in directions.names if tuple(state[n].shape) != tuple(directions.shapes[n])]
    if wrong:
        n = wrong[0]
        raise ValueError(f"Direction entry {n!r} has shape {tuple(directions.shapes[n])}; the model's tensor is "
                         f"{tuple(state[n].shape)}. Build the directions from this model.")
    modes = {name: m.training for name, m in model.named_modules()}
    origin = Origin({n: state[n] for n in directions.names}, where, directory)
    try:
        yield origin
    finally:
        try:
            origin.restore()
        finally:
            origin.close()
            for name, m in model.named_modules():
                m.training = modes.get(name, m.training)


class InPlaceEvaluator:
    """Loss (and accuracy) at points ``w0 + Σ c_k d_k``, written into the model in place.

    The same interface as :class:`landscape.engine.PointEvaluator` (``value_names``, ``counts``,
    ``__call__(coords) -> {name: (k,) values}``) for :func:`landscape.surface.compute`.

    Args:
        model: in eval mode, at the origin weights (saved in ``origin``).
        directions: :class:`~landscape.core.seeded.SeededDirections` built from ``model``.
        data: name -> resident batches (``{"train": [...]}``); values ``f"{name}_loss"``, ``f"{name}_acc"``.
        objective: scores a batch (:func:`landscape.evaluate.objective`).
        origin: the saved weights (:func:`guard`); every point starts from them, so no error builds up.
        metrics, precision: as for ``PointEvaluator``; ``threads``: CPU threads (None: chosen from
            the model's size, :func:`landscape.threads.auto`).
    """

    def __init__(self, model: nn.Module, directions: SeededDirections, data: Mapping[str, Sequence[Batch]],
                 objective: Objective, origin: Origin, metrics: Sequence[str] = ("loss", "acc"),
                 precision: str = "fp32", threads: Optional[int] = None):
        check_choice("precision", precision, PRECISIONS)
        for m in metrics:
            check_choice("metrics", m, ("loss", "acc"))
        self.model, self.dirs, self.data, self.objective = model, directions, dict(data), objective
        self.origin, self.precision = origin, precision
        self.metrics = [m for m in metrics if m != "acc" or objective.has_accuracy]
        self.device = first_device(model)
        state = model.state_dict(keep_vars=True)
        self.targets = {n: state[n] for n in directions.names}
        self.counts: Dict[str, int] = {}
        # Each forward pass of a model this large is far above threads.SMALL_FLOPS: no probe pass needed
        n_params = sum(t.numel() for t in model.state_dict().values())
        self.threads = threads_for(n_params, self.device) if threads is None else threads

    @property
    def value_names(self) -> List[str]:
        return [f"{split}_{m}" for split in self.data for m in self.metrics]

    @torch.no_grad()
    def set_point(self, coords: Sequence[float]) -> None:
        """Write ``(w0 + c_1 d_1) + c_2 d_2`` into every moving tensor, one tensor at a time."""
        for name, t in self.targets.items():
            self.origin.load(name)
            for axis, c in enumerate(coords):
                if c != 0.0:
                    t.add_(self.dirs.tensor(axis, name), alpha=float(c))

    def _point_sums(self) -> np.ndarray:
        row = np.zeros(2 * len(self.data))
        for j, (split, batches) in enumerate(self.data.items()):
            loss = torch.zeros((), dtype=torch.float64, device=self.device)
            correct = torch.zeros((), dtype=torch.float64, device=self.device)
            count = 0
            for batch in batches:
                l, n, c = self.objective(self.model, batch)
                loss += l.detach().double()
                count += int(n)
                if c is not None:
                    correct += c.double()
            self.counts[split] = count
            row[2 * j], row[2 * j + 1] = float(loss), float(correct)
        return row

    def __call__(self, coords: np.ndarray) -> Dict[str, np.ndarray]:
        """Evaluate one round: ``coords`` (k, ndim) -> ``{value name: (k,) float64}``; the model is
        back at the origin (bitwise) when it returns, also on error."""
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim == 1:
            coords = coords[None, :]
        raw = np.zeros((len(coords), 2 * len(self.data)))
        try:
            with threads.using(self.threads), torch.inference_mode(), \
                    precision_context(self.precision, self.device.type):
                for i, c in enumerate(coords):
                    self.set_point(c)
                    raw[i] = self._point_sums()
        finally:
            self.origin.restore()
        out = {}
        for j, split in enumerate(self.data):
            n = self.counts.get(split, 1)
            diverged = ~np.isfinite(raw[:, 2 * j])
            if "loss" in self.metrics:
                out[f"{split}_loss"] = raw[:, 2 * j] / n
            if "acc" in self.metrics:
                out[f"{split}_acc"] = np.where(diverged, np.nan, raw[:, 2 * j + 1] / n)
        return {name: out[name] for name in self.value_names}


def threads_for(n_params: int, device: torch.device) -> Optional[int]:
    """CPU threads for a model of ``n_params`` (forward FLOPs per sample at least ``2 x n_params``
    for a dense model, token or image): :func:`landscape.threads.auto`; None on a GPU."""
    if device.type != "cpu":
        return None
    return threads.auto(2.0 * n_params)


def check_options(params, bn: str) -> None:
    """The options :func:`landscape.surface.compute` cannot honour with seeded (unstored) directions."""
    if params is not None:
        raise ValueError("params= cannot narrow directions made with store=False; choose what moves when making "
                         "them: landscape.directions.random(model, params=..., store=False).")
    if bn != "eval":
        raise ValueError(f"bn={bn!r} is not offered with directions made with store=False (re-estimating BatchNorm "
                         "statistics at every point needs the engine's copy of the model); use bn='eval'.")
