"""Per-member numbers of the edge-of-stability study (``[metrics] extra = ["edge_of_stability"]``).

From the run's tracked rows (``history.json``'s ``"sharpness"``) and its training loss per step:
:func:`landscape.analysis.tracking.edge_of_stability` with the optimizer's own sharpness (λmax;
Adam's preconditioned one when tracked) and its threshold (2/η; 38/η).
"""
from __future__ import annotations

from typing import Any, Dict

from landscape.analysis import tracking
from landscape.studies.pipeline.measures import register

BAND = 0.1     # "at the threshold": within ±10% of it (the rule)
WINDOW = 25    # steps per window for "the loss falls over long windows"


@register("edge_of_stability", columns={
    "eos_threshold": "threshold (2/η; 38/η Adam)",
    "eos_start": "sharpness at step 0",
    "eos_sharpening": "rise before the threshold (×)",
    "eos_reached_step": "first step at the threshold",
    "eos_median_ratio": "median sharpness/threshold after",
    "eos_within": "share within ±10% after",
    "eos_final": "sharpness, last step",
    "eos_loss_increases": "steps the loss rose"}, version=1)
def edge_of_stability(ctx, member: str) -> Dict[str, Any]:
    m = ctx.members[member]
    history = ctx.runs[member]["history"]
    rows = history.get("sharpness") or []
    if not rows:
        raise ValueError(f"The run of {member} tracked no sharpness; set [train] track_sharpness = N in the config.")
    adam = m.train.optimizer in ("adam", "adamw")
    value = "preconditioned" if adam and m.train.track_preconditioned else "lambda_max"
    last = rows[-1]
    per_epoch = last["step"] / last["epoch"] if last.get("epoch") else 1.0
    # the loss after every step is known where an epoch is one step (gd; full-batch Adam)
    losses = [e["train_loss"] for e in history["epochs"][1:]] if abs(per_epoch - 1.0) < 1e-9 else None
    r = tracking.edge_of_stability(rows, losses, value=value, band=BAND, window=WINDOW)
    out = {f"eos_{k}": v for k, v in r.items()}
    out.update(eos_lr=m.train.lr, eos_optimizer=m.train.optimizer, eos_skip=m.spec.get("skip"),
               eos_every=m.train.track_sharpness, eos_samples=(history.get("sharpness_settings") or {}).get("n_samples"),
               eos_steps=int(last["step"]), eos_lambda_final=last.get("lambda_max"),
               eos_lambda_peak=max(float(x["lambda_max"]) for x in rows))
    return out
