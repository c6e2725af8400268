"""The chapter's studies end to end: `landscape experiment NAME --quick` for vanishing-gradients,
normalization and overfitting writes a report whose every table cell is measured, its figures, and
a rerun reuses every finished member."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from landscape import cli
from landscape.studies import config as study, experiment

STUDIES = ("vanishing-gradients", "normalization", "overfitting")
SECTIONS = {"vanishing-gradients": "## Vanishing gradients, measured",
            "normalization": "## Normalization and batch size, measured",
            "overfitting": "## Overfitting and its remedies, measured"}
MEASURED = {"vanishing-gradients": ("grad_ratio_init", "grad_ratio_last", "first_layer_change", "dead_share",
                                    "max_slope_init", "lambda_max"),
            "normalization": ("train_mode_loss", "eval_mode_loss", "mode_gap", "lambda_max", "basin_width_x"),
            "overfitting": ("error_gap", "loss_gap", "best_test_epoch", "kept_epoch", "lambda_max", "trace",
                            "basin_width_x")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each study's --quick run through the command line, once for the module."""
    out = {}
    for name in STUDIES:
        path = tmp_path_factory.mktemp(name)
        result = CliRunner().invoke(cli.main, ["experiment", name, "--quick", "--out", str(path), "--no-progress"])
        assert result.exit_code == 0, result.output
        out[name] = path
    return out


def _table_rows(report: str, heading: str):
    block = report.split(heading, 1)[1].split("\n## ", 1)[0]
    return [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| member")]


@pytest.mark.parametrize("name", STUDIES)
def test_quick_study_report_has_every_cell_measured(runs, name):
    out = runs[name]
    report = (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    rows = _table_rows(report, "## All members")
    assert len(rows) == len(summary["members"]) >= 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(c and c not in ("–", "-", "nan", "None", "diverged") for c in cells), row
    assert SECTIONS[name] in report
    for m in summary["members"].values():
        for key in MEASURED[name]:
            assert m.get(key) is not None, (key, m["coords"])
    # every figure the report shows exists and is a real PNG
    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", report)
    assert figures
    for fig in figures:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # sentences state measured verdicts, never a placeholder
    assert "not measured" not in report.split("## How it was measured")[0]


def test_vanishing_gradients_quick_numbers_and_figures(runs):
    out = runs["vanishing-gradients"]
    s = json.loads((out / "summary.json").read_text())
    for m in s["members"].values():
        if m["coords"]["activation"] == "sigmoid":
            assert m["max_slope_init"] <= 0.25  # measured on the data, never above sigmoid's bound
        if m["coords"]["activation"] in ("leaky_relu", "prelu"):
            assert m["dead_share"] == 0.0
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"activations.png", "gradient_by_layer.png", "landscapes_1d.png"} <= figs
    # --quick nets stay at chance: the report says so and claims nothing from them
    report = (out / "report.md").read_text()
    assert max(m["test_acc"] for m in s["members"].values()) < 0.5
    assert "**No claim is made from this run**: no member learned the task" in report
    assert "Claim *sigmoid's derivative is at most 1/4*: **No claim**" in report
    assert "**Confirmed**" not in report and "**Not confirmed**" not in report and " held" not in report


def test_normalization_quick_gap_only_with_batch_statistics(runs):
    s = json.loads((runs["normalization"] / "summary.json").read_text())
    for m in s["members"].values():
        if m["coords"]["norm"] == "layer":
            assert abs(m["mode_gap"]) < 1e-5
        else:
            assert abs(m["mode_gap"]) > 1e-4
    assert (runs["normalization"] / "figures" / "accuracy_vs_batch.png").is_file()


def test_overfitting_quick_dropout_and_early_stopping(runs):
    s = json.loads((runs["overfitting"] / "summary.json").read_text())
    drop = next(m for m in s["members"].values() if m["coords"]["remedy"] == "dropout_0.5")
    assert drop["dropout_eval_deterministic"] and drop["dropout_eval_identity"] and drop["dropout_error_ratio"] < 3
    base = next(m for m in s["members"].values() if m["coords"]["remedy"] == "baseline")
    assert base["dropout_layers"] == 0
    es = next(m for m in s["members"].values() if m["coords"]["remedy"] == "early_stopping")
    assert es["val_fraction"] == 0.2 and 1 <= es["kept_epoch"] <= es["epochs_trained"]
    report = (runs["overfitting"] / "report.md").read_text()
    assert "### Dropout at test time" in report and "inverted" in report


def test_rerun_reuses_finished_members(runs):
    name = "normalization"
    config = study.quick(study.load_config(study.resolve_config(name)))
    result = experiment.run(config, runs[name], progress_bars=False)
    members = json.loads((runs[name] / "summary.json").read_text())["members"]
    assert result.computed["train"] == [] and sorted(result.reused["train"]) == sorted(members)
    assert result.computed["surfaces"] == [] and result.computed["sharpness"] == []
    assert result.computed["figures"] == []


def test_packaged_configs_are_listed_and_bad_study_variables_fail(tmp_path):
    assert set(STUDIES) <= set(study.packaged())
    text = Path(study.resolve_config("normalization")).read_text()
    bad = text.replace('values = ["batch", "layer", "group", "none"]', 'values = ["batch", "lyer"]')
    assert bad != text
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    result = CliRunner().invoke(cli.main, ["experiment", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "lyer" in result.output and "Traceback" not in result.output
    bad = text.replace("margin = 0.2 ", "margin = 2 ")
    assert bad != text
    path.write_text(bad)
    result = CliRunner().invoke(cli.main, ["experiment", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "report.margin" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
