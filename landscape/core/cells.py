"""What one grid cell knows about itself: its value's standard error and, with ``tol``, how many
samples it needed.

A cell's loss and accuracy are means over samples. The engine (``landscape.core.engine``) sums each
sample's loss *and its square* in the same forward pass, so every cell gets the standard error of
its mean for free: ``s / sqrt(n)``, times the finite-population correction ``sqrt((N - n) / (N - 1))``
when its ``n`` samples are a subset of ``N`` (``landscape.base.spread.standard_error``). Accuracy is
a mean of 0/1 values, so its sum of squares is its sum.

``tol`` (:class:`Tolerance`): instead of every sample at every cell, a cell is evaluated on growing
blocks of one seeded permutation of the data (``first`` = 128 samples, then blocks of ``step`` = 128;
measured on the digits MLP: a first block of 64 let 2% of the cells below the cap stray past 2·tol)
and stops as soon as its loss is known as well as the figure needs it:

- its standard error is at most ``tol``, or
- its whole interval ``mean - z·se`` lies above ``cap`` (the figure draws it as "above the cap"
  anyway: a cell at loss 40 needs no 4,000 samples to be drawn as "above 10"), or
- the data run out (the cell then holds the full-data value, exactly).

After each check the cell jumps to the block end where its standard error, at the spread seen so
far, would reach ``tol`` (:meth:`Tolerance.needed`), so it neither checks after every block nor
overshoots by a doubling.

Every cell walks the same permutation, so its value depends only on its coordinates (not on its
round or process): resumed and sharded grids stay bitwise the same.

Per cell and split the engine keeps four sums (float64): loss, correct, loss², samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from landscape.base.spread import standard_error

SUMS = 4             # per split: loss sum, correct count, loss² sum, samples
DEFAULT_CAP = 10.0   # the figures' default top of a loss scale (landscape.plot: "up to 10, clipped above")
FIRST_BLOCK = 128
Z = 1.96             # a cell "wholly above the cap": mean - 1.96 se > cap


@dataclass(frozen=True)
class Tolerance:
    """How well each cell's loss must be known (``surface.compute(tol=...)``).

    tol:   target standard error of each cell's loss (loss units)
    cap:   a cell whose interval lies wholly above this loss stops early (the figures' cap, 10)
    first: samples in the first block
    step:  samples in each later block
    seed:  seed of the permutation the blocks are cut from
    """

    tol: float
    cap: float = DEFAULT_CAP
    first: int = FIRST_BLOCK
    seed: int = 0
    step: int = FIRST_BLOCK

    def __post_init__(self):
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not math.isfinite(self.tol) \
                or self.tol <= 0:
            raise ValueError(f"tol must be a positive standard error in loss units (e.g. 0.01), got {self.tol!r}.")
        if isinstance(self.cap, bool) or not isinstance(self.cap, (int, float)) or math.isnan(self.cap):
            raise ValueError(f"cap must be a loss value (e.g. 10, the figures' default), got {self.cap!r}.")
        if isinstance(self.first, bool) or not isinstance(self.first, int) or self.first < 2:
            raise ValueError(f"first must be a whole number of samples >= 2, got {self.first!r}.")
        if isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 1:
            raise ValueError(f"step must be a whole number of samples >= 1, got {self.step!r}.")

    def needed(self, loss_sum: float, squares: float, n: int, population: Optional[int]) -> float:
        """Samples at which the standard error would reach ``tol`` at the spread seen in ``n``:
        ``N s² / (tol² (N - 1) + s²)`` with the finite-population correction, ``s² / tol²`` without."""
        var = max((squares - loss_sum * loss_sum / n) / max(n - 1, 1), 0.0)
        t2 = self.tol * self.tol
        if population is None:
            return var / t2
        return population * var / (t2 * (population - 1) + var) if var > 0 else float(n)

    def settled(self, loss_sum: float, squares: float, n: int, population: Optional[int]) -> bool:
        """Whether a cell with these sums over ``n`` samples needs no more (see the module docstring)."""
        if population is not None and n >= population:
            return True
        mean = loss_sum / n
        se = float(standard_error(loss_sum, squares, n, population))
        if not math.isfinite(mean):
            return True  # diverged: NaN or inf on any block is the answer
        return se <= self.tol or mean - Z * se > self.cap

    def attrs(self) -> Dict[str, Any]:
        return {"tol": float(self.tol), "tol_cap": float(self.cap), "tol_first": int(self.first),
                "tol_step": int(self.step), "tol_seed": int(self.seed)}


def block_ends(n: int, first: int = FIRST_BLOCK, step: int = FIRST_BLOCK) -> List[int]:
    """Cumulative sample counts after each block: ``first, first + step, first + 2·step, …, n``."""
    ends, size = [], min(first, n)
    while size < n:
        ends.append(size)
        size += step
    return ends + [n]


def blocked(data: Any, tol: Tolerance, batch_size: int) -> Tuple[Tuple[torch.Tensor, torch.Tensor], List[int]]:
    """``(X, Y)`` permuted by ``tol.seed`` and the batch boundaries: returns the data as a list of
    batches whose edges fall on every block end, and, per block, the number of batches up to its end."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise ValueError("tol= evaluates cells on growing blocks of the samples: it needs data as (X, Y) tensors "
                         f"(got {type(data).__name__}); pass the tensors, or leave tol unset.")
    X, Y = data
    n = X.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(tol.seed)))
    X, Y = X[order], Y[order]
    batches, ends, start = [], [], 0
    for end in block_ends(n, tol.first, tol.step):
        for i in range(start, end, batch_size):
            j = min(i + batch_size, end)
            batches.append((X[i:j], Y[i:j]))
        ends.append(len(batches))
        start = end
    return batches, ends


def cell_values(raw: np.ndarray, splits: Sequence[str], metrics: Sequence[str],
                population: Mapping[str, Optional[int]], with_samples: bool) -> Dict[str, np.ndarray]:
    """Values, standard errors and sample counts of ``k`` cells from their sums ``raw`` (k, 4·splits).

    Keys (dataset paths of the surface file): ``<split>_loss``, ``<split>_acc``, then
    ``se/<split>_loss``, ``se/<split>_acc`` (NaN where unknown: a custom loss without per-sample
    scores, or fewer than 2 samples) and, ``with_samples``, ``samples/<split>``. A cell whose loss is
    not finite gets NaN in every value of its split.
    """
    values: Dict[str, np.ndarray] = {}
    extra: Dict[str, np.ndarray] = {}
    for j, split in enumerate(splits):
        loss, correct, squares, n = (raw[:, SUMS * j + i] for i in range(SUMS))
        diverged = ~np.isfinite(loss)
        pop = population.get(split)
        with np.errstate(divide="ignore", invalid="ignore"):
            if "loss" in metrics:
                values[f"{split}_loss"] = loss / n
                extra[f"se/{split}_loss"] = np.where(diverged, np.nan, standard_error(loss, squares, n, pop))
            if "acc" in metrics:
                values[f"{split}_acc"] = np.where(diverged, np.nan, correct / n)
                extra[f"se/{split}_acc"] = np.where(diverged, np.nan, standard_error(correct, correct, n, pop))
        if with_samples:
            extra[f"samples/{split}"] = n.astype(np.int64)
    return {**values, **extra}
