"""Spread of a number that depends on a draw: median and 95% interval, mean ± standard error.

Two questions, two helpers:

- :func:`spread` — *where do the draws fall?* The median and the central 95% interval (2.5th to
  97.5th percentile) of K values, e.g. a metric over K random planes or training seeds. It describes
  the draws themselves; it does not shrink as K grows.
- :func:`mean_se` — *how well is the mean known?* The mean, its standard error ``s / sqrt(n)`` and a
  95% confidence interval ``mean ± t(0.975, n-1) · s.e.`` (Student's t), e.g. the mean curvature
  along random directions, which estimates tr(H) (Hutchinson 1989), or a Hessian measure over M
  data draws.

Both ignore NaN entries (a diverged draw is reported by ``n``, not averaged in) and return small
frozen dataclasses that format themselves (``str(x)``: ``"1.23 [0.98, 1.51] (K=5)"``,
``"1.23 ± 0.04 (n=64)"``). :func:`overlap` says whether two intervals overlap: the rule a claim
"A > B" is judged on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

import numpy as np

LEVEL = 0.95


def _finite(values: Iterable[float]) -> np.ndarray:
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).reshape(-1)
    return v[~np.isnan(v)]


def _check_level(level: float) -> None:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be a probability between 0 and 1 (0.95 for a 95% interval), got {level!r}.")


def fmt(value: float, digits: int = 3) -> str:
    """A number in ``digits`` significant figures (``"nan"``, ``"inf"`` as such)."""
    if value is None or not np.isfinite(value):
        return str(value if value is not None else "nan")
    return f"{value:.{digits}g}"


@dataclass(frozen=True)
class Spread:
    """Median and central interval of ``n`` draws (NaN draws left out: ``n_nan`` of them).

    median, lo, hi: the median and the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear
    interpolation between order statistics, numpy's default); with one draw all three are that draw.
    """

    median: float
    lo: float
    hi: float
    n: int
    level: float = LEVEL
    n_nan: int = 0

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 3, unit: str = "") -> str:
        if self.n == 0:
            return "n/a (no finite draw)"
        if self.n == 1:
            return f"{fmt(self.median, digits)}{unit} (one draw)"
        return f"{fmt(self.median, digits)}{unit} [{fmt(self.lo, digits)}, {fmt(self.hi, digits)}] (K={self.n})"

    def as_dict(self) -> dict:
        return {"median": self.median, "lo": self.lo, "hi": self.hi, "n": self.n, "level": self.level}

    def contains(self, value: float) -> bool:
        return bool(self.lo <= value <= self.hi)


def spread(values: Iterable[float], level: float = LEVEL, discrete: bool = False) -> Spread:
    """Median and central ``level`` interval of ``values`` (e.g. one metric over K planes).

    ``discrete``: counts (local minima): the interval's ends are draws themselves (the order
    statistics at or beyond the quantiles), never a fraction between two counts."""
    _check_level(level)
    raw = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).reshape(-1)
    v = raw[~np.isnan(raw)]
    n_nan = int(raw.size - v.size)
    if v.size == 0:
        return Spread(math.nan, math.nan, math.nan, 0, level, n_nan)
    lo, med, hi = np.quantile(v, [(1 - level) / 2, 0.5, (1 + level) / 2])
    if discrete:
        lo, hi = np.quantile(v, (1 - level) / 2, method="lower"), np.quantile(v, (1 + level) / 2, method="higher")
    return Spread(float(med), float(lo), float(hi), int(v.size), float(level), n_nan)


@dataclass(frozen=True)
class MeanSE:
    """Mean of ``n`` draws, its standard error and a ``level`` confidence interval (Student's t)."""

    mean: float
    se: float
    lo: float
    hi: float
    n: int
    level: float = LEVEL

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 3, unit: str = "") -> str:
        if self.n == 0:
            return "n/a (no finite draw)"
        if self.n == 1:
            return f"{fmt(self.mean, digits)}{unit} (one draw, no s.e.)"
        return f"{fmt(self.mean, digits)} ± {fmt(self.se, 2)}{unit} (n={self.n})"

    def as_dict(self) -> dict:
        return {"mean": self.mean, "se": self.se, "lo": self.lo, "hi": self.hi, "n": self.n, "level": self.level}

    def contains(self, value: float) -> bool:
        return bool(self.lo <= value <= self.hi)


def t_quantile(level: float, dof: float) -> float:
    """Two-sided Student's t critical value: ``t((1 + level) / 2, dof)`` (the normal's for dof = inf)."""
    from scipy import stats

    _check_level(level)
    q = (1 + level) / 2
    return float(stats.norm.ppf(q) if not np.isfinite(dof) else stats.t.ppf(q, dof))


METHODS = ("t", "bootstrap-t")


def mean_se(values: Iterable[float], level: float = LEVEL, method: str = "t", seed: int = 0,
            resamples: int = 2000) -> MeanSE:
    """Mean ± standard error of ``values`` and a ``level`` confidence interval of the mean.

    ``method``: ``"t"`` — ``mean ± t(n-1) · s.e.`` (exact for normal draws); ``"bootstrap-t"`` — the
    studentized bootstrap (Efron & Tibshirani 1993, ch. 12.5; ``resamples`` seeded resamples), whose
    interval leans the way the draws are skewed. Use it for skewed draws such as the curvature along
    random directions (a weighted sum of chi-squares): on a quadratic with a few large Hessian
    outliers, 64 directions, the t-interval covered tr(H) in 94.5% of 1,000 seeds and the bootstrap-t
    in 96% (``tests/test_spread.py``).
    """
    from .errors import check_choice

    check_choice("method", method, METHODS)
    v = _finite(values)
    _check_level(level)
    n = int(v.size)
    if n == 0:
        return MeanSE(math.nan, math.nan, math.nan, math.nan, 0, level)
    mean = float(v.mean())
    if n == 1:
        return MeanSE(mean, math.nan, math.nan, math.nan, 1, level)
    se = float(v.std(ddof=1) / math.sqrt(n))
    if method == "t" or se == 0.0:
        half = t_quantile(level, n - 1) * se
        return MeanSE(mean, se, mean - half, mean + half, n, float(level))
    rng = np.random.default_rng(seed)
    draws = v[rng.integers(0, n, size=(int(resamples), n))]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (draws.mean(1) - mean) / (draws.std(1, ddof=1) / math.sqrt(n))
    t = t[np.isfinite(t)]  # a resample of one repeated draw has no spread
    q_lo, q_hi = np.quantile(t, [(1 - level) / 2, (1 + level) / 2])
    return MeanSE(mean, se, mean - float(q_hi) * se, mean - float(q_lo) * se, n, float(level))


def overlap(a: Union[Spread, MeanSE, Sequence[float]], b: Union[Spread, MeanSE, Sequence[float]]) -> bool:
    """Whether two intervals (Spread, MeanSE or ``(lo, hi)``) share any point."""
    (alo, ahi), (blo, bhi) = (_bounds(a), _bounds(b))
    return bool(alo <= bhi and blo <= ahi)


def _bounds(x) -> tuple:
    if isinstance(x, (Spread, MeanSE)):
        return x.lo, x.hi
    lo, hi = x
    return float(lo), float(hi)


def fpc(n: Union[int, np.ndarray], population: Optional[int]) -> Union[float, np.ndarray]:
    """Finite-population correction ``sqrt((N - n) / (N - 1))`` for ``n`` of ``N = population`` samples
    drawn without replacement (0 at ``n == N``: the whole population's mean is exact); 1 where
    ``population`` is None (an infinite population: no correction)."""
    if population is None:
        return np.ones_like(np.asarray(n, dtype=np.float64)) if np.ndim(n) else 1.0
    N = float(population)
    nn = np.asarray(n, dtype=np.float64)
    out = np.sqrt(np.clip((N - nn) / max(N - 1.0, 1.0), 0.0, 1.0))
    return out if np.ndim(n) else float(out)


def standard_error(total: np.ndarray, squares: np.ndarray, n: np.ndarray, population: Optional[int] = None
                   ) -> np.ndarray:
    """Standard error of the mean from per-sample sums: ``sqrt(s² / n) · fpc`` with the sample variance
    ``s² = (Σx² − (Σx)²/n) / (n − 1)`` (float64; clipped at 0 against rounding); NaN where ``n < 2``.

    ``population``: size of the set the ``n`` samples were drawn from without replacement (the
    finite-population correction, :func:`fpc`); None: an infinite population (no correction).
    """
    total, squares, n = (np.asarray(a, dtype=np.float64) for a in (total, squares, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.clip((squares - total * total / n) / (n - 1), 0.0, None)
        se = np.sqrt(var / n) * fpc(n, population)
    return np.where(n >= 2, se, np.nan)
