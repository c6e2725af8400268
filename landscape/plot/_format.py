"""Numbers on figures: one notation per scale for colour-bar ticks, contour labels, 3D z ticks,
log axes and the marked minimum.

Matplotlib's defaults mix notations on a wide log scale ('%g' prints 100000 next to 1e+06, the
3D axis printed 0.0316 for a half decade). Here a scale picks one notation for all its numbers:

- plain decimals (0.001, 0.05, 2, 300, 20000) while the scale stays within PLAIN_RANGE, which is
  how losses are usually quoted and what Li et al. (2018) print on their contours;
- powers of ten (10⁻⁵, 2×10³, written in mathtext) as soon as it reaches beyond, so a loss that
  runs from 0.02 to 10⁸ reads 10⁻¹ … 10⁸ throughout, never 0.1 next to 1e+08.

Log scales get their ticks on whole decades when at least MIN_TICKS decades fall inside, else
on 1-2-5 (or 1-2-3-5) steps, and never more than MAX_TICKS of them.
"""
from __future__ import annotations

import math
from typing import Optional

import matplotlib.ticker as mticker
import numpy as np

# Magnitudes printed as plain decimals: from "0.0001" to "100000" a number is at most 6 digits
# long; beyond that the zeros are harder to count than an exponent is to read.
PLAIN_RANGE = (1e-4, 1e5)
MIN_TICKS = 3
MAX_TICKS = 7


def plain_notation(lo: float, hi: float, log: bool) -> bool:
    """Whether the numbers of a scale with limits [lo, hi] are written as plain decimals.

    log: on a log scale every magnitude between lo and hi is labelled, so both limits must lie in
    PLAIN_RANGE; on a linear one the labels are multiples of one step, so the largest magnitude
    decides (0 and small steps like 0.25 stay plain).
    """
    tol = 1e-9
    if log:
        return PLAIN_RANGE[0] * (1 - tol) <= lo and hi <= PLAIN_RANGE[1] * (1 + tol)
    big = max(abs(lo), abs(hi))
    return big == 0 or PLAIN_RANGE[0] * (1 - tol) <= big <= PLAIN_RANGE[1] * (1 + tol)


def format_number(v: float, plain: bool, digits: int = 3) -> str:
    """``v`` rounded to ``digits`` significant digits, as a plain decimal ('0.0218', '300') or a
    power of ten in mathtext ('$10^{-5}$', '$7.55\\times10^{-5}$'); inf and NaN as words."""
    v = float(v)
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("-inf" if v < 0 else "inf")
    if v == 0:
        return "0"
    r = float(f"{v:.{digits}g}")
    if plain:
        return np.format_float_positional(r, trim="-")
    exp = int(math.floor(math.log10(abs(r))))
    mant = float(f"{r / 10.0 ** exp:.{digits}g}")
    if abs(mant) >= 10:  # 9.996 rounded up to the next decade
        mant, exp = mant / 10, exp + 1
    sign = "-" if mant < 0 else ""
    if abs(mant) == 1:
        return f"${sign}10^{{{exp}}}$"
    return f"${mant:g}\\times10^{{{exp}}}$"


def formatter(plain: bool, log10_units: bool = False) -> mticker.Formatter:
    """A tick formatter writing every tick with :func:`format_number`.

    log10_units: the axis holds log10 of the value (3D z on a log scale; matplotlib's 3D axes
    have no log scale), so the tick at 2 reads '100'.
    """
    if log10_units:
        return mticker.FuncFormatter(lambda h, _pos: format_number(10.0 ** h, plain))
    return mticker.FuncFormatter(lambda v, _pos: format_number(v, plain))


def log_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> np.ndarray:
    """Round tick values in [lo, hi] (lo > 0) for a log scale: whole decades when MIN_TICKS or
    more fall inside (every 2nd, 3rd ... decade if more than ``max_ticks``), else 1-2-5 or
    1-2-3-5 steps; as a last resort the two limits themselves (rounded to 2 digits)."""
    if not (lo > 0 and hi > lo):
        return np.array([lo]) if lo > 0 else np.array([])
    in_range = lambda t: t[(t >= lo * (1 - 1e-9)) & (t <= hi * (1 + 1e-9))]  # noqa: E731
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    decades = np.arange(first, last + 1)
    if len(decades) >= MIN_TICKS:
        step = math.ceil(len(decades) / max_ticks)
        if step > 1:  # every step-th decade, starting where most fit (1 = 10^0 among them on a tie)
            start = max(range(step), key=lambda k: (len(decades[k::step]), 0 in decades[k::step]))
            decades = decades[start::step]
        return 10.0 ** decades
    for subs in ((1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0)):
        t = in_range(np.array([m * 10.0 ** d for d in range(first - 1, last + 1) for m in subs]))
        if MIN_TICKS <= len(t) <= max_ticks:
            return t
    t = in_range(mticker.MaxNLocator(nbins=max_ticks - 1).tick_values(lo, hi))
    if len(t) >= 2:
        return t
    return np.array([float(f"{lo:.2g}"), float(f"{hi:.2g}")])


def format_log_axis(axis, lo: float, hi: float, plain: Optional[bool] = None) -> None:
    """Ticks of a matplotlib log ``axis`` (ax.yaxis of a ``set_yscale('log')`` axes) on
    :func:`log_ticks` of [lo, hi], labelled in one notation; minor ticks stay, unlabelled."""
    if plain is None:
        plain = plain_notation(lo, hi, log=True)
    axis.set_major_locator(mticker.FixedLocator(log_ticks(lo, hi)))
    axis.set_major_formatter(formatter(plain))
    axis.set_minor_formatter(mticker.NullFormatter())
