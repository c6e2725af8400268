"""The report section of the edge-of-stability study (``[report] sections = [..., "edge_of_stability"]``).

Every sentence states the measured numbers and whether the claim held for them, by a rule written
next to it (never decided in advance):

1. progressive sharpening: the sharpness rises by more than ``RISE`` (×) between step 0 and the
   first step at the threshold (or the end);
2. at the edge: it reaches the threshold (within ±10%) and then stays within ±10% of it for more
   than half of the remaining tracked steps (the median of sharpness/threshold and that share are given);
3. the loss keeps falling over long windows (every window's mean below the previous one's) but not
   monotonically (at least one step where it rose);
4. Adam: the median of λmax(P⁻¹H)/(38/η) after reaching it lies within ±``ADAM_BAND``;
5. skips: which member of the skip pair ends (and peaks) sharper, by how much.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from landscape.studies.report import register_section

from .measures import BAND

RISE = 1.2          # progressive sharpening: at least 20% above the value at step 0
MOST = 0.5          # "most of the remaining steps"
ADAM_BAND = 0.2     # "settles near 38/η": median ratio within ±20%


def _num(v: Optional[float], digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}g}"


def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def _held(ok: Optional[bool]) -> str:
    return {True: "held", False: "did not hold", None: "not measured"}[ok]


def _all(flags: List[Optional[bool]]) -> Optional[bool]:
    return None if not flags or any(f is None for f in flags) else all(flags)


def _live(s: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {n: m for n, m in s["members"].items() if not m.get("diverged") and m.get("eos_measured")}


def _label(m: Dict[str, Any], name: str) -> str:
    labels = m.get("labels") or {}
    return ", ".join(str(v) for v in labels.values()) or name


def _thr(m: Dict[str, Any]) -> str:
    return "38/η" if m.get("eos_optimizer") in ("adam", "adamw") else "2/η"


def _table(members: Dict[str, Dict[str, Any]]) -> List[str]:
    lines = ["| member | optimizer | η | threshold | sharpness at step 0 | peak | rise (×) | first step at it | "
             "median sharpness/threshold after | within ±10% | loss rose (steps) | falling windows |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in members.items():
        reached = m.get("eos_reached_step")
        lines.append(
            f"| {_label(m, name)} | {m.get('eos_optimizer')} | {_num(m.get('eos_lr'))} | {_thr(m)} = "
            f"{_num(m.get('eos_threshold'))} | {_num(m.get('eos_start'))} | {_num(m.get('eos_peak'))} | "
            f"{_num(m.get('eos_sharpening'))} | {'never' if reached is None else reached} | "
            f"{_num(m.get('eos_median_ratio'))} | {_pct(m.get('eos_within'))} | "
            f"{m.get('eos_loss_increases', '–')} of {m.get('eos_loss_steps', '–')} | "
            f"{m.get('eos_windows_falling', '–')} of {m.get('eos_windows', '–')} |")
    return lines + [""]


def sharpening_claim(m: Dict[str, Any]) -> Optional[bool]:
    r = m.get("eos_sharpening")
    return None if r is None else r > RISE


def edge_claim(m: Dict[str, Any]) -> Optional[bool]:
    if m.get("eos_measured") is None:
        return None
    if m.get("eos_reached_step") is None:
        return False
    return m.get("eos_within", 0.0) > MOST


def loss_claim(m: Dict[str, Any]) -> Optional[bool]:
    if m.get("eos_loss_increases") is None:
        return None
    return m["eos_loss_increases"] > 0 and m.get("eos_windows", 0) > 0 and m["eos_windows_falling"] == m["eos_windows"]


def adam_claim(m: Dict[str, Any]) -> Optional[bool]:
    r = m.get("eos_median_ratio")
    if m.get("eos_measured") and m.get("eos_reached_step") is None:
        return False
    return None if r is None else abs(r - 1) <= ADAM_BAND


@register_section("edge_of_stability")
def edge_of_stability(s: Dict[str, Any]) -> List[str]:
    members = _live(s)
    if not members:
        return ["## Edge of stability", "", "No member has tracked sharpness to report (set [train] track_sharpness).", ""]
    any_m = next(iter(members.values()))
    lines = ["## Edge of stability", "",
             f"Sharpness tracked every {any_m.get('eos_every')} steps on a fixed seeded subset of "
             f"{any_m.get('eos_samples')} training examples (warm-started Lanczos, relative residual 1e-3): λmax, "
             "and for Adam the preconditioned λmax(P⁻¹H) from its second moments. \"At the threshold\" means within "
             f"±{100 * BAND:.0f}% of it; \"reached\" the first tracked step at least {100 * (1 - BAND):.0f}% of it.", ""]
    lines += _table(members)
    done = set(s.get("computed", {}).get("figures", [])) | set(s.get("reused", {}).get("figures", []))
    # gradient descent first (the step sizes, then the pair), Adam last
    for rel in sorted((f for f in done if f.split("/")[-1].startswith("sharpening_")), key=lambda f: ("_adam" in f, f)):
        lines += [f"![sharpness against step with its threshold, training loss below: {rel.split('/')[-1]}]({rel})", ""]
    every_gd = {n: m for n, m in members.items() if m.get("eos_optimizer") == "gd"}
    gd = step_sizes(every_gd)
    adam = {n: m for n, m in members.items() if m.get("eos_optimizer") in ("adam", "adamw")}
    if gd:
        flags = [sharpening_claim(m) for m in gd.values()]
        parts = "; ".join(f"{_label(m, n)}: {_num(m.get('eos_start'))} → {_num(m.get('eos_peak') if m.get('eos_reached_step') is None else m['eos_start'] * m['eos_sharpening'])} "
                          f"(×{_num(m.get('eos_sharpening'))})" for n, m in gd.items())
        lines.append(f"- **Progressive sharpening** ({_held(_all(flags))}: {sum(bool(f) for f in flags)} of "
                     f"{len(flags)} step sizes; rule: λmax rises more than ×{RISE:g} before it first reaches "
                     f"2/η): {parts}.")
        flags = [edge_claim(m) for m in gd.values()]
        parts = "; ".join(
            f"{_label(m, n)}: " + ("never reached 2/η = " + _num(m.get("eos_threshold")) + f" (peak {_num(m.get('eos_peak'))})"
                                   if m.get("eos_reached_step") is None else
                                   f"reached at step {m['eos_reached_step']}, then median λmax/(2/η) "
                                   f"{_num(m.get('eos_median_ratio'))}, {_pct(m.get('eos_within'))} of "
                                   f"{m.get('eos_n_after')} tracked steps within ±{100 * BAND:.0f}%")
            for n, m in gd.items())
        medians = [m.get("eos_median_ratio") for m in gd.values()]
        above = (" All medians lie above 1: λmax hovers above 2/η rather than at it."
                 if medians and all(r is not None and r > 1 for r in medians) else "")
        lines.append(f"- **At the edge of stability for every step size** ({_held(_all(flags))}; rule: 2/η reached, "
                     f"then more than {100 * MOST:.0f}% of the tracked steps within ±{100 * BAND:.0f}%): {parts}.{above}")
        flags = [loss_claim(m) for m in gd.values()]
        parts = "; ".join(f"{_label(m, n)}: {_num(m.get('eos_loss_first'))} → {_num(m.get('eos_loss_last'))}, rose at "
                          f"{m.get('eos_loss_increases')} of {m.get('eos_loss_steps')} steps, "
                          f"{m.get('eos_windows_falling')} of {m.get('eos_windows')} {m.get('eos_window')}-step windows "
                          "lower than the one before" for n, m in gd.items() if m.get("eos_loss_steps") is not None)
        lines.append(f"- **The loss keeps falling over long windows, not monotonically** ({_held(_all(flags))}; rule: "
                     f"every window's mean below the previous one's and at least one step where the loss rose): {parts}.")
    if adam:
        flags = [adam_claim(m) for m in adam.values()]
        parts = "; ".join(f"{_label(m, n)} (η = {_num(m.get('eos_lr'))}, 38/η = {_num(m.get('eos_threshold'))}): "
                          + ("never reached" if m.get("eos_reached_step") is None else
                             f"median λmax(P⁻¹H)/(38/η) {_num(m.get('eos_median_ratio'))} from step "
                             f"{m['eos_reached_step']} on, {_pct(m.get('eos_within'))} within ±{100 * BAND:.0f}%")
                          for n, m in adam.items())
        lines.append(f"- **Adam's preconditioned sharpness settles near 38/η** ({_held(_all(flags))}; rule: median "
                     f"ratio within ±{100 * ADAM_BAND:.0f}%): {parts}.")
    lines += _skip_pair(every_gd)
    return lines + [""]


def step_sizes(gd: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """The gradient-descent members of one architecture at several step sizes (the largest such group):
    the claims about step sizes are about them; other members (a skip pair) are reported apart."""
    groups: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for n, m in gd.items():
        key = repr(sorted((k, v) for k, v in (m.get("spec") or {}).items() if k != "seed"))
        groups.setdefault(key, {})[n] = m
    best = max(groups.values(), key=lambda g: len({m.get("eos_lr") for m in g.values()}), default={})
    return best if len({m.get("eos_lr") for m in best.values()}) > 1 else gd


def _skip_pair(gd: Dict[str, Dict[str, Any]]) -> List[str]:
    skip = [(n, m) for n, m in gd.items() if m.get("eos_skip") is True]
    plain = [(n, m) for n, m in gd.items() if m.get("eos_skip") is False and m.get("spec", {}).get("depth") in
             {x[1].get("spec", {}).get("depth") for x in skip}]
    out = []
    for (ns, ms) in skip:
        for (np_, mp) in plain:
            if ms.get("eos_lr") != mp.get("eos_lr") or ms.get("spec", {}).get("depth") != mp.get("spec", {}).get("depth"):
                continue
            a, b = ms.get("eos_lambda_final"), mp.get("eos_lambda_final")
            if a is None or b is None:
                continue
            sharper, other = (("with skips", "without") if a > b else ("without skips", "with"))
            out.append(f"- **Which is driven sharper, with or without skips** (measured, one training seed: a single "
                       f"draw): at η = {_num(ms['eos_lr'])} "
                       f"(2/η = {_num(ms.get('eos_threshold'))}) the net {sharper} ends sharper: λmax "
                       f"{_num(a)} with skips vs {_num(b)} without (×{_num(max(a, b) / min(a, b))}); peaks "
                       f"{_num(ms.get('eos_lambda_peak'))} vs {_num(mp.get('eos_lambda_peak'))}; 2/η first reached at "
                       f"step {ms.get('eos_reached_step') if ms.get('eos_reached_step') is not None else 'never'} with "
                       f"skips, {mp.get('eos_reached_step') if mp.get('eos_reached_step') is not None else 'never'} "
                       "without.")
    return out
