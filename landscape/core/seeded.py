"""Random directions that are never stored: each tensor's entry is regenerated from a seed on demand.

``landscape.directions.random(model, store=False)`` returns :class:`SeededDirections`. Where the
stored kind holds one full copy of the weights per axis (two for a plane, in float64 while they are
built: four copies), these hold only what normalization needs, *one number per filter* of the
weights (the weights' filter norms), and draw a tensor's Gaussian entries again each time the
tensor is asked for. A 124M-parameter model's plane then costs a few megabytes instead of 1 GB
(2 GB while built); the price is drawing the numbers again at every grid point (for GPT-2 small,
0.77 CPU-seconds per axis, 0.56 of them ``randn``, against 3.4 for one forward pass over 8 x 128
tokens; ``benchmarks/large_model.py``).

Seeding: every (axis, tensor) pair has its own generator, seeded by a hash of ``(seed, axis,
tensor name)``, so an entry does not depend on which other tensors move or in which order they are
asked for. These numbers therefore differ from the stored kind's for the same seed (which draws all
tensors from one stream); both are seeded Gaussian directions normalized the same way
(Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", arXiv:1712.09913, eq. 1).

Numbers are drawn in float32 on the CPU, scaled there, then moved to the model's device and dtype,
so a seed gives the same directions on any device. Filter norms are float64 sums over chunks of
rows (numpy's pairwise summation: independent of the thread count, with temporaries of a few MB).
"""
from __future__ import annotations

import hashlib
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch

from landscape.base.errors import check_choice

from .params import ParamFilter

NORMS = ("filter", "layer", "none")  # "weight" needs the weights themselves at every draw: not offered
_EPS = 1e-10       # as in landscape.directions: guards an all-zero random filter
_CHUNK = 1 << 20   # entries per chunk when summing squares: float64 temporaries of 8 MB


def tensor_seed(seed: int, axis: int, name: str) -> int:
    """The generator seed of one (axis, tensor) entry: 63 bits of SHA-256 of ``"seed|axis|name"``."""
    digest = hashlib.sha256(f"{int(seed)}|{int(axis)}|{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def row_norms(t: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each slice along dim 0 (a filter), float64 on the CPU, summed by numpy in
    chunks of rows so the float64 temporaries stay small for an embedding of 50k rows."""
    a = t.detach().cpu()
    a = a.reshape(a.shape[0], -1) if a.dim() > 0 else a.reshape(1, 1)
    out = np.empty(a.shape[0], dtype=np.float64)
    rows = max(1, _CHUNK // max(1, a.shape[1]))
    for i in range(0, a.shape[0], rows):
        chunk = a[i:i + rows].double().numpy()
        out[i:i + rows] = np.sqrt(np.sum(chunk * chunk, axis=1))
    return torch.from_numpy(out)


class SeededDirection(Mapping):
    """One axis of :class:`SeededDirections`: a read-only mapping ``{name: Tensor}`` whose tensors are
    drawn when asked for (each access draws again: keep a reference only as long as you need it)."""

    def __init__(self, owner: "SeededDirections", axis: int):
        self._owner, self._axis = owner, axis

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._owner.tensor(self._axis, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner.names)

    def __len__(self) -> int:
        return len(self._owner.names)


class SeededDirections(list):
    """``n`` random directions regenerated from their seed on demand (see the module docstring).

    A ``list`` of :class:`SeededDirection` (so code that reads ``dirs[k][name]`` works, drawing the
    entry), with ``.attrs`` like :class:`landscape.directions.Directions` plus ``store=False`` and
    ``seeding="per-tensor"``. ``tensor(axis, name)`` draws one entry; :meth:`materialize` draws all
    of them into ordinary stored directions (for tests and small models).
    """

    def __init__(self, targets: Mapping[str, torch.Tensor], n: int, norm: str, ignore: Optional[str], seed: int,
                 include_buffers: bool = False):
        super().__init__()
        check_choice("norm", norm, NORMS)
        self.seed, self.norm, self.ignore = int(seed), norm, ignore
        # entries zeroed by ignore="biasbn" (every tensor with dim <= 1) never move: not listed at all
        moving = {k: t for k, t in targets.items() if not (ignore == "biasbn" and t.dim() <= 1)}
        if not moving:
            raise ValueError("ignore='biasbn' leaves nothing to move: the selected tensors are all biases or "
                             "norm-layer parameters; pass ignore=None or select weight matrices with params=.")
        self.names: List[str] = list(moving)
        self.shapes: Dict[str, torch.Size] = {k: t.shape for k, t in moving.items()}
        self.dtypes = {k: t.dtype for k, t in moving.items()}
        self.devices = {k: t.device for k, t in moving.items()}
        # what normalization needs, kept per filter (float64, CPU): a few MB for a 124M model
        if norm == "filter":
            self.scales = {k: row_norms(t) if t.dim() > 1 else t.detach().cpu().double().abs().reshape(-1)
                           for k, t in moving.items()}
        elif norm == "layer":
            self.scales = {k: row_norms(t.reshape(1, -1)) for k, t in moving.items()}
        else:
            self.scales = {}
        self.extend(SeededDirection(self, axis) for axis in range(n))
        self.attrs = {"direction_kind": "random", "norm": norm, "ignore": ignore or "none", "seed": self.seed,
                      "include_buffers": bool(include_buffers), "orthogonal": False, "store": False,
                      "seeding": "per-tensor"}

    def numel(self) -> int:
        """Entries per direction that move (the tensors ``ignore`` zeroes are left out)."""
        return int(sum(int(np.prod(s)) for s in self.shapes.values()))

    def draw(self, axis: int, name: str) -> torch.Tensor:
        """The entry for ``name`` on ``axis``: float32, on the CPU (the same on every machine)."""
        shape = self.shapes[name]
        gen = torch.Generator(device="cpu").manual_seed(tensor_seed(self.seed, axis, name))
        d = torch.randn(shape, generator=gen, dtype=torch.float32)
        if self.norm == "filter":
            w = self.scales[name]
            if len(shape) <= 1:  # one number per output unit: |d_i| = |w_i| (see directions._normalize)
                flat = d.reshape(-1)
                return torch.where(flat == 0, 1.0, flat.sign()).mul_(w.float()).reshape(shape)
            scale = (w / (row_norms(d) + _EPS)).float()
            return d.mul_(scale.reshape((-1,) + (1,) * (len(shape) - 1)))
        if self.norm == "layer":
            return d.mul_(float(self.scales[name][0] / (row_norms(d.reshape(1, -1))[0] + _EPS)))
        return d

    def tensor(self, axis: int, name: str) -> torch.Tensor:
        """The entry for ``name`` on ``axis`` in its tensor's dtype and on its device."""
        if not 0 <= axis < len(self):
            raise IndexError(f"axis {axis} out of range for {len(self)} direction(s)")
        if name not in self.shapes:
            raise KeyError(name)
        return self.draw(axis, name).to(device=self.devices[name], dtype=self.dtypes[name])

    def materialize(self) -> "DrawnDirections":
        """Every entry drawn: ordinary stored directions (a list of dicts, ``.attrs`` as here but
        ``store=True``), accepted wherever directions are. Costs one copy of the moving weights per axis."""
        return DrawnDirections([{k: self.tensor(a, k) for k in self.names} for a in range(len(self))],
                               {**self.attrs, "store": True})


class DrawnDirections(list):
    """Directions drawn from :class:`SeededDirections`: a list of ``{name: Tensor}`` with ``.attrs``
    (what :func:`landscape.directions.as_list` keeps)."""

    def __init__(self, dirs=(), attrs: Optional[dict] = None):
        super().__init__(dirs)
        self.attrs = dict(attrs or {})


def seeded(targets: Mapping[str, torch.Tensor], n: int, norm: str, ignore: Optional[str], seed: int,
           include_buffers: bool = False) -> SeededDirections:
    """Build :class:`SeededDirections` over ``targets`` (``landscape.directions.movable(model)``)."""
    return SeededDirections(targets, n, norm, ignore, seed, include_buffers)


def is_seeded(directions: Sequence) -> bool:
    """True for directions that regenerate their entries (nothing stored)."""
    return isinstance(directions, SeededDirections)
