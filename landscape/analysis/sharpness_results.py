"""What the sharpness measurements of :mod:`landscape.sharpness` return: one dataclass per kind,
each recording its sample count, seed, iterations and tolerance, and ``.to_dict()`` for JSON."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from landscape.base.spread import mean_se


@dataclass
class _Result:
    """Shared behaviour: ``to_dict()`` (key ``result``: the class name) turns arrays into lists and leaves out tensors."""

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"result": type(self).__name__}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "vectors":
                continue
            out[f.name] = _jsonable(value)
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class EigenResult(_Result):
    """Hessian eigenpairs.

    values:    (k,) eigenvalues, descending for ``which="LA"``, ascending for ``"SA"``
    vectors:   k dicts parameter name -> tensor (parameter shape), unit norm over all selected parameters
    residuals: (k,) ``||H v - lambda v||``, a bound on each eigenvalue's error
    relative_residuals: (k,) ``residuals / |lambda|``, what ``tol`` bounds
    iterations: Hessian-vector products used, ``tol``: relative residual asked for
    converged: every pair meets ``||H v - lambda v|| <= tol |lambda|``, checked with one more product
        per pair. The solver's own test can pass while this fails: each product is float32 and its
        rounding sets a floor (about 1e-5 relative) below which no ``tol`` is reached; the relative
        residuals then say how accurate the values are.
    """

    values: np.ndarray
    vectors: List[Dict[str, torch.Tensor]]
    residuals: np.ndarray
    which: str
    method: str
    k: int
    n_params: int
    n_samples: int
    seed: int
    iterations: int
    tol: float
    converged: bool
    loss: str = "cross_entropy"
    bn: str = "eval"
    relative_residuals: Optional[np.ndarray] = None


@dataclass
class TraceResult(_Result):
    """Hutchinson's estimate of ``tr(H)``: mean of ``z^T H z`` over ``n_probes`` Rademacher ``z``.

    stderr is the standard error of that mean (sample std / sqrt(n_probes)); ``estimates`` are the
    single-probe values.
    """

    trace: float
    stderr: float
    n_probes: int
    estimates: np.ndarray
    n_params: int
    n_samples: int
    seed: int
    iterations: int
    tol: Optional[float]
    loss: str = "cross_entropy"
    bn: str = "eval"


@dataclass
class DensityResult(_Result):
    """Eigenvalue spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    grid:    (g,) eigenvalue axis;  density: (g,) smoothed density, integrates to 1 over ``grid``
    nodes:   (n_probes, m) Ritz values per probe;  weights: (n_probes, m) their quadrature weights
    sigma:   the Gaussian broadening (eigenvalue units)
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    n_probes: int
    steps: int
    n_params: int
    n_samples: int
    seed: int
    iterations: int
    loss: str = "cross_entropy"
    bn: str = "eval"


@dataclass
class SharpnessResult(_Result):
    """Loss increase in a neighbourhood of the weights, one value per radius.

    kind:      "epsilon" (Keskar et al. 2017), "sam" (Foret et al. 2021) or "asam" (Kwon et al. 2021)
    rho:       (r,) radii
    sharpness: (r,) the measure (for "epsilon": percent, ``100 (max L - L) / (1 + L)``; otherwise
               ``max L - L``, loss units)
    max_loss:  (r,) the largest loss found;  base_loss: ``L(w)``
    steps:     ascent steps per radius;  iterations: loss/gradient evaluations in all
    """

    kind: str
    rho: np.ndarray
    sharpness: np.ndarray
    max_loss: np.ndarray
    base_loss: float
    steps: int
    n_params: int
    n_samples: int
    seed: Optional[int]
    iterations: int
    tol: Optional[float] = None
    eta: Optional[float] = None
    loss: str = "cross_entropy"
    bn: str = "eval"


@dataclass
class BarrierResult(_Result):
    """Loss along ``(1 - t) w_a + t w_b``. ``barrier = max_t L(t) - ((1 - t) L(0) + t L(1))``
    (Frankle et al. 2020); ``barrier_t`` is where that maximum sits."""

    t: np.ndarray
    losses: np.ndarray
    accuracies: Optional[np.ndarray]
    barrier: float
    barrier_t: float
    n_samples: int
    n_points: int
    loss: str = "cross_entropy"
    bn: str = "eval"


@dataclass
class DrawStats(_Result):
    """One quantity over draws: ``values`` (M,), their mean, its standard error, and the ``level``
    interval ``[lo, hi]`` of the mean (Student t with M - 1 degrees of freedom; NaN for M = 1)."""

    name: str
    values: np.ndarray
    mean: float
    stderr: float
    lo: float
    hi: float
    level: float

    @classmethod
    def of(cls, name: str, values: Any, level: float = 0.95) -> "DrawStats":
        a = np.asarray(values, dtype=np.float64)
        m = mean_se(a, level)
        return cls(name, a, m.mean, m.se, m.lo, m.hi, level)


@dataclass
class DrawsResult(_Result):
    """A Hessian measure repeated over ``draws`` seeded data draws.

    kind:        "eigs", "trace" or "density"
    quantities:  name -> :class:`DrawStats` ("lambda_max", "lambda_2", ... or "lambda_min"...; "trace";
                 for a density "ritz_max", "ritz_min" and "negative_mass", the share of the
                 spectrum below zero)
    n_samples:   rows per draw (the whole data when it was not subsampled)
    seeds, data_seeds: (M,) the solver/probe seed and the subset seed of each draw (data_seeds None:
                 every draw saw all the data)
    runs:        the result of each draw (``EigenResult``, ``TraceResult`` or ``DensityResult``)
    grid, density_mean, density_stderr: for a density, the common eigenvalue axis and the mean
                 density over draws with its standard error (None otherwise)
    """

    kind: str
    quantities: Dict[str, DrawStats]
    draws: int
    n_samples: int
    seeds: List[int]
    data_seeds: Optional[List[int]]
    level: float
    runs: List[Any] = field(default_factory=list)
    grid: Optional[np.ndarray] = None
    density_mean: Optional[np.ndarray] = None
    density_stderr: Optional[np.ndarray] = None

    def to_dict(self) -> Dict[str, Any]:
        out = super().to_dict()
        out["quantities"] = {k: v.to_dict() for k, v in self.quantities.items()}
        out["runs"] = [r.to_dict() for r in self.runs]
        return out
