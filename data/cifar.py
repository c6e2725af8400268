"""CIFAR-10 from the standard "python version" batches (Krizhevsky 2009, cifar-10-python.tar.gz).

Each of ``data_batch_1`` .. ``data_batch_5`` (train, 10,000 images each) and ``test_batch`` is a
pickled dict with ``b"data"``: uint8 array (N, 3072), each row 1024 red, 1024 green, 1024 blue
values of a 32x32 image in row-major order, and ``b"labels"``: N ints in 0..9.

Files are looked for in ``ROOT/cifar-10-batches-py`` (what the tarball unpacks to), then ``ROOT``.

Security: a pickle can run arbitrary code when loaded (its ``__reduce__`` names any callable). We
therefore unpickle with :class:`RestrictedUnpickler`, which resolves only the handful of numpy
names needed to rebuild arrays and refuses everything else, so a tampered or foreign file raises
FileFormatError instead of executing. Never ``pickle.load`` these files directly.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from landscape.base.errors import FileFormatError

from .paths import PathLike, missing_error, resolve_root

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
FOLDER = "cifar-10-batches-py"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _numpy_globals() -> Dict[Tuple[str, str], Any]:
    """The only globals a CIFAR batch needs: numpy's array/scalar rebuilders, under old and new paths."""
    try:  # numpy >= 2 moved numpy.core to numpy._core (old pickles still name numpy.core)
        from numpy._core import multiarray, numeric
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _latin1_encode}
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer  # pickle protocol 5
    return allowed


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """Python 3 writes ``bytes`` into protocol-2 pickles as ``_codecs.encode(text, "latin1")``.

    Only that use is allowed; other codec names are refused rather than looked up.
    """
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that builds dicts, lists, strings, numbers and numpy arrays, and nothing else.

    ``find_class`` is the only way a pickle can reach code; it answers from a fixed allowlist.
    """

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name} (only numpy arrays are allowed)") from None


def read_batch(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images (N, 3, 32, 32) uint8, labels (N,) int64); FileFormatError if invalid."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            # Batches written by Python 2 hold byte strings; "bytes" keeps them as bytes (dict keys
            # become b"data", b"labels") and lets numpy rebuild arrays from their raw buffers.
            obj = RestrictedUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise FileFormatError(f"{path}: not a CIFAR-10 python batch: {exc}") from exc
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, OSError,
            MemoryError) as exc:
        # what a truncated or corrupt pickle stream raises partway through
        raise FileFormatError(f"{path}: not a CIFAR-10 python batch (truncated or corrupt: "
                              f"{type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise FileFormatError(f"{path}: not a CIFAR-10 python batch (holds a {type(obj).__name__}, expected a dict)")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if data is None or labels is None:
        raise FileFormatError(f"{path}: not a CIFAR-10 python batch (keys {sorted(map(str, obj))}; "
                              "expected b'data' and b'labels')")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise FileFormatError(f"{path}: b'data' is {desc}, expected a uint8 array (N, 3072)")
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"{path}: b'labels' is not a list of integers ({exc})") from exc
    if len(labels) != len(data):
        raise FileFormatError(f"{path}: {len(data)} images but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise FileFormatError(f"{path}: labels out of range 0..9 (min {labels.min()}, max {labels.max()})")
    return data.reshape(-1, 3, 32, 32), labels


def search_dirs(root: Optional[PathLike]) -> List[Path]:
    base = resolve_root(root)
    return [base / FOLDER, base]


def find_split(split: str, root: Optional[PathLike]) -> List[Path]:
    """Paths of the batch files of ``split``; FileFormatError naming what is missing where."""
    names = TRAIN_FILES if split == "train" else TEST_FILES
    dirs = search_dirs(root)
    for d in dirs:
        if all((d / n).is_file() for n in names):
            return [d / n for n in names]
    partial = [(d, [n for n in names if not (d / n).is_file()]) for d in dirs
               if any((d / n).is_file() for n in names)]
    problem = (f"{split} split incomplete: {partial[0][0]} lacks {', '.join(partial[0][1])}" if partial
               else f"{split} split not found")
    raise missing_error(
        "cifar10", dirs, names, problem,
        f"Unpack cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) into {dirs[1]}, "
        "or download it (data.load(..., download=True) or `landscape data download cifar10`).")


def fingerprint(root: Optional[PathLike]) -> tuple:
    """Identifies the train batches (path, size, mtime) so cached statistics follow file changes."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in find_split("train", root))


def load_split(split: str, root: Optional[PathLike] = None, download: bool = False
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of ``split``, batches concatenated in order."""
    try:
        paths = find_split(split, root)
    except FileFormatError:
        if not download:
            raise
        from .download import download_cifar10

        download_cifar10(resolve_root(root))
        paths = find_split(split, root)
    parts = [read_batch(p) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

