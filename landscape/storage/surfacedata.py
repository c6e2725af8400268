"""The in-memory surface: :class:`Surface` (coordinates, values, settings) and :class:`Planes` (a
direction ensemble). ``landscape.io`` reads and writes them (``io.Surface`` is this class)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch


@dataclass
class Planes:
    """A direction ensemble: K grids along K direction sets drawn from ``seeds`` (same kind, same
    normalization), plane 0 being the one the root datasets hold.

    seeds:   (K,) the seed that drew each plane's directions (``seed, seed + 1, …``)
    values:  name -> (K, *grid) arrays (NaN: not computed)
    done:    (K, *grid) bool, cells whose values are final
    se:      name -> (K, *grid) standard errors of the values (data noise; NaN: unknown)
    samples: split -> (K, *grid) samples each cell was evaluated on (only with ``tol``)
    """

    seeds: np.ndarray
    values: Dict[str, np.ndarray]
    done: np.ndarray
    se: Dict[str, np.ndarray] = field(default_factory=dict)
    samples: Dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.seeds)


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
    se:         value name -> standard error of each cell's value over its samples (data noise, with a
                finite-population correction for a subset; NaN: unknown), shape ``self.shape``
    samples:    split -> samples each cell was evaluated on (files made with ``tol``), ``self.shape``
    planes:     the direction ensemble (:class:`Planes`, K >= 2 planes) or None; ``values`` etc. are
                plane 0. :meth:`plane` and :meth:`each_plane` give one Surface per plane.
    points:     adaptive grids only: the points evaluated, in order (``storage.points.done_points``);
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
    se: Dict[str, np.ndarray] = field(default_factory=dict)
    samples: Dict[str, np.ndarray] = field(default_factory=dict)
    planes: Optional[Planes] = None
    points: Optional[Dict[str, Any]] = None

    @property
    def n_planes(self) -> int:
        """How many planes (direction sets) the surface holds: K of an ensemble, else 1."""
        return len(self.planes) if self.planes is not None else 1

    def plane(self, k: int) -> "Surface":
        """Plane ``k`` of the ensemble as a Surface of its own (its seed in ``attrs["seed"]``; the
        directions are stored for plane 0 only). ``plane(0)`` of a one-plane surface is itself."""
        if self.planes is None:
            if k != 0:
                raise ValueError(f"The surface holds one plane; plane {k!r} does not exist.")
            return self
        if not 0 <= int(k) < len(self.planes):
            raise ValueError(f"The surface holds {len(self.planes)} planes (0..{len(self.planes) - 1}); "
                             f"plane {k!r} does not exist.")
        p, k = self.planes, int(k)
        attrs = {**self.attrs, "seed": int(p.seeds[k]), "plane": k}
        return Surface(x=self.x, y=self.y, values={n: v[k] for n, v in p.values.items()}, attrs=attrs,
                       directions=self.directions if k == 0 else None, trajectory=self.trajectory,
                       path=self.path, computed=p.done[k], se={n: v[k] for n, v in p.se.items()},
                       samples={n: v[k] for n, v in p.samples.items()})

    def each_plane(self) -> List["Surface"]:
        """One Surface per plane (a list of one for a surface without an ensemble)."""
        return [self.plane(k) for k in range(self.n_planes)]

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
