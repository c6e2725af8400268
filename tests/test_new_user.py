"""What a new user hit (issue 30.7), one regression test each: the command line's words, errors that
speak options rather than Python, counts in the singular, the files asked for."""
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from landscape import cli
from landscape.base.words import plural
from landscape.storage import io


def _surface(path, ndim=2):
    x = np.linspace(-1, 1, 5)
    y = np.linspace(-1, 1, 4) if ndim == 2 else None
    grid = np.meshgrid(x, y)[0] ** 2 + np.meshgrid(x, y)[1] ** 2 if ndim == 2 else x ** 2
    io.create(path, x, y, ["train_loss", "test_loss"], {"format": io.FORMAT})
    io.write_cells(path, np.arange(grid.size), {"train_loss": 0.1 + grid.ravel(), "test_loss": 0.2 + grid.ravel()})
    return path


def _run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def _one_error(result, *words):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_help_calls_the_demo_by_its_dataset():
    text = " ".join(_run("--help").output.split())
    assert "MNIST-1D" in text and "digits dataset" not in text


def test_vmax_not_positive_on_a_log_scale(tmp_path):
    s = _surface(tmp_path / "s.h5")
    line = _one_error(_run("plot", s, "--vmax", "-1", "--log", "--out", tmp_path / "v.png"), "--vmax", "positive")
    assert "NaN" not in line and not (tmp_path / "v.png").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_unwritable_export_path_exits_2(tmp_path):
    s = _surface(tmp_path / "s.h5")
    _one_error(_run("export", s, "--out", "/proc/v.vtp"), "/proc", "not writable")
    _one_error(_run("export", s, "--to", "vtp", "--out", tmp_path), "directory")


def test_compare_out_error_lists_html(tmp_path):
    s = _surface(tmp_path / "s.h5")
    _one_error(_run("compare", s, s, "--out", tmp_path / "c.jpg"), ".html", ".png")


def test_animation_errors_name_the_option(tmp_path):
    s = _surface(tmp_path / "s.h5")
    line = _one_error(_run("export", s, "--to", "gif", "--animation", "trajectory", "--out", tmp_path / "t.gif"),
                      "--animation rotate")
    assert "kind=" not in line
    _one_error(_run("export", s, "--to", "gif", "--animation", "spin", "--out", tmp_path / "t.gif"), "'--animation'")


def test_cuda_from_the_command_line_is_blamed_on_the_option(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    line = _one_error(_run("experiment", "mnist1d-demo", "--device", "cuda", "--out", tmp_path / "o"), "--device")
    assert "config" not in line and not (tmp_path / "o").exists()


def test_info_on_a_stopped_connect_job(tmp_path):
    from landscape.analysis.connect import state_path_for

    out = tmp_path / "ab.h5"
    state_path_for(out).write_bytes(b"state")  # what a connect killed while training leaves
    line = _one_error(_run("info", out), "connect", "rerun")
    assert "does not exist" not in line


def test_info_shows_the_stored_metrics(tmp_path):
    s = _surface(tmp_path / "s.h5")
    assert _run("sharpness", s).exit_code == 0
    text = _run("info", s).output
    curvature = io.load(s).metrics["train_loss"]["curvature_x"]
    assert "curvature_x" in text and f"{curvature:.6g}" in text and "basin_width_x" in text


def test_counts_in_the_singular():
    assert plural(1, "epoch") == "1 epoch" and plural(2, "epoch") == "2 epochs"
    assert plural(1, "training sample") == "1 training sample" and plural(0, "epoch") == "0 epochs"


def test_one_training_sample_in_the_singular(tmp_path):
    from landscape import models
    from landscape.storage import checkpoint

    for seed in (0, 1):
        model = models.create("mlp", seed=seed, depth=2, width=4, in_shape=(1, 8, 8), num_classes=10)
        checkpoint.save(tmp_path / f"s{seed}.pt", model, spec=models.spec(model),
                        data={"dataset": "digits", "normalize": True})
    r = _run("connect", tmp_path / "s0.pt", tmp_path / "s1.pt", "--out", tmp_path / "ab.h5", "--n-samples", 1,
             "--no-progress")
    line = _one_error(r, "1 training sample ")
    assert "samples" not in line.split("batch")[0]


def test_threads_zero_means_automatic_everywhere():
    from landscape.commands._common import THREADS_HELP

    helps = {name: " ".join(_run(name, "--help").output.split()) for name in ("experiment", "demo", "surface", "train")}
    for name, text in helps.items():
        assert "0: automatic" in text, name
        assert "torch's default" not in text, name
    assert "automatic" in THREADS_HELP


def test_notebook_row_names_the_splits_with_a_space(tmp_path):
    from landscape.plot import notebook

    s = io.load(_surface(tmp_path / "line.h5", ndim=1))
    s.attrs.update(dataset="digits", splits="train,test")
    data = dict(notebook.summary(s))["data"]
    assert data == "digits train, test"


def test_export_help_promises_no_log_default():
    text = " ".join(_run("export", "--help").output.split())
    assert "2 decades" not in text and "linear" in text


def test_gradient_flow_legend_lists_only_what_is_drawn():
    """A diverged run's last epoch has no finite norm: it is said in the panel, not in the legend,
    and a run with one finite point gets a marker to be seen."""
    from landscape.plot.gradflow import gradient_flow

    ok = {"name": "a", "gradient_flow": {"layers": ["l1", "l2"], "epochs": [0, 1, 2], "norms": [[1, 2], [0.5, 1], [0.4, 1]]}}
    bad = {"name": "b", "gradient_flow": {"layers": ["l1", "l2"], "epochs": [0, 1], "norms": [[1e4, 2e4], [np.nan, np.inf]]}}
    fig = gradient_flow([ok, bad])
    depth, time = fig.axes
    assert [t.get_text() for t in depth.get_legend().get_texts()] == ["a, init", "a, epoch 2", "b, init"]
    assert "b, epoch 1" in depth.texts[0].get_text()
    for ax in (depth, time):
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), float)
            assert np.isfinite(y).sum() >= 2 or line.get_marker() not in (None, "None", ""), line.get_label()


def test_quick_studies_draw_figures_at_full_resolution():
    from landscape.studies.config import load_config, packaged, quick

    low = {name: quick(load_config(path)).figures.dpi for name, path in packaged().items()}
    assert all(d is None or d >= 100 for d in low.values()), low
