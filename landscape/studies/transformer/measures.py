"""Per-member measures of the ``transformer-depth`` study, registered with the pipeline.

Both are taken at initialization (the run's ``snapshots/epoch_0000.pt``) and for the final weights,
on a seeded ``PROBE_SAMPLES`` of the member's training data, in eval mode:

- ``rank_collapse``: the relative token residual ``||X - 1 mean(X)||_F / ||X||_F`` after the last
  block (0: every token the same vector), the number of blocks after which it is below
  ``COLLAPSED`` (the tokens agree to 4 digits; float32 rounding floors the residual near 1e-7, so
  past collapse a count says more than the value) and the whole per-block profile
  (:func:`landscape.analysis.blocks.rank_collapse`; Dong, Cordonnier & Loukas 2021);
- ``block_gradients``: the gradient norm of each block's parameters, the last/first ratio and the
  position of the largest (0: first block, 1: last) (:func:`landscape.analysis.blocks.block_gradients`;
  Xiong et al. 2020, Fig. 3).
"""
from __future__ import annotations

from typing import Any, Dict

from landscape.analysis import blocks
from landscape.storage import checkpoint
from landscape.studies.pipeline.measures import register

COLLAPSED = 1e-4     # a block whose token residual is below this has collapsed the tokens to rank one (4 digits)
PROBE_SAMPLES = 256  # training inputs the probes run on (seeded subset, seed PROBE_SEED)
PROBE_SEED = 0


def _initial_model(ctx, member: str):
    model, _ = checkpoint.load_model(ctx.runs[member]["run_dir"] / "snapshots" / "epoch_0000.pt", ctx.device)
    return model


@register("rank_collapse", columns={
    "rank_residual_init": "token residual after the last block, init",
    "collapsed_blocks_init": "blocks with collapsed tokens (residual < 1e-4), init",
    "rank_residual": "token residual after the last block, trained"}, version=2)
def rank_collapse(ctx, member: str) -> Dict[str, Any]:
    x, _ = ctx.load(member, "train", PROBE_SAMPLES, PROBE_SEED)
    init = blocks.rank_collapse(_initial_model(ctx, member), x)
    final = blocks.rank_collapse(ctx.model(member), x)
    # the residual falls doubly exponentially without skips and reaches float rounding (~1e-7) within a
    # few blocks, after which "smaller" means nothing: count the blocks past the point of collapse instead
    collapsed = sum(r < COLLAPSED for r in init["residual"])
    return {"rank_residual_init": init["residual"][-1], "rank_residual": final["residual"][-1],
            "collapsed_blocks_init": collapsed,
            "rank_input_init": init["input"], "rank_profile_init": init["residual"],
            "rank_profile": final["residual"], "rank_samples": init["n"]}


@register("block_gradients", columns={
    "grad_out_in_init": "last/first block gradient norm, init",
    "grad_peak_init": "block with the largest gradient, init (0 first, 1 last)"}, version=1)
def block_gradients(ctx, member: str) -> Dict[str, Any]:
    xy = ctx.load(member, "train", PROBE_SAMPLES, PROBE_SEED)
    loss = ctx.members[member].train.loss
    init = blocks.block_gradients(_initial_model(ctx, member), xy, loss=loss)
    return {"grad_out_in_init": init["ratio"], "grad_peak_init": init["peak"], "grad_profile_init": init["norms"]}
