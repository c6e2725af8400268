"""The ``block_profiles`` figure of the transformer-depth study (``[figures] extra``): token residual
and gradient norm per block at initialization, one figure per LayerNorm placement (``norm`` of the
model; members that differ only in their warm-up share their initialization and are drawn once),
lines for every depth with and without residual connections (:func:`landscape.plot.blocks.block_profiles`)."""
from __future__ import annotations

from typing import Any, Dict, List

from landscape.studies.pipeline.figures import register_drawer, register_maker

DRAWING_VERSION = 1


@register_maker("block_profiles")
def _block_profiles(ctx, add) -> None:
    by_norm: Dict[str, Dict[Any, Dict[str, Any]]] = {}
    for m in ctx.members:
        numbers = ctx.sharp.get(m, {})
        if numbers.get("rank_profile_init") is None or numbers.get("grad_profile_init") is None:
            continue  # the measures rank_collapse and block_gradients were not run for it
        spec = ctx.members[m].spec
        key = (int(spec["depth"]), bool(spec["skip"]))
        by_norm.setdefault(spec["norm"], {}).setdefault(key, {
            "depth": key[0], "skip": key[1], "rank": numbers["rank_profile_init"],
            "grad": numbers["grad_profile_init"]})
    for norm, series in by_norm.items():
        rows: List[Dict[str, Any]] = [series[k] for k in sorted(series, key=lambda k: (not k[1], k[0]))]
        add("study", f"block_profiles_{norm}", f"block_profiles_{norm}", [], fn="block_profiles", series=rows,
            title=f"norm = {norm}: per block at initialization", version=DRAWING_VERSION)


@register_drawer("block_profiles")
def _draw(inputs, series, title, version=None):
    from landscape.plot.blocks import block_profiles

    return block_profiles(series, title=title)
