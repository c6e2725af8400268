"""The scattered points of an adaptive surface: the ``adaptive/`` group of a surface file.

An adaptive job (``landscape.core.adaptive``) evaluates a budget of N points chosen on the lattice
of the requested grid and stores them here, one *slot* per evaluation, in the order they were
planned (which is the order they were evaluated in, round by round). The root value arrays then
hold the regular grid interpolated from these points, so every reader of a uniform grid reads an
adaptive file as it is.

The group follows the file's crash-safety rule (``landscape.storage.io``): every dataset is
allocated at creation, NaN/-1-filled, and a job only overwrites raw data in place. A round is
first *planned* (its slots' ``index``, ``coords`` and ``round`` written, flushed), then its values
are written (flushed) and only then its ``done`` bytes (flushed). A kill at any moment leaves slots
that are either done with their final values, or not done.

    adaptive/index   (N,) int64    flat index into the row-major grid ([y, x]); -1: not planned yet
    adaptive/coords  (N, ndim)     coordinates (x[, y]) of each point; NaN: not planned yet
    adaptive/round   (N,) int32    refinement round (0: the coarse start); -1: not planned yet
    adaptive/done    (N,) uint8    1 once the slot's values are stored
    adaptive/<value> (N,) float64  train_loss, test_acc ... at each point (NaN until done)
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from landscape.base import flock

from . import h5attrs

GROUP = "adaptive"
FORMAT = "landscape-adaptive-samples"
FORMAT_VERSION = "1.0"
_META = ("index", "coords", "round", "done")


def allocate(parent, budget: int, ndim: int, value_names: Sequence[str], attrs: Mapping[str, Any]) -> None:
    """Create the empty ``adaptive/`` group of ``budget`` slots in an open HDF5 file (at creation)."""
    g = parent.create_group(GROUP)
    h5attrs.write_attrs(g, {**dict(attrs), "format": FORMAT, "format_version": FORMAT_VERSION, "budget": int(budget)})
    g.create_dataset("index", data=np.full(budget, -1, np.int64))
    g.create_dataset("coords", data=np.full((budget, ndim), np.nan))
    g.create_dataset("round", data=np.full(budget, -1, np.int32))
    g.create_dataset("done", data=np.zeros(budget, np.uint8))
    for name in value_names:
        g.create_dataset(name, data=np.full(budget, np.nan))


def write_points(parent, points: Mapping[str, Any]) -> None:
    """A complete ``adaptive/`` group from ``Surface.points`` (``done_points``' dict): every slot
    done (``landscape.storage.io.save``)."""
    index = np.asarray(points["index"], np.int64)
    coords = np.asarray(points["coords"], np.float64)
    allocate(parent, max(int(points.get("budget", len(index))), len(index)), coords.shape[1], list(points["values"]),
             {k: v for k, v in dict(points.get("attrs") or {}).items() if k not in ("format", "format_version", "budget")})
    g, k = parent[GROUP], len(index)
    g["index"][:k] = index
    g["coords"][:k] = coords
    g["round"][:k] = np.asarray(points["round"], np.int32)
    for name, v in points["values"].items():
        g[name][:k] = np.asarray(v, np.float64)
    g["done"][:k] = 1


def read_group(g) -> Dict[str, Any]:
    """Every slot of an open ``adaptive/`` group: ``{"index", "coords", "round", "done", "values",
    "attrs"}`` (arrays of length ``budget``; ``values`` maps value names to arrays)."""
    out: Dict[str, Any] = {k: g[k][()] for k in _META}
    out["done"] = out["done"].astype(bool)
    out["values"] = {k: ds[()].astype(np.float64) for k, ds in g.items() if k not in _META}
    out["attrs"] = h5attrs.read_attrs(g)
    return out


def done_points(slots: Mapping[str, Any]) -> Dict[str, Any]:
    """The evaluated points of ``read_group``'s slots, in evaluation order: what ``Surface.points``
    holds (``index`` (k,), ``coords`` (k, ndim), ``round`` (k,), ``values`` name -> (k,), ``budget``)."""
    done = np.asarray(slots["done"], bool)
    return {"index": slots["index"][done], "coords": slots["coords"][done], "round": slots["round"][done],
            "values": {k: v[done] for k, v in slots["values"].items()},
            "budget": int(slots["attrs"].get("budget", len(done))), "attrs": dict(slots["attrs"])}


def read(path: os.PathLike) -> Optional[Dict[str, Any]]:
    """``read_group`` of the file at ``path``, or None when it has no ``adaptive/`` group."""
    with _open(path, "r") as f:
        return read_group(f[GROUP]) if GROUP in f else None


def _open(path, mode: str):
    import h5py

    return h5py.File(path, mode, libver="earliest", locking=False)  # as landscape.storage.io does


def _locked_write(path: os.PathLike, write) -> None:
    fd = flock.lock(path)  # serializes with save_metrics' copy-and-rename (landscape.storage.io)
    try:
        with _open(path, "r+") as f:
            write(f[GROUP])
            f.flush()
    finally:
        if fd is not None:
            os.close(fd)


def write_plan(path: os.PathLike, first_slot: int, index: np.ndarray, coords: np.ndarray, round_: int) -> None:
    """Record the points of one round in slots ``first_slot …`` (before they are evaluated)."""
    index = np.asarray(index, np.int64)
    end = first_slot + len(index)

    def write(g):
        g["coords"][first_slot:end] = np.asarray(coords, np.float64)
        g["round"][first_slot:end] = np.full(len(index), round_, np.int32)
        g["index"][first_slot:end] = index

    if len(index):
        _locked_write(path, write)


def write_values(path: os.PathLike, slots: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
    """Store evaluated points: their values (flush), then their ``done`` bytes (flush)."""
    slots = np.asarray(slots, np.int64)
    if slots.size == 0:
        return
    order = np.argsort(slots, kind="stable")
    slots = slots[order]

    def write(g):
        for name, v in values.items():
            v = np.asarray(v, np.float64)[order]
            for a, b in _runs(slots):
                g[name][slots[a]:slots[a] + (b - a)] = v[a:b]
        g.file.flush()
        for a, b in _runs(slots):
            g["done"][slots[a]:slots[a] + (b - a)] = 1

    _locked_write(path, write)


def _runs(slots: np.ndarray):
    """Split sorted slot numbers into runs of consecutive slots: (start, end) positions."""
    start = 0
    for i in range(1, len(slots) + 1):
        if i == len(slots) or slots[i] != slots[i - 1] + 1:
            yield start, i
            start = i
