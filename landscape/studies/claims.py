"""The report's judged claims and what it says about seeds: the ``claims`` and ``seeds`` sections.

Each ``[[report.claims]]`` entry (a trend along a variable, or an order between members) is judged
on the members' numbers *per seed* with :mod:`landscape.studies.verdicts`, never on one pair of
numbers: confirmed only when the compared members' [min, max] over seeds do not overlap or every
seed agrees; the rule is printed above the claims. A basin width differs from another only by more
than one grid cell (:func:`resolutions`); a difference within it gets no vote.

The ``seeds`` section says, for a study run with ``[study] seeds``, how often each member trains
(seeds reaching 50% test accuracy) and calls a member whose seeds disagree *at the edge of
trainability*: whether it trains is decided by the seed, so one run of it is a draw.
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, List, Optional

from . import replicates, verdicts
from .columns import columns, coords_text, pct, ranged, value_text
from .registry import SECTIONS, measure_columns

register_section = SECTIONS.register
WIDE = 0.10  # test accuracy spread over seeds (10 points) the seeds section calls out


def extra_columns(s: Dict[str, Any]) -> Dict[str, str]:
    return measure_columns(s["config"].get("metrics", {}).get("extra", []))


def seeds(s: Dict[str, Any]) -> List[int]:
    """The training seeds of a study's summary (the config's one seed when it has no ``[study] seeds``)."""
    return list(s["config"].get("study", {}).get("seeds") or []) or [s["config"].get("model", {}).get("seed", 0)]


def drawn_seed(s: Dict[str, Any]) -> Optional[int]:
    """The seed whose replicates the figures draw, when a study has several (None: one seed, nothing
    to say): ``landscape.studies.members.shown`` takes each member's first."""
    used = seeds(s)
    return used[0] if len(used) > 1 else None


def seed_caption(s: Dict[str, Any]) -> str:
    """A figure caption's note on the seed it draws: `` (seed 0; the tables give every seed)`` or ''."""
    seed = drawn_seed(s)
    return "" if seed is None else f" (seed {seed}; the tables give every seed)"


def find_member(s: Dict[str, Any], coords: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The member with these variable values (None: none, or every seed of it diverged)."""
    for m in s["members"].values():
        mc = m.get("coords", {})
        if all(k in mc and mc[k] == v and type(mc[k]) is type(v) for k, v in coords.items()):
            return None if m.get("diverged") else m
    return None


def resolutions(c: Dict[str, Any]) -> Dict[str, float]:
    """Differences a measurement cannot resolve, per table column: a basin width moves in whole grid
    cells, so two widths one cell apart or less get no vote."""
    plane = c.get("grid", {}).get("plane")
    if not plane or plane[2] < 2:
        return {}
    cell = (plane[1] - plane[0]) / (plane[2] - 1)
    return {"basin_width_x": cell, "basin_width_y": cell}


ACCURACIES = {"test_acc": "test_samples", "test_error": "test_samples", "train_acc": "train_samples",
              "train_error": "train_samples"}


def noise(s: Dict[str, Any]) -> Dict[str, Any]:
    """The margins a difference must exceed to vote, for a study whose ``[report] margin`` is set
    (None: only the grid's resolution, as before).

    ``absolute``: per column, a difference at or below it gets no vote: basin widths one grid cell
    (:func:`resolutions`), accuracies and errors two binomial standard errors of the examples they
    were counted on at p = 0.5, 2 * sqrt(0.25 / n) (3.2 points on 1,000 test examples: two nets of equal
    true accuracy differ by that much on one draw of the test set one time in twenty).
    ``relative``: every other column: a difference at or below ``margin`` times the larger of the two
    numbers gets no vote (a stated margin for what one seed cannot measure: the seed-to-seed spread).
    """
    c = s["config"]
    absolute = resolutions(c)
    margin = c.get("report", {}).get("margin")
    if margin is None:
        return {"absolute": absolute, "relative": None, "margin": None}
    for col, size_key in ACCURACIES.items():
        n = (s.get("data") or {}).get(size_key)
        if n:
            absolute[col] = 2.0 * (0.25 / n) ** 0.5
    return {"absolute": absolute, "relative": float(margin), "margin": float(margin)}


def not_learned(s: Dict[str, Any]) -> Optional[str]:
    """Why no claim can be made from a study whose members all stayed near chance (None when some
    member learned): no member reached ``replicates.TRAINS_AT`` test accuracy (a ``--quick`` run
    trains for seconds on a few hundred examples). Members without a test accuracy are not judged."""
    accs = [m.get("test_acc") for m in s.get("members", {}).values() if not m.get("diverged")]
    accs = [a for a in accs if isinstance(a, (int, float))]
    if not accs or max(accs) >= replicates.TRAINS_AT:
        return None
    classes = (s.get("data") or {}).get("num_classes")
    chance = f"; chance {pct(1.0 / classes)}" if classes else ""
    return (f"no member learned the task (best test accuracy {pct(max(accs))}, below "
            f"{100 * replicates.TRAINS_AT:.0f}%{chance})")


def per_seed(m: Optional[Dict[str, Any]], key: str, n: int) -> List[Optional[float]]:
    """Per-seed values of ``key`` of a summary member (n Nones for a missing member, so that it gets
    no vote)."""
    if m is None:
        return [None] * n
    v = replicates.values(m, key)
    return v if len(v) == n else [None] * n


def claim_results(s: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each ``[[report.claims]]`` entry judged on the members' per-seed numbers.

    Returns one dict per claim: ``verdict`` (one of ``verdicts.VERDICTS``), ``judged`` (the whole
    :class:`~landscape.studies.verdicts.Verdict` as a dict: why, how many agree) and ``groups``,
    one per combination of the variables the claim leaves free, each with ``at`` (those values),
    ``numbers`` (the medians over seeds), ``spread`` (their per-seed spreads, None without seeds),
    ``verdict`` and ``holds`` (True confirmed, False not confirmed, None otherwise)."""
    c = s["config"]
    variables = {v["name"]: list(v["values"]) for v in c.get("study", {}).get("variables", [])}
    margins, n = noise(s), len(seeds(s))
    res, rel = margins["absolute"], margins["relative"]
    unlearned = not_learned(s)
    out = []
    for claim in c.get("report", {}).get("claims", []):
        where, measure = claim.get("where", {}), claim["measure"]
        if claim["kind"] == "trend":
            fixed = set(where) | {claim["along"]}
        else:
            fixed = set(claim["higher"]) | set(claim["lower"])
        free = [v for v in variables if v not in fixed]
        groups = []
        for combo in itertools.product(*(variables[v] for v in free)):
            at = dict(zip(free, combo))
            if claim["kind"] == "trend":
                points = [(x, find_member(s, {**where, **at, claim["along"]: x})) for x in variables[claim["along"]]]
                v = verdicts.trend([per_seed(m, measure, n) for _, m in points], claim["direction"], res.get(measure),
                                   relative=None if measure in res else rel)
            else:
                points = [("higher", find_member(s, {**at, **claim["higher"]})),
                          ("lower", find_member(s, {**at, **claim["lower"]}))]
                v = verdicts.order(per_seed(points[0][1], measure, n), per_seed(points[1][1], measure, n),
                                   res.get(measure), relative=None if measure in res else rel)
            if unlearned:
                v = verdicts.no_claim("no member learned the task: see above", n)
            groups.append({"at": at, "numbers": [(x, None if m is None else m.get(measure)) for x, m in points],
                           "spread": [None if m is None else (m.get("spread") or {}).get(measure) for _, m in points],
                           "verdict": v.to_dict(), "holds": v.holds})
        judged = [verdicts.Verdict.from_dict(g["verdict"]) for g in groups]
        whole = judged[0] if len(judged) == 1 else verdicts.combine(judged, free[0] if len(free) == 1 else "group")
        out.append({"claim": claim, "verdict": whole.verdict, "judged": whole.to_dict(), "groups": groups})
    return out


@register_section("claims")
def claims_section(s: Dict[str, Any]) -> List[str]:
    results = claim_results(s)
    if not results:
        return []
    cols = columns(extra_columns(s))
    used = seeds(s)
    lines = ["## What the numbers say", ""]
    if len(used) > 1:
        lines.append(f"Each claim is judged on {len(used)} training seeds per member ({', '.join(map(str, used))}); "
                     "numbers are medians with [min, max] over the seeds. " + verdicts.RULE)
    else:
        lines.append(f"Each claim is judged on one training seed per member ({used[0]}): a single draw, no spread "
                     "(rerun with `--seeds 3` for intervals). " + verdicts.RULE)
    lines += margin_lines(s)
    lines.append("")
    for r in results:
        claim = r["claim"]
        label, fmt = cols[claim["measure"]]
        parts = []
        for g in r["groups"]:
            at = coords_text(g["at"])
            spreads = g.get("spread") or [None] * len(g["numbers"])
            if claim["kind"] == "trend":
                series = " → ".join(f"{ranged(fmt, v, sp)} ({claim['along']} = {value_text(x)})"
                                    for (x, v), sp in zip(g["numbers"], spreads))
            else:
                (_, hi), (_, lo) = g["numbers"]
                series = (f"{ranged(fmt, hi, spreads[0])} ({coords_text(claim['higher'])}) vs "
                          f"{ranged(fmt, lo, spreads[1])} ({coords_text(claim['lower'])})")
            parts.append(f"{at + ': ' if at else ''}{series} — {verdicts.Verdict.from_dict(g['verdict'])}")
        whole = verdicts.Verdict.from_dict(r["judged"])
        overall = f" Overall: {whole}." if len(r["groups"]) > 1 else ""
        lines.append(f"- {verdicts.mark(whole)}: {claim['text']} ({label}: {'; '.join(parts)}).{overall}")
    return lines + [""]


def margin_lines(s: Dict[str, Any]) -> List[str]:
    """The report's statement of the margins a difference must exceed (:func:`noise`), and of a
    study whose nets did not learn (:func:`not_learned`)."""
    m, out = noise(s), []
    if m["margin"] is not None:
        acc = {k: v for k, v in m["absolute"].items() if k in ACCURACIES}
        test = acc.get("test_acc")
        out.append("A difference votes only when it is larger than the noise: "
                   + (f"accuracies must differ by more than two binomial standard errors ({100 * test:.1f} points on "
                      f"{s['data']['test_samples']:,} test examples; train accuracy likewise on its examples), "
                      if test else "")
                   + "basin widths by more than one grid cell, and every other number by more than "
                   f"{100 * m['margin']:.0f}% of the larger of the two (a stated margin: with one seed the "
                   "seed-to-seed spread is unknown); a smaller difference gets no vote.")
    why = not_learned(s)
    if why:
        out.append(f"**No claim is made from this run**: {why}. Its nets are at or near chance, so what they "
                   "show says nothing about nets that learn; every claim below is *no claim*. Run the study "
                   "without `--quick` for nets that learn.")
    return [line for x in out for line in ("", x)]


def trainability(s: Dict[str, Any]) -> List[str]:
    """One sentence per member run with several seeds: how many reached the trains-threshold test
    accuracy, whether the seeds disagree (the edge of trainability), and how far its test accuracy
    moves over the seeds when that is :data:`WIDE` or more."""
    out = []
    for name, m in s["members"].items():
        t = m.get("trains")
        if not t or t["of"] < 2:
            continue
        accs = [a for a in (m.get("spread", {}).get("test_acc") or {}).get("values", [])]
        listed = ", ".join(pct(a) if a is not None else "diverged" for a in accs)
        text = (f"{name} reached ≥ {100 * t['threshold']:.0f}% test accuracy with {t['count']} of {t['of']} seeds"
                + (f" ({listed})" if listed else ""))
        if 0 < t["count"] < t["of"]:
            text += ": it is at the edge of trainability, where the seed decides whether it trains."
        else:
            text += "." if t["count"] else ": none of them trains it that far."
        known = [a for a in accs if a is not None]
        if len(known) > 1 and max(known) - min(known) >= WIDE:
            text += (f" Its test accuracy spans {100 * (max(known) - min(known)):.0f} points over the seeds, so a "
                     "single run of it is a draw, not a measurement.")
        out.append(text)
    return out


@register_section("seeds")
def seeds_section(s: Dict[str, Any]) -> List[str]:
    """How often each member trains over the study's seeds (nothing for a one-seed study)."""
    lines = trainability(s)
    if not lines:
        return []
    used = seeds(s)
    return (["## Over seeds", "",
             f"Every member was trained with {len(used)} seeds ({', '.join(map(str, used))}: initial weights and data "
             "order; everything else equal). Tables give the median and [min, max] over the seeds; the figures show "
             f"seed {used[0]}.", ""]
            + [f"- {x}" for x in lines] + [""])
