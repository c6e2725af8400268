"""The chapter's report sections judge their claims seed by seed, with the noise stated: built on
small summaries whose per-seed numbers are chosen so that each verdict could go either way."""
from __future__ import annotations

from typing import Any, Dict, List

from landscape.studies.chapter import sections

SEEDS = [0, 1, 2]


def _member(coords: Dict[str, Any], **per_seed: List[float]) -> Dict[str, Any]:
    m: Dict[str, Any] = {"coords": coords, "train_samples": 500, "epochs_trained": 100, "diverged": False,
                         "spread": {}}
    for key, vals in per_seed.items():
        m["spread"][key] = {"values": vals, "median": sorted(vals)[1], "min": min(vals), "max": max(vals)}
        m[key] = sorted(vals)[1]
    return m


def _summary(variables: List[Dict[str, Any]], members: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    return {"config": {"study": {"variables": variables, "seeds": SEEDS}, "model": {"seed": 0},
                       "report": {"margin": 0.2}, "grid": {"plane": [-1.0, 1.0, 15]}, "figures": {}},
            "data": {"test_samples": 1000, "train_samples": 500, "num_classes": 10},
            "members": members, "computed": {}, "reused": {}}


def _overfitting(remedy_gaps, remedy_test):
    base = _member({"remedy": "baseline"}, error_gap=[0.13, 0.11, 0.14], test_acc=[0.87, 0.89, 0.86],
                   train_acc=[1.0, 1.0, 1.0], lambda_max=[2.0, 2.1, 1.9], basin_width_x=[0.4, 0.4, 0.4],
                   basin_width_y=[0.4, 0.4, 0.4])
    remedy = _member({"remedy": "dropout"}, error_gap=remedy_gaps, test_acc=remedy_test, train_acc=[1.0, 1.0, 1.0],
                     lambda_max=[2.0, 2.05, 1.95], basin_width_x=[0.4, 0.4, 0.4], basin_width_y=[0.4, 0.55, 0.4])
    return _summary([{"name": "remedy", "values": ["baseline", "dropout"]}], {"b": base, "d": remedy})


def test_overfitting_remedy_judged_seed_by_seed():
    text = "\n".join(sections.overfitting(_overfitting([0.07, 0.07, 0.08], [0.93, 0.93, 0.92])))
    assert "Claim *this setting overfits* (a train − test accuracy gap of at least 10 points): **Confirmed** (3 of 3" \
        in text
    row = next(line for line in text.splitlines() if line.startswith("| dropout"))
    # narrower gap and better test in every seed; λmax within the 20% margin and the basin within one cell: no vote
    assert row.rstrip().endswith("| yes | yes | – | – |"), row
    assert "93.0% [92.0%, 93.0%]" in row
    assert "**Confirmed** (3 of 3 remedies" not in text  # one remedy: the unit counts remedies
    assert "the gap narrows in every seed with dropout." in text
    # the baseline fits its 500 examples but stays below 90%: said why
    assert "it fits its 500 training examples (100.0%) but not the test set" in text


def test_overfitting_remedy_within_the_noise_or_split_over_seeds():
    # one seed narrows the gap by far more than the noise, one the other way, one within it: partly
    text = "\n".join(sections.overfitting(_overfitting([0.02, 0.20, 0.13], [0.89, 0.87, 0.86])))
    row = next(line for line in text.splitlines() if line.startswith("| dropout"))
    assert "| partly (1 of 3) |" in row and "| – |" in row, row
    assert "**Partly confirmed**" in text


def _normalization(bn_small):
    members = {}
    for norm in ("batch", "layer"):
        for b in (2, 128):
            acc = bn_small if (norm, b) == ("batch", 2) else [0.93, 0.93, 0.93]
            gap = [0.0, 0.0, 0.0] if norm == "layer" else [0.3, 0.2, 0.25]
            members[f"{norm}{b}"] = dict(_member({"norm": norm, "batch_size": str(b)}, test_acc=acc,
                                                 mode_gap=gap, mode_gap_abs=gap, lambda_max=[1.0, 1.0, 1.0],
                                                 basin_width_x=[0.1, 0.1, 0.1]), batch_size=b)
    return _summary([{"name": "norm", "values": ["batch", "layer"]},
                     {"name": "batch_size", "values": ["2", "128"]}], members)


def test_normalization_small_batch_claim_needs_every_seed_beyond_the_noise():
    text = "\n".join(sections.normalization(_normalization([0.80, 0.82, 0.85])))
    assert "Claim *BatchNorm suffers from small batches more than LayerNorm*: **Confirmed** (3 of 3 seeds" in text
    assert "Claim *LayerNorm (statistics per sample) does not depend on the batch*: **Confirmed**" in text
    # 0.93 - 0.91 = 2 points in one seed: within the 6.3-point noise of a difference of differences
    text = "\n".join(sections.normalization(_normalization([0.80, 0.91, 0.85])))
    assert "small batches more than LayerNorm*: **Partly confirmed** (2 of 3 seeds agree; 1 seed without a vote" in text


def test_vanishing_gradients_bounds_hold_at_every_depth_and_seed():
    members = {}
    for d in (8, 14):
        for a in ("relu", "sigmoid"):
            relu = a == "relu"
            members[f"{a}{d}"] = _member({"depth": d, "activation": a},
                                         grad_ratio_init=[0.2, 0.15, 0.3] if relu else [1e-6, 2e-6, 1e-6],
                                         grad_ratio_last=[0.3, 0.05 if d == 14 else 0.3, 0.4] if relu else [1e-5] * 3,
                                         max_slope_init=[1.0] * 3 if relu else [0.25, 0.2499, 0.25],
                                         train_acc=[0.98] * 3 if relu else [0.1] * 3, test_acc=[0.93] * 3 if relu
                                         else [0.09] * 3, first_layer_change=[0.2] * 3 if relu else [1e-5] * 3)
    s = _summary([{"name": "depth", "values": [8, 14]}, {"name": "activation", "values": ["relu", "sigmoid"]}],
                 members)
    text = "\n".join(sections.vanishing_gradients(s))
    assert "Claim *sigmoid's derivative is at most 1/4*: **Confirmed** (3 of 3 seeds agree)" in text
    # at initialization every depth keeps 0.1; in the last epoch one seed at depth 14 fell to 0.05
    assert "at initialization **Confirmed**" in text
    assert "in the last epoch of training **Partly confirmed** (1 of 2 depths agree)" in text
