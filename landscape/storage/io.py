"""The surface: coordinates, values and the settings that produced them, and its HDF5 file.

The file format (v1) is specified in ``docs/file-format.md``. In short: root datasets with the
reference code's names (``xcoordinates``, ``ycoordinates``, ``train_loss`` …, 2D arrays indexed
[y, x], NaN = not computed), a ``done`` mask, every setting as a root attribute, the directions in a
``directions/`` group, PCA extras in ``trajectory/``, sharpness numbers in ``metrics/``.

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
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import torch

from landscape.base import atomic, flock
from landscape.base.errors import FileFormatError

from . import h5attrs, points as samples_mod

VALUE_NAMES = ("train_loss", "train_acc", "test_loss", "test_acc")

FORMAT = "landscape-surface"
FORMAT_VERSION = "1.0"          # major.minor: a newer major is refused, a newer minor is read
DIRECTIONS_FORMAT = "landscape-directions"
AXES = ("x", "y")
DONE = "done"
REFERENCE_FORMAT = "loss-landscape (reference layout)"
_RESERVED = frozenset({"directions", "trajectory", samples_mod.GROUP, "xcoordinates", "ycoordinates", DONE, *VALUE_NAMES})
_NOT_METRICS = frozenset({"directions", "trajectory", samples_mod.GROUP})  # every other group holds metrics

# Attributes that describe *when/where* a file was made, not *what* was computed: a job that differs
# from a file only in these is the same job (resume), e.g. a checkpoint moved to another folder.
VOLATILE_ATTRS = frozenset({
    "format", "format_version", "created_by", "created_at", "library_versions", "json_attrs",
    "checkpoint", "trajectory_dir", "target", "title", "command",
})


@dataclass
class Surface:
    """A sampled loss landscape.

    x:          (nx,) coordinates along the first direction (filter-normalized units for random dirs)
    y:          (ny,) coordinates along the second direction, or None for a 1D line
    values:     name -> array, (ny, nx) for 2D (indexed [y, x] like the reference code) or (nx,) for 1D;
                NaN marks a cell not computed yet. Names: train_loss, train_acc, test_loss, test_acc, …
                Accuracies are fractions in [0, 1] (reference-layout files, in percent, are converted).
    attrs:      every setting that produced it (model spec, checkpoint sha256, dataset, directions, …)
    directions: the direction tensors keyed by parameter name (one dict per axis), if stored
    trajectory: optional PCA path: {"coords": (n, 2) array, "epochs": (n,) array, "explained": (2,)}
    metrics:    optional grid metrics (sharpness) read back from the file's metrics/ group
    computed:   optional boolean mask (shape ``self.shape``) of cells known to be done; a done cell
                may hold NaN (a diverged loss). None: infer from the values (reference files).
    samples:    adaptive grids only: the points evaluated, in order (``storage.points.done_points``);
                ``values`` then holds the grid interpolated from them. None for a uniform grid.
    """

    x: np.ndarray
    y: Optional[np.ndarray]
    values: Dict[str, np.ndarray]
    attrs: Dict[str, Any] = field(default_factory=dict)
    directions: Optional[List[Dict[str, torch.Tensor]]] = None
    trajectory: Optional[Dict[str, np.ndarray]] = None
    metrics: Dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None
    computed: Optional[np.ndarray] = None
    points: Optional[Dict[str, Any]] = None

    @property
    def ndim(self) -> int:
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple:
        return (len(self.x),) if self.y is None else (len(self.y), len(self.x))

    def done(self) -> np.ndarray:
        """Boolean mask of computed cells, shape ``self.shape`` (the file's mask, else: any value not NaN)."""
        if self.computed is not None:
            return self.computed.astype(bool)
        mask = np.zeros(self.shape, dtype=bool)
        for v in self.values.values():
            mask |= ~np.isnan(v)
        return mask

    def coords(self, index) -> tuple:
        """The (x,) or (x, y) coordinates of a cell given as an array index (``(i,)`` or ``(iy, ix)``)."""
        index = tuple(np.atleast_1d(index))
        if self.y is None:
            return (float(self.x[index[0]]),)
        return (float(self.x[index[1]]), float(self.y[index[0]]))

    def extremes(self, name: str) -> Dict[str, Any]:
        """Min and max of a value over the finite cells, with their indices and coordinates.

        Returns ``{"min", "max", "argmin", "argmax", "argmin_coords", "argmax_coords", "finite"}``
        (``argmin`` an index tuple into the array; the ``*_coords`` as ``(x,)`` or ``(x, y)``);
        min/max are NaN and the args None when no cell is finite.
        """
        v = np.asarray(self.values[name], dtype=np.float64)
        finite = np.isfinite(v)
        if not finite.any():
            return {"min": float("nan"), "max": float("nan"), "argmin": None, "argmax": None,
                    "argmin_coords": None, "argmax_coords": None, "finite": 0}
        lo = np.unravel_index(np.where(finite, v, np.inf).argmin(), v.shape)
        hi = np.unravel_index(np.where(finite, v, -np.inf).argmax(), v.shape)
        return {"min": float(v[lo]), "max": float(v[hi]), "argmin": tuple(int(i) for i in lo),
                "argmax": tuple(int(i) for i in hi), "argmin_coords": self.coords(lo),
                "argmax_coords": self.coords(hi), "finite": int(finite.sum())}

    def label(self) -> str:
        """The model's name for titles and messages: a spec's ``label``, else ``model_name`` unless that
        is only the family (``resnet``), which gives way to the spec's name (``resnet56_noskip``)."""
        spec = self.attrs.get("model_spec") or {}
        if isinstance(spec, dict) and spec.get("label"):
            return str(spec["label"])
        name = self.attrs.get("model_name") or self.attrs.get("title")
        if isinstance(spec, dict) and spec.get("name") and (not name or str(name) == str(spec["name"])):
            from .rundir import display_name

            return display_name(spec)
        if name:
            return str(name)
        if self.path:
            return os.path.splitext(os.path.basename(self.path))[0]
        return "surface"

    def _repr_html_(self) -> str:
        """Jupyter: a short summary beside a figure (``landscape.notebook``)."""
        from landscape.plot import notebook

        return notebook.html(self)

    def _repr_png_(self) -> bytes:
        """Jupyter (and other viewers of PNG): the figure alone (``landscape.notebook``)."""
        from landscape.plot import notebook

        return notebook.png(self)


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

    return {"created_by": f"landscape {__version__}",
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
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
           build_extra=None) -> None:
    """Create a complete surface file atomically (temporary file + rename; replaces ``path``).

    Every dataset is allocated here, contiguous and NaN-filled (or filled from ``values``/``done``),
    so later writes never change the file's metadata. ``attrs`` should hold the settings; the format
    name and version are stamped, and ``created_by``/``created_at``/``library_versions`` are added
    unless given.
    """
    x = np.asarray(x, dtype=np.float64)
    shape = (len(x),) if y is None else (len(y), len(x))
    full = {**stamp(), **dict(attrs), "format": FORMAT, "format_version": FORMAT_VERSION}
    full.setdefault("ndim", len(shape))

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
    create(path, surface.x, surface.y, list(surface.values), surface.attrs, surface.directions,
           surface.trajectory, values=surface.values, done=surface.done(), metrics=surface.metrics or None,
           build_extra=(lambda f: samples_mod.write_points(f, surface.points)) if surface.points else None)


# --- resuming ---------------------------------------------------------------------------------------

def job_mismatch(path: os.PathLike, x: np.ndarray, y: Optional[np.ndarray], value_names: Sequence[str],
                 attrs: Mapping[str, Any], directions: Optional[Sequence[Mapping[str, torch.Tensor]]]) -> Optional[str]:
    """Why the file at ``path`` is not the same job (None if it is): a different grid, value set,
    setting (ignoring VOLATILE_ATTRS) or direction. Raises FileFormatError if it is not our format."""
    try:
        f = _open(path, "r")
    except OSError as exc:  # not HDF5 at all (a figure, an empty or truncated file): never ours to write into
        raise FileFormatError(f"{str(path)!r} exists and is not a readable HDF5 file "
                              f"({' '.join(str(exc).split())[:120]}); choose another output path or pass "
                              "--overwrite / overwrite=True.") from exc
    with f:
        stored = h5attrs.read_attrs(f)
        if stored.get("format") != FORMAT:
            raise FileFormatError(f"{str(path)!r} exists and is not a landscape surface file; "
                                  "choose another output path or pass --overwrite / overwrite=True.")
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
            build_extra=None) -> np.ndarray:
    """Make ``path`` ready for a job and return its done mask (bool, grid shape).

    A missing file (or ``overwrite=True``) is created fresh. An existing file of the same job is
    resumed when ``resume`` (its done cells are kept); one of another job raises ValueError saying to
    pass ``--overwrite`` / ``overwrite=True``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        if not resume:
            raise ValueError(f"{str(path)!r} already exists; pass resume=True to fill its missing cells, "
                             "or --overwrite / overwrite=True to start again.")
        why = job_mismatch(path, x, y, value_names, attrs, directions)
        if why is not None:
            raise ValueError(f"{str(path)!r} holds a different surface ({why}); use --overwrite "
                             "(overwrite=True) to replace it, or choose another output path.")
        return read_done(path)
    create(path, x, y, value_names, attrs, directions, trajectory, build_extra=build_extra)
    return read_done(path)


def read_attrs(path: os.PathLike) -> Dict[str, Any]:
    """The settings (file attributes) of a surface file, without reading its values."""
    with _open(path, "r") as f:
        return h5attrs.read_attrs(f)


def read_done(path: os.PathLike) -> np.ndarray:
    """The done mask of a surface file (bool, grid shape)."""
    with _open(path, "r") as f:
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


def write_cells(path: os.PathLike, flat_index: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
    """Store finished cells: their values first (then flush), then their done bytes (then flush).

    ``flat_index`` (k,) indexes the row-major grid; ``values[name]`` (k,) are the cells' values. Only
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
                    _put_cells(f, flat_index, {name: np.asarray(v, dtype=np.float64)[order] for name, v in values.items()})
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


def _put_cells(f, flat_index: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
    """Write sorted cells' values, flush, then set their done bytes and flush (write_cells' order)."""
    shape = f[DONE].shape
    row = shape[-1]

    def put(ds, data):
        for a, b in _runs(flat_index, row):
            first = flat_index[a]
            if len(shape) == 1:
                ds[first:first + (b - a)] = data[a:b]
            else:
                r, c = divmod(int(first), row)
                ds[r, c:c + (b - a)] = data[a:b]

    for name, vals in values.items():
        if name not in f:
            raise ValueError(f"The surface file has no value {name!r}; it holds {sorted(k for k in f if k in VALUE_NAMES)}.")
        put(f[name], vals)
    f.flush()
    put(f[DONE], np.ones(len(flat_index), np.uint8))
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
            return _load_reference(f, attrs, path)
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
        values = {k: values[k] for k in sorted(values, key=_value_order)}
        directions = _read_directions(f["directions"]) if "directions" in f else None
        trajectory = {k: ds[()] for k, ds in f["trajectory"].items()} if "trajectory" in f else None
        metrics = h5attrs.read_tree(f["metrics"]) if "metrics" in f else {}
        for name in _metric_groups(f):  # other metric groups written with save_metrics(group=...)
            if name != "metrics":
                metrics[name] = h5attrs.read_tree(f[name])
        samples = samples_mod.done_points(samples_mod.read_group(f[samples_mod.GROUP])) if samples_mod.GROUP in f else None
    return Surface(x=x, y=y, values=values, attrs=attrs, directions=directions, trajectory=trajectory,
                   metrics=metrics, path=str(path), computed=done, points=samples)


def _value_order(name: str) -> tuple:
    """train_loss, train_acc, test_loss, test_acc first (the reference order), then others by name."""
    return (VALUE_NAMES.index(name), "") if name in VALUE_NAMES else (len(VALUE_NAMES), name)


def _load_reference(f, attrs: Dict[str, Any], path) -> Surface:
    """The reference code's layout (tomgoldstein/loss-landscape, plot_surface.py).

    It fills value arrays with -1 for "not computed" and stores a 2D array with shape
    (len(x), len(y)) whose flat buffer is the row-major [y, x] grid (``losses.ravel()[ind]`` with
    ``ind`` from ``np.meshgrid(x, y)``); so we reshape the buffer to (ny, nx) — for square grids this
    changes nothing. Accuracies are in percent there and become fractions here.
    """
    import h5py

    if "format" in attrs:  # another landscape file: a path file (`landscape connect`), a direction file
        raise FileFormatError(f"{str(path)!r} is a {attrs['format']} file, not a surface file; `landscape info` "
                              "shows what it holds (path files: landscape.pathfile.load).")
    if "xcoordinates" not in f:
        raise FileFormatError(f"{str(path)!r} is neither a landscape surface file nor in the reference layout "
                              "(no 'xcoordinates' dataset).")
    x = np.asarray(f["xcoordinates"][()], dtype=np.float64).reshape(-1)
    y = np.asarray(f["ycoordinates"][()], dtype=np.float64).reshape(-1) if "ycoordinates" in f else None
    shape = (len(x),) if y is None else (len(y), len(x))
    values = {}
    for name, ds in f.items():
        if not isinstance(ds, h5py.Dataset) or name in ("xcoordinates", "ycoordinates"):
            continue
        if ds.dtype.kind in "fi" and ds.size == int(np.prod(shape)) and ds.ndim == len(shape):
            v = np.asarray(ds[()], dtype=np.float64).reshape(shape)
            v[v == -1] = np.nan
            if name.endswith("_acc"):
                v = v / 100.0
            values[name] = v
        elif ds.dtype.kind in "SOU" and ds.shape == ():
            attrs[name] = h5attrs.plain(ds[()])
    values = {k: values[k] for k in sorted(values, key=_value_order)}
    attrs.setdefault("format", REFERENCE_FORMAT)
    return Surface(x=x, y=y, values=values, attrs=attrs, path=str(path))


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
