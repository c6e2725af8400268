"""Seeded synthetic datasets for tests and quick demos: points in the plane drawn as tiny images.

Each example is a point (x, y) in [-1, 1]^2 rendered as a soft dot (a Gaussian bump, peak 1) on a
1x8x8 canvas, so the sets have the same shape as the default ``digits`` and run through every
built-in model (MLPs, ResNets, VGGs) unchanged, while the class still depends only on where the
point lies. The point itself is recoverable from the image (the bump's centre), so nothing is lost.

- ``blobs``: 4 classes, Gaussian clusters (std 0.2) around (+-0.5, +-0.5); easy: logistic
  regression on the pixels scores 99.5% on the test split, so a net that fails here is broken.
- ``spirals``: 3 interleaved spiral arms (2 turns, small radial noise); non-linear even in pixel
  space (the rendering acts like a radial-basis embedding, which makes fewer turns linearly
  separable): logistic regression on the pixels scores 60%, a 128-128 MLP 98% (scikit-learn, test
  split), a small but real test of capacity.

Both are fixed datasets: the train and test sets come from fixed seeds (``DATA_SEED``), so every
machine sees the same points; the ``seed`` of ``data.load`` only chooses subsets. Augmentation
(shifts, flips) would move the dot and change which class it belongs to, so none is recommended.
:func:`points` returns the raw coordinates, e.g. for plotting a decision boundary.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Tuple

import numpy as np

CANVAS = 8          # pixels per side, as digits
DOT_WIDTH = 0.7     # std of the rendered bump, in pixels
DATA_SEED = {"train": 1234, "test": 5678}
SPECS = {
    # name: (classes, train size, test size)
    "blobs": (4, 800, 200),
    "spirals": (3, 1200, 300),
}


def make_blobs(n: int, seed: int, num_classes: int = 4, spread: float = 0.2) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` points (n, 2) float32 in [-1, 1]^2 and balanced labels (n,) int64; centres on a circle.

    With the default 4 classes the centres are (+-0.5, +-0.5).
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes)
    angle = 2 * math.pi * (np.arange(num_classes) + 0.5) / num_classes
    centres = 0.5 * math.sqrt(2) * np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (K, 2)
    pts = centres[labels] + spread * rng.standard_normal((n, 2))
    return np.clip(pts, -1, 1).astype(np.float32), labels.astype(np.int64)


def make_spirals(n: int, seed: int, num_classes: int = 3, turns: float = 2.0, noise: float = 0.03
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` points (n, 2) float32 on ``num_classes`` interleaved spiral arms, labels (n,) int64.

    Arm k at parameter t in [0, 1]: radius 0.1 + 0.85 t, angle 2 pi (k / K + turns t).
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes)
    t = rng.uniform(0.0, 1.0, n)
    radius = 0.1 + 0.85 * t + noise * rng.standard_normal(n)
    angle = 2 * math.pi * (labels / num_classes + turns * t)
    pts = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return np.clip(pts, -1, 1).astype(np.float32), labels.astype(np.int64)


def render(points: np.ndarray, size: int = CANVAS, width: float = DOT_WIDTH) -> np.ndarray:
    """Points (N, 2) in [-1, 1]^2 -> images (N, 1, size, size) float32 in [0, 1], one soft dot each.

    x runs along the image width (left to right), y along the height (top to bottom).
    """
    pix = (np.asarray(points, dtype=np.float64) + 1) / 2 * (size - 1)  # (N, 2) pixel coordinates
    grid = np.arange(size, dtype=np.float64)
    bump_x = np.exp(-((grid[None, :] - pix[:, :1]) ** 2) / (2 * width ** 2))  # (N, W)
    bump_y = np.exp(-((grid[None, :] - pix[:, 1:]) ** 2) / (2 * width ** 2))  # (N, H)
    return (bump_y[:, :, None] * bump_x[:, None, :])[:, None].astype(np.float32)  # separable Gaussian


def points(name: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """The raw points (N, 2) and labels (N,) behind ``name``'s ``split`` (same order as load_split)."""
    classes, n_train, n_test = SPECS[name]
    make = make_blobs if name == "blobs" else make_spirals
    return make(n_train if split == "train" else n_test, DATA_SEED[split], num_classes=classes)


@lru_cache(maxsize=8)
def load_split(name: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 8, 8) float32 in [0, 1] and labels (N,) int64; read-only cached arrays."""
    pts, labels = points(name, split)
    images = render(pts)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels
