"""Value preparation shared by every plot: pick a value, mask gaps, clip blow-ups, choose levels.

Loss surfaces of plain deep nets span many orders of magnitude and often hold ``inf`` (diverged
cells) or a few enormous values at the edge of the grid; drawn naively, one cell at 1e8 squashes the
whole picture into a single colour. So every plot goes through :func:`shared_scale`, which

- masks NaN (cells not computed yet, or whose loss came out NaN) so they are drawn as gaps, never
  as a colour;
- on the default linear scale, draws a loss from its lowest minimum up to a stated cap,
  :func:`loss_cap` (10, as Li et al. 2018 draw theirs), so every panel shows its basin in the same
  units the basin widths and curvatures are measured in; a log scale is one option away
  (``log=True``), and the colour bar names the scale it uses;
- clips ``inf`` and outliers to that cap (or ``vmax`` if given, else a high quantile when the top
  of the data lies far beyond the bulk) and records that it did, so the colour bar can say
  "train loss (linear, clipped at 10)" and show an ``extend`` arrow;
- on a log scale, floors non-positive values at the smallest positive one;
- builds the contour levels (linear or geometric) from the final limits.

Why not a log scale by default: it stretches the bottom of each basin by the decades below it. Of
two basins, the one with the lower minimum (1.7e-4 against 1.3e-2 for the digits skip / no-skip
pair) then looks like the deeper, narrower funnel even where its basin is the wider one by every
measured number; on a shared linear scale the wider basin looks wider.

:func:`shared_scale` works over several surfaces at once, which is what makes the panels of a
comparison directly comparable (same levels, same colours, same z-limits).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.ticker import MaxNLocator

from landscape.base.errors import check_choice

from . import _format

Levels = Union[int, Sequence[float], np.ndarray, None]

DEFAULT_LEVELS = 20
# Outlier rule for clipping: with q_lo, q_hi the CAP_QUANTILE quantiles of the finite values, values
# above q_hi + OUTLIER_SPAN * (q_hi - q_lo) count as blown up (in log10 units on a log scale); the cap
# is then the largest value that is not. A smooth bowl is never clipped; a diverged corner (a few %
# of the cells at 1e4 or inf) always is, while the legitimate values next to it are kept.
CAP_QUANTILE = 0.95
OUTLIER_SPAN = 1.0
# The default top of a linear loss scale: Li et al. (2018) draw their surfaces up to 10 and their
# contours from 0.1 to 10; a cross-entropy at chance is ln(classes) (2.3 for 10 classes), so 10
# shows the whole basin and the walls around it. A loss whose minimum reaches half the cap or more
# gets ten times its minimum instead (rounded up to 1, 2 or 5 times a power of ten), so the cap is
# always a rise the basin can be seen in.
LOSS_CAP = 10.0


def value_names(surface) -> list:
    """Names of the values stored in ``surface`` (e.g. train_loss, test_acc), in file order."""
    return list(surface.values)


def get_values(surface, value: str) -> np.ndarray:
    """The ``value`` array of ``surface`` as float64; ValueError naming the stored values if absent.

    NaN (not computed yet, or a loss that came out NaN where the network diverged) stays NaN and is
    drawn as a gap; +inf (an overflowed loss) is drawn at the cap.
    """
    check_choice("value", value, value_names(surface))
    return np.asarray(surface.values[value], dtype=np.float64)


def is_accuracy(value: str) -> bool:
    """Accuracy-like values are better when larger: the plots mark their maximum, not minimum."""
    return "acc" in value


@dataclass(frozen=True)
class Scale:
    """Colour/z limits shared by the artists of one plot (or all panels of a comparison).

    vmin, vmax: limits in data units (vmax is the cap when ``clipped``)
    log:        logarithmic colour scale / geometric levels
    levels:     contour levels, increasing, in data units
    clipped:    True when values above vmax were drawn at vmax (inf or outliers)
    floored:    True when values below vmin were drawn at vmin
    """

    vmin: float
    vmax: float
    log: bool
    levels: np.ndarray
    clipped: bool = False
    floored: bool = False

    @property
    def extend(self) -> str:
        """The colour bar's ``extend`` argument: arrows on the side(s) where values were cut."""
        return {(False, False): "neither", (True, False): "max",
                (False, True): "min", (True, True): "both"}[(self.clipped, self.floored)]

    @property
    def norm(self) -> mcolors.Normalize:
        if self.log:
            return mcolors.LogNorm(vmin=self.vmin, vmax=self.vmax, clip=False)
        return mcolors.Normalize(vmin=self.vmin, vmax=self.vmax, clip=False)

    @property
    def plain(self) -> bool:
        """Whether this scale's numbers are plain decimals (else powers of ten), see ``_format``."""
        return _format.plain_notation(self.vmin, self.vmax, self.log)

    def fmt(self, v: float) -> str:
        """``v`` in this scale's notation, 3 significant digits: '0.0218', '$2\\times10^{3}$'."""
        return _format.format_number(v, self.plain)

    def label(self, name: str) -> str:
        """Colour-bar / axis label naming the scale and where values were cut:
        'train loss (linear, clipped at 10)', 'train loss (log scale)'."""
        notes = ["log scale" if self.log else "linear"]
        if self.clipped:
            notes.append(f"clipped at {self.fmt(self.vmax)}")
        if self.floored:
            notes.append(f"floored at {self.fmt(self.vmin)}")
        return f"{name} ({', '.join(notes)})"

    def apply(self, values: np.ndarray) -> np.ma.MaskedArray:
        """Values ready to draw: NaN masked, everything else clamped into [vmin, vmax]."""
        v = np.asarray(values, dtype=np.float64)
        missing = np.isnan(v)
        out = np.clip(np.where(missing, self.vmin, v), self.vmin, self.vmax)
        return np.ma.masked_array(out, mask=missing)

    def transform(self, values):
        """Data units -> drawing units for 3D z (log10 on a log scale; matplotlib 3D has no log axis)."""
        return np.log10(values) if self.log else values


def _auto_cap(finite: np.ndarray, log: bool) -> tuple[float, bool]:
    """The top limit for ``finite`` values and whether it cuts anything off (see OUTLIER_SPAN)."""
    t = np.log10(finite) if log else finite
    hi, lo = np.quantile(t, CAP_QUANTILE), np.quantile(t, 1 - CAP_QUANTILE)
    threshold = hi + OUTLIER_SPAN * max(hi - lo, 1e-12)
    if t.max() > threshold:
        return float(finite[t <= threshold].max()), True
    return float(finite.max()), False


def make_levels(vmin: float, vmax: float, levels: Levels, log: bool) -> np.ndarray:
    """Contour levels: ``levels`` given explicitly, or about that many between vmin and vmax
    (geometric on a log scale, round numbers on a linear one; vmin and vmax are always levels)."""
    if levels is None:
        levels = DEFAULT_LEVELS
    if np.ndim(levels) == 0:
        n = int(levels)
        if n < 2:
            raise ValueError(f"The value for `levels` must be at least 2 (or a list of levels), but {levels!r} was passed.")
        if vmax <= vmin:  # a flat surface: one band around its value
            pad = abs(vmin) * 0.01 or 0.01
            vmin, vmax = (vmin / 1.01, vmax * 1.01) if log else (vmin - pad, vmax + pad)
        if log:
            return _log_levels(vmin, vmax, n)
        # round numbers between the limits (0.5, 1.0, 1.5, ...) so contour labels read well; the
        # limits themselves stay levels so the outer bands cover all data
        inner = MaxNLocator(nbins=n - 1, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
        tol = 1e-9 * (vmax - vmin)
        inner = inner[(inner > vmin + tol) & (inner < vmax - tol)]
        return np.concatenate([[vmin], inner, [vmax]])
    arr = np.asarray(levels, dtype=np.float64).ravel()
    if arr.size < 2 or not np.all(np.diff(arr) > 0) or not np.all(np.isfinite(arr)):
        raise ValueError(f"The value for `levels` must be an int or increasing finite numbers, but {levels!r} was passed.")
    if log and arr[0] <= 0:
        raise ValueError(f"The value for `levels` must be positive on a log scale, but {levels!r} was passed.")
    return arr


def loss_cap(lowest: float) -> float:
    """The default top of a linear loss scale whose lowest value is ``lowest``: LOSS_CAP, or for a
    loss that never comes below half of it, ten times the minimum rounded up to 1, 2 or 5 x 10^k."""
    if lowest < LOSS_CAP / 2:
        return LOSS_CAP
    target = 10 * lowest
    exp = 10.0 ** np.floor(np.log10(target))
    return float(next(m * exp for m in (1, 2, 5, 10) if m * exp >= target * (1 - 1e-12)))


# mantissas of round values per decade, coarse to fine (1, 10, 100 / 1, 3, 10 / 1, 2, 5, 10 ...)
_LOG_STEPS = ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9))


def _log_levels(vmin: float, vmax: float, n: int) -> np.ndarray:
    """About ``n`` levels between vmin and vmax on a log scale, at round values (0.01, 0.02, 0.05,
    0.1, ...) so contour labels read well; the limits are levels too. Falls back to a geometric
    sequence when no set of round values comes close to ``n``."""
    lo_dec, hi_dec = int(np.floor(np.log10(vmin))), int(np.ceil(np.log10(vmax)))
    best = None
    for mant in _LOG_STEPS:
        vals = np.array([m * 10.0 ** d for d in range(lo_dec, hi_dec + 1) for m in mant])
        inner = vals[(vals > vmin * (1 + 1e-9)) & (vals < vmax * (1 - 1e-9))]
        if best is None or abs(len(inner) + 2 - n) < abs(len(best) + 2 - n):
            best = inner
    if len(best) + 2 < n / 2 or len(best) + 2 > 2 * n:
        return np.geomspace(vmin, vmax, n)
    return np.concatenate([[vmin], best, [vmax]])


def shared_scale(arrays: Sequence[np.ndarray], vmin: Optional[float] = None, vmax: Optional[float] = None,
                 log: Optional[bool] = False, levels: Levels = None, value: str = "") -> Scale:
    """One :class:`Scale` covering every array in ``arrays`` (NaN ignored, inf clipped).

    ``vmin``/``vmax`` fix the limits (values beyond them are clipped and flagged); left as None they
    come from the data: the bottom is the lowest value, the top of a loss on a linear scale is
    :func:`loss_cap` (or the data's top, if lower), and any other top is capped at a high quantile
    when outliers blow it up. ``log=None`` is the default scale: linear. ``value`` names what the
    arrays hold (an accuracy gets no loss cap).
    """
    log = bool(log)
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise ValueError(f"`vmin` must be less than `vmax`, but vmin={vmin!r} and vmax={vmax!r} were passed.")
    if log and vmin is not None and vmin <= 0:
        raise ValueError(f"The value for `vmin` must be positive on a log scale, but {vmin!r} was passed.")
    if log and vmax is not None and vmax <= 0:  # log10 of it is NaN: no axis, no levels
        raise ValueError(f"The value for `vmax` must be positive on a log scale, but {vmax!r} was passed.")
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.array([])
    present = flat[~np.isnan(flat)]
    finite = present[np.isfinite(present)]
    if log:
        positive = finite[finite > 0]
        below = bool(np.any(present <= 0))  # zeros and -inf cannot be placed on a log axis
        finite = positive
    else:
        below = bool(np.any(np.isneginf(present)))
    if finite.size == 0:  # nothing drawable: an all-NaN (not started) or all-inf grid
        lo = vmin if vmin is not None else (1.0 if log else 0.0)
        hi = vmax if vmax is not None else lo * 10 if log else lo + 1.0
        return Scale(lo, hi, log, make_levels(lo, hi, levels, log), clipped=bool(np.any(np.isposinf(present))))

    if vmax is None:
        hi, clipped = _auto_cap(finite, log)
        if not log and value and not is_accuracy(value):
            cap = loss_cap(float(finite.min()))
            if hi > cap:
                hi, clipped = cap, True
    else:
        hi, clipped = float(vmax), bool(finite.max() > vmax)
    clipped = clipped or bool(np.any(np.isposinf(present)))
    if vmin is None:
        lo = float(finite.min())
        floored = below
    else:
        lo = float(vmin)
        floored = below or bool(finite.min() < vmin)
    if lo >= hi:  # keep a usable range
        if vmax is None:  # a flat surface (or vmin above all the data): widen upwards
            hi = lo * 1.1 if log else lo + (abs(lo) * 0.1 or 1.0)
        else:  # vmax below all the data: everything is drawn at the cap
            lo = hi / 10 if log else hi - (abs(hi) * 0.1 or 1.0)
    return Scale(lo, hi, log, make_levels(lo, hi, levels, log), clipped=clipped, floored=floored)


def prepare(values: np.ndarray, vmin=None, vmax=None, log: Optional[bool] = False, levels: Levels = None):
    """``(scale, drawable)`` for one array: see :func:`shared_scale` and :meth:`Scale.apply`."""
    scale = shared_scale([values], vmin=vmin, vmax=vmax, log=log, levels=levels)
    return scale, scale.apply(values)


def best_index(values: np.ndarray, value: str) -> Optional[tuple]:
    """Index of the best finite cell: the minimum of a loss, the maximum of an accuracy (None if none)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return None
    if is_accuracy(value):
        flat = np.where(ok, v, -np.inf).argmax()
    else:
        flat = np.where(ok, v, np.inf).argmin()
    return np.unravel_index(flat, v.shape)


def check_kind(kind: str, kinds: Sequence[str]) -> None:
    check_choice("kind", kind, kinds)
