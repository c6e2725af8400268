"""Grid studies: [study] variables x values -> members, per-member settings, pairs, claims, the
Fig. 5 grid and training curves. The end-to-end run is a tiny ResNet grid on digits (seconds)."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from landscape import cli
from landscape.studies import config as study, members, report

GRID = """
name = "tinygrid"
title = "tiny grid"
threads = 1

[data]
dataset = "digits"
n_train = 192

[study]
model = "resnet"
compare = "skip"

[[study.variables]]
name = "depth"
values = [8, 14]

[[study.variables]]
name = "skip"
values = [true, false]

[train]
epochs = 2
warmup_epochs = 0.5

[grid]
plane = [-1.0, 1.0, 7]
line = [-1.0, 1.0, 7]
pca = 0
n_samples = 96
test_on = ["line"]

[metrics]
n_samples = 64
trace_probes = 2
eig_tol = 0.01
extra = ["error_gap"]

[figures]
dpi = 30
member = []
pair = ["lines"]

[report]
table = ["test_error", "train_loss", "lambda_max", "n_local_minima", "residual_energy", "error_gap"]

[[report.claims]]
text = "Without skip connections, test error grows with depth"
measure = "test_error"
along = "depth"
where = { skip = false }

[[report.claims]]
text = "Without skip connections the training loss is higher"
measure = "train_loss"
kind = "order"
higher = { skip = false }
lower = { skip = true }

[quick]
train = { epochs = 1 }
"""
NAMES = ["resnet8", "resnet8_noskip", "resnet14", "resnet14_noskip"]


def _toml(text):
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib.loads(text)


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    (root / "grid.toml").write_text(GRID)
    res = CliRunner().invoke(cli.main, ["experiment", str(root / "grid.toml"), "--out", str(root / "out"),
                                        "--no-progress"])
    assert res.exit_code == 0, res.output
    return root, json.loads((root / "out" / "summary.json").read_text()), res.output


def test_grid_members_pairs_and_figures(grid_run):
    root, s, output = grid_run
    out = root / "out"
    assert list(s["members"]) == NAMES
    assert [(p["with"], p["without"]) for p in s["pairs"]] == [("resnet8", "resnet8_noskip"),
                                                               ("resnet14", "resnet14_noskip")]
    assert s["members"]["resnet14_noskip"]["coords"] == {"depth": 14, "skip": False}
    for m in s["members"].values():
        assert math.isfinite(m["lambda_max"]) and isinstance(m["n_local_minima"], int) and m["n_local_minima"] >= 1
        assert m["error_gap"] == pytest.approx(m["train_acc"] - m["test_acc"])
        assert m["figures"] == {}  # [figures] member = []
    [g] = s["grids"]
    assert g["cells"] == ["resnet8", "resnet14", "resnet8_noskip", "resnet14_noskip"]  # rows skip, cols depth
    assert g["row_labels"] == ["skip", "no skip"] and g["col_labels"] == ["depth 8", "depth 14"]
    assert set(g["figures"]) == {"contour", "surface", "curves"}
    for path in g["figures"].values():
        assert (out / path).stat().st_size > 1000
    assert [set(p["figures"]) for p in s["pairs"]] == [{"lines"}, {"lines"}]
    # test_on = ["line"]: the planes hold training values only, the lines both splits
    from landscape.storage import io

    plane, line = (io.load(out / s["members"]["resnet8"]["surfaces"][k]) for k in ("plane", "line"))
    assert set(plane.values) == {"train_loss", "train_acc"} and plane.attrs["splits"] == "train"
    assert {"train_loss", "test_loss"} <= set(line.values)
    # the members table is printed at the end, with the claims
    assert "| resnet14_noskip | 14 | false |" in output and "What the numbers say" in output


def test_grid_report_states_the_measured_claims(grid_run):
    root, s, _ = grid_run
    text = (root / "out" / "report.md").read_text()
    assert text.index("## All members") < text.index("## What the numbers say") < text.index(
        "## The landscapes side by side") < text.index("## Training curves")
    for path in s["grids"][0]["figures"].values():
        assert f"]({path})" in text
    m = s["members"]
    rising = m["resnet14_noskip"]["test_error"] > m["resnet8_noskip"]["test_error"]
    verdict = "**Confirmed**" if rising else "**Not confirmed**"
    assert f"- {verdict}: Without skip connections, test error grows with depth" in text
    holds = [m[f"resnet{d}_noskip"]["train_loss"] > m[f"resnet{d}"]["train_loss"] for d in (8, 14)]
    verdict = {2: "Confirmed", 1: "Partly confirmed", 0: "Not confirmed"}[sum(holds)]
    assert f"- **{verdict}**: Without skip connections the training loss is higher" in text
    assert f"| resnet8 | 8 | true | {report._pct(m['resnet8']['test_error'])} |" in text


def test_grid_rerun_reuses_everything(grid_run):
    root, s, _ = grid_run
    res = CliRunner().invoke(cli.main, ["experiment", str(root / "grid.toml"), "--out", str(root / "out"),
                                        "--no-progress"])
    assert res.exit_code == 0, res.output
    again = json.loads((root / "out" / "summary.json").read_text())
    for stage in ("train", "surfaces", "sharpness", "figures"):
        assert again["computed"][stage] == [], stage
    assert {k: v["lambda_max"] for k, v in again["members"].items()} == {
        k: v["lambda_max"] for k, v in s["members"].items()}


def test_members_share_seed_and_data_order_within_a_depth():
    config = study.from_dict(_toml(GRID))
    ms, _ = members.build_members(config, (1, 8, 8), 10)
    a, b = ms["resnet14"], ms["resnet14_noskip"]
    assert a.train == b.train and a.data == b.data
    assert all((p == q).all() for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_any_setting_varies_per_member_and_bundles_are_labelled():
    d = _toml(GRID)
    d["study"] = {"model": "mlp8", "compare": "remedy", "variables": [
        {"name": "remedy", "values": {"none": {}, "dropout": {"dropout": 0.2},
                                      "early_stopping": {"val_fraction": 0.1, "patience": 3},
                                      "subset": {"n_train": 100}, "decay": {"weight_decay": 0.01}}},
        {"name": "batch_size", "values": [16, 64]}]}
    d["report"] = {}
    config = study.from_dict(d)
    ms, pairs = members.build_members(config, (1, 8, 8), 10)
    assert list(ms)[:3] == ["mlp8_none_bs16", "mlp8_none_bs64", "mlp8_dropout_bs16"]
    assert ms["mlp8_dropout_bs64"].spec["dropout"] == 0.2 and ms["mlp8_dropout_bs64"].train.batch_size == 64
    assert ms["mlp8_early_stopping_bs16"].train.patience == 3 and ms["mlp8_subset_bs16"].data.n_train == 100
    assert ms["mlp8_decay_bs16"].train.weight_decay == 0.01 and ms["mlp8_none_bs16"].train.weight_decay == 5e-4
    assert pairs[0] == members.Pair("remedy", "mlp8_none_bs16", "mlp8_dropout_bs16") and len(pairs) == 8
    assert study.from_dict(_toml(study.to_toml(config))) == config


def test_quick_merges_the_configs_own_quick_table():
    config = study.from_dict(_toml(GRID))
    q = study.quick(config)
    assert q.train.epochs == 1 and q.name == "tinygrid-quick" and q.study == config.study
    assert study.from_dict(_toml(study.to_toml(config))) == config


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["study"]["variables"].append({"name": "seed", "values": [0, 1]}), ["seed", "model.seed"]),
    (lambda d: d["study"]["variables"].append({"name": "frobnicate", "values": [1]}), ["frobnicate"]),
    (lambda d: d["study"]["variables"][0].update(values=[7]), ["depth = 7", "6n+2"]),
    (lambda d: d["study"].update(compare="depht"), ["study.compare", "depth"]),
    (lambda d: d.update(pairs=[{"model": "mlp8"}]), ["[study]", "[[pairs]]"]),
    (lambda d: d["report"].update(table=["test_eror"]), ["report.table", "test_error"]),
    (lambda d: d["report"]["claims"][0].update(where={"skip": 3}), ["skip", "3"]),
    (lambda d: d["metrics"].update(extra=["nope"]), ["metrics.extra", "nope"]),
    (lambda d: d.update(model={"depth": 20}), ["depth", "[model]"]),
    (lambda d: d.update(quick={"epochs": 3}), ["epochs", "[quick]"]),
])
def test_bad_study_config_is_one_line(tmp_path, edit, words):
    d = _toml(GRID)
    edit(d)
    path = tmp_path / "bad.toml"
    path.write_text(_dump(d))
    res = CliRunner().invoke(cli.main, ["experiment", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    for w in words:
        assert w in res.output, (w, res.output)
    assert not (tmp_path / "out").exists()


def _dump(d):
    """TOML text of plain nested data (what study.to_toml writes for a valid config)."""
    lines = [f"{k} = {study._toml_value(v)}" for k, v in d.items() if not isinstance(v, (dict, list))]
    for k, v in d.items():
        if isinstance(v, dict):
            study._toml_table(k, v, lines)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                study._toml_table(k, item, lines, "[[{}]]")
    return "\n".join(lines) + "\n"


def test_claims_verdicts_come_from_the_numbers():
    def member(depth, skip, err):
        return {"coords": {"depth": depth, "skip": skip}, "test_error": err}

    s = {"config": {"study": {"variables": [{"name": "depth", "values": [20, 56, 110]},
                                            {"name": "skip", "values": [True, False]}]},
                    "report": {"claims": [{"text": "t", "measure": "test_error", "kind": "trend", "along": "depth",
                                           "direction": "increasing", "where": {"skip": False}},
                                          {"text": "o", "measure": "test_error", "kind": "order",
                                           "higher": {"skip": False}, "lower": {"skip": True}}]}},
         "members": {"a": member(20, True, 0.01), "b": member(20, False, 0.02), "c": member(56, True, 0.01),
                     "d": member(56, False, 0.5), "e": member(110, True, 0.02), "f": member(110, False, 0.4)}}
    trend, order = report.claim_results(s)
    assert trend["verdict"] == "not confirmed" and trend["groups"][0]["numbers"] == [(20, 0.02), (56, 0.5), (110, 0.4)]
    assert order["verdict"] == "confirmed" and [g["at"] for g in order["groups"]] == [{"depth": 20}, {"depth": 56},
                                                                                       {"depth": 110}]
    s["members"]["f"]["test_error"] = 0.9
    assert report.claim_results(s)[0]["verdict"] == "confirmed"
    s["members"]["b"]["test_error"] = 0.005
    s["members"]["d"]["test_error"] = 0.001
    assert report.claim_results(s)[1]["verdict"] == "partly confirmed"
    s["members"]["f"]["diverged"] = True
    assert report.claim_results(s)[0]["verdict"] == "no claim"


def test_claims_need_a_margin_above_the_noise_and_nets_that_learn():
    def member(act, loss, acc):
        return {"coords": {"activation": act}, "train_loss": loss, "test_acc": acc}

    claims = [{"text": "l", "measure": "train_loss", "kind": "order", "higher": {"activation": "sigmoid"},
               "lower": {"activation": "relu"}},
              {"text": "a", "measure": "test_acc", "kind": "order", "higher": {"activation": "relu"},
               "lower": {"activation": "sigmoid"}}]
    s = {"config": {"study": {"variables": [{"name": "activation", "values": ["relu", "sigmoid"]}]},
                    "report": {"claims": claims, "margin": 0.2}},
         "data": {"test_samples": 1000, "train_samples": 4000, "num_classes": 10},
         "members": {"r": member("relu", 2.0, 0.93), "s": member("sigmoid", 2.3, 0.91)}}
    loss, acc = report.claim_results(s)
    # 2.3 vs 2.0 is within 20% of 2.3; 91% vs 93% is within two binomial standard errors (3.2 points)
    assert loss["verdict"] == "no claim" and "margin (20%" in loss["judged"]["why"]
    assert acc["verdict"] == "no claim" and "resolution (0.0316)" in acc["judged"]["why"]
    s["members"]["s"].update(train_loss=2.9, test_acc=0.10)
    assert [r["verdict"] for r in report.claim_results(s)] == ["confirmed", "confirmed"]
    text = "\n".join(report.claims_section(s))
    assert "3.2 points on 1,000 test examples" in text and "20% of the larger" in text
    # without a margin every difference votes, as before
    del s["config"]["report"]["margin"]
    s["members"]["s"].update(train_loss=2.3, test_acc=0.91)
    assert [r["verdict"] for r in report.claim_results(s)] == ["confirmed", "confirmed"]
    # nets at chance: no claim from them, and the section says why
    s["members"]["r"]["test_acc"], s["members"]["s"]["test_acc"] = 0.13, 0.11
    assert [r["verdict"] for r in report.claim_results(s)] == ["no claim", "no claim"]
    text = "\n".join(report.claims_section(s))
    assert "No claim is made from this run" in text and "best test accuracy 13.0%, below 50%" in text
