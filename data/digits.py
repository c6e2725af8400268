"""The default dataset: 8x8 handwritten digits that ship inside scikit-learn (no download).

1,797 grey images of the digits 0-9 (UCI "Optical Recognition of Handwritten Digits", each pixel a
count 0..16 of set bits in a 4x4 block of a 32x32 bitmap). We scale pixels to [0, 1] (divide by 16)
and fix one stratified 80/20 split with ``SPLIT_SEED``: 1,437 train / 360 test images, the same on
every machine and independent of the ``seed`` that ``data.load`` uses to draw subsets.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Tuple

import numpy as np

SPLIT_SEED = 0
TEST_SIZE = 360  # 20% of 1,797, a whole number of images
CLASSES = tuple(str(d) for d in range(10))


@lru_cache(maxsize=1)
def _split() -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # sklearn is slow to import; only pay for it here
    from sklearn.model_selection import train_test_split

    pixels, labels = load_digits(return_X_y=True)  # (1797, 64) float64 in 0..16, (1797,)
    images = (pixels / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels.astype(np.int64), test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED)
    for a in (x_train, x_test, y_train, y_test):
        a.setflags(write=False)  # cached: callers must copy, never modify
    return x_train, y_train, x_test, y_test


def load_split(split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 8, 8) float32 in [0, 1] and labels (N,) int64; read-only cached arrays."""
    x_train, y_train, x_test, y_test = _split()
    return (x_train, y_train) if split == "train" else (x_test, y_test)
