"""The ``transformer_depth`` report section: per-block profiles at initialization, in numbers and
figures. Every sentence states measured numbers; whether a claim held is decided by the generic
``claims`` section (the config's ``[[report.claims]]``), not here."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from landscape.studies.claims import seed_caption
from landscape.studies.columns import cell
from landscape.studies.report import register_section


def _num(v: Optional[float]) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return "0" if v == 0 else f"{v:.2e}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.3g}"


def _figure(s: Dict[str, Any], stem: str, caption: str) -> List[str]:
    rel = f"figures/{stem}.{s['config']['figures'].get('format', 'png')}"
    done = set(s["computed"].get("figures", [])) | set(s["reused"].get("figures", []))
    return [f"![{caption}]({rel})", ""] if rel in done else []


def _init_table(s: Dict[str, Any], norm: str, key: str) -> List[str]:
    """One row per (skip), one column per depth: ``key`` of the members with model norm ``norm`` (with
    seeds, the median and [min, max])."""
    cells: Dict[tuple, Any] = {}
    for m in s["members"].values():
        spec = m.get("spec") or {}
        if spec.get("norm") == norm and m.get(key) is not None:
            cells.setdefault((bool(spec["skip"]), int(spec["depth"])), cell(m, key, _num))
    depths = sorted({d for _, d in cells})
    if not depths:
        return []
    lines = ["| | " + " | ".join(f"depth {d}" for d in depths) + " |", "|---" + "|---:" * len(depths) + "|"]
    for skip in (True, False):
        lines.append(f"| {'residual' if skip else 'no residual'} | "
                     + " | ".join(cells.get((skip, d), "–") for d in depths) + " |")
    return lines + [""]


@register_section("transformer_depth")
def transformer_depth(s: Dict[str, Any]) -> List[str]:
    norms = list(dict.fromkeys((m.get("spec") or {}).get("norm") for m in s["members"].values()))
    lines = ["## Per block at initialization", "",
             "Token residual: ||X − 1·mean(X)||_F / ||X||_F of the tokens after a block, averaged over 256 training "
             "inputs (1: tokens share nothing, 0: all tokens one vector — rank collapse). Gradient: the norm of the "
             "gradient of the mean training loss with respect to all parameters of a block. Both at the initial "
             "weights (the same for the members that differ only in warm-up).", ""]
    for norm in [n for n in norms if n]:
        lines += [f"**norm = {norm}.** Token residual after the last block:", ""]
        lines += _init_table(s, norm, "rank_residual_init")
        lines += ["Blocks whose tokens agree to 4 digits (residual < 1e-4: collapsed to rank one):", ""]
        lines += _init_table(s, norm, "collapsed_blocks_init")
        lines += ["Gradient norm of the last block / of the first:", ""]
        lines += _init_table(s, norm, "grad_out_in_init")
        lines += _figure(s, f"block_profiles_{norm}", f"token residual and gradient norm per block, norm = {norm}"
                         + seed_caption(s))
    return lines
