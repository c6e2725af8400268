"""Replicates of a study's members: the same network trained with other seeds, and their spread.

``[study] seeds = [0, 1, 2]`` (or ``landscape experiment NAME --seeds 3``) trains every member once
per seed: replicate ``resnet56_noskip_s1`` is ``resnet56_noskip`` with initial weights (``model.seed``)
and data order (``train.seed``) from seed 1, everything else equal; the members of a pair share each
seed, so they still start from the same weights. Every stage works on the replicates as on members;
figures show the first seed's. The summary then folds the replicates of each member into one entry:

    entry["test_error"]                       # the median over seeds (what the old readers see)
    entry["spread"]["test_error"]             # {"median", "min", "max", "values": one per seed (None: not measured)}
    entry["seeds"], entry["replicates"]       # [0, 1, 2], ["resnet56_noskip_s0", ...]
    entry["trains"]      # {"count": 2, "of": 3, "threshold": 0.5}: seeds reaching 50% test accuracy
    entry["stopped_early"]                    # a yes/no fact: true when true of every seed that trained

A diverged replicate has no numbers (None in ``values``); the member is "diverged" only when every
seed diverged.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

from landscape.base.spread import spread as median_spread

TRAINS_AT = 0.5  # test accuracy a seed must reach to count as "trains" (the demo's edge-of-trainability count)
_KEEP = ("spec", "run_dir", "coords", "labels", "surfaces", "figures", "epochs", "batch_size", "train_samples",
         "n_params")  # taken from the first seed: settings and the files the figures show


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def seed_spread(values: Sequence[Optional[float]]) -> Dict[str, Any]:
    """``{"median", "min", "max", "values"}`` of per-seed values (None: not measured; left out of the
    median and range, kept in ``values``)."""
    known = [float(v) for v in values if _number(v)]
    med = median_spread(known).median if known else None
    return {"median": med, "min": min(known) if known else None, "max": max(known) if known else None,
            "values": [float(v) if _number(v) else None for v in values]}


def fold(entries: Dict[str, Dict[str, Any]], groups: Dict[str, List[str]], seeds: Sequence[int]
         ) -> Dict[str, Dict[str, Any]]:
    """One summary entry per member from its replicates' entries (see the module docstring)."""
    out: Dict[str, Dict[str, Any]] = {}
    for name, reps in groups.items():
        es = [entries[r] for r in reps]
        live = [not e.get("diverged") for e in es]
        entry: Dict[str, Any] = {k: es[0][k] for k in _KEEP if k in es[0]}
        every = [k for k in dict.fromkeys(k for e in es for k in e) if k not in _KEEP]
        keys = [k for k in every if any(_number(e.get(k)) for e in es)]
        entry["spread"] = {}
        for k in keys:
            s = seed_spread([e.get(k) if ok else None for e, ok in zip(es, live)])
            entry["spread"][k] = s
            counts = all(isinstance(e.get(k), int) for e in es if k in e)  # epochs, samples: a whole median stays one
            entry[k] = int(s["median"]) if counts and s["median"] is not None and s["median"].is_integer() \
                else s["median"]
        for k in every:  # yes/no facts: true of every live seed
            if k != "diverged" and all(isinstance(e.get(k), bool) for e in es if k in e):
                entry[k] = all(bool(e.get(k)) for e, ok in zip(es, live) if ok)
        if any("basin_clipped" in e for e in es):  # a clipped basin in any seed caps the median's width too
            entry["basin_clipped"] = any(bool(e.get("basin_clipped")) for e, ok in zip(es, live) if ok)
        n_div = sum(not ok for ok in live)
        entry["diverged"] = n_div == len(es)
        entry["diverged_seeds"] = n_div
        acc = [e.get("test_acc") if ok else None for e, ok in zip(es, live)]
        entry["trains"] = {"count": sum(1 for a in acc if _number(a) and a >= TRAINS_AT), "of": len(es),
                           "threshold": TRAINS_AT}
        entry["seeds"], entry["replicates"] = list(seeds), list(reps)
        notes: List[str] = []
        said_diverged = False
        for e in es:  # one replicate's "diverged" note stands for the others, counted below
            for n in e.get("notes", []):
                if n not in notes and not (e.get("diverged") and said_diverged and " diverged" in n):
                    notes.append(n)
            said_diverged |= bool(e.get("diverged"))
        if n_div > 1:
            epochs = ", ".join(str(e.get("epochs_trained")) for e, ok in zip(es, live) if not ok)
            notes.append(f"{name} diverged with {n_div} of {len(es)} seeds (at epochs {epochs}).")
        entry["notes"] = notes
        out[name] = entry
    return out


def values(member: Dict[str, Any], key: str) -> List[Optional[float]]:
    """The per-seed values of ``key`` (one value for a member without replicates; None: not measured)."""
    s = (member.get("spread") or {}).get(key)
    if s is not None:
        return list(s["values"])
    if member.get("diverged"):
        return [None]
    v = member.get(key)
    return [float(v) if _number(v) else None]
