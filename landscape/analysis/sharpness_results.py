"""What the sharpness measurements of :mod:`landscape.sharpness` return: one dataclass per kind,
each recording its sample count, seed, iterations and tolerance, and ``.to_dict()`` for JSON."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional

import numpy as np
import torch


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
