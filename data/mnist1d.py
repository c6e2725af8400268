"""MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439): generated, no download.

Ten hand-drawn 1D templates (one per digit) are padded, scaled, translated, sheared, given
correlated and i.i.d. noise and resampled to length 40 by the ``mnist1d`` package's own generator,
``mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())`` — the paper's dataset: 5,000
sequences in a seeded shuffled order, the first 4,000 for training and the last 1,000 for testing. We never reimplement the
generator and never use the package's ``get_dataset`` (it downloads a pickle and unpickles it).

The generator seeds numpy's and Python's *global* RNGs (``set_seed(42)``); :func:`generate` saves
and restores both, so building the dataset changes no caller's random stream. It also standardizes
the whole set (all 5,000 sequences) to mean 0, std 1, so the values are kept as they are
(``data.normalization("mnist1d")`` is mean 0, std 1: an identity).

The paper's test accuracies: logistic regression 32%, MLP 68%, CNN 94%; convolutional nets and depth
make a visible difference here, unlike on 8x8 digits.

Generation takes about a second; the arrays are then cached as ``ROOT/mnist1d/mnist1d.npz``
(``np.load(..., allow_pickle=False)``), written atomically so that two processes building it at once
both leave a complete file. The cache records the package version and is rebuilt when it differs or
cannot be read; an unwritable data root only costs the cache (logged), not the data.
"""
from __future__ import annotations

import json
import logging
import random
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from .paths import PathLike, resolve_root

log = logging.getLogger(__name__)

CLASSES = tuple(str(d) for d in range(10))
LENGTH = 40
SIZES = {"train": 4000, "test": 1000}
CACHE = Path("mnist1d") / "mnist1d.npz"
_KEYS = {"train": ("x", "y"), "test": ("x_test", "y_test")}


def _identity() -> str:
    """What the cache must match: the generator's package version (its defaults come with it).

    Read from the package metadata, so a cache hit never imports ``mnist1d`` (which imports
    matplotlib.pyplot and requests).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return json.dumps({"generator": "mnist1d.data.make_dataset(get_dataset_args())",
                           "mnist1d": version("mnist1d")})
    except PackageNotFoundError:
        raise ImportError("mnist1d: the `mnist1d` package generates this dataset; install it with "
                          "`pip install mnist1d`.") from None


def generate() -> Dict[str, np.ndarray]:
    """Run the package's generator with its default arguments; the global RNGs are left as they were.

    Returns ``{"x", "y", "x_test", "y_test"}``: sequences (N, 40) float64 and labels (N,) int64,
    exactly as ``make_dataset`` returns them.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {key: made[key] for key in ("x", "y", "x_test", "y_test")}


def _read_cache(path: Path, identity: str) -> Optional[Dict[str, np.ndarray]]:
    """The cached arrays, or None if the file is missing, unreadable or made by another generator."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["identity"]) != identity:
                return None
            arrays = {key: f[key] for key in ("x", "y", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # missing, truncated or foreign file
        if path.exists():
            log.warning("mnist1d: ignoring the unreadable cache %s (%s); regenerating", path, exc)
        return None
    shapes_ok = all(arrays[x].shape == (SIZES[split], LENGTH) and arrays[y].shape == (SIZES[split],)
                    for split, (x, y) in _KEYS.items())
    return arrays if shapes_ok else None


def _write_cache(path: Path, identity: str, arrays: Dict[str, np.ndarray]) -> None:
    from landscape.base import atomic

    try:
        with atomic.open_atomic(path, "wb") as f:
            np.savez(f, identity=np.array(identity), **arrays)
    except (OSError, ValueError) as exc:  # an unwritable root (OutputError is a ValueError) or a full disk
        log.warning("mnist1d: could not cache the generated data at %s (%s); it will be generated again", path, exc)


@lru_cache(maxsize=4)
def _arrays(root: str) -> Dict[str, np.ndarray]:
    path = Path(root) / CACHE
    identity = _identity()
    arrays = _read_cache(path, identity)
    if arrays is None:
        log.info("mnist1d: generating the dataset (mnist1d.data.make_dataset) into %s", path)
        arrays = generate()
        _write_cache(path, identity, arrays)
    for a in arrays.values():
        a.setflags(write=False)  # cached: callers must copy, never modify
    return arrays


def load_split(split: str, root: Optional[PathLike] = None, download: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Sequences (N, 1, 40) float32 and labels (N,) int64 of ``split``; read-only arrays.

    ``root`` is where the generated arrays are cached (None: the data root); ``download`` is
    accepted for the registry's signature and ignored: nothing is ever downloaded.
    """
    x_key, y_key = _KEYS[split]
    arrays = _arrays(str(resolve_root(root)))
    signals = arrays[x_key].astype(np.float32)[:, None, :]  # (N, 1, 40): one channel
    labels = arrays[y_key].astype(np.int64)
    signals.setflags(write=False)
    labels.setflags(write=False)
    return signals, labels
