"""Per-member measurements of the chapter's studies, registered with the pipeline.

Each is ``fn(ctx, member) -> {column: value}`` (``landscape.pipeline.measures.register``), named in
a config's ``[metrics] extra``; its numbers are kept in ``OUT/measures/<name>/<member>.json`` and
reused while the member's checkpoint, data and recipe stay the same.

- ``gradient_flow``: first/last-layer gradient-norm ratio at initialization, in the first epoch
  and in the last (from the run's ``gradient_flow.json``; :func:`landscape.probes.flow_ratios`),
  the mean factor per layer, and how far the first and last layers' weights moved in training
  (:func:`landscape.probes.weight_change`);
- ``dead_units``: share of activation units that pass no gradient on any training example, at
  initialization and for the final weights, and the mean activation slope
  (:func:`landscape.probes.dead_units`);
- ``mode_gap``: training-set loss in eval mode minus in training mode, batches of the member's own
  training batch size (:func:`landscape.probes.mode_gap`);
- ``generalization``: test minus train loss, the epoch whose weights are kept and the epoch with
  the lowest test loss (from the run's history);
- ``dropout``: dropout at test time (:func:`landscape.probes.dropout_check`); members without
  dropout get ``dropout_layers = 0`` and nothing else.
"""
from __future__ import annotations

from typing import Any, Dict

from torch import nn

from landscape.analysis import probes
from landscape.storage import checkpoint
from landscape.studies.pipeline.measures import register

DROPOUT_DRAWS = 1000   # training-mode passes averaged per dropout layer (Monte-Carlo error ~ 1/sqrt)
DROPOUT_SAMPLES = 64   # test inputs the dropout check runs on


def _run_dir(ctx, member: str):
    return ctx.runs[member]["run_dir"]


def _initial_model(ctx, member: str):
    model, _ = checkpoint.load_model(_run_dir(ctx, member) / "snapshots" / "epoch_0000.pt", ctx.device)
    return model


@register("gradient_flow", columns={
    "grad_ratio_init": "first/last-layer gradient, init",
    "grad_ratio_epoch1": "first/last-layer gradient, epoch 1",
    "grad_ratio_last": "first/last-layer gradient, last epoch",
    "grad_factor_init": "gradient factor per layer, init",
    "first_layer_change": "first layer moved (relative)",
    "last_layer_change": "last layer moved (relative)"})
def gradient_flow(ctx, member: str) -> Dict[str, Any]:
    """Ratios from the run's gradient-flow log; the geometric-mean factor by which the gradient
    changes per layer on its way to the input at initialization, ratio^(1/(layers - 1)); and how
    far the first and last layers' weights moved in training (:func:`landscape.probes.weight_change`)."""
    from landscape.storage import rundir

    flow = rundir.load_history(_run_dir(ctx, member))["gradient_flow"]
    if flow is None:
        raise ValueError(f"The run of {member} has no gradient_flow.json; train it with landscape.train.")
    r = probes.flow_ratios(flow)
    n = len(flow["layers"])
    ratio = r["ratio_init"]
    moved = probes.weight_change(_initial_model(ctx, member), ctx.model(member))["change"]
    return {"grad_ratio_init": ratio, "grad_ratio_epoch1": r["ratio_epoch1"], "grad_ratio_last": r["ratio_last"],
            "grad_factor_init": ratio ** (1.0 / (n - 1)) if ratio is not None and n > 1 else None,
            "grad_first_init": r["first_init"], "grad_last_init": r["last_init"], "flow_layers": n,
            "first_layer_change": moved[0], "last_layer_change": moved[-1]}


@register("dead_units", columns={
    "dead_share_init": "dead units, init",
    "dead_share": "dead units, final",
    "mean_slope": "mean activation slope, final"}, version=1)
def dead_units(ctx, member: str) -> Dict[str, Any]:
    data = ctx.load(member, "train")
    at_init = probes.dead_units(_initial_model(ctx, member), data)
    final = probes.dead_units(ctx.model(member), data)
    return {"dead_share_init": at_init["share"], "dead_share": final["share"], "dead_units": final["dead"],
            "units": final["units"], "mean_slope": final["mean_slope"], "max_slope": final["max_slope"],
            "mean_slope_init": at_init["mean_slope"], "max_slope_init": at_init["max_slope"]}


@register("mode_gap", columns={
    "train_mode_loss": "train loss, train mode",
    "eval_mode_loss": "train loss, eval mode",
    "mode_gap": "eval − train mode loss",
    "mode_gap_abs": "|eval − train mode loss|"})
def mode_gap(ctx, member: str) -> Dict[str, Any]:
    m = ctx.members[member]
    r = probes.mode_gap(ctx.model(member), ctx.load(member, "train"), batch_size=m.train.batch_size,
                        loss=m.train.loss, seed=m.train.seed)
    return {"train_mode_loss": r["train_mode_loss"], "eval_mode_loss": r["eval_mode_loss"], "mode_gap": r["gap"],
            "mode_gap_abs": abs(r["gap"]), "mode_gap_batch_size": m.train.batch_size}


@register("generalization", columns={
    "loss_gap": "test − train loss",
    "kept_epoch": "epoch of the kept weights",
    "best_test_epoch": "epoch of lowest test loss"})
def generalization(ctx, member: str) -> Dict[str, Any]:
    run = ctx.runs[member]
    final, rows = run["final"], [r for r in run["history"]["epochs"] if r["epoch"] > 0]
    tested = [r for r in rows if r.get("test_loss") is not None]
    best = min(tested, key=lambda r: r["test_loss"]) if tested else None
    train, test = final.get("train_loss"), final.get("test_loss")
    return {"loss_gap": None if train is None or test is None else test - train, "kept_epoch": run["epoch"],
            "best_test_epoch": None if best is None else best["epoch"],
            "best_test_acc": None if best is None else best.get("test_acc"),
            "stopped_early": bool(run["history"].get("stopped_early")),
            "val_fraction": ctx.members[member].train.val_fraction}


@register("dropout", columns={"dropout_error_ratio": "dropout: |E[train] − eval| / MC noise"})
def dropout(ctx, member: str) -> Dict[str, Any]:
    model = ctx.model(member)
    if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        return {"dropout_layers": 0}
    x, _ = ctx.load(member, "test", DROPOUT_SAMPLES, 0)
    r = probes.dropout_check(model, x, draws=DROPOUT_DRAWS, seed=0)
    return {"dropout_layers": len(r["layers"]), "dropout_p": r["layers"][0]["p"],
            "dropout_eval_deterministic": r["eval_deterministic"], "dropout_train_varies": r["train_mode_varies"],
            "dropout_eval_identity": all(layer["eval_is_identity"] for layer in r["layers"]),
            "dropout_rel_error": max(layer["rel_error"] for layer in r["layers"]),
            "dropout_expected_rel_error": r["layers"][0]["expected_rel_error"],
            "dropout_error_ratio": r["max_error_ratio"], "dropout_network_rel_error": r["network_rel_error"],
            "dropout_draws": DROPOUT_DRAWS, "dropout_samples": int(x.shape[0])}
