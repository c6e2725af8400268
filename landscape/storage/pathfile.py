"""The path file: loss and accuracy along the straight line and a curve between two models.

A member of the surface format family (``docs/file-format.md``, section "Path files"): format
``"landscape-path"``, the same attribute encoding as surface files (``landscape.io``), and the same
crash-safety rule: the file is built complete under a temporary name and renamed into place; after
that a job only overwrites values in place, flushing them before it sets their ``done`` bytes. A job
killed at any moment leaves a file that opens, and rerunning it computes only what is not done.

    xcoordinates      (n,)      t in [0, 1], the position along both paths (0: model A, 1: model B)
    line/, curve/     <split>_loss, <split>_acc (n,) float64, done (n,) uint8
    curve/coords      (n, 2)    each curve point's coordinates in the plane (see plane/)
    bend/             the curve's trained tensors (its middle control point), one dataset per name
    training/         epoch, loss, lr (e,): the curve's training, one row per epoch
    plane/            optional, a 2D surface in the plane through A, B and the bend:
                      xcoordinates (nx,), ycoordinates (ny,), <split>_loss ... (ny, nx), done,
                      points (3, 2): the coordinates of A, B and the bend

The barrier of a path is its highest loss minus the mean of its two end losses (Frankle et al.
2020, "Linear Mode Connectivity and the Lottery Ticket Hypothesis", ICML): :func:`barrier`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from landscape.base.errors import FileFormatError

from . import h5attrs, io

FORMAT = "landscape-path"
FORMAT_VERSION = "1.0"
PATHS = ("line", "curve")
PLANE = "plane"
# where a file was made, not what it holds: a job that differs only in these resumes the file
VOLATILE_ATTRS = io.VOLATILE_ATTRS | {"checkpoint_a", "checkpoint_b"}


def barrier(losses: Sequence[float]) -> float:
    """Highest loss along a path minus the mean of its two end losses (Frankle et al. 2020).

    ``losses`` (n,) in path order, ends first and last. NaN when any point is missing; 0 or a little
    below for a path that never rises above its ends' mean.
    """
    v = np.asarray(losses, dtype=np.float64)
    if v.size < 2 or np.isnan(v).any():
        return float("nan")
    return float(v.max() - 0.5 * (v[0] + v[-1]))


@dataclass
class Paths:
    """A path file, read back (or a job's result kept in memory).

    t:        (n,) positions along both paths, 0 (model A) to 1 (model B)
    line:     value name -> (n,) array along the straight line (NaN: not computed)
    curve:    value name -> (n,) array along the trained curve
    coords:   (n, 2) the curve's points in the plane through A, B and the bend (A = (0, 0), B = (1, 0))
    bend:     the curve's trained tensors keyed by parameter name
    training: {"epoch", "loss", "lr"}: (e,) arrays, the curve's training history
    plane:    the loss in that plane (a 2D :class:`landscape.io.Surface`), or None
    points:   (3, 2) plane coordinates of A, B and the bend
    attrs:    every setting that produced it
    """

    t: np.ndarray
    line: Dict[str, np.ndarray]
    curve: Dict[str, np.ndarray]
    coords: np.ndarray
    bend: Dict[str, torch.Tensor]
    training: Dict[str, np.ndarray]
    plane: Optional[io.Surface] = None
    points: Optional[np.ndarray] = None
    attrs: Dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None

    def values(self, which: str) -> Dict[str, np.ndarray]:
        """The values along ``which``: "line" or "curve"."""
        if which not in PATHS:
            raise ValueError(f"The value for `which` must be one of {list(PATHS)}, but {which!r} was passed.")
        return self.line if which == "line" else self.curve

    def barrier(self, which: str = "curve", value: str = "train_loss") -> float:
        """The barrier (:func:`barrier`) of ``value`` along ``which`` ("line" or "curve")."""
        values = self.values(which)
        if value not in values:
            raise ValueError(f"The value for `value` must be one of {sorted(values)}, but {value!r} was passed.")
        return barrier(values[value])

    def barriers(self) -> Dict[str, Dict[str, float]]:
        """``{"line": {"train_loss": ..., "test_loss": ...}, "curve": {...}}`` for every loss stored."""
        return {w: {v: self.barrier(w, v) for v in self.values(w) if v.endswith("_loss")} for w in PATHS}


# --- writing ----------------------------------------------------------------------------------------

def create(path: Path, t: np.ndarray, value_names: Sequence[str], attrs: Mapping[str, Any],
           bend: Mapping[str, torch.Tensor], training: Mapping[str, np.ndarray], coords: np.ndarray,
           plane: Optional[Mapping[str, np.ndarray]] = None) -> None:
    """Create a complete path file atomically: every dataset allocated, values NaN, done zero.

    ``plane``: ``{"x": (nx,), "y": (ny,), "points": (3, 2)}`` to allocate a plane grid, or None.
    """
    t = np.asarray(t, dtype=np.float64)
    full = {**io.stamp(), **dict(attrs), "values": list(value_names), "format": FORMAT,
            "format_version": FORMAT_VERSION}

    def values_group(group, shape):
        for name in value_names:
            ds = group.create_dataset(name, data=np.full(shape, np.nan))
            ds.attrs["unit"] = "fraction" if name.endswith("_acc") else "loss"
        group.create_dataset(io.DONE, data=np.zeros(shape, np.uint8))

    def build(f):
        h5attrs.write_attrs(f, full)
        f.create_dataset("xcoordinates", data=t)
        for which in PATHS:
            values_group(f.create_group(which), t.shape)
        f["curve"].create_dataset("coords", data=np.asarray(coords, dtype=np.float64))
        g = f.create_group("bend", track_order=True)  # keeps the model's parameter order
        for name, tensor in bend.items():
            g.create_dataset(name, data=io._dir_array(tensor))
        g = f.create_group("training")
        for key, value in training.items():
            g.create_dataset(key, data=np.asarray(value))
        if plane is not None:
            g = f.create_group(PLANE)
            g.create_dataset("xcoordinates", data=np.asarray(plane["x"], dtype=np.float64))
            g.create_dataset("ycoordinates", data=np.asarray(plane["y"], dtype=np.float64))
            g.create_dataset("points", data=np.asarray(plane["points"], dtype=np.float64))
            values_group(g, (len(plane["y"]), len(plane["x"])))

    io._atomic_build(path, build)


def write(path: Path, group: str, flat_index: Sequence[int], values: Mapping[str, Sequence[float]]) -> None:
    """Store finished points of ``group`` ("line", "curve" or "plane"): values first, flushed, then
    their done bytes, flushed (the write discipline of ``landscape.io.write_cells``)."""
    idx = np.asarray(flat_index, dtype=np.int64)
    with io._open(path, "r+") as f:
        g = f[group]
        shape = g[io.DONE].shape
        for name, vals in values.items():
            flat = g[name][()].reshape(-1)  # small arrays: read, set, write back in place
            flat[idx] = np.asarray(vals, dtype=np.float64)
            g[name][...] = flat.reshape(shape)
        f.flush()
        done = g[io.DONE][()].reshape(-1)
        done[idx] = 1
        g[io.DONE][...] = done.reshape(shape)
        f.flush()


def job_mismatch(path: Path, attrs: Mapping[str, Any]) -> Optional[str]:
    """Why the file at ``path`` is not this job (None if it is): a setting that differs, ignoring
    ``VOLATILE_ATTRS``. Raises FileFormatError when it is not a path file."""
    stored = read_attrs(path)
    new = h5attrs.jsonable({k: v for k, v in attrs.items() if k not in VOLATILE_ATTRS})
    old = h5attrs.jsonable({k: v for k, v in stored.items() if k not in VOLATILE_ATTRS and k != "values"})
    new.pop("values", None)
    for key in sorted(set(new) | set(old)):
        if old.get(key) != new.get(key):
            return f"setting {key!r} is {old.get(key)!r} in the file and {new.get(key)!r} in this job"
    return None


# --- reading ----------------------------------------------------------------------------------------

def is_path_file(path) -> bool:
    """Whether ``path`` is a readable path file (never raises)."""
    try:
        with io._open(path, "r") as f:
            return h5attrs.plain(f.attrs.get("format")) == FORMAT
    except (OSError, ValueError):
        return False


def read_attrs(path) -> Dict[str, Any]:
    """The settings of a path file; FileFormatError if it is not one (or is of a newer major version)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"Path file {str(path)!r} does not exist.")
    try:
        f = io._open(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{str(path)!r} is not a readable HDF5 file: {' '.join(str(exc).split())[:160]}") from exc
    with f:
        attrs = h5attrs.read_attrs(f)
    if attrs.get("format") != FORMAT:
        raise FileFormatError(f"{str(path)!r} is not a landscape path file (format {attrs.get('format')!r}); "
                              "`landscape connect` writes path files.")
    version = str(attrs.get("format_version", ""))
    major = version.split(".")[0]
    if not major.isdigit():
        raise FileFormatError(f"{str(path)!r} has an unreadable format_version {version!r}.")
    if int(major) > int(FORMAT_VERSION.split(".")[0]):
        raise FileFormatError(f"{str(path)!r} is a path file of format version {version}, newer than this "
                              f"landscape reads ({FORMAT_VERSION}); upgrade landscape (pip install -U landscape).")
    return attrs


def read_done(path) -> Dict[str, np.ndarray]:
    """The done masks: ``{"line": (n,), "curve": (n,), "plane": (ny, nx)}`` (plane only if stored)."""
    with io._open(path, "r") as f:
        return {name: f[name][io.DONE][()].astype(bool) for name in (*PATHS, PLANE) if name in f}


def _values(group, names: Sequence[str]) -> Dict[str, np.ndarray]:
    done = group[io.DONE][()].astype(bool)
    out = {}
    for name in names:
        v = group[name][()].astype(np.float64)
        v[~done] = np.nan  # a value whose done byte is 0 is not trusted (an interrupted write)
        out[name] = v
    return out


def plane_surface(x: np.ndarray, y: np.ndarray, values: Dict[str, np.ndarray], done: np.ndarray,
                  attrs: Mapping[str, Any], path: Optional[str] = None) -> io.Surface:
    """The plane grid as a 2D :class:`landscape.io.Surface` (what ``landscape.plot`` draws), its axes
    labelled with what they are."""
    plane_attrs = {**attrs, "format": io.FORMAT, "direction_kind": "plane", "ndim": 2,
                   "xlabel": "plane coordinate 1 (B − A)", "ylabel": "plane coordinate 2 (bend, ⊥ B − A)"}
    return io.Surface(x=x, y=y, values=values, attrs=plane_attrs, path=path, computed=done)


def load(path) -> Paths:
    """Read a path file (any 1.x version)."""
    attrs = read_attrs(path)
    names = list(attrs.get("values") or [])
    with io._open(path, "r") as f:
        t = f["xcoordinates"][()]
        line, curve = _values(f["line"], names), _values(f["curve"], names)
        bend = {name: torch.from_numpy(np.asarray(ds[()])) for name, ds in f["bend"].items()}
        training = {k: ds[()] for k, ds in f["training"].items()}
        coords = f["curve"]["coords"][()]
        plane, points = None, None
        if PLANE in f:
            g = f[PLANE]
            points = g["points"][()]
            plane = plane_surface(g["xcoordinates"][()], g["ycoordinates"][()], _values(g, names),
                                  g[io.DONE][()].astype(bool), attrs, str(path))
    return Paths(t=t, line=line, curve=curve, coords=coords, bend=bend, training=training, plane=plane,
                 points=points, attrs=attrs, path=str(path))
