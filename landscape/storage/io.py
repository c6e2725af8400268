"""The surface: coordinates, values and the settings that produced them, and its HDF5 file.

The file format (v1) is specified in ``docs/file-format.md``. In short: root datasets with the
reference code's names (``xcoordinates``, ``ycoordinates``, ``train_loss`` …, 2D arrays indexed
[y, x], NaN = not computed), a ``done`` mask, every setting as a root attribute, the directions in a
``directions/`` group, PCA extras in ``trajectory/``, sharpness numbers in ``metrics/``. Since 1.1:
each cell's standard error in ``se/``, the samples each cell used in ``samples/`` (``tol``), and a
direction ensemble in ``planes/`` (K planes along a leading axis; plane 0 is also the root's).

Crash safety comes from one rule: **after a file is created, its HDF5 metadata never changes.**
A file is built completely (all datasets allocated, contiguous, NaN-filled; all attributes written)
under a temporary name and renamed into place; afterwards a job only overwrites cell values in
place, flushes, then sets those cells' ``done`` bytes and flushes again. A process killed at any
moment therefore leaves a file that opens, in which every cell marked done holds its final values;
at worst the cells of the interrupted round are recomputed. (HDF5's SWMR mode was not used: it needs
the newest file format, whose superblock records "open for writing" — a killed writer leaves a file
nobody can open without ``h5clear`` — and chunked datasets, whose first writes change metadata.)
"""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
from io import BytesIO
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import torch

from landscape.base import atomic, flock
from landscape.base.errors import FileFormatError

from . import h5attrs, points as samples_mod
from .reference import REFERENCE_FORMAT, VALUE_NAMES, load_reference, value_order  # noqa: F401
from .surfacedata import Planes, Surface  # noqa: F401  (io.Surface, io.Planes: the public names)

FORMAT = "landscape-surface"
FORMAT_VERSION = "1.1"          # major.minor: a newer major is refused, a newer minor is read
DIRECTIONS_FORMAT = "landscape-directions"
AXES = ("x", "y")
DONE = "done"
SE = "se"            # group: each value's standard error per cell (data noise), grid shape
SAMPLES = "samples"  # group: samples each cell was evaluated on, per split (only with tol)
PLANES = "planes"    # group: a direction ensemble, every array with a leading plane axis
CELL_GROUPS = (SE, SAMPLES)
_RESERVED = frozenset({"directions", "trajectory", samples_mod.GROUP, "xcoordinates", "ycoordinates", DONE, SE, SAMPLES, PLANES,
                       *VALUE_NAMES})
# every other group holds metrics of the cells
_NOT_METRICS = frozenset({"directions", "trajectory", samples_mod.GROUP, SE, SAMPLES, PLANES})

# Attributes that describe *when/where* a file was made, not *what* was computed: a job that differs
# from a file only in these is the same job (resume), e.g. a checkpoint moved to another folder.
VOLATILE_ATTRS = frozenset({
    "format", "format_version", "created_by", "created_at", "library_versions", "json_attrs",
    "checkpoint", "trajectory_dir", "target", "title", "command",
})


# --- attributes -------------------------------------------------------------------------------------

def library_versions() -> Dict[str, str]:
    """Versions of the libraries that shape the numbers (recorded in every file)."""
    import h5py

    from landscape import __version__

    return {"landscape": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version, "python": platform.python_version()}


def stamp() -> Dict[str, Any]:
    """``created_by``, ``created_at`` (UTC, ISO 8601) and ``library_versions`` for a new file."""
    from landscape import __version__

    # SOURCE_DATE_EPOCH (reproducible-builds.org): a fixed creation time, so two runs of one job write
    # byte-identical files (the resume tests compare files byte for byte)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    now = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch.isdigit()
           else datetime.datetime.now(datetime.timezone.utc))
    return {"created_by": f"landscape {__version__}",
            "created_at": now.isoformat(timespec="seconds"),
            "library_versions": library_versions()}


# --- writing a new file -----------------------------------------------------------------------------

def _open(path, mode: str):
    import h5py

    # locking=False: readers (`landscape info` during a job) and the writer never block each other;
    # the format's write discipline (values, flush, then done bytes) keeps what readers see consistent.
    return h5py.File(path, mode, libver="earliest", locking=False)


def _atomic_build(path: os.PathLike, build, image: Optional[bytes] = None) -> None:
    """Create ``path`` by running ``build(h5file)`` on an HDF5 file in memory (empty, or opened from
    the bytes ``image``), then writing its image to a temporary file beside ``path`` and renaming it
    (``landscape.atomic``: the old file, if any, stays intact on any error or Ctrl-C).

    Building in memory keeps disk errors out of HDF5: a full disk fails our one plain write with a
    clean OSError, instead of failing inside HDF5, whose half-written objects then print errors as
    they are freed. It costs memory equal to the file (about 40 bytes per grid cell).
    """
    import h5py

    buf = BytesIO(image) if image is not None else BytesIO()
    with h5py.File(buf, "r+" if image is not None else "w", libver="earliest") as f:
        build(f)
    with atomic.open_atomic(path, "wb") as out:
        out.write(buf.getbuffer())


def _dir_array(t: torch.Tensor) -> np.ndarray:
    """A direction entry as stored: float64 stays float64, every other dtype becomes float32."""
    return t.detach().cpu().to(torch.float64 if t.dtype == torch.float64 else torch.float32).numpy()


def _write_direction_group(parent, directions: Sequence[Mapping[str, torch.Tensor]]) -> None:
    if len(directions) > len(AXES):
        raise ValueError(f"At most {len(AXES)} directions can be stored, got {len(directions)}.")
    group = parent.create_group("directions")
    for axis, d in zip(AXES, directions):
        g = group.create_group(axis, track_order=True)  # keeps parameter order
        for name, t in d.items():
            g.create_dataset(name, data=_dir_array(t))


def _write_trajectory(parent, trajectory: Mapping[str, Any]) -> None:
    g = parent.create_group("trajectory")
    for key, value in trajectory.items():
        g.create_dataset(key, data=np.asarray(value))


def create(path: os.PathLike, x: np.ndarray, y: Optional[np.ndarray], value_names: Sequence[str],
           attrs: Mapping[str, Any], directions: Optional[Sequence[Mapping[str, torch.Tensor]]] = None,
           trajectory: Optional[Mapping[str, Any]] = None, values: Optional[Mapping[str, np.ndarray]] = None,
           done: Optional[np.ndarray] = None, metrics: Optional[Mapping[str, Any]] = None,
           se_names: Sequence[str] = (), sample_splits: Sequence[str] = (),
           plane_seeds: Optional[Sequence[int]] = None, arrays: Optional[Mapping[str, np.ndarray]] = None,
           build_extra=None) -> None:
    """Create a complete surface file atomically (temporary file + rename; replaces ``path``).

    Every dataset is allocated here, contiguous and NaN-filled (or filled from ``values``/``done``),
    so later writes never change the file's metadata. ``attrs`` should hold the settings; the format
    name and version are stamped, and ``created_by``/``created_at``/``library_versions`` are added
    unless given.

    ``se_names``: values whose standard errors get a ``se/<name>`` dataset; ``sample_splits``: splits
    whose per-cell sample counts get ``samples/<split>`` (``tol``); ``plane_seeds`` (K >= 2 seeds): a
    direction ensemble, ``planes/`` with every per-cell dataset again along a leading axis of K.
    ``arrays``: contents for any of these datasets by path (``"se/train_loss"``, ``"planes/done"``, …).
    """
    x = np.asarray(x, dtype=np.float64)
    shape = (len(x),) if y is None else (len(y), len(x))
    full = {**stamp(), **dict(attrs), "format": FORMAT, "format_version": FORMAT_VERSION}
    full.setdefault("ndim", len(shape))
    arrays = dict(arrays or {})
    if plane_seeds is not None and len(plane_seeds) < 2:
        plane_seeds = None  # one plane: the root datasets alone

    def cells(f, name: str, lead: tuple, dtype, fill) -> None:
        data = arrays.get(name)
        data = np.full(lead + shape, fill, dtype) if data is None else np.asarray(data, dtype)
        if data.shape != lead + shape:
            raise ValueError(f"{name!r} has shape {data.shape}, expected {lead + shape}.")
        f.create_dataset(name, data=data)

    def per_cell(f, prefix: str, lead: tuple) -> None:
        for name in se_names:
            cells(f, f"{prefix}{SE}/{name}", lead, np.float64, np.nan)
        for split in sample_splits:
            cells(f, f"{prefix}{SAMPLES}/{split}", lead, np.int64, 0)

    def build(f):
        h5attrs.write_attrs(f, full)
        f.create_dataset("xcoordinates", data=x)
        if y is not None:
            f.create_dataset("ycoordinates", data=np.asarray(y, dtype=np.float64))
        for name in value_names:
            data = np.full(shape, np.nan) if values is None or name not in values else np.asarray(values[name], np.float64)
            if data.shape != shape:
                raise ValueError(f"values[{name!r}] has shape {data.shape}, the grid is {shape}.")
            ds = f.create_dataset(name, data=data)
            ds.attrs["unit"] = "fraction" if name.endswith("_acc") else "loss"
        mask = np.zeros(shape, np.uint8) if done is None else np.asarray(done, dtype=np.uint8)
        f.create_dataset(DONE, data=mask)
        per_cell(f, "", ())
        if plane_seeds is not None:
            lead = (len(plane_seeds),)
            f.create_dataset(f"{PLANES}/seeds", data=np.asarray(plane_seeds, dtype=np.int64))
            cells(f, f"{PLANES}/{DONE}", lead, np.uint8, 0)
            for name in value_names:
                cells(f, f"{PLANES}/{name}", lead, np.float64, np.nan)
            per_cell(f, f"{PLANES}/", lead)
        if directions:
            _write_direction_group(f, directions)
        if trajectory:
            _write_trajectory(f, trajectory)
        if metrics:
            h5attrs.write_tree(f.create_group("metrics"), metrics)
        if build_extra is not None:
            build_extra(f)  # more groups allocated at creation (adaptive/: storage.points)

    _atomic_build(path, build)


def save(surface: Surface, path: os.PathLike) -> None:
    """Write a :class:`Surface` to ``path`` (atomically; keeps its attrs, stamps the format)."""
    arrays = {f"{SE}/{n}": v for n, v in surface.se.items()}
    arrays.update({f"{SAMPLES}/{n}": v for n, v in surface.samples.items()})
    p = surface.planes
    if p is not None:
        arrays[f"{PLANES}/{DONE}"] = p.done
        arrays.update({f"{PLANES}/{n}": v for n, v in p.values.items()})
        arrays.update({f"{PLANES}/{SE}/{n}": v for n, v in p.se.items()})
        arrays.update({f"{PLANES}/{SAMPLES}/{n}": v for n, v in p.samples.items()})
    create(path, surface.x, surface.y, list(surface.values), surface.attrs, surface.directions,
           surface.trajectory, values=surface.values, done=surface.done(), metrics=surface.metrics or None,
           se_names=list(surface.se), sample_splits=list(surface.samples),
           plane_seeds=None if p is None else p.seeds, arrays=arrays,
           build_extra=(lambda f: samples_mod.write_points(f, surface.points)) if surface.points else None)


# --- resuming ---------------------------------------------------------------------------------------

def job_mismatch(path: os.PathLike, x: np.ndarray, y: Optional[np.ndarray], value_names: Sequence[str],
                 attrs: Mapping[str, Any], directions: Optional[Sequence[Mapping[str, torch.Tensor]]],
                 plane_seeds: Optional[Sequence[int]] = None) -> Optional[str]:
    """Why the file at ``path`` is not the same job (None if it is): a different grid, value set,
    setting (ignoring VOLATILE_ATTRS) or direction. Raises FileFormatError if it is not our format."""
    try:
        f = _open(path, "r")
    except OSError as exc:  # not HDF5 at all (a figure, an empty or truncated file): never ours to write into
        raise FileFormatError(f"{str(path)!r} exists and is not a readable HDF5 file "
                              f"({' '.join(str(exc).split())[:120]}); landscape did not write it, so it is left as it is: "
                              "choose another output path.") from exc
    with f:
        stored = h5attrs.read_attrs(f)
        if stored.get("format") != FORMAT:
            raise FileFormatError(f"{str(path)!r} exists and is not a landscape surface file; "
                                  "landscape did not write it as a surface, so it is left as it is: choose another output path.")
        _check_version(stored, path)
        if not np.array_equal(f["xcoordinates"][()], np.asarray(x, np.float64)):
            return "the x grid differs"
        if (y is None) != ("ycoordinates" not in f):
            return "one is a 1D line and the other a 2D plane"
        if y is not None and not np.array_equal(f["ycoordinates"][()], np.asarray(y, np.float64)):
            return "the y grid differs"
        have = sorted(k for k in f if k in VALUE_NAMES or k.endswith(("_loss", "_acc")))
        if have != sorted(value_names):
            return f"it holds values {have}, this job computes {sorted(value_names)}"
        new = h5attrs.jsonable({k: v for k, v in attrs.items() if k not in VOLATILE_ATTRS})
        old = {k: v for k, v in stored.items() if k not in VOLATILE_ATTRS and k != "ndim"}
        new.pop("ndim", None)
        for key in sorted(set(new) | set(old)):
            a, b = h5attrs.jsonable(old.get(key)), new.get(key)
            if isinstance(a, list) or isinstance(b, list):
                same = np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
            else:
                same = a == b
            if not same:
                return f"setting {key!r} is {a!r} in the file and {b!r} in this job"
        seeds = f[f"{PLANES}/seeds"][()].tolist() if f"{PLANES}/seeds" in f else None
        if plane_seeds is not None and len(plane_seeds) < 2:
            plane_seeds = None
        if (seeds is None) != (plane_seeds is None) or (seeds is not None and seeds != [int(s) for s in plane_seeds]):
            return f"it holds planes from seeds {seeds}, this job draws {plane_seeds}"
        if directions is not None:
            group = f.get("directions")
            if group is None or len(group) != len(directions):
                return "the number of stored directions differs"
            for axis, d in zip(AXES, directions):
                g = group[axis]
                if list(g) != list(d):
                    return f"the {axis} direction moves other parameters"
                for name, t in d.items():
                    if not np.array_equal(g[name][()], _dir_array(t)):
                        return f"the {axis} direction differs at {name!r} (another seed, model or kind?)"
    return None


def prepare(path: os.PathLike, x: np.ndarray, y: Optional[np.ndarray], value_names: Sequence[str],
            attrs: Mapping[str, Any], directions: Optional[Sequence[Mapping[str, torch.Tensor]]] = None,
            trajectory: Optional[Mapping[str, Any]] = None, resume: bool = True, overwrite: bool = False,
            se_names: Sequence[str] = (), sample_splits: Sequence[str] = (),
            plane_seeds: Optional[Sequence[int]] = None, build_extra=None) -> np.ndarray:
    """Make ``path`` ready for a job and return its done mask (bool, ``(K, *grid)``: one row per plane,
    K = 1 without an ensemble).

    A missing file (or ``overwrite=True``) is created fresh. An existing file of the same job is
    resumed when ``resume`` (its done cells are kept); one of another job raises ValueError saying to
    pass ``--overwrite`` / ``overwrite=True``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        if not resume:
            raise ValueError(f"{str(path)!r} already exists; pass resume=True to fill its missing cells, "
                             "or --overwrite / overwrite=True to start again.")
        why = job_mismatch(path, x, y, value_names, attrs, directions, plane_seeds)
        if why is not None:
            raise ValueError(f"{str(path)!r} holds a different surface ({why}); use --overwrite "
                             "(overwrite=True) to replace it, or choose another output path.")
        return read_done(path, planes=True)
    create(path, x, y, value_names, attrs, directions, trajectory, se_names=se_names, sample_splits=sample_splits,
           plane_seeds=plane_seeds, build_extra=build_extra)
    return read_done(path, planes=True)


def read_attrs(path: os.PathLike) -> Dict[str, Any]:
    """The settings (file attributes) of a surface file, without reading its values."""
    with _open(path, "r") as f:
        return h5attrs.read_attrs(f)


def read_done(path: os.PathLike, planes: bool = False) -> np.ndarray:
    """The done mask of a surface file (bool, grid shape: plane 0); with ``planes``, one row per plane
    (``(K, *grid)``, K = 1 for a file without an ensemble)."""
    with _open(path, "r") as f:
        if planes:
            return (f[f"{PLANES}/{DONE}"] if f"{PLANES}/{DONE}" in f else f[DONE])[()].astype(bool).reshape(
                (-1,) + f[DONE].shape)
        return f[DONE][()].astype(bool)


@contextlib.contextmanager
def _exclusive(path: os.PathLike):
    """Hold an exclusive advisory lock (``flock``) on the file now at ``path`` for the block.

    Serializes the two kinds of write a surface file gets — a job's rounds (:func:`write_cells`) and
    :func:`save_metrics`' copy-and-rename — so a round is never written into the old copy of a file
    that ``landscape sharpness`` just replaced (``landscape.flock`` locks the file the path names
    once the lock is granted). Readers take no lock: the write order keeps what they see
    consistent. Where ``flock`` is unsupported (some network file systems, Windows) the block runs
    unlocked.
    """
    fd = flock.lock(path)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _runs(flat: np.ndarray, row: int) -> Iterable[tuple]:
    """Split sorted flat indices into runs of consecutive cells within one row of length ``row``."""
    start = 0
    for i in range(1, len(flat) + 1):
        if i == len(flat) or flat[i] != flat[i - 1] + 1 or flat[i] // row != flat[start] // row:
            yield start, i
            start = i


def write_cells(path: os.PathLike, flat_index: np.ndarray, values: Mapping[str, np.ndarray], plane: int = 0) -> None:
    """Store finished cells: their values first (then flush), then their done bytes (then flush).

    ``flat_index`` (k,) indexes the row-major grid; ``values[name]`` (k,) are the cells' values, by
    dataset path: value names, ``se/<value>``, ``samples/<split>``. In a file with an ensemble the
    cells are plane ``plane``'s (``planes/...[plane]``; plane 0 also at the root). Only
    raw data inside datasets allocated at creation is overwritten: the file's metadata never changes,
    which is what makes a kill at any moment harmless (module docstring). The one exception: stored
    metrics (``save_metrics``) describe the old cells, so the first write after them drops them,
    by rebuilding the file and renaming it into place.
    """
    flat_index = np.asarray(flat_index, dtype=np.int64)
    if flat_index.size == 0:
        return
    order = np.argsort(flat_index, kind="stable")
    flat_index = flat_index[order]
    while True:
        with _exclusive(path):
            with _open(path, "r+") as f:
                stale = _metric_groups(f)
                if not stale:
                    _put_cells(f, flat_index, {name: np.asarray(v)[order] for name, v in values.items()}, int(plane))
                    return
            # the rebuilt file replaces the one locked here, so the loop locks it before writing
            _atomic_build(path, lambda g: _delete(g, stale), image=Path(path).read_bytes())


def _delete(f, names: Sequence[str]) -> None:
    for name in names:
        del f[name]


def _metric_groups(f) -> List[str]:
    """Names of the groups holding metrics (every group but the directions and the trajectory)."""
    import h5py

    return [name for name, item in f.items() if isinstance(item, h5py.Group) and name not in _NOT_METRICS]


def _put_cells(f, flat_index: np.ndarray, values: Mapping[str, np.ndarray], plane: int = 0) -> None:
    """Write sorted cells' values, flush, then set their done bytes and flush (write_cells' order)."""
    shape = f[DONE].shape
    row = shape[-1]
    ensemble = PLANES in f
    if ensemble and not 0 <= plane < len(f[f"{PLANES}/seeds"]):
        raise ValueError(f"The surface file holds {len(f[f'{PLANES}/seeds'])} planes; plane {plane} does not exist.")
    if not ensemble and plane != 0:
        raise ValueError(f"The surface file holds one plane; plane {plane} does not exist.")

    def put(ds, data, lead=()):
        for a, b in _runs(flat_index, row):
            first = flat_index[a]
            if len(shape) == 1:
                ds[lead + (slice(first, first + (b - a)),)] = data[a:b]
            else:
                r, c = divmod(int(first), row)
                ds[lead + (r, slice(c, c + (b - a)))] = data[a:b]

    targets = ([("", ())] if plane == 0 else []) + ([(f"{PLANES}/", (plane,))] if ensemble else [])
    for name, vals in values.items():
        if name.split("/")[0] in CELL_GROUPS and name not in f:
            continue  # a file from before 1.1 (no standard errors) resumed: its cells go without them
        if name not in f:
            raise ValueError(f"The surface file has no value {name!r}; it holds {sorted(k for k in f if k in VALUE_NAMES)}.")
        for prefix, lead in targets:
            put(f[prefix + name], vals, lead)
    f.flush()
    ones = np.ones(len(flat_index), np.uint8)
    for prefix, lead in targets:
        put(f[prefix + DONE], ones, lead)
    f.flush()


# --- metrics ----------------------------------------------------------------------------------------

def save_metrics(path: os.PathLike, metrics: Mapping[str, Any], group: str = "metrics") -> None:
    """Add (or replace) a group of grid metrics in an existing surface file.

    Arrays become datasets, dicts subgroups, scalars and strings attributes; read back into
    ``Surface.metrics[group]`` (``Surface.metrics`` itself for the default group). The file is copied,
    changed and renamed into place, so a kill never corrupts it. A surface job still writing the file
    waits for it and goes on writing into the new file (both hold an advisory lock), so no round is
    lost; the metrics then describe the cells done so far.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{str(path)!r} does not exist; compute the surface first.")
    if not isinstance(group, str) or not group.strip("/") or group.strip("/") in _RESERVED:
        raise ValueError(f"group must be a name such as 'metrics' (not one of {sorted(_RESERVED)}), got {group!r}.")
    group = group.strip("/")
    def build(f):
        if group in f:
            del f[group]
        h5attrs.write_tree(f.require_group(group), metrics)

    with _exclusive(path):  # no round of a running job is lost
        _atomic_build(path, build, image=path.read_bytes())


# --- reading ----------------------------------------------------------------------------------------

def _check_version(attrs: Mapping[str, Any], path) -> None:
    version = str(attrs.get("format_version", ""))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise FileFormatError(f"{str(path)!r} has an unreadable format_version {version!r}.") from None
    if major > int(FORMAT_VERSION.split(".")[0]):
        raise FileFormatError(
            f"{str(path)!r} is a surface file of format version {version}, newer than this landscape reads "
            f"({FORMAT_VERSION}); upgrade landscape (pip install -U landscape).")


def _read_directions(group, device=None) -> List[Dict[str, torch.Tensor]]:
    out = []
    for axis in AXES:
        if axis in group:
            # np.asarray: a 0-d dataset (a scalar parameter) reads back as a numpy scalar, not an array
            out.append({name: torch.from_numpy(np.asarray(ds[()])).to(device or "cpu")
                        for name, ds in group[axis].items()})
    return out


def load(path: os.PathLike) -> Surface:
    """Read a surface file: ours (format v1.x) or one in the reference code's layout.

    Cells not marked done read as NaN (a cell whose write a kill interrupted is not trusted).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"Surface file {str(path)!r} does not exist.")
    try:
        f = _open(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{str(path)!r} is not a readable HDF5 file: {' '.join(str(exc).split())[:160]}") from exc
    with f:
        attrs = h5attrs.read_attrs(f)
        if attrs.get("format") != FORMAT:
            return load_reference(f, attrs, path)
        _check_version(attrs, path)
        x = f["xcoordinates"][()]
        y = f["ycoordinates"][()] if "ycoordinates" in f else None
        done = f[DONE][()].astype(bool)
        values = {}
        for name, ds in f.items():
            if isinstance(ds, h5py.Dataset) and name not in ("xcoordinates", "ycoordinates", DONE) and ds.shape == done.shape:
                v = ds[()].astype(np.float64)
                v[~done] = np.nan
                values[name] = v
        values = {k: values[k] for k in sorted(values, key=value_order)}
        se, samples = _cell_group(f, SE, done, np.nan), _cell_group(f, SAMPLES, done, 0)
        planes = None
        if PLANES in f:
            g = f[PLANES]
            pdone = g[DONE][()].astype(bool)
            pvalues = {}
            for name in values:
                v = g[name][()].astype(np.float64)
                v[~pdone] = np.nan
                pvalues[name] = v
            planes = Planes(seeds=g["seeds"][()], values=pvalues, done=pdone, se=_cell_group(g, SE, pdone, np.nan),
                            samples=_cell_group(g, SAMPLES, pdone, 0))
        directions = _read_directions(f["directions"]) if "directions" in f else None
        trajectory = {k: ds[()] for k, ds in f["trajectory"].items()} if "trajectory" in f else None
        metrics = h5attrs.read_tree(f["metrics"]) if "metrics" in f else {}
        for name in _metric_groups(f):  # other metric groups written with save_metrics(group=...)
            if name != "metrics":
                metrics[name] = h5attrs.read_tree(f[name])
        points = samples_mod.done_points(samples_mod.read_group(f[samples_mod.GROUP])) if samples_mod.GROUP in f else None
    return Surface(x=x, y=y, values=values, attrs=attrs, directions=directions, trajectory=trajectory,
                   metrics=metrics, path=str(path), computed=done, se=se, samples=samples, planes=planes,
                   points=points)


def _cell_group(parent, name: str, done: np.ndarray, missing) -> Dict[str, np.ndarray]:
    """The datasets of a per-cell group (``se/``, ``samples/``), cells not done set to ``missing``."""
    if name not in parent:
        return {}
    out = {}
    for key, ds in parent[name].items():
        v = ds[()]
        v = v.astype(np.float64) if isinstance(missing, float) else v
        v[~done] = missing
        out[key] = v
    return dict(sorted(out.items(), key=lambda kv: value_order(kv[0])))


# --- direction files --------------------------------------------------------------------------------

def save_directions(path: os.PathLike, directions: Sequence[Mapping[str, torch.Tensor]], attrs: Mapping[str, Any]) -> None:
    """A standalone direction file: root attrs ``format="landscape-directions"`` + settings, and the
    same ``directions/`` group a surface file has."""
    full = {**stamp(), **dict(attrs), "format": DIRECTIONS_FORMAT, "format_version": FORMAT_VERSION}

    def build(f):
        h5attrs.write_attrs(f, full)
        _write_direction_group(f, directions)

    _atomic_build(path, build)


def load_directions(path: os.PathLike, device=None, with_attrs: bool = False):
    """Directions from a direction file or a surface file (its ``directions/`` group); with
    ``with_attrs`` also the file's root attributes: ``(directions, attrs)``."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"Direction file {str(path)!r} does not exist.")
    with _open(path, "r") as f:
        attrs = h5attrs.read_attrs(f)
        if attrs.get("format") not in (FORMAT, DIRECTIONS_FORMAT):
            raise FileFormatError(f"{str(path)!r} is not a landscape direction or surface file.")
        _check_version(attrs, path)
        if "directions" not in f:
            raise FileFormatError(f"{str(path)!r} stores no directions.")
        dirs = _read_directions(f["directions"], device)
    return (dirs, attrs) if with_attrs else dirs
