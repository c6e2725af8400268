"""`landscape demo` / `landscape experiment`: the study pipeline, its configs and its report.

The end-to-end tests run a tiny study (mlp8 pairs, 3 epochs, 11x11 grids, small samples) through
every stage; the real demo (MNIST-1D) is run separately (marked slow). Grid studies: test_study_grid.py.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from landscape import cli
from landscape.studies import config as study, experiment, report

TINY = """
name = "tiny"
title = "tiny study"
threads = 1

[data]
dataset = "digits"
n_train = 256

[model]
seed = 0

[[pairs]]
model = "mlp8"
vary = "skip"

[train]
epochs = 3
warmup_epochs = 1.0

[grid]
plane = [-1.0, 1.0, 11]
line = [-1.0, 1.0, 11]
pca = 7
n_samples = 128

[metrics]
n_samples = 128
trace_probes = 4

[figures]
dpi = 40
"""

MEMBERS = ["mlp8", "mlp8_noskip"]
NUMBERS = ["test_acc", "test_loss", "train_loss", "lambda_max", "trace", "curvature_x", "curvature_y",
           "basin_width_x", "basin_width_y"]


def _invoke(args):
    result = CliRunner().invoke(cli.main, args)
    return result


def _numbers(summary):
    return {name: {k: m.get(k) for k in NUMBERS} for name, m in summary["members"].items()}


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def first_run(tiny_toml, tmp_path_factory):
    """`landscape experiment tiny.toml` once; the summary of that first run and its directory."""
    out = tmp_path_factory.mktemp("study") / "out"
    res = _invoke(["experiment", str(tiny_toml), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return out, json.loads((out / "summary.json").read_text()), res.output


def test_every_stage_writes_its_outputs(first_run):
    out, summary, output = first_run
    assert list(summary["members"]) == MEMBERS
    assert [p["name"] for p in summary["pairs"]] == ["mlp8_vs_mlp8_noskip"]
    for name in MEMBERS:
        m = summary["members"][name]
        assert (out / m["run_dir"] / "final.pt").is_file()
        assert set(m["surfaces"]) == {"plane", "line", "pca"}
        for path in m["surfaces"].values():
            assert (out / path).is_file()
        assert set(m["figures"]) == {"contour", "surface", "pca"}
        for key in NUMBERS:
            assert isinstance(m[key], float) and math.isfinite(m[key]), (name, key, m[key])
        assert m["lambda_max"] > 0 and m["n_samples"] == 128
    for pair in summary["pairs"]:
        assert set(pair["figures"]) == {"compare_contour", "compare_surface", "lines", "gradient_flow"}
        for path in pair["figures"].values():
            assert (out / path).stat().st_size > 1000
    # surfaces and sharpness sample the data the networks were trained on (the n_train subset)
    assert summary["data"]["train_samples"] == 256 and summary["grid_samples"] == {"train": 128, "test": 128}
    assert set(summary["timings"]) == set(experiment.STAGES) | {"total"}
    assert summary["computed"]["train"] == MEMBERS and summary["reused"]["train"] == []
    assert len(summary["computed"]["surfaces"]) == 6 and len(summary["computed"]["figures"]) == 11
    assert summary["figures"] == {"curves": "figures/training_curves.png"}  # one panel per pair
    # the stage times and the total are printed at the end
    assert "Stage times (s): train" in output and "total" in output.splitlines()[-2]


def test_report_embeds_figures_and_states_measured_numbers(first_run):
    out, summary, _ = first_run
    text = (out / "report.md").read_text()
    for pair in summary["pairs"]:
        assert f"| | {pair['with']} | {pair['without']} |" in text
        for path in pair["figures"].values():
            assert f"]({path})" in text and not Path(path).is_absolute()
    a, b = summary["members"]["mlp8"], summary["members"]["mlp8_noskip"]
    ratio = b["lambda_max"] / a["lambda_max"]
    assert f"λmax of mlp8_noskip is {report._times(ratio)} that of mlp8" in text
    assert f"{100 * a['test_acc']:.1f}%" in text
    # every setting: the config is embedded and rebuilds the same study
    toml = text.split("```toml\n")[1].split("```")[0]
    assert study.from_dict(_toml_loads(toml)) == study.load_config(out / "config.toml")


def test_surfaces_of_a_pair_share_directions_and_record_settings(first_run):
    from landscape.storage import io

    out, summary, _ = first_run
    a = io.load(out / summary["members"]["mlp8"]["surfaces"]["plane"])
    b = io.load(out / summary["members"]["mlp8_noskip"]["surfaces"]["plane"])
    assert a.attrs["seed"] == b.attrs["seed"] == 0 and a.attrs["norm"] == "filter"
    assert list(a.directions[0]) == list(b.directions[0])  # identical parameter names, one seed
    assert a.attrs["model_name"] == "mlp8" and b.attrs["model_name"] == "mlp8_noskip"
    assert a.done().all() and a.shape == (11, 11)
    assert "train_loss" in a.metrics and float(a.metrics["train_loss"]["curvature_x"]) == pytest.approx(
        summary["members"]["mlp8"]["curvature_x"])
    pca = io.load(out / summary["members"]["mlp8"]["surfaces"]["pca"])
    assert pca.attrs["direction_kind"] == "pca" and len(pca.trajectory["coords"]) == 4  # epochs 0..3


def test_rerun_reuses_everything(first_run, tiny_toml):
    out, summary, _ = first_run
    res = _invoke(["experiment", str(tiny_toml), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    again = json.loads((out / "summary.json").read_text())
    for stage in ("train", "surfaces", "sharpness", "figures"):
        assert again["computed"][stage] == [], stage
        assert len(again["reused"][stage]) == len(summary["computed"][stage]), stage
    assert _numbers(again) == _numbers(summary)
    # nothing was trained or sampled: the work stages take well under the first run's time
    work = ("train", "surfaces", "sharpness")
    assert sum(again["timings"][s] for s in work) < 0.5 * sum(summary["timings"][s] for s in work)
    # ... and the report keeps the seconds of the run that did the work, not the rerun's (issue 30.7)
    for s in work:
        assert again["made_timings"][s] == summary["made_timings"][s] == summary["timings"][s], s
    report_text = (out / "report.md").read_text()
    assert f"| train | {summary['timings']['train']:.1f} |" in report_text and "This run took" in report_text


def test_demo_gives_the_same_numbers_as_experiment(first_run, tiny_toml, tmp_path, monkeypatch):
    """`landscape demo` runs its config through the same pipeline: with the tiny config swapped in
    (figures off: they hold no numbers), a new demo directory reproduces the experiment's numbers
    exactly, and so does --fresh in it."""
    _, summary, _ = first_run
    config = study.load_config(tiny_toml)
    no_figures = dataclasses.replace(config, figures=dataclasses.replace(config.figures, draw=False))
    monkeypatch.setattr(study, "demo_config", lambda: no_figures)
    for extra in ([], ["--fresh"]):
        res = _invoke(["demo", "--out", str(tmp_path / "demo"), "--no-progress", *extra])
        assert res.exit_code == 0, res.output
        demo = json.loads((tmp_path / "demo" / "summary.json").read_text())
        assert demo["computed"]["train"] == MEMBERS and demo["reused"]["surfaces"] == []  # made, not copied
        assert _numbers(demo) == _numbers(summary)
    text = (tmp_path / "demo" / "report.md").read_text()
    assert "Figures were not drawn" in text and "![" not in text


def test_changed_setting_redoes_only_what_depends_on_it(first_run, tiny_toml, tmp_path):
    out, summary, _ = first_run
    config = study.load_config(tiny_toml)
    changed = dataclasses.replace(config, grid=dataclasses.replace(config.grid, line=(-0.5, 0.5, 11)))
    (out / "sharpness" / "mlp8_noskip.json").unlink()
    (out / "figures" / "mlp8_contour.png").unlink()
    result = experiment.run(changed, out, progress_bars=False)
    assert result.computed["train"] == []
    assert sorted(result.computed["surfaces"]) == sorted(f"{m}_line.h5" for m in MEMBERS)
    assert result.computed["sharpness"] == ["mlp8_noskip.json"]
    assert sorted(result.computed["figures"]) == ["figures/mlp8_contour.png", "figures/mlp8_vs_mlp8_noskip_lines.png"]
    assert result.summary["members"]["mlp8_noskip"]["lambda_max"] == summary["members"]["mlp8_noskip"]["lambda_max"]


def test_interrupted_surface_is_resumed(first_run, tmp_path):
    """A surface file with cells missing (a killed run) is finished, not recomputed from scratch."""
    import h5py

    out, summary, _ = first_run
    path = out / summary["members"]["mlp8_noskip"]["surfaces"]["pca"]
    before = _surface_values(path)
    with h5py.File(path, "r+") as f:
        f["done"][3:, :] = 0
    result = experiment.run(study.load_config(out / "config.toml"), out, progress_bars=False)
    assert result.computed["surfaces"] == [path.name]
    assert _surface_values(path) == pytest.approx(before)


def _surface_values(path):
    from landscape.storage import io

    return io.load(path).values["train_loss"].ravel().tolist()


def _toml_loads(text):
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib.loads(text)


# --- configs ------------------------------------------------------------------------------------

def test_packaged_configs_round_trip_through_toml():
    for name, path in study.packaged().items():
        config = study.load_config(path)
        assert study.from_dict(_toml_loads(study.to_toml(config))) == config, name
    assert study.demo_config() == study.load_config(study.packaged()["mnist1d-demo"])


def test_demo_config_is_the_story():
    """`landscape demo` is the headline: a deep conv ResNet on MNIST-1D with and without skips and BN."""
    c = study.demo_config()
    assert [(p.model, p.vary) for p in c.pairs] == [("resnet56", "skip"), ("resnet56", "norm")]
    assert c.data.dataset == "mnist1d" and c.directions.norm == "filter" and c.directions.ignore == "biasbn"
    assert c.seeds == (0, 1, 2)  # the spread of every number, and how often the no-skip net trains
    q = study.quick(c)
    assert q.train.epochs == 4 and q.grid.plane[2] == 11 and q.metrics.n_samples == 256 and q.seeds == c.seeds
    assert c.grid.planes == 3 and q.grid.planes == 3  # three random planes: grid metrics with their spread
    assert q.train.seed == c.train.seed and q.directions == c.directions
    digits = study.load_config(study.packaged()["digits-demo"])  # the MLP study stays shipped
    assert [(p.model, p.vary) for p in digits.pairs] == [("mlp20", "skip"), ("mlp20", "norm")]
    assert digits.data.dataset == "digits"


def test_depth_study_config_is_li2018_fig5_on_mnist1d():
    c = study.load_config(study.resolve_config("li2018-mnist1d-resnet"))
    assert c.data.dataset == "mnist1d" and c.study.model == "resnet"
    assert [(v.name, v.values) for v in c.study.variables] == [("depth", (20, 56, 110)), ("skip", (True, False))]
    assert (c.study.compare, c.study.rows, c.study.cols) == ("skip", "skip", "depth")
    assert c.figures.grid == ("contour", "surface") and c.figures.curves
    assert {"test_error", "train_error", "train_loss", "lambda_max", "trace", "n_local_minima",
            "residual_energy"} <= set(c.report.table)
    from landscape.studies import members

    assert c.seeds == (0, 1, 2)
    ms, pairs = members.build_members(c, (1, 40), 10)
    names = ["resnet20", "resnet20_noskip", "resnet56", "resnet56_noskip", "resnet110", "resnet110_noskip"]
    assert list(ms) == [f"{n}_s{seed}" for n in names for seed in (0, 1, 2)]
    assert [(p.with_, p.without) for p in pairs if p.with_.endswith("_s0")] == [
        ("resnet20_s0", "resnet20_noskip_s0"), ("resnet56_s0", "resnet56_noskip_s0"),
        ("resnet110_s0", "resnet110_noskip_s0")]
    # one recipe and data: the replicates differ in the seed only
    assert all(dataclasses.replace(m.train, seed=c.train.seed) == c.train and m.data == c.data
               and m.train.seed == m.seed for m in ms.values())
    q = study.quick(c)
    assert [v.values for v in q.study.variables] == [(20, 56), (True, False)] and q.train.epochs == 8


def test_li2018_config_is_the_papers_setup():
    c = study.load_config(study.packaged()["li2018-cifar10-resnet"])
    assert c.data.dataset == "cifar10"
    assert [(p.model, p.vary) for p in c.pairs] == [("resnet20", "skip"), ("resnet56", "skip"), ("resnet110", "skip")]
    t = c.train
    assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.batch_size, t.epochs) == ("sgd", 0.1, 0.9, 5e-4, 128, 300)
    assert t.schedule == "step" and t.milestones == (150, 225, 275) and t.gamma == 0.1 and not t.nesterov
    assert c.grid.plane == (-1.0, 1.0, 51) and c.directions.norm == "filter" and c.directions.ignore == "biasbn"


@pytest.mark.parametrize("text, words", [
    ("[grid]\nplnae = [-1.0, 1.0, 11]\n", ["plnae", "[grid]", "plane"]),
    ("[[pairs]]\nmodel = \"mlp20\"\nvary = \"skipp\"\n", ["pairs.vary", "skipp", "skip"]),
    ("[[pairs]]\nmodel = \"vgg9\"\nvary = \"skip\"\n", ["vgg9", "skip"]),
    ("[[pairs]]\nmodel = \"mlp21\"\n", ["mlp21", "mlp20"]),
    ("[grid]\nplane = [1.0, -1.0, 11]\n", ["grid.plane", "min < max"]),
    ("[train]\nlr = -1\n", ["lr", "-1"]),
    ("[data]\ndataset = \"digit\"\n", ["data.dataset", "digits"]),
    ("epochs = 3\n", ["epochs", "top level"]),
    ("[model]\nskip = false\n", ["skip", "pair varies"]),
    ("threads = -1\n", ["threads"]),
])
def test_bad_config_is_one_line_naming_the_setting(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    res = _invoke(["experiment", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: ") and len(res.output.strip().splitlines()) == 1, res.output
    for w in words:
        assert w in res.output, (w, res.output)
    assert not (tmp_path / "out").exists()  # nothing is written before the config is valid


def test_missing_or_invalid_toml(tmp_path):
    res = _invoke(["experiment", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2 and "does not exist" in res.output and "li2018-mnist1d-resnet" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    res = _invoke(["experiment", str(bad)])
    assert res.exit_code == 2 and "not valid TOML" in res.output


def test_packaged_config_by_name():
    assert study.resolve_config("digits-demo") == study.packaged()["digits-demo"]
    assert study.resolve_config("li2018-mnist1d-resnet") == study.packaged()["li2018-mnist1d-resnet"]
    assert study.resolve_config("li2018-cifar10-resnet.toml") == study.packaged()["li2018-cifar10-resnet"]


# --- the report's sentences come from the numbers -------------------------------------------------

def _member(**kw):
    base = {"test_acc": 0.95, "train_loss": 0.01, "lambda_max": 2.0, "trace": 10.0, "curvature_x": 1.0,
            "curvature_y": 1.0, "basin_width_x": 0.5, "basin_width_y": 0.5, "notes": []}
    return {**base, **kw}


def _summary(a, b, vary="skip"):
    pair = {"name": "n_vs_n_noskip", "vary": vary, "with": "n", "without": "n_noskip",
            "comparison": experiment.compare_members(a, b)}
    return {"members": {"n": a, "n_noskip": b}, "pairs": [pair]}, pair


def test_report_says_when_the_plain_member_is_not_sharper():
    s, pair = _summary(_member(), _member(lambda_max=1.0, trace=5.0, curvature_x=0.5, curvature_y=0.5,
                                          basin_width_x=0.8, basin_width_y=0.8, test_acc=0.97))
    text = " ".join(report.pair_sentences(s, pair))
    assert "λmax of n_noskip is 0.5x that of n." in text
    assert "n_noskip (without skip connections) is not the sharper one" in text
    assert "2.0 points higher" in text
    assert pair["comparison"]["sharper_count"] == 0


def test_report_sharper_by_all_and_mixed():
    s, pair = _summary(_member(), _member(lambda_max=64.0, trace=30.0, curvature_x=3.0, curvature_y=5.0,
                                          basin_width_x=0.2, basin_width_y=0.2))
    text = " ".join(report.pair_sentences(s, pair))
    assert "λmax of n_noskip is 32x that of n." in text and "By all 4 measures" in text
    assert "The grid curvature of n_noskip is 4x that of n" in text
    s, pair = _summary(_member(), _member(lambda_max=4.0, trace=5.0))
    text = " ".join(report.pair_sentences(s, pair))
    assert "The measures disagree: n_noskip is sharper by λmax and not by the Hessian trace" in text
    assert "The basin width of n_noskip is the same as that of n (0.5) (mean of the two directions)." in text


def test_report_handles_signs_and_divergence():
    s, pair = _summary(_member(trace=-0.5), _member(trace=3.0))
    assert "The Hessian trace is 3 for n_noskip and -0.5 for n." in report.pair_sentences(s, pair)
    b = {k: None for k in NUMBERS} | {"diverged": True, "notes": ["n_noskip diverged: ..."]}
    s, pair = _summary(_member(), b)
    assert report.pair_sentences(s, pair) == ["n_noskip diverged: ..."]
    assert pair["comparison"]["measured"] == 0


def test_a_member_shared_by_two_pairs_is_one_network():
    c = study.load_config(study.packaged()["digits-demo"])
    members, pairs = experiment.build_members(c, (1, 8, 8), 10)
    assert list(members) == ["mlp20", "mlp20_noskip", "mlp20_nonorm"]
    assert [(p.vary, p.with_, p.without) for p in pairs] == [("skip", "mlp20", "mlp20_noskip"),
                                                               ("norm", "mlp20", "mlp20_nonorm")]
    assert members["mlp20_noskip"].spec["skip"] is False and members["mlp20_nonorm"].spec["norm"] == "none"
    a, b = members["mlp20"].model, members["mlp20_noskip"].model
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters()))  # one seed, one init


def test_pca_axes_frame_the_path_and_the_origin():
    import numpy as np

    x, y = experiment.pca_axes(np.array([[4.0, 1.0], [2.0, -1.0], [1.0, 0.5]]), 9, 0.25)
    # x: span 0..4, margin 1 on each side -> [-1, 5]; with 0 on a node: node 2 of 9, step 5/6
    assert x == (pytest.approx(-5 / 3), pytest.approx(5.0), 9)
    assert y == (pytest.approx(-1.5), pytest.approx(1.5), 9)  # already symmetric: 0 is the middle node
    for lo, hi, n in (x, y, *experiment.pca_axes(np.array([[-7.3, 2.9], [-0.4, 11.0]]), 21, 0.2)):
        nodes = np.linspace(lo, hi, n)
        assert np.isclose(nodes, 0.0, atol=1e-9 * (hi - lo)).sum() == 1  # the final model is a grid point
    x, y = experiment.pca_axes(np.array([[-7.3, 2.9], [-0.4, 11.0]]), 21, 0.0)
    assert x[0] <= -7.3 and x[1] >= 0.0 and y[0] <= 0.0 and y[1] >= 11.0  # the path stays inside


@pytest.mark.slow
def test_demo_quick_equals_experiment(tmp_path):
    """The acceptance check on the real config: `demo --quick` and `experiment mnist1d-demo --quick`
    give the same numbers, and a rerun of the demo reuses everything."""
    res = _invoke(["demo", "--quick", "--out", str(tmp_path / "demo"), "--no-progress"])
    assert res.exit_code == 0, res.output
    res2 = _invoke(["experiment", "mnist1d-demo", "--quick", "--out", str(tmp_path / "exp"), "--no-progress"])
    assert res2.exit_code == 0, res2.output
    a = json.loads((tmp_path / "demo" / "summary.json").read_text())
    b = json.loads((tmp_path / "exp" / "summary.json").read_text())
    assert _numbers(a) == _numbers(b)
    res3 = _invoke(["demo", "--quick", "--out", str(tmp_path / "demo"), "--no-progress"])
    again = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert res3.exit_code == 0
    assert all(again["computed"][s] == [] for s in ("train", "surfaces", "sharpness", "figures"))


def test_interrupted_training_resumes_to_the_same_numbers(first_run, tiny_toml, tmp_path, monkeypatch):
    """Ctrl-C in the middle of training, then the same command again: the run continues from its
    last epoch and ends with the numbers of an uninterrupted run."""
    from landscape.training import train

    _, summary, _ = first_run
    config = study.load_config(tiny_toml)
    config = dataclasses.replace(config, figures=dataclasses.replace(config.figures, draw=False))
    real_epoch = train._Loop._epoch

    def interrupted(self, epoch, bar):
        if self.name == "mlp8_noskip" and epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(self, epoch, bar)

    monkeypatch.setattr(train._Loop, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(config, tmp_path / "out", progress_bars=False)
    assert (tmp_path / "out" / "runs" / "mlp8_noskip" / "last_state.pt").is_file()
    assert not (tmp_path / "out" / "runs" / "mlp8_noskip" / "final.pt").exists()
    monkeypatch.setattr(train._Loop, "_epoch", real_epoch)
    result = experiment.run(config, tmp_path / "out", progress_bars=False)
    assert result.reused["train"] == ["mlp8"] and result.computed["train"] == ["mlp8_noskip"]
    assert _numbers(result.summary) == _numbers(summary)


def test_unavailable_device_fails_before_writing(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    res = _invoke(["demo", "--device", "cuda", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "no CUDA device" in res.output and not (tmp_path / "out").exists()
    res = _invoke(["demo", "--device", "tpu", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--device must be" in res.output


def test_workers_give_the_numbers_of_a_serial_run(first_run, tiny_toml, tmp_path):
    """Two worker processes (one thread each, like the serial run) train, sample and measure the
    members; the numbers equal the serial run's, the work counts as made, and a rerun reuses it."""
    _, summary, _ = first_run
    config = study.load_config(tiny_toml)
    config = dataclasses.replace(config, workers=2, figures=dataclasses.replace(config.figures, draw=False))
    result = experiment.run(config, tmp_path / "out", progress_bars=False)
    assert _numbers(result.summary) == _numbers(summary)
    assert result.computed["train"] == MEMBERS and len(result.computed["surfaces"]) == 6
    assert "members" in result.timings
    again = experiment.run(config, tmp_path / "out", progress_bars=False)
    assert again.computed["train"] == [] and len(again.reused["surfaces"]) == 6 and "members" not in again.timings
    # --fresh: the workers redo everything once (the stages after them must not train again)
    fresh = experiment.run(config, tmp_path / "out", fresh=True, progress_bars=False)
    assert fresh.computed["train"] == MEMBERS and len(fresh.computed["surfaces"]) == 6
    assert fresh.reused["train"] == [] and _numbers(fresh.summary) == _numbers(summary)


def test_report_counts_local_minima_of_both_grids():
    s, pair = _summary(_member(n_local_minima=1), _member(n_local_minima=7))
    assert ("The 2D grid of n_noskip has 7 local minima, that of n 1 (train loss; cells below all 8 neighbours by more than twice the larger standard error, and the grid's lowest cell)."
            in report.pair_sentences(s, pair))
    assert "| local minima on the 2D grid | 1 | 7 |" in report._pair_table(s, pair)
    s, pair = _summary(_member(n_local_minima=1), _member(n_local_minima=1))
    assert "Both 2D grids have 1 local minimum (train loss)." in report.pair_sentences(s, pair)


def test_experiment_help_names_every_packaged_config():
    from landscape.studies import config as study

    result = CliRunner().invoke(cli.main, ["experiment", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    missing = [name for name in study.packaged() if name not in text]
    assert not missing, f"`landscape experiment --help` does not name {missing}"
