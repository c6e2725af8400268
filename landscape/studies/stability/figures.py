"""Figures of the edge-of-stability study (``[figures] extra = ["sharpening"]``).

``sharpening``: one figure per group of members that differ only in the step size (and, for the
skip pair, only in skip connections): each member's tracked sharpness against step with its
threshold, beside its training loss, on shared axes (:func:`landscape.plot.sharpening`). Groups:
members with one optimizer and one architecture apart from ``lr`` and ``skip``.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

from landscape.storage import rundir
from landscape.studies.pipeline.figures import register_drawer, register_maker

DRAWING_VERSION = 2


def groups(ctx) -> Dict[str, List[str]]:
    """``{stem: [members]}``: members grouped by optimizer and architecture except skip; ordered by lr, skip first."""
    found: Dict[str, List[str]] = {}
    for name in ctx.members:
        m = ctx.members[name]
        spec = {k: v for k, v in m.spec.items() if k not in ("skip", "seed")}
        found.setdefault(json.dumps([m.train.optimizer, spec], sort_keys=True), []).append(name)
    out = {}
    for key, names in found.items():
        optimizer, spec = json.loads(key)
        names.sort(key=lambda n: (ctx.members[n].train.lr, not ctx.members[n].spec.get("skip")))
        out[f"sharpening_{optimizer}_{spec.get('name', 'net')}{spec.get('depth', '')}_{spec.get('activation', '')}"] = names
    return out


@register_maker("sharpening")
def _sharpening(ctx, add) -> None:
    for stem, names in groups(ctx).items():
        add("study", stem, stem, [ctx.runs[n]["run_dir"] for n in names], fn="sharpening", names=names,
            version=DRAWING_VERSION)


@register_drawer("sharpening")
def _draw_sharpening(inputs, names: List[Any], version=None):
    from landscape import plot

    return plot.sharpening([rundir.load_history(p) for p in inputs], names=names)
