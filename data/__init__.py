"""Datasets for the built-in experiments: one registry, one ``load``.

    X, Y = data.load("digits", split="train", n=512, seed=0)   # X (512, 1, 8, 8) float32, Y int64
    data.info("digits")        # shape, classes, sizes, source, normalization, default augmentation
    data.list_datasets()       # ['digits', 'mnist1d', 'majority', 'mnist', 'fashion-mnist', 'cifar10', 'blobs', 'spirals']
    Xa = data.augment(X, **data.default_augmentation("digits"), seed=0)

Every dataset is a fixed train/test pair of images (N, C, H, W) or 1D signals (N, C, L) with integer
labels:

==============  =========  =======  ===============  ==============================================
name            shape      classes  train / test     source
==============  =========  =======  ===============  ==============================================
digits          1x8x8      10       1,437 / 360      scikit-learn ``load_digits``: embedded, default
mnist1d         1x40       10       4,000 / 1,000    the ``mnist1d`` package's generator (``data.mnist1d``)
majority        10x16      10       4,000 / 1,000    seeded token task, one-hot (``data.majority``)
mnist           1x28x28    10       60,000 / 10,000  IDX files under the data root (``data.idx``)
fashion-mnist   1x28x28    10       60,000 / 10,000  IDX files under the data root (``data.idx``)
cifar10         3x32x32    10       50,000 / 10,000  python pickle batches (``data.cifar``)
blobs           1x8x8      4        800 / 200        seeded synthetic (``data.synthetic``)
spirals         1x8x8      3        1,200 / 300      seeded synthetic (``data.synthetic``)
==============  =========  =======  ===============  ==============================================

Pixels are scaled to [0, 1]; ``normalize=True`` then standardizes each channel with the mean and
std of the *whole train split* (never of the subset, never of the test split), so train and test
inputs go through the same affine map; ``info`` and :func:`normalization` report the constants so a
checkpoint can record them (``majority``'s one-hot tokens are kept as they are). MNIST-1D comes standardized by its own generator (mean 0, std 1 over all
its sequences) and is kept as generated: its constants are 0 and 1. Generated sets (mnist1d) cache
their arrays under the data root. The data root (``root=None``) is ``$LANDSCAPE_DATA`` or
``~/.cache/landscape/data``; missing or malformed files raise ``landscape.errors.FileFormatError``
with one line naming the directories searched and the files expected.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from landscape.base.errors import check_choice

from . import cifar, digits, idx, majority, mnist1d, synthetic
from .paths import PathLike, default_root, resolve_root

SPLITS = ("train", "test")
# images (N, C, H, W) or signals (N, C, L): uint8 in 0..255, float32 in [0, 1] or standardized float32; labels int64
Raw = Tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class DatasetSpec:
    """What the registry knows about a dataset without reading it."""

    name: str
    input_shape: Tuple[int, ...]  # (C, H, W) images or (C, L) signals
    classes: Tuple[str, ...]
    sizes: Dict[str, int]  # the standard split sizes; on-disk files may hold others
    source: str
    description: str
    augmentation: Dict[str, Any]  # keyword arguments of augment(); see data.augmentation
    read: Callable[[str, Optional[PathLike], bool], Raw] = field(repr=False)  # (split, root, download)
    fingerprint: Optional[Callable[[Optional[PathLike]], tuple]] = field(default=None, repr=False)
    standardized: bool = False  # the source already standardized it: keep its values (mean 0, std 1)

    @property
    def on_disk(self) -> bool:
        """Read from files under the data root (rather than embedded or generated)."""
        return self.fingerprint is not None


def _embedded(load_split: Callable[[str], Raw]) -> Callable[[str, Optional[PathLike], bool], Raw]:
    return lambda split, root, download: load_split(split)


_NO_AUG = {"crop_padding": 0, "flip": False}
_SPECS = [
    DatasetSpec("digits", (1, 8, 8), digits.CLASSES, {"train": 1437, "test": 360},
                "scikit-learn load_digits (embedded, no download)",
                "8x8 handwritten digits (UCI optical recognition), shipped inside scikit-learn",
                # flips make mirrored glyphs that are not digits; an 8x8 image tolerates 1-pixel shifts
                {"crop_padding": 1, "flip": False}, _embedded(digits.load_split)),
    DatasetSpec("mnist1d", (1, mnist1d.LENGTH), mnist1d.CLASSES, dict(mnist1d.SIZES),
                "mnist1d package generator, default arguments (no download)",
                "MNIST-1D: 1D digit templates, transformed and noised, length 40 (Greydanus 2020)",
                # no flips (a mirrored template is another digit's); shifts of 10% of the length and
                # noise at 5% of the data's std are within the generator's own variation
                {"crop_padding": 4, "flip": False, "noise": 0.05}, mnist1d.load_split, standardized=True),
    DatasetSpec("majority", (majority.VOCAB, majority.LENGTH), majority.CLASSES, dict(majority.SIZES),
                "synthetic, fixed seeds (no download)",
                "the most frequent of 10 symbols in a sequence of 16, one-hot (a token task for transformers)",
                # a changed, moved or noised symbol would change the count: no augmentation
                {"crop_padding": 0, "flip": False}, _embedded(majority.load_split), standardized=True),
    DatasetSpec("mnist", (1, 28, 28), digits.CLASSES, {"train": 60000, "test": 10000},
                "IDX files (yann.lecun.com/exdb/mnist)", "28x28 handwritten digits (LeCun et al. 1998)",
                {"crop_padding": 2, "flip": False}, partial(idx.load_split, "mnist"),
                partial(idx.fingerprint, "mnist")),
    DatasetSpec("fashion-mnist", (1, 28, 28),
                ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"), {"train": 60000, "test": 10000},
                "IDX files (github.com/zalandoresearch/fashion-mnist)",
                "28x28 Zalando article images (Xiao et al. 2017)",
                # garments are close to mirror-symmetric, so flips are safe here
                {"crop_padding": 2, "flip": True}, partial(idx.load_split, "fashion-mnist"),
                partial(idx.fingerprint, "fashion-mnist")),
    DatasetSpec("cifar10", (3, 32, 32), cifar.CLASSES, {"train": 50000, "test": 10000},
                "python pickle batches (cs.toronto.edu/~kriz/cifar.html)",
                "32x32 colour images in 10 classes (Krizhevsky 2009)",
                {"crop_padding": 4, "flip": True}, cifar.load_split, cifar.fingerprint),
    # synthetic: the class is the dot's position, which any shift or flip would change
    DatasetSpec("blobs", (1, 8, 8), tuple(f"blob{k}" for k in range(4)), {"train": 800, "test": 200},
                "synthetic, fixed seeds (no download)", "4 Gaussian clusters in the plane, drawn as dots on 8x8",
                _NO_AUG, _embedded(partial(synthetic.load_split, "blobs"))),
    DatasetSpec("spirals", (1, 8, 8), tuple(f"arm{k}" for k in range(3)), {"train": 1200, "test": 300},
                "synthetic, fixed seeds (no download)", "3 interleaved spiral arms, drawn as dots on 8x8",
                _NO_AUG, _embedded(partial(synthetic.load_split, "spirals"))),
]
_REGISTRY: Dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def list_datasets() -> List[str]:
    """Names of the registered datasets, the default (``digits``) first."""
    return list(_REGISTRY)


def spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; ValueError naming the choices if unknown."""
    check_choice("dataset", name, list(_REGISTRY))
    return _REGISTRY[name]


def load(name: str, split: str = "train", n: Optional[int] = None, seed: int = 0,
         root: Optional[PathLike] = None, normalize: bool = True, *, download: bool = False):
    """Load one split of a dataset as tensors.

    Args:
        name: one of :func:`list_datasets`.
        split: ``"train"`` or ``"test"`` (the fixed, standard split of each dataset).
        n: a random subset of ``n`` examples (kept in dataset order), or None for the whole split.
            The same ``seed`` always picks the same subset, and a smaller ``n`` picks a subset of a
            larger one's. The seed affects nothing else.
        seed: seed of the subset draw.
        root: data root for on-disk datasets (None: ``$LANDSCAPE_DATA`` or ``~/.cache/landscape/data``).
        normalize: standardize each channel with the train split's mean and std (see module doc);
            False leaves pixels in [0, 1].
        download: fetch missing on-disk files first (needs a network; see ``data.download``).

    Returns:
        ``(X, Y)``: X float32 (N, C, H, W) (or (N, C, L) for 1D signals), Y int64 (N,) class indices,
        fresh tensors the caller owns.
    """
    import torch

    entry = spec(name)
    check_choice("split", split, list(SPLITS))
    images, labels = entry.read(split, root, download)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= len(labels):
            raise ValueError(f"The value for `n` must be a whole number in 1..{len(labels)} (the size of the "
                             f"{split} split of {name}) or None for all, but {n!r} was passed.")
        keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:n])
        images, labels = images[keep], labels[keep]
    x = _to_unit(images)  # a new float32 array, never a view of a cached one
    if normalize and not entry.standardized:
        mean, std = normalization(name, root)
        x -= _per_channel(mean, x.ndim)
        x /= _per_channel(std, x.ndim)
    return torch.from_numpy(x), torch.from_numpy(np.array(labels, dtype=np.int64))


def load_at_most(name: str, split: str = "train", n: Optional[int] = None, seed: int = 0,
                 root: Optional[PathLike] = None, normalize: bool = True):
    """:func:`load` with ``n`` read as "at most n": an ``n`` not smaller than the split takes all of it.

    Evaluation subsets (``--n-samples``) use this; for training subsets, where asking for more
    examples than exist is a mistake, use :func:`load`, which refuses.
    """
    size = info(name, root, inspect=False)["sizes"].get(split)
    take = n if n is not None and (size is None or n < size) else None
    return load(name, split, n=take, seed=seed, root=root, normalize=normalize)


def normalization(name: str, root: Optional[PathLike] = None) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Per-channel ``(mean, std)`` of the whole train split, pixels in [0, 1]; what ``load`` subtracts and divides by.

    A constant channel (std 0) gets std 1 so that it is only centred. Cached per dataset, root and
    file identity (path, size, mtime), so replaced files are re-read. A dataset its source already
    standardized (mnist1d) reports mean 0 and std 1 and is loaded as it is.
    """
    entry = spec(name)
    if entry.standardized:
        return (0.0,) * entry.input_shape[0], (1.0,) * entry.input_shape[0]
    if not entry.on_disk:
        return _train_stats(name, None, ())
    base = resolve_root(root)
    return _train_stats(name, str(base), entry.fingerprint(base))


@lru_cache(maxsize=32)
def _train_stats(name: str, root: Optional[str], files: tuple) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    images, _ = _REGISTRY[name].read("train", root, False)
    channels = images.shape[1]
    axes = (0,) + tuple(range(2, images.ndim))  # all but the channel axis
    count = images.size // channels
    chunks = range(0, len(images), 4096)  # bounded memory: CIFAR's train split is 600 MB as float32
    total = np.zeros(channels)
    for i in chunks:
        total += _to_unit(images[i:i + 4096], np.float64).sum(axis=axes)
    mean = total / count
    squares = np.zeros(channels)
    for i in chunks:  # second pass: sum of squared deviations, exact where E[x^2] - E[x]^2 cancels
        squares += ((_to_unit(images[i:i + 4096], np.float64) - _per_channel(mean, images.ndim)) ** 2).sum(axis=axes)
    std = np.sqrt(squares / count)
    std[std == 0] = 1.0
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _per_channel(values, ndim: int) -> np.ndarray:
    """Per-channel constants shaped to broadcast over a batch (N, C, ...) of ``ndim`` dimensions."""
    return np.asarray(values, dtype=np.float32).reshape((-1,) + (1,) * (ndim - 2))


def _to_unit(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 0..255 -> [0, 1]; float data is kept as it is ([0, 1] or standardized). Always a new array."""
    if images.dtype == np.uint8:
        return images.astype(dtype) / dtype(255)
    return np.array(images, dtype=dtype)


def info(name: str, root: Optional[PathLike] = None, *, inspect: bool = True) -> Dict[str, Any]:
    """What a dataset is: a JSON-able dict.

    Keys: ``name``, ``description``, ``input_shape`` (C, H, W) or (C, L), ``num_classes``, ``classes``,
    ``sizes`` {train, test}, ``source``, ``augmentation`` (default ``augment`` arguments), ``mean`` and
    ``std`` (per channel, from the train split, as ``load`` applies them), ``location`` (the directory
    the files were found in, on-disk datasets only).

    With ``inspect=True`` on-disk datasets are read: sizes are those of the files found and a
    missing or malformed file raises FileFormatError. ``inspect=False`` touches no file (and imports
    neither torch nor scikit-learn): sizes are the standard ones, mean/std/location are None.
    """
    entry = spec(name)
    out: Dict[str, Any] = {
        "name": entry.name, "description": entry.description, "input_shape": entry.input_shape,
        "num_classes": len(entry.classes), "classes": list(entry.classes), "sizes": dict(entry.sizes),
        "source": entry.source, "augmentation": dict(entry.augmentation), "mean": None, "std": None,
        "location": None,
    }
    if not inspect:
        return out
    if entry.on_disk:
        base = resolve_root(root)
        out["sizes"] = {split: int(len(entry.read(split, base, False)[1])) for split in SPLITS}
        first = Path(entry.fingerprint(base)[0][0])
        out["location"] = str(first.parent)
    mean, std = normalization(name, root)
    out["mean"], out["std"] = list(mean), list(std)
    return out


def default_augmentation(name: str) -> Dict[str, Any]:
    """Keyword arguments of :func:`augment` suited to ``name`` (crop 0 and flip False: none)."""
    return dict(spec(name).augmentation)


def download(name: str, root: Optional[PathLike] = None) -> Path:
    """Fetch an on-disk dataset into ``root`` (needs a network) and return the directory holding it."""
    check_choice("dataset", name, [s.name for s in _SPECS if s.on_disk])
    base = resolve_root(root)
    for split in SPLITS:
        _REGISTRY[name].read(split, base, True)  # downloads only what is missing
    return Path(_REGISTRY[name].fingerprint(base)[0][0]).parent


def __getattr__(attr: str):
    # augment needs torch; import it on first use so that `landscape data list` stays quick
    if attr == "augment":
        fn = importlib.import_module(".augmentation", __name__).augment
        globals()["augment"] = fn
        return fn
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["DatasetSpec", "SPLITS", "augment", "default_augmentation", "default_root", "download", "info",
           "list_datasets", "load", "normalization", "spec"]
