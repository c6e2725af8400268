"""The spread of a number measured more than once (over seeds, planes, data draws or probes).

    median_interval([3.1, 2.7, 3.4])       # (3.1, lo, hi): the median and the central 95% of the values
    mean_se([3.1, 2.7, 3.4])               # (3.07, 0.20): the mean and its standard error
    mean_interval([3.1, 2.7, 3.4])         # (3.07, lo, hi): mean +- t(0.975, n-1) * s.e.

Non-finite values (NaN: not measured, a diverged run) are left out; with no finite value every
result is NaN. Plain numpy; no state.
"""
from __future__ import annotations

import math
from typing import Iterable, Tuple

import numpy as np


def _finite(values: Iterable[float]) -> np.ndarray:
    a = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)
    return a[np.isfinite(a)]


def _level(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"The value for `level` must be a probability between 0 and 1, but {level!r} was passed.")
    return float(level)


def median_interval(values: Iterable[float], level: float = 0.95) -> Tuple[float, float, float]:
    """``(median, lo, hi)``: the median and the central ``level`` share of the values (empirical
    quantiles, linear interpolation). With 3 values, a 95% interval is nearly [min, max]."""
    a, level = _finite(values), _level(level)
    if a.size == 0:
        return math.nan, math.nan, math.nan
    lo, med, hi = np.quantile(a, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return float(med), float(lo), float(hi)


def mean_se(values: Iterable[float]) -> Tuple[float, float]:
    """``(mean, standard error)`` (sample standard deviation / sqrt(n)); the error is NaN for one value."""
    a = _finite(values)
    if a.size == 0:
        return math.nan, math.nan
    se = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan
    return float(a.mean()), se


def mean_interval(values: Iterable[float], level: float = 0.95) -> Tuple[float, float, float]:
    """``(mean, lo, hi)``: Student's t interval of the mean, ``mean +- t((1 + level) / 2, n - 1) * s.e.``
    (the values taken as independent draws; NaN bounds for one value)."""
    from scipy.stats import t

    level, a = _level(level), _finite(values)
    mean, se = mean_se(a)
    n = a.size
    if n < 2:
        return mean, math.nan, math.nan
    half = float(t.ppf((1 + level) / 2, n - 1)) * se
    return mean, mean - half, mean + half
