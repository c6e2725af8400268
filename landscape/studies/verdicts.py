"""One vocabulary for every claim a study report judges: *confirmed*, *partly confirmed*, *not
confirmed*, *no claim* (and why), decided on the spread over replicates, never on one pair of numbers.

A replicate is one training seed (or one plane, or one data draw) of the members a claim compares.
Each replicate *votes*: True (the claim holds for it), False (it does not) or None (no vote: a
number missing because it was not computed or the run diverged, or a difference within the
resolution of the measurement, such as one grid cell). The rule, stated in every report
(:data:`RULE`):

- **confirmed**: the intervals (``[min, max]`` over replicates) of the compared members do not
  overlap, or every replicate votes and agrees;
- **partly confirmed**: some replicates agree ("2 of 3 seeds agree");
- **not confirmed**: none agrees;
- **no claim**: no replicate can vote (why: a number missing, diverged, within the resolution).

With one replicate, "every replicate agrees" is one draw; the verdict says so ("one seed only: a
single draw"). Per-seed values of a study member: ``landscape.studies.replicates.values(member, key)``.

    from landscape.studies import verdicts
    v = verdicts.order(higher=[0.30, 0.12, 0.85], lower=[0.011, 0.013, 0.010])   # per seed, same order
    v.verdict, v.agree, v.of      # "confirmed", 3, 3
    str(v)                        # "confirmed (3 of 3 seeds agree; the intervals do not overlap)"
    verdicts.trend([[2, 3, 2], [30, 4, 60], [90, 88, 91]])          # one list per step along the variable
    verdicts.bound([0.25, 0.249], 0.25, side="at_most")             # every value within a limit
    verdicts.judge([True, None, False])                             # votes you computed yourself
    verdicts.combine([v1, v2, v3], unit="depth")                    # a claim "at every depth"
    verdicts.no_claim("the basin width is one grid cell")

Use these (not new words) in every report section; :func:`mark` gives the bold label, ``str(v)``
the label with the reason and the count, ``v.to_dict()`` what ``summary.json`` keeps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence

CONFIRMED = "confirmed"
PARTLY = "partly confirmed"
NOT_CONFIRMED = "not confirmed"
NO_CLAIM = "no claim"
VERDICTS = (CONFIRMED, PARTLY, NOT_CONFIRMED, NO_CLAIM)

RULE = ("A claim is **confirmed** when the intervals ([min, max] over seeds) of the members it compares do not "
        "overlap, or when every seed agrees; **partly confirmed** when some seeds agree (how many is said); "
        "**not confirmed** when none does; **no claim** when no seed can vote: a number missing (not computed, "
        "or a run that diverged) or a difference within the resolution of the measurement (such as one grid "
        "cell), which gets no vote.")

Number = Optional[float]


@dataclass(frozen=True)
class Verdict:
    """A judged claim. ``verdict``: one of :data:`VERDICTS`; ``why``: how it was decided, or why
    there is no claim; ``agree`` of ``of``: replicates (or groups, for :func:`combine`) that agree,
    out of those there are (voting or not); ``unit``: what they are ("seed", "depth", ...)."""

    verdict: str
    why: str = ""
    agree: int = 0
    of: int = 0
    unit: str = "seed"

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"The value for `verdict` must be one of {list(VERDICTS)}, but {self.verdict!r} "
                             "was passed.")

    @property
    def holds(self) -> Optional[bool]:
        """True when confirmed, False when not confirmed, None otherwise (partly, no claim)."""
        return {CONFIRMED: True, NOT_CONFIRMED: False}.get(self.verdict)

    def __str__(self) -> str:
        """``confirmed (3 of 3 seeds agree; the intervals do not overlap)``, ``no claim (not measured)``."""
        count = ""
        if self.of > 1 and self.verdict != NO_CLAIM:
            count = f"{self.agree} of {self.of} {_plural(self.unit, self.of)} {'agrees' if self.of == 1 else 'agree'}"
        detail = "; ".join(x for x in (count, self.why) if x)
        return f"{self.verdict} ({detail})" if detail else self.verdict

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Verdict":
        return cls(**{k: d[k] for k in ("verdict", "why", "agree", "of", "unit") if k in d})


def mark(v: Verdict) -> str:
    """The bold label a report line starts with: ``**Confirmed**``, ``**No claim**``."""
    return f"**{v.verdict[:1].upper() + v.verdict[1:]}**"


def _plural(unit: str, n: int) -> str:
    if n == 1 or unit.endswith("s"):
        return unit
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def no_claim(why: str, of: int = 0, unit: str = "seed") -> Verdict:
    """No verdict, and why (``"a number missing"``, ``"diverged in every seed"``, ``"one grid cell"``)."""
    return Verdict(NO_CLAIM, why, 0, of, unit)


def judge(votes: Sequence[Optional[bool]], separated: bool = False, unit: str = "seed",
          abstained: str = "a number missing") -> Verdict:
    """The verdict from one vote per replicate (True agrees, False disagrees, None cannot vote).

    separated: the compared members' intervals do not overlap (confirmed whatever the votes).
    abstained: why a replicate could not vote, said when none could (or some could not).
    """
    votes = list(votes)
    n, voted = len(votes), [v for v in votes if v is not None]
    k = sum(bool(v) for v in voted)
    silent = n - len(voted)
    if not voted:
        return no_claim(abstained, n, unit)
    aside = f"{silent} {_plural(unit, silent)} without a vote: {abstained}" if silent else ""
    if separated:
        return Verdict(CONFIRMED, "the intervals do not overlap", k, n, unit)
    if k == n:
        return Verdict(CONFIRMED, f"one {unit} only: a single draw" if n == 1 else "", k, n, unit)
    if n == 1:
        return Verdict(NOT_CONFIRMED, f"one {unit} only: a single draw", k, n, unit)
    return Verdict(NOT_CONFIRMED if k == 0 else PARTLY, aside, k, n, unit)


def _known(v: Number) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _vote(a: Number, b: Number, resolution: Optional[float], relative: Optional[float] = None) -> Optional[bool]:
    """a > b? None when either is missing, or they differ by no more than ``resolution``, or by no
    more than ``relative`` times the larger magnitude of the two."""
    if not (_known(a) and _known(b)):
        return None
    if resolution is not None and abs(a - b) <= resolution:
        return None
    if relative is not None and abs(a - b) <= relative * max(abs(a), abs(b)):
        return None
    return a > b


def _why_silent(pairs, resolution: Optional[float], relative: Optional[float] = None) -> str:
    measured = [(a, b) for a, b in pairs if _known(a) and _known(b)]
    if measured and all(a == b for a, b in measured):
        return "no difference: the numbers are equal"
    if measured and relative is not None and all(abs(a - b) <= relative * max(abs(a), abs(b)) for a, b in measured):
        return f"a difference within the margin ({100 * relative:.3g}% of the larger value)"
    if resolution is not None and measured:
        return f"a difference within the noise or resolution ({resolution:.3g})"
    return "a number missing: not computed, or diverged"


def _span(values: Sequence[Number]):
    known = [float(v) for v in values if _known(v)]
    return (min(known), max(known)) if known else None


def order(higher: Sequence[Number], lower: Sequence[Number], resolution: Optional[float] = None,
          unit: str = "seed", relative: Optional[float] = None) -> Verdict:
    """Is ``higher`` above ``lower``? ``higher[i]`` and ``lower[i]`` are replicate ``i`` (the same
    seed) of the two members; None: not measured. A difference of at most ``resolution``, or of at
    most ``relative`` times the larger of the two magnitudes, gets no vote."""
    if len(higher) != len(lower):
        raise ValueError(f"`higher` and `lower` must hold one value per {unit} each, but {len(higher)} and "
                         f"{len(lower)} were passed.")
    pairs = list(zip(higher, lower))
    votes = [_vote(a, b, resolution, relative) for a, b in pairs]
    hi, lo = _span(higher), _span(lower)
    complete = all(_known(a) and _known(b) for a, b in pairs)
    separated = (complete and len(pairs) > 1 and hi is not None and lo is not None
                 and _vote(hi[0], lo[1], resolution, relative) is True)
    silent = [p for p, v in zip(pairs, votes) if v is None]  # why the seeds without a vote have none
    return judge(votes, separated, unit, _why_silent(silent or pairs, resolution, relative))


def trend(series: Sequence[Sequence[Number]], direction: str = "increasing", resolution: Optional[float] = None,
          unit: str = "seed", relative: Optional[float] = None) -> Verdict:
    """Does the measure rise (``"increasing"``) or fall (``"decreasing"``) at every step along a
    variable? ``series[j][i]``: step ``j``, replicate ``i``. A replicate agrees when each of its
    steps goes the claimed way by more than ``resolution``, and cannot vote when a value is missing
    or a step is within the resolution (or within ``relative`` times the larger magnitude)."""
    if direction not in ("increasing", "decreasing"):
        raise ValueError(f"The value for `direction` must be one of ['increasing', 'decreasing'], but "
                         f"{direction!r} was passed.")
    series = [list(s) for s in series]
    if len(series) < 2 or len({len(s) for s in series}) != 1:
        raise ValueError(f"`series` must hold at least 2 steps with one value per {unit} each, but lengths "
                         f"{[len(s) for s in series]} were passed.")
    sign = 1 if direction == "increasing" else -1
    steps = list(zip(series, series[1:]))
    votes, silent = [], []  # silent: the steps that cost a replicate its vote (for the reason said)
    for i in range(len(series[0])):
        step_votes = [_vote(sign * _or_none(b[i]), sign * _or_none(a[i]), resolution, relative) for a, b in steps]
        votes.append(None if None in step_votes else all(step_votes))
        silent += [(a[i], b[i]) for (a, b), v in zip(steps, step_votes) if v is None]
    separated = len(series[0]) > 1 and all(
        all(_known(x) for x in a + b)
        and _vote(sign * (min if sign > 0 else max)(b), sign * (max if sign > 0 else min)(a), resolution, relative)
        is True for a, b in steps)
    pairs = silent or [(a[i], b[i]) for a, b in steps for i in range(len(a))]
    return judge(votes, separated, unit, _why_silent(pairs, resolution, relative))


def _or_none(v: Number) -> float:
    return float(v) if _known(v) else math.nan


def bound(values: Sequence[Number], limit: float, side: str = "at_most", resolution: Optional[float] = None,
          unit: str = "seed") -> Verdict:
    """Is every replicate's value ``at_most`` (or ``at_least``) ``limit``? A value within
    ``resolution`` of the limit gets no vote."""
    if side not in ("at_most", "at_least"):
        raise ValueError(f"The value for `side` must be one of ['at_most', 'at_least'], but {side!r} was passed.")
    sign = 1 if side == "at_least" else -1
    votes = []
    for v in values:
        if not _known(v) or (resolution is not None and abs(v - limit) <= resolution):
            votes.append(None)
        else:
            votes.append(sign * (v - limit) >= 0)
    pairs = [(v, limit) for v in values]
    return judge(votes, False, unit, _why_silent(pairs, resolution))


def combine(verdicts: Sequence[Verdict], unit: str = "group") -> Verdict:
    """One verdict for a claim judged in several groups ("at every depth"): confirmed when every
    group is, not confirmed when every group that could be judged is not, no claim when none could
    be judged, else partly confirmed (how many groups hold is said)."""
    verdicts = list(verdicts)
    n = len(verdicts)
    judged = [v for v in verdicts if v.verdict != NO_CLAIM]
    k = sum(v.verdict == CONFIRMED for v in verdicts)
    if not judged:
        whys = sorted({v.why for v in verdicts if v.why})
        return no_claim("; ".join(whys) or "nothing to judge", n, unit)
    silent = n - len(judged)
    aside = f"{silent} {_plural(unit, silent)} without a claim" if silent else ""
    if k == n:
        return Verdict(CONFIRMED, "", k, n, unit)
    if all(v.verdict == NOT_CONFIRMED for v in judged):
        return Verdict(NOT_CONFIRMED, aside, k, n, unit)
    return Verdict(PARTLY, aside, k, n, unit)


__all__ = ["Verdict", "VERDICTS", "CONFIRMED", "PARTLY", "NOT_CONFIRMED", "NO_CLAIM", "RULE", "mark", "no_claim",
           "judge", "order", "trend", "bound", "combine"]
