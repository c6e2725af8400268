"""The columns of a study's members table: key -> (label, how a value is written), and the number
formats the report uses (three significant digits; errors and accuracies in percent)."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple


def num(v: Optional[float], digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


COLUMNS: Dict[str, Tuple[str, Callable[[Any], str]]] = {
    "test_error": ("test error", pct),
    "train_error": ("train error", pct),
    "test_acc": ("test accuracy", pct),
    "train_acc": ("train accuracy", pct),
    "test_loss": ("test loss", num),
    "train_loss": ("train loss (final weights)", num),
    "lambda_max": ("λmax", num),
    "trace": ("Hessian trace", num),
    "curvature_x": ("grid curvature x", num),
    "curvature_y": ("grid curvature y", num),
    "basin_width_x": ("basin width x", num),
    "basin_width_y": ("basin width y", num),
    "n_local_minima": ("local minima (2D grid)", lambda v: "–" if v is None else f"{v:g}"),
    "residual_energy": ("roughness (1 − R² of one quadratic)", num),
    "residual_energy_below_cap": ("roughness below the figure's cap (1 − R²)", num),
    "grid_max": ("highest loss on the grid", num),
    "n_params": ("parameters", lambda v: "–" if v is None else f"{int(v):,}"),
    "train_seconds": ("training time (s)", lambda v: "–" if v is None else f"{v:.0f}"),
}


def value_text(v: Any) -> str:
    """A variable's value as the report writes it: true/false, 0.5, resnet."""
    return ("true" if v else "false") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def coords_text(d: Dict[str, Any]) -> str:
    """``depth = 56, skip = false``."""
    return ", ".join(f"{k} = {value_text(v)}" for k, v in d.items())


def ranged(fmt: Callable[[Any], str], value: Any, spread: Optional[Dict[str, Any]]) -> str:
    """``fmt(value)``, followed by ``[min, max]`` over seeds when ``spread`` (an entry of a member's
    ``spread``, see ``landscape.studies.replicates``) holds more than one measured seed."""
    if not spread or sum(v is not None for v in spread.get("values", [])) < 2:
        return fmt(value)
    return f"{fmt(value)} [{fmt(spread['min'])}, {fmt(spread['max'])}]"


def cell(m: Dict[str, Any], key: str, fmt: Callable[[Any], str]) -> str:
    """A member's ``key`` for a table: the value (the median over seeds) and its [min, max]."""
    return ranged(fmt, m.get(key), (m.get("spread") or {}).get(key))


def columns(extra: Dict[str, str]) -> Dict[str, Tuple[str, Callable[[Any], str]]]:
    """The table columns: :data:`COLUMNS` and those of extra measures (``{key: label}``; a key
    naming an error or accuracy is shown in percent)."""
    return {**COLUMNS, **{k: (label, pct if ("error" in k or "acc" in k) else num) for k, label in extra.items()}}
