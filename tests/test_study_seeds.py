"""Seeds in studies: [study] seeds / --seeds N expand members into replicates; the summary folds them
(median, [min, max]); claims are judged per seed (landscape.studies.verdicts)."""
import json

import pytest
import torch
from click.testing import CliRunner

from landscape import cli
from landscape.studies import claims, config as study, members, replicates
from landscape.studies.report import claim_results, render

GRID = """
name = "seedgrid"
threads = 1

[data]
dataset = "digits"
n_train = 128

[study]
model = "resnet"
compare = "skip"
seeds = [0, 1]

[[study.variables]]
name = "depth"
values = [8]

[[study.variables]]
name = "skip"
values = [true, false]

[train]
epochs = 1
warmup_epochs = 0.2

[grid]
plane = [-1.0, 1.0, 5]
line = [-1.0, 1.0, 5]
pca = 0
n_samples = 64
test_on = []

[metrics]
n_samples = 32
trace_probes = 2
eig_tol = 0.05

[figures]
draw = false

[[report.claims]]
text = "Without skip connections the training loss is higher"
measure = "train_loss"
kind = "order"
higher = { skip = false }
lower = { skip = true }
"""


def _toml(text):
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib.loads(text)


def test_seeds_in_the_config_round_trip_and_bad_values():
    c = study.from_dict(_toml(GRID))
    assert c.seeds == (0, 1)
    assert study.from_dict(_toml(study.to_toml(c))) == c
    assert study.with_seeds(c, 3).seeds == (0, 1, 2)
    # a pairs config takes seeds from a [study] table that holds only them
    pairs = study.from_dict({"data": {"dataset": "digits"}, "study": {"seeds": [3, 4]},
                             "pairs": [{"model": "mlp20", "vary": "skip"}]})
    assert pairs.seeds == (3, 4) and pairs.study is None
    assert study.from_dict(_toml(study.to_toml(pairs))).seeds == (3, 4)
    for bad, word in [([0, 0], "distinct"), ([-1], ">= 0"), ("0,1", "list"), ([0.5], "whole number")]:
        d = _toml(GRID)
        d["study"]["seeds"] = bad
        with pytest.raises(ValueError, match="study.seeds"):
            study.from_dict(d)
    with pytest.raises(ValueError, match="seeds"):
        study.with_seeds(c, 0)


def test_replicates_differ_only_in_the_seed():
    c = study.from_dict(_toml(GRID))
    ms, pairs = members.build_members(c, (1, 8, 8), 10)
    assert list(ms) == ["resnet8_s0", "resnet8_s1", "resnet8_noskip_s0", "resnet8_noskip_s1"]
    assert [(p.with_, p.without) for p in pairs] == [("resnet8_s0", "resnet8_noskip_s0"),
                                                     ("resnet8_s1", "resnet8_noskip_s1")]
    a0, a1 = ms["resnet8_s0"], ms["resnet8_s1"]
    assert (a0.group, a0.seed, a1.seed) == ("resnet8", 0, 1) and a1.coords == a0.coords
    assert (a0.train.seed, a1.train.seed) == (0, 1)
    import dataclasses
    assert dataclasses.replace(a1.train, seed=0) == a0.train and a1.data == a0.data  # nothing else differs
    w0, w1 = (next(m.model.parameters()) for m in (a0, a1))
    assert not torch.equal(w0, w1)  # other initial weights ...
    assert torch.equal(w0, next(ms["resnet8_noskip_s0"].model.parameters()))  # ... shared within a pair
    assert members.groups(ms) == {"resnet8": ["resnet8_s0", "resnet8_s1"],
                                  "resnet8_noskip": ["resnet8_noskip_s0", "resnet8_noskip_s1"]}
    assert list(members.shown(ms)) == ["resnet8_s0", "resnet8_noskip_s0"]
    assert [g.cells for g in members.grids(ms, c.study)] == [("resnet8_s0", "resnet8_noskip_s0")]
    # a variable that sets a seed cannot be combined with seeds
    d = _toml(GRID)
    d["study"]["variables"].append({"name": "train.seed", "values": [0, 1]})
    with pytest.raises(ValueError, match="train.seed"):
        members.build_members(study.from_dict(d), (1, 8, 8), 10)


def test_fold_gives_medians_ranges_and_how_often_a_member_trains():
    entries = {f"net_s{i}": {"coords": {"skip": False}, "spec": {"i": i}, "test_acc": acc, "lambda_max": lam,
                             "diverged": False, "notes": []}
               for i, (acc, lam) in enumerate([(0.9, 3.0), (0.2, 50.0), (0.6, 7.0)])}
    entries["net_s2"]["diverged"] = True
    entries["net_s2"]["notes"] = ["net_s2 diverged"]
    m = replicates.fold(entries, {"net": ["net_s0", "net_s1", "net_s2"]}, [0, 1, 2])["net"]
    assert m["spec"] == {"i": 0} and m["seeds"] == [0, 1, 2] and m["diverged"] is False and m["diverged_seeds"] == 1
    assert m["spread"]["lambda_max"] == {"median": 26.5, "min": 3.0, "max": 50.0, "values": [3.0, 50.0, None]}
    assert m["lambda_max"] == 26.5 and m["trains"] == {"count": 1, "of": 3, "threshold": 0.5}
    assert m["notes"] == ["net_s2 diverged"]
    assert replicates.values(m, "lambda_max") == [3.0, 50.0, None]
    assert replicates.values({"lambda_max": 2.0}, "lambda_max") == [2.0]


def _summary(values_skip, values_noskip):
    """A summary of two members with per-seed train losses (the judging logic alone, no training)."""
    def member(skip, vals):
        s = replicates.seed_spread(vals)
        return {"coords": {"depth": 8, "skip": skip}, "train_loss": s["median"], "spread": {"train_loss": s},
                "diverged": False}

    c = study.from_dict(_toml(GRID)).to_dict()
    return {"config": c, "members": {"resnet8": member(True, values_skip),
                                     "resnet8_noskip": member(False, values_noskip)}}


def test_claims_are_judged_on_the_seeds():
    s = _summary([0.1, 0.2], [0.5, 0.6])
    [r] = claim_results(s)
    assert r["verdict"] == "confirmed" and r["judged"]["why"] == "the intervals do not overlap"
    s = _summary([0.1, 0.7], [0.5, 0.8])  # overlapping, but each seed agrees
    assert claim_results(s)[0]["verdict"] == "confirmed" and claim_results(s)[0]["judged"]["agree"] == 2
    s = _summary([0.1, 0.9], [0.5, 0.8])  # one seed of two
    [r] = claim_results(s)
    assert r["verdict"] == "partly confirmed" and (r["judged"]["agree"], r["judged"]["of"]) == (1, 2)
    text = "\n".join(claims.claims_section(s))
    assert "- **Partly confirmed**: Without skip connections the training loss is higher" in text
    assert "0.65 [0.5, 0.8] (skip = false) vs 0.5 [0.1, 0.9] (skip = true)" in text
    assert "1 of 2 seeds agree" in text and "2 training seeds per member" in text and "**no claim**" in text
    s = _summary([0.1, 0.9], [None, None])
    assert claim_results(s)[0]["verdict"] == "no claim"


def test_seeds_zero_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(cli.main, ["experiment", "li2018-mnist1d-resnet", "--seeds", "0", "--out",
                                        str(tmp_path / "x")])
    assert res.exit_code == 2 and "--seeds" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    res = CliRunner().invoke(cli.main, ["demo", "--seeds", "0", "--out", str(tmp_path / "y")])
    assert res.exit_code == 2 and "--seeds" in res.output and not (tmp_path / "y").exists()
    for command in (["experiment", "--help"], ["demo", "--help"]):
        assert "--seeds 3" in CliRunner().invoke(cli.main, command).output


@pytest.mark.slow
def test_a_study_with_seeds_end_to_end(tmp_path):
    (tmp_path / "grid.toml").write_text(GRID)
    res = CliRunner().invoke(cli.main, ["experiment", str(tmp_path / "grid.toml"), "--out", str(tmp_path / "out"),
                                        "--no-progress"])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(s["members"]) == ["resnet8", "resnet8_noskip"]
    assert set(s["replicates"]) == {"resnet8_s0", "resnet8_s1", "resnet8_noskip_s0", "resnet8_noskip_s1"}
    for name, m in s["members"].items():
        values = [s["replicates"][f"{name}_s{i}"]["lambda_max"] for i in (0, 1)]
        assert m["spread"]["lambda_max"]["values"] == values and m["lambda_max"] == pytest.approx(sum(values) / 2)
        assert (tmp_path / "out" / "runs" / f"{name}_s1" / "final.pt").is_file()
    assert [(p["with"], p["without"]) for p in s["pairs"]] == [("resnet8", "resnet8_noskip")]
    assert set(s["pairs"][0]["comparison"]["judged"]) == {"lambda_max", "trace", "curvature", "basin_width"}
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Over seeds" in text and "test accuracy with" in text and " of 2 seeds" in text
    assert render(s) == text


@pytest.mark.slow
def test_depth_study_quick_with_three_seeds(tmp_path):
    """The acceptance run: `landscape experiment li2018-mnist1d-resnet --quick --seeds 3` writes a table of
    intervals and claims judged on them (about 5 minutes on 2 quiet cores)."""
    import re

    from landscape.studies import verdicts

    res = CliRunner().invoke(cli.main, ["experiment", "li2018-mnist1d-resnet", "--quick", "--seeds", "3", "--out",
                                        str(tmp_path / "depth"), "--no-progress"])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "depth" / "summary.json").read_text())
    assert list(s["members"]) == ["resnet20", "resnet20_noskip", "resnet56", "resnet56_noskip"]
    assert len(s["replicates"]) == 12
    for m in s["members"].values():
        assert len(m["spread"]["test_error"]["values"]) == 3 and m["trains"]["of"] == 3
    text = (tmp_path / "depth" / "report.md").read_text()
    rows = [line for line in text.split("## All members")[1].split("\n\n")[1].splitlines()[2:]]
    assert len(rows) == 4 and all(re.search(r"\d%? \[[-\d.e+%]+, [-\d.e+%]+\]", r) for r in rows), rows
    assert verdicts.RULE in text
    section = text.split("## What the numbers say")[1].split("\n## ")[0]
    judged = [line for line in section.splitlines() if line.startswith("- **")]
    assert len(judged) == 7
    assert all(any(line.startswith(f"- {verdicts.mark(verdicts.Verdict(v))}") for v in verdicts.VERDICTS)
               for line in judged)
    assert "## Over seeds" in text


def test_pair_report_over_seeds_says_how_often_a_member_trains():
    from landscape.studies import experiment, report

    def entries(name, accs, lams):
        return {f"{name}_s{i}": {"test_acc": acc, "lambda_max": lam, "trace": 10 * lam, "train_loss": 1 - acc,
                                 "curvature_x": lam, "curvature_y": lam, "basin_width_x": 0.3, "basin_width_y": 0.3,
                                 "diverged": False, "notes": [], "n_local_minima": 1}
                for i, (acc, lam) in enumerate(zip(accs, lams))}

    e = {**entries("r56", [0.98, 0.97, 0.98], [7.0, 8.0, 9.0]), **entries("r56_noskip", [0.135, 0.604, 0.71],
                                                                        [852.0, 2.76e4, 900.0])}
    folded = replicates.fold(e, {"r56": ["r56_s0", "r56_s1", "r56_s2"],
                                 "r56_noskip": ["r56_noskip_s0", "r56_noskip_s1", "r56_noskip_s2"]}, [0, 1, 2])
    pair = {"name": "r56_vs_r56_noskip", "vary": "skip", "with": "r56", "without": "r56_noskip",
            "comparison": experiment.compare_members(folded["r56"], folded["r56_noskip"], 0.1)}
    s = {"config": {"study": {"seeds": [0, 1, 2]}, "model": {"seed": 0}}, "members": folded, "pairs": [pair]}
    text = "\n".join(claims.seeds_section(s))
    assert "r56_noskip reached ≥ 50% test accuracy with 2 of 3 seeds (13.5%, 60.4%, 71.0%): it is at the edge of " \
           "trainability" in text and "spans 57 points over the seeds" in text
    assert "r56 reached ≥ 50% test accuracy with 3 of 3 seeds (98.0%, 97.0%, 98.0%)." in text
    judged = pair["comparison"]["judged"]
    assert judged["lambda_max"]["verdict"] == "confirmed" and judged["basin_width"]["verdict"] == "no claim"
    sentences = " ".join(report.pair_sentences(s, pair))
    assert "Is λmax of r56_noskip larger than that of r56 (the sharper minimum)? Judged over the seeds: confirmed" \
           in sentences
    table = "\n".join(report.pairs_section({**s, "figures": {}}))
    assert "| λmax (Hessian, largest eigenvalue) | 8 [7, 9] | 900 [852, 2.76e+04] |" in table
    assert "| seeds reaching ≥ 50% test accuracy | 3 of 3 | 2 of 3 |" in table


def test_grid_planes_setting():
    from landscape.studies.specs import GridSpec

    assert GridSpec().planes == 1 and study.from_dict(_toml(GRID)).grid.planes == 1
    with pytest.raises(ValueError, match="grid.planes"):
        GridSpec(planes=0)
