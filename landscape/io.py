"""The surface: coordinates, values and the settings that produced them (HDF5 format in docs/file-format.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch

VALUE_NAMES = ("train_loss", "train_acc", "test_loss", "test_acc")


@dataclass
class Surface:
    """A sampled loss landscape.

    x:          (nx,) coordinates along the first direction (filter-normalized units for random dirs)
    y:          (ny,) coordinates along the second direction, or None for a 1D line
    values:     name -> array, (ny, nx) for 2D (indexed [y, x] like the reference code) or (nx,) for 1D;
                NaN marks a cell not computed yet. Names: train_loss, train_acc, test_loss, test_acc, …
    attrs:      every setting that produced it (model spec, checkpoint sha256, dataset, directions, …)
    directions: the direction tensors keyed by parameter name (one dict per axis), if stored
    trajectory: optional PCA path: {"coords": (n, 2) array, "epochs": (n,) array, "explained": (2,)}
    metrics:    optional grid metrics (sharpness) read back from the file's metrics/ group
    """

    x: np.ndarray
    y: Optional[np.ndarray]
    values: Dict[str, np.ndarray]
    attrs: Dict[str, Any] = field(default_factory=dict)
    directions: Optional[List[Dict[str, torch.Tensor]]] = None
    trajectory: Optional[Dict[str, np.ndarray]] = None
    metrics: Dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None

    @property
    def ndim(self) -> int:
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple:
        return (len(self.x),) if self.y is None else (len(self.y), len(self.x))

    def done(self) -> np.ndarray:
        """Boolean mask of computed cells (any value not NaN), shape ``self.shape``."""
        mask = np.zeros(self.shape, dtype=bool)
        for v in self.values.values():
            mask |= ~np.isnan(v)
        return mask

    def label(self) -> str:
        """A short title for plots: the model's name from the metadata, else the file name."""
        spec = self.attrs.get("model_spec") or {}
        if isinstance(spec, dict) and spec.get("label"):
            return str(spec["label"])
        name = self.attrs.get("model_name") or self.attrs.get("title")
        if name:
            return str(name)
        if self.path:
            import os

            return os.path.splitext(os.path.basename(self.path))[0]
        return "surface"
