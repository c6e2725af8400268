"""MNIST and Fashion-MNIST from the standard IDX files (LeCun et al.; Xiao et al. 2017).

Format (http://yann.lecun.com/exdb/mnist/): a 4-byte big-endian magic number ``0x0000TTDD`` (two
zero bytes, a type code ``TT``, ``0x08`` = unsigned byte, and the number of dimensions ``DD``),
``DD`` big-endian uint32 sizes, then the values row-major. Images are ``0x00000803`` (N, 28, 28),
labels ``0x00000801`` (N,). Each file may be gzip-compressed (detected from its first bytes, so a
missing or extra ``.gz`` suffix does not matter).

Where files are looked for, first match wins (one directory must hold both files of a split):
``ROOT/<name>/raw``, ``ROOT/<name>``, torchvision's ``ROOT/MNIST/raw`` / ``ROOT/FashionMNIST/raw``,
then ``ROOT`` itself. Accepted file names: ``train-images-idx3-ubyte`` (also ``train-images.idx3-ubyte``
as some mirrors spell it), each optionally with ``.gz``; likewise ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. A root that holds IDX files directly is
taken to be the dataset that was asked for.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from landscape.base.errors import FileFormatError

from .paths import PathLike, missing_error, resolve_root

# IDX type code -> big-endian numpy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# dataset name -> sub-directories of the root tried before the root itself
SUBDIRS = {
    "mnist": ("mnist/raw", "mnist", "MNIST/raw", "MNIST"),
    "fashion-mnist": ("fashion-mnist/raw", "fashion-mnist", "FashionMNIST/raw", "FashionMNIST",
                      "fashion_mnist"),
}


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (gzip or not) into a native-endian array of the shape its header gives.

    Raises FileFormatError naming the file when it is unreadable, has a bad magic number, or its
    length does not match the header.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a cut-off gzip stream is an EOFError
        raise FileFormatError(f"{path}: cannot read as (gzipped) IDX: {exc}") from exc
    if len(raw) < 4:
        raise FileFormatError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    zero, type_code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or type_code not in IDX_TYPES or ndim == 0:
        magic = int.from_bytes(raw[:4], "big")
        raise FileFormatError(f"{path}: not an IDX file (magic number 0x{magic:08x}; IDX files "
                              f"start with 0x0000TTDD, type TT in {sorted(hex(t) for t in IDX_TYPES)})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FileFormatError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        kind = "truncated" if len(raw) - header < expected else "has trailing bytes"
        raise FileFormatError(f"{path}: {kind}: header says shape {tuple(shape)} ({expected} data bytes) "
                              f"but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``); the inverse of read_idx."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"The value for `array.dtype` must be one of {sorted(map(str, codes))}, "
                         f"but {array.dtype} was passed.")
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(IDX_TYPES[codes[native]]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def _candidates(stem: str) -> List[str]:
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def _find(directory: Path, stem: str) -> Optional[Path]:
    for name in _candidates(stem):
        if (directory / name).is_file():
            return directory / name
    return None


def search_dirs(name: str, root: Optional[PathLike]) -> List[Path]:
    """The directories searched for ``name`` (``mnist`` or ``fashion-mnist``), in order."""
    base = resolve_root(root)
    return [base / sub for sub in SUBDIRS[name]] + [base]


def find_split(name: str, split: str, root: Optional[PathLike]) -> Tuple[Path, Path]:
    """Paths of the (images, labels) files of ``split``; FileFormatError if no directory holds both."""
    stems = FILES[split]
    dirs = search_dirs(name, root)
    for d in dirs:
        found = [_find(d, s) for s in stems]
        if all(found):
            return found[0], found[1]
    partial = [(d, [s for s in stems if _find(d, s) is None]) for d in dirs
               if any(_find(d, s) for s in stems)]
    problem = (f"{split} split incomplete: {partial[0][0]} lacks {', '.join(partial[0][1])}" if partial
               else f"{split} split not found")
    raise missing_error(
        name, dirs, [f"{s}[.gz]" for s in stems], problem,
        f"Put the four {name} IDX files in {dirs[1]}, or download them (data.load(..., download=True) "
        f"or `landscape data download {name}`).")


def fingerprint(name: str, root: Optional[PathLike]) -> tuple:
    """Identifies the train files (path, size, mtime) so cached statistics follow file changes."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in find_split(name, "train", root))


def load_split(name: str, split: str, root: Optional[PathLike] = None, download: bool = False
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 28, 28) uint8 and labels (N,) int64 of one split, validated.

    With ``download=True`` missing files are fetched into ``ROOT/<name>`` first (needs a network).
    """
    try:
        images_path, labels_path = find_split(name, split, root)
    except FileFormatError:
        if not download:
            raise
        from .download import download_idx

        download_idx(name, resolve_root(root) / name)
        images_path, labels_path = find_split(name, split, root)
    images, labels = read_idx(images_path), read_idx(labels_path)
    for path, arr, magic, ndim in ((images_path, images, IMAGES_MAGIC, 3), (labels_path, labels, LABELS_MAGIC, 1)):
        if arr.dtype != np.uint8 or arr.ndim != ndim:
            raise FileFormatError(f"{path}: wrong magic number (an IDX {arr.dtype} array of {arr.ndim} "
                                  f"dimensions; expected 0x{magic:08x}, unsigned bytes of {ndim} dimensions)")
    if len(images) != len(labels):
        raise FileFormatError(f"{images_path.parent}: {images_path.name} holds {len(images)} images but "
                              f"{labels_path.name} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise FileFormatError(f"{labels_path}: label {int(labels.max())} out of range 0..9")
    return images[:, None, :, :], labels.astype(np.int64)


def sizes(name: str, root: Optional[PathLike]) -> Dict[str, int]:
    """Number of examples in each split of the files found (reads the label files only)."""
    return {split: int(read_idx(find_split(name, split, root)[1]).shape[0]) for split in FILES}
