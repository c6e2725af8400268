"""Sharpness of a minimum, measured the ways the literature does.

Curvature (second order, from Hessian-vector products in :mod:`landscape.hessian`):

- :func:`hessian_eigs` — top-k (``which="LA"``) or smallest (``"SA"``) eigenpairs, by Lanczos
  (``scipy.sparse.linalg.eigsh`` on a ``LinearOperator``) or power iteration with deflation.
- :func:`hessian_trace` — Hutchinson's estimator with Rademacher probes (Hutchinson 1989) and its
  standard error.
- :func:`spectral_density` — stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019, "An
  Investigation into Neural Net Optimization via Hessian Eigenvalue Density"), Gaussian-broadened.

Worst-case loss increase near the weights, each as a function of the radius ``rho``:

- :func:`epsilon_sharpness` — Keskar et al. 2017 ("On Large-Batch Training ... Sharp Minima"): the
  largest loss in the box ``|z_i| <= rho (|w_i| + 1)``, found by L-BFGS-B, in percent of ``1 + L(w)``.
- :func:`sam_sharpness` — Foret et al. 2021 (SAM): ``max_{||e||_2 <= rho} L(w + e) - L(w)``, the first
  order ascent step ``e = rho g / ||g||`` and optionally a few projected ascent steps.
- :func:`asam_sharpness` — Kwon et al. 2021 (ASAM): the same in the adaptive ball
  ``||e / T_w||_2 <= rho`` with ``T_w = |w| + eta``, which makes it invariant to rescaling weights.

And :func:`barrier_height` along the straight line between two models (Frankle et al. 2020).

Every result records the data sample count, seed, iterations (Hessian-vector products or loss
evaluations), tolerance and, for stochastic estimates, a standard error; ``.to_dict()`` gives JSON.
The model is never left changed: weights, buffers and train/eval modes are restored bitwise.
"""
from __future__ import annotations

import logging
import math
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from landscape.base.errors import check_choice
from landscape.base.progress import bar, track
from landscape.core import evaluate as _evaluate, threads
from landscape.core.params import ParamFilter, first_device, restored, select

from .hessian import Hessian, flatten, operator, set_bn_mode, unflatten
from .sharpness_results import BarrierResult, DensityResult, EigenResult, SharpnessResult, TraceResult

log = logging.getLogger(__name__)

EIG_METHODS = ("lanczos", "power")
# The solvers' own stopping tests do not see what the final check sees: ARPACK's float64 Ritz
# estimates were 10-40x below the residual of the float32 products, and power iteration's test runs
# on the deflated operator. So each is asked for a fraction of tol (the default tol
# 1e-4 runs ARPACK at 1e-6, as before), and ``converged`` is the check on the result.
LANCZOS_MARGIN = 0.01
POWER_MARGIN = 0.5
WHICH = ("LA", "SA")
Radii = Union[float, Sequence[float]]


# --------------------------------------------------------------------------------------------------
# eigenvalues


def hessian_eigs(model: nn.Module, data: Any, k: int = 1, which: str = "LA", method: str = "lanczos",
                 loss: Any = "cross_entropy", params: ParamFilter = None, bn: str = "eval", seed: int = 0,
                 tol: Optional[float] = None, max_iter: Optional[int] = None, batch_size: Optional[int] = None,
                 hvp: str = "autograd", progress: bool = False, start: Optional[Mapping[str, torch.Tensor]] = None,
                 scale: Optional[Mapping[str, torch.Tensor]] = None) -> EigenResult:
    """The ``k`` largest (``which="LA"``) or smallest (``"SA"``) Hessian eigenvalues and eigenvectors.

    model, data, loss, params, bn, batch_size, hvp: as in :func:`landscape.hessian.operator`.
    method:   "lanczos" (implicitly restarted Lanczos, ``scipy.sparse.linalg.eigsh``) or "power"
              (power iteration; eigenvectors found so far are projected out; a spectral shift finds
              the right end of the spectrum even when the other end has the larger magnitude).
    tol:      relative residual ``||H v - lambda v|| <= tol |lambda|``, checked on the result
              (``converged``); default 1e-4. The solvers run at a fraction of it (``LANCZOS_MARGIN``,
              ``POWER_MARGIN``): ARPACK's own test uses float64 estimates that float32 products do not
              attain (measured 10-40x apart). Below about 1e-5, float32 rounding in each product sets
              a floor no ``tol`` beats.
    max_iter: products per eigenpair for power (default 3000: slow ends of the spectrum need it to meet tol); ARPACK restarts for Lanczos
    seed:     the random start vector
    start:    a start vector instead (a dict keyed by parameter name, e.g. the previous top eigenvector:
              a warm start; power iteration starts its first eigenpair from it)
    scale:    a positive diagonal ``S`` (dict keyed by parameter name): the eigenpairs of ``S H S``
              instead of ``H``. With ``S = P^-1/2`` for a diagonal preconditioner ``P`` these are the
              eigenvalues of ``P^-1 H`` (``landscape.analysis.tracking`` takes Adam's).
    Returns an :class:`EigenResult`; vectors are dicts keyed by parameter name with unit overall norm.
    """
    check_choice("which", which, WHICH)
    check_choice("method", method, EIG_METHODS)
    n = _n_params(model, params)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise ValueError(f"k must be a whole number between 1 and {n - 1} (the number of selected parameters "
                         f"minus one), but {k!r} was passed.")
    if tol is not None and not tol >= 0:
        raise ValueError(f"tol must be a non-negative relative residual, but {tol!r} was passed.")
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"max_iter must be a positive number of iterations, but {max_iter!r} was passed.")
    tol_used = float(tol) if tol is not None else 1e-4
    with operator(model, data, loss, params, bn, batch_size, hvp) as H:
        op = H if scale is None else _Scaled(H, _flat_of(scale, H, "scale"))
        v0 = None if start is None else _flat_of(start, H, "start")
        with bar(None, f"hessian eigs ({method})", progress) as b:
            if method == "lanczos":
                vals, vecs, converged = _lanczos(op, k, which, tol_used, max_iter, seed, b, v0)
            else:
                vals, vecs, converged = _power(op, k, which, tol_used * POWER_MARGIN, max_iter or 3000, seed, b, v0)
        iterations = H.n_products
        residuals = np.array([float((op.matvec(v) - lam * v).norm()) for lam, v in zip(vals, vecs)])
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(residuals == 0, 0.0, residuals / np.abs(np.asarray(vals, dtype=np.float64)))
        if converged and not (relative <= tol_used).all():
            log.warning("The %s solver stopped, but the relative residual is %.1e, above tol=%g: float32 rounding in "
                        "each Hessian-vector product sets a floor near it. The eigenvalues are accurate to about that "
                        "fraction; converged is reported False.", method, float(relative.max()), tol_used)
            converged = False
        vectors = [{key: t.clone() for key, t in unflatten(v, H.point).items()} for v in vecs]
        return EigenResult(values=np.asarray(vals, dtype=np.float64), vectors=vectors, residuals=residuals,
                           which=which, method=method, k=int(k), n_params=H.n, n_samples=H.count, seed=seed,
                           iterations=iterations, tol=tol_used,
                           converged=converged, loss=H.obj.name, bn=bn, relative_residuals=relative)


class _Scaled:
    """``S H S`` for a diagonal ``S`` (flat): what the solvers need of a :class:`Hessian`."""

    def __init__(self, H: Hessian, s: torch.Tensor):
        self.H, self.s = H, s
        self.n, self.device, self.dtype = H.n, H.device, H.dtype

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.s * self.H.matvec(self.s * v.to(self.device, self.dtype))


def _flat_of(vector: Mapping[str, torch.Tensor], H: Hessian, param: str) -> torch.Tensor:
    missing = [k for k in H.names if k not in vector]
    if missing:
        raise ValueError(f"`{param}` must hold every selected parameter; {missing[0]!r} is missing.")
    return flatten({k: vector[k].detach().to(H.device, H.dtype) for k in H.names}, H.names)


def _lanczos(H: Hessian, k: int, which: str, tol: float, max_iter: Optional[int], seed: int, b,
             start: Optional[torch.Tensor] = None) -> Tuple[List[float], List[torch.Tensor], bool]:
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    def matvec(x: np.ndarray) -> np.ndarray:
        b.update(1)
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return H.matvec(v).detach().cpu().double().numpy()

    op = LinearOperator((H.n, H.n), matvec=matvec, dtype=np.float64)
    v0 = (np.random.default_rng(seed).standard_normal(H.n) if start is None
          else start.detach().cpu().double().numpy())
    converged = True
    try:
        vals, vecs = eigsh(op, k=k, which=which, tol=tol * LANCZOS_MARGIN, v0=v0, maxiter=max_iter)
    except ArpackNoConvergence as exc:
        if len(exc.eigenvalues) < k:
            raise RuntimeError(f"Lanczos found {len(exc.eigenvalues)} of k={k} eigenvalues within max_iter={max_iter}; "
                               "raise max_iter or tol.") from exc
        log.warning("Lanczos did not fully converge; returning the Ritz values it has (raise max_iter).")
        vals, vecs, converged = exc.eigenvalues, exc.eigenvectors, False
    order = np.argsort(-vals if which == "LA" else vals)[:k]
    out = [torch.from_numpy(vecs[:, i].copy()).to(H.device, H.dtype) for i in order]
    return [float(vals[i]) for i in order], [v / v.norm() for v in out], converged


def _power(H: Hessian, k: int, which: str, tol: float, max_iter: int, seed: int, b,
           start: Optional[torch.Tensor] = None) -> Tuple[List[float], List[torch.Tensor], bool]:
    """Power iteration on ``H - shift I`` restricted to the complement of the vectors found so far.

    Plain power iteration finds the eigenvalue of largest magnitude. When that one sits at the wrong
    end of the spectrum (negative while the largest is wanted), it is used as the shift: every other
    eigenvalue of ``H - shift I`` then has the wanted sign, and the iteration is repeated.
    """
    gen = torch.Generator().manual_seed(seed)
    sign = 1.0 if which == "LA" else -1.0
    found_vals: List[float] = []
    found_vecs: List[torch.Tensor] = []
    shift, all_converged = 0.0, True
    while len(found_vals) < k:
        lam, v, ok = _power_one(H, shift, found_vecs, tol, max_iter, gen, b, None if found_vals else start)
        if shift == 0.0 and (sign * lam < 0 or not ok):
            # The dominant end is the other one (or both ends tie): shift to it and iterate again.
            shift = lam if sign * lam < 0 else -sign * abs(lam)
            lam, v, ok = _power_one(H, shift, found_vecs, tol, max_iter, gen, b)
        all_converged &= ok
        found_vals.append(lam)
        found_vecs.append(v)
    if not all_converged:
        log.warning("Power iteration reached max_iter=%d before the residual fell below tol=%g.", max_iter, tol)
    return found_vals, found_vecs, all_converged


def _power_one(H: Hessian, shift: float, found: List[torch.Tensor], tol: float, max_iter: int,
               gen: torch.Generator, b, start: Optional[torch.Tensor] = None) -> Tuple[float, torch.Tensor, bool]:
    def project(x: torch.Tensor) -> torch.Tensor:
        for u in found:  # deflation: the iteration lives in the complement of the found eigenvectors
            x = x - (u @ x) * u
        return x

    v = torch.randn(H.n, generator=gen, dtype=torch.float64) if start is None else start.double().cpu()
    v = project(v.to(H.device, H.dtype))
    v = v / v.norm()
    rho = 0.0
    for _ in range(max_iter):
        av = project(H.matvec(v) - shift * v)
        b.update(1)
        rho = float(v @ av)  # Rayleigh quotient of H - shift I
        norm = float(av.norm())
        if norm == 0.0:  # v is in the null space: eigenvalue exactly `shift`
            return shift, v, True
        if float((av - rho * v).norm()) <= tol * abs(rho + shift):  # relative to H's eigenvalue, not the shifted one
            return rho + shift, v, True
        v = av / norm
    return rho + shift, v, False


# --------------------------------------------------------------------------------------------------
# trace and density


def hessian_trace(model: nn.Module, data: Any, n_probes: int = 100, tol: Optional[float] = None, seed: int = 0,
                  loss: Any = "cross_entropy", params: ParamFilter = None, bn: str = "eval",
                  batch_size: Optional[int] = None, hvp: str = "autograd", progress: bool = False) -> TraceResult:
    """Hutchinson's trace estimate ``tr(H) ~ mean_i z_i^T H z_i`` with Rademacher ``z_i`` (entries +-1).

    n_probes: at most this many probes (one Hessian-vector product each; at least 2)
    tol:      stop early once ``stderr <= tol * |trace|`` (after at least 10 probes); None: use all
    Returns a :class:`TraceResult` with the standard error of the mean over probes.
    """
    if isinstance(n_probes, bool) or not isinstance(n_probes, (int, np.integer)) or n_probes < 2:
        raise ValueError(f"n_probes must be a whole number of probes, at least 2, but {n_probes!r} was passed.")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be a positive relative standard error, but {tol!r} was passed.")
    gen = torch.Generator().manual_seed(seed)
    estimates: List[float] = []
    with operator(model, data, loss, params, bn, batch_size, hvp) as H, bar(n_probes, "hessian trace", progress) as b:
        for i in range(n_probes):
            z = (torch.randint(0, 2, (H.n,), generator=gen) * 2 - 1).to(H.device, H.dtype)
            estimates.append(float(z.double() @ H.matvec(z).double()))
            b.update(1)
            if tol is not None and i + 1 >= 10:
                mean, se = _mean_se(estimates)
                if se <= tol * abs(mean):
                    break
        mean, se = _mean_se(estimates)
        return TraceResult(trace=mean, stderr=se, n_probes=len(estimates), estimates=np.array(estimates),
                           n_params=H.n, n_samples=H.count, seed=seed, iterations=H.n_products, tol=tol,
                           loss=H.obj.name, bn=bn)


def _mean_se(values: Sequence[float]) -> Tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else float("inf")


def spectral_density(model: nn.Module, data: Any, n_probes: int = 4, steps: int = 50, sigma: Optional[float] = None,
                     grid: Union[int, Sequence[float]] = 1000, seed: int = 0, loss: Any = "cross_entropy",
                     params: ParamFilter = None, bn: str = "eval", batch_size: Optional[int] = None,
                     hvp: str = "autograd", progress: bool = False) -> DensityResult:
    """Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019, Sec. 3).

    For each of ``n_probes`` Gaussian unit probes ``v``, ``steps`` Lanczos steps (full
    reorthogonalization) give a tridiagonal ``T = U diag(theta) U^T``; the quadrature nodes ``theta``
    with weights ``U[0, :]**2`` approximate the spectral measure ``(1/n) sum_i delta(t - lambda_i)``.
    Each node is broadened into a Gaussian of width ``sigma`` (default: 1% of the span of the nodes)
    and the probes averaged. ``grid`` is a number of points (spanning the nodes +- 5 sigma) or the
    eigenvalue axis itself. Cost: ``n_probes * steps`` Hessian-vector products and a ``steps * n``
    basis per probe in memory.
    """
    if isinstance(n_probes, bool) or not isinstance(n_probes, (int, np.integer)) or n_probes < 1:
        raise ValueError(f"n_probes must be a positive whole number, but {n_probes!r} was passed.")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be a whole number of Lanczos steps, at least 2, but {steps!r} was passed.")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be a positive broadening in eigenvalue units, but {sigma!r} was passed.")
    gen = torch.Generator().manual_seed(seed)
    with operator(model, data, loss, params, bn, batch_size, hvp) as H:
        m = min(steps, H.n)
        nodes = np.full((n_probes, m), np.nan)
        weights = np.zeros((n_probes, m))
        with bar(n_probes * m, "spectral density", progress) as b:
            for p in range(n_probes):
                theta, w = _lanczos_quadrature(H, m, gen, b)
                nodes[p, :len(theta)], weights[p, :len(theta)] = theta, w
        lo, hi = float(np.nanmin(nodes)), float(np.nanmax(nodes))
        if sigma is None:
            sigma = 0.01 * (hi - lo) if hi > lo else max(1e-3 * abs(hi), 1e-6)
        if isinstance(grid, (int, np.integer)):
            if grid < 2:
                raise ValueError(f"grid must be at least 2 points or an array of eigenvalues, but {grid!r} was passed.")
            axis = np.linspace(lo - 5 * sigma, hi + 5 * sigma, int(grid))
        else:
            axis = np.asarray(grid, dtype=np.float64)
        density = broaden(nodes, weights, float(sigma), axis)
        return DensityResult(grid=axis, density=density, nodes=nodes, weights=weights, sigma=float(sigma),
                             n_probes=n_probes, steps=m, n_params=H.n, n_samples=H.count, seed=seed,
                             iterations=H.n_products, loss=H.obj.name, bn=bn)


def broaden(nodes: np.ndarray, weights: np.ndarray, sigma: float, axis: np.ndarray) -> np.ndarray:
    """The density on ``axis`` of quadrature ``nodes`` (n_probes, m; NaN: unused) with ``weights``:
    each node a Gaussian of width ``sigma``, averaged over the probes (integrates to 1)."""
    ok = ~np.isnan(nodes)
    # (g, probes*m) Gaussians weighted by quadrature weights, averaged over probes
    gauss = np.exp(-0.5 * ((axis[:, None] - nodes[ok][None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return gauss @ weights[ok] / nodes.shape[0]


def _lanczos_quadrature(H: Hessian, m: int, gen: torch.Generator, b) -> Tuple[np.ndarray, np.ndarray]:
    """``m`` Lanczos steps from a random unit vector; Ritz values and their quadrature weights."""
    v = torch.randn(H.n, generator=gen, dtype=torch.float64).to(H.device, H.dtype)
    basis = [v / v.norm()]
    alphas: List[float] = []
    betas: List[float] = []
    for j in range(m):
        w = H.matvec(basis[j])
        b.update(1)
        alpha = float(w @ basis[j])
        alphas.append(alpha)
        # full reorthogonalization (twice is enough, Giraud et al. 2005): keeps Ritz values from
        # turning into spurious copies in floating point
        V = torch.stack(basis)  # (j+1, n)
        for _ in range(2):
            w = w - V.T @ (V @ w)
        if j == m - 1:
            break
        beta = float(w.norm())
        if beta <= 1e-10 * max(abs(alpha), 1e-30):
            break  # invariant subspace: the quadrature is already exact for this probe
        betas.append(beta)
        basis.append(w / beta)
    T = np.diag(alphas) + np.diag(betas[:len(alphas) - 1], 1) + np.diag(betas[:len(alphas) - 1], -1)
    theta, U = np.linalg.eigh(T)
    return theta, U[0, :] ** 2


# --------------------------------------------------------------------------------------------------
# worst case in a neighbourhood


def _radii(rho: Radii) -> np.ndarray:
    values = np.atleast_1d(np.asarray(rho, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"rho must be a positive number or a list of them, but {rho!r} was passed.")
    bad = [float(r) for r in values if not (math.isfinite(r) and r > 0)]
    if bad:
        raise ValueError(f"rho must be positive and finite (a radius), but {bad[0]!r} was passed.")
    return values


def _steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive whole number of ascent steps, but {steps!r} was passed.")
    return int(steps)


def epsilon_sharpness(model: nn.Module, data: Any, rho: Radii = (1e-3, 5e-4), steps: int = 10,
                      loss: Any = "cross_entropy", params: ParamFilter = None, bn: str = "eval",
                      batch_size: Optional[int] = None, progress: bool = False) -> SharpnessResult:
    """ε-sharpness of Keskar et al. 2017 (Metric 2.1), full space (A = I), one value per ``rho``.

    ``100 * (max_{z in C} L(w + z) - L(w)) / (1 + L(w))`` over the box
    ``C = {z : |z_i| <= rho * (|w_i| + 1)}``; the maximum is sought with ``steps`` iterations of
    L-BFGS-B from ``z = 0``, as in the paper (so the value is a lower bound of the true maximum).
    """
    from scipy.optimize import minimize

    radii, steps = _radii(rho), _steps(steps)
    with operator(model, data, loss, params, bn, batch_size) as H:
        w = H.flat_point()
        base = H.loss()
        evaluations = 1
        best = []
        for r in track(radii, desc="epsilon sharpness", enabled=progress):
            box = (r * (w.abs() + 1)).detach().cpu().double().numpy()

            def neg_loss(z: np.ndarray) -> Tuple[float, np.ndarray]:
                nonlocal evaluations
                evaluations += 1
                value, g = H.loss_and_grad(H.offset(torch.from_numpy(z).to(H.device, H.dtype)))
                return -value, -g.detach().cpu().double().numpy()

            res = minimize(neg_loss, np.zeros(H.n), jac=True, method="L-BFGS-B",
                           bounds=np.stack([-box, box], 1), options={"maxiter": steps})
            best.append(max(-float(res.fun), base))
        best = np.array(best)
        return SharpnessResult(kind="epsilon", rho=radii, sharpness=100 * (best - base) / (1 + base), max_loss=best,
                               base_loss=base, steps=steps, n_params=H.n, n_samples=H.count, seed=None,
                               iterations=evaluations, loss=H.obj.name, bn=bn)


def sam_sharpness(model: nn.Module, data: Any, rho: Radii = 0.05, steps: int = 1, loss: Any = "cross_entropy",
                  params: ParamFilter = None, bn: str = "eval", batch_size: Optional[int] = None,
                  progress: bool = False) -> SharpnessResult:
    """SAM sharpness (Foret et al. 2021, eq. 1): ``max_{||e||_2 <= rho} L(w + e) - L(w)`` per ``rho``.

    ``steps=1`` is the paper's first-order solution ``e = rho g / ||g||`` (eq. 2); more steps continue
    with normalized gradient ascent projected back onto the ball, keeping the largest loss seen.
    Deterministic (full-batch gradient), so no seed; ``rho`` is in parameter units (L2 over all
    selected parameters).
    """
    return _ball_sharpness("sam", model, data, rho, steps, None, loss, params, bn, batch_size, progress)


def asam_sharpness(model: nn.Module, data: Any, rho: Radii = 0.5, steps: int = 1, eta: float = 0.01,
                   loss: Any = "cross_entropy", params: ParamFilter = None, bn: str = "eval",
                   batch_size: Optional[int] = None, progress: bool = False) -> SharpnessResult:
    """Adaptive sharpness of ASAM (Kwon et al. 2021, eq. 8 and 13) per ``rho``.

    ``max_{||T_w^{-1} e||_2 <= rho} L(w + e) - L(w)`` with the elementwise operator
    ``T_w = |w| + eta`` for weights and ``T_w = 1`` for other parameters (biases), as in the authors'
    code. First-order solution: ``e = rho T_w^2 g / ||T_w g||``. Rescaling weights ahead of a
    normalization layer leaves it unchanged (exactly when ``eta = 0``), unlike SAM or the Hessian.
    """
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta >= 0):
        raise ValueError(f"eta must be a non-negative number, but {eta!r} was passed.")
    return _ball_sharpness("asam", model, data, rho, steps, float(eta), loss, params, bn, batch_size, progress)


def _ball_sharpness(kind: str, model: nn.Module, data: Any, rho: Radii, steps: int, eta: Optional[float],
                    loss: Any, params: ParamFilter, bn: str, batch_size: Optional[int], progress: bool
                    ) -> SharpnessResult:
    """Ascent in the ball ``||u|| <= rho`` with ``e = T u`` (T = 1 for SAM, ``|w| + eta`` for ASAM)."""
    radii, steps = _radii(rho), _steps(steps)
    with operator(model, data, loss, params, bn, batch_size) as H:
        if eta is None:
            scale = torch.ones(H.n, dtype=H.dtype, device=H.device)
        else:
            scale = flatten({k: (t.abs() + eta) if k.rsplit(".", 1)[-1] == "weight" else torch.ones_like(t)
                             for k, t in H.point.items()}, H.names)
        base, g0 = H.loss_and_grad()
        evaluations = 1
        best = []
        for r in track(radii, desc=f"{kind} sharpness", enabled=progress):
            u = torch.zeros_like(scale)
            g, top = g0, base
            for step in range(steps):
                tg = scale * g  # gradient w.r.t. u
                norm = tg.norm()
                if norm == 0:
                    break  # a critical point of the adaptive loss: no first-order ascent direction
                u = u + r * tg / norm
                u = u * min(1.0, r / float(u.norm()))  # project back onto the ball
                value, g = H.loss_and_grad(H.offset(scale * u)) if step + 1 < steps else (H.loss(H.offset(scale * u)), None)
                evaluations += 1
                top = max(top, value)
            best.append(top)
        best = np.array(best)
        return SharpnessResult(kind=kind, rho=radii, sharpness=best - base, max_loss=best, base_loss=base,
                               steps=steps, n_params=H.n, n_samples=H.count, seed=None, iterations=evaluations,
                               eta=eta, loss=H.obj.name, bn=bn)


# --------------------------------------------------------------------------------------------------
# linear interpolation between two models


@torch.no_grad()
def barrier_height(model_a: nn.Module, model_b: nn.Module, data: Any, n_points: int = 11,
                   loss: Any = "cross_entropy", params: ParamFilter = None, bn: str = "eval",
                   batch_size: Optional[int] = None, progress: bool = False) -> BarrierResult:
    """Loss along the straight line ``w(t) = (1 - t) w_a + t w_b``, ``t`` in [0, 1], and its barrier.

    The selected parameters and the floating-point buffers (BN running statistics) are interpolated;
    integer buffers and unselected parameters keep ``model_a``'s values. Both models must share
    parameter names and shapes. ``barrier`` is the largest rise above the straight line between the
    end losses (Frankle et al. 2020, "Linear Mode Connectivity and the Lottery Ticket Hypothesis").
    Neither model is changed.
    """
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be a whole number, at least 2, but {n_points!r} was passed.")
    check_choice("bn", bn, ("eval", "train"))
    chosen = set(select(model_a, params))
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if set(sa) != set(sb) or any(sa[k].shape != sb[k].shape for k in sa):
        diff = sorted(set(sa) ^ set(sb))[:2] or [k for k in sa if sa[k].shape != sb[k].shape][:2]
        raise ValueError(f"model_a and model_b must have the same parameter names and shapes; they differ at {diff}.")
    buffers = {k for k, _ in model_a.named_buffers()}
    moving = [k for k in sa if (k in chosen or k in buffers) and sa[k].is_floating_point()]
    device = first_device(model_a)
    end_b = {k: sb[k].detach().to(device, sa[k].dtype) for k in moving}
    obj = _evaluate.objective(loss)
    data_batches = _evaluate.batches(data, batch_size, device)
    ts = np.linspace(0.0, 1.0, int(n_points))
    losses, accs = [], []
    with restored(model_a), threads.using(threads.for_data(model_a, data_batches, obj)):
        start = {k: sa[k].detach().clone() for k in moving}
        live = model_a.state_dict(keep_vars=True)
        set_bn_mode(model_a, bn)
        for t in track(ts, desc="barrier", enabled=progress):
            for k in moving:
                live[k].copy_(torch.lerp(start[k], end_b[k], float(t)))
            stats = _evaluate.evaluate(model_a, data_batches, obj)
            losses.append(stats["loss"])
            accs.append(stats["acc"])
    losses_a = np.array(losses)
    rise = losses_a - ((1 - ts) * losses_a[0] + ts * losses_a[-1])
    i = int(np.argmax(rise))
    return BarrierResult(t=ts, losses=losses_a, accuracies=np.array(accs) if obj.has_accuracy else None,
                         barrier=float(rise[i]), barrier_t=float(ts[i]), n_samples=int(stats["count"]),
                         n_points=int(n_points), loss=obj.name, bn=bn)


def _n_params(model: nn.Module, params: ParamFilter) -> int:
    return sum(p.numel() for p in select(model, params).values())
