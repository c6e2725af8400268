"""`landscape sharpness` on a checkpoint and on a surface file, through CliRunner and a real process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from landscape import cli, data, models
from landscape.analysis import sharpness
from landscape.core import directions, surface
from landscape.storage import checkpoint, io

N = 100  # digits samples: small enough for a fast test, enough for a meaningful Hessian


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny digits MLP with BatchNorm (618 parameters) saved as a landscape checkpoint."""
    model = models.create("mlp", in_shape=(1, 8, 8), num_classes=10, depth=2, width=0.125, seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    checkpoint.save(path, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    return path


@pytest.fixture(scope="module")
def surf_path(ckpt, tmp_path_factory):
    model, _ = checkpoint.load_model(ckpt)
    xy = data.load("digits", "train", n=N, seed=0)
    path = tmp_path_factory.mktemp("surf") / "tiny.h5"
    surface.compute(model, directions.random(model, n=2, seed=0), x=(-1, 1, 9), y=(-1, 1, 7), data=xy,
                    path=str(path), progress=False,
                    attrs={"checkpoint": str(ckpt), "dataset": "digits", "normalize": True, "data_seed": 0,
                           "n_samples_requested": N})
    return path


def _run(args):
    return CliRunner().invoke(cli.main, ["sharpness", *map(str, args)])


def test_checkpoint_table_and_json(ckpt, tmp_path):
    out = tmp_path / "s.json"
    res = _run([ckpt, "--top-k", 2, "--smallest", "--trace", "--probes", 20, "--sam", "0.01,0.05", "--asam", 0.5,
                "--eps", 1e-3, "--n-samples", N, "--json", out, "--no-progress", "--threads", 1])
    assert res.exit_code == 0, res.output
    for label in ("lambda_max", "lambda_2", "lambda_min", "trace", "SAM rho=0.05", "ASAM rho=0.5", "eps-sharpness"):
        assert label in res.output
    got = json.loads(out.read_text())
    assert got["n_samples"] == N and got["dataset"] == "digits" and got["n_params"] == 618
    assert got["eigenvalues"]["k"] == 2 and got["eigenvalues"]["seed"] == 0
    assert got["trace"]["n_probes"] == 20 and got["trace"]["stderr"] > 0
    assert got["sam"]["rho"] == [0.01, 0.05] and got["asam"]["eta"] == 0.01
    # the same numbers as the library on the same data
    model, _ = checkpoint.load_model(ckpt)
    lib = sharpness.hessian_eigs(model, data.load("digits", "train", n=N, seed=0), k=2)
    np.testing.assert_allclose(got["eigenvalues"]["values"], lib.values, rtol=1e-4)
    assert got["eigenvalues"]["values"][0] >= got["eigenvalues"]["values"][1] > got["smallest"]["values"][0]


def test_checkpoint_density_and_power(ckpt, tmp_path):
    out = tmp_path / "d.json"
    res = _run([ckpt, "--top-k", 1, "--method", "power", "--density", "--lanczos-steps", 10, "--n-samples", N,
                "--json", out, "--no-progress"])
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    assert got["eigenvalues"]["method"] == "power"
    grid, density = np.array(got["density"]["grid"]), np.array(got["density"]["density"])
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)


def test_surface_metrics_written_into_the_file(surf_path, tmp_path):
    res = _run([surf_path, "--thresholds", "0.05", "--thresholds", "0.5", "--json", tmp_path / "g.json",
                "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "curvature (quadratic fit" in res.output and "basin at min+0.05" in res.output
    s = io.load(surf_path)
    m = s.metrics["train_loss"]
    assert list(m["basin_thresholds"]) == [0.05, 0.5]
    assert m["basin_width_x"].shape == (2,) and np.isfinite(m["curvature_x"]) and m["n_local_minima"] >= 1
    assert json.loads((tmp_path / "g.json").read_text())["train_loss"]["fit_window"] == 2
    # values are untouched: the metrics group is an addition
    assert np.isfinite(s.values["train_loss"]).all()


def test_surface_curvature_map(surf_path):
    assert _run([surf_path, "--no-progress"]).exit_code == 0
    res = _run([surf_path, "--curvature-map", 2, "--no-progress", "--threads", 1])
    assert res.exit_code == 0, res.output
    c = io.load(surf_path).metrics["curvature"]
    assert c["ratio"].shape == (2, 2) and list(c["x"]) == [-1.0, 1.0]
    assert (c["lambda_max"] > 0).all() and np.allclose(c["ratio"], np.abs(c["lambda_min"] / c["lambda_max"]))
    assert "train_loss" in io.load(surf_path).metrics  # the grid metrics written before are kept


@pytest.mark.parametrize("args, message", [
    (["--top-k", 5000], "k must be a whole number between 1 and 617"),
    (["--sam", "0"], "--sam: '0' is not a positive number"),
    (["--asam", "-0.5"], "--asam: '-0.5' is not a positive number"),
    (["--eps", "abc"], "--eps: 'abc' is not a positive number"),
    (["--thresholds", "0.1"], "--thresholds applies to a surface file"),
])
def test_bad_checkpoint_input_exits_2_with_one_line(ckpt, args, message):
    res = _run([ckpt, "--n-samples", 20, "--no-progress", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert len([line for line in res.output.splitlines() if line.startswith("Error")]) == 1


def test_bad_surface_input_exits_2(surf_path):
    res = _run([surf_path, "--trace"])
    assert res.exit_code == 2 and "--trace applies to a checkpoint" in res.output
    res = _run([surf_path, "--value", "test_loss"])
    assert res.exit_code == 2 and "Invalid value for '--value': 'test_loss' is not one of" in res.output
    res = _run([surf_path, "--thresholds", "-1"])
    assert res.exit_code == 2 and "--thresholds: '-1' is not a positive number" in res.output


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    res = _run([bad])
    assert res.exit_code == 2 and "not a readable PyTorch checkpoint" in res.output


def test_real_process(ckpt):
    exe = os.path.join(os.path.dirname(sys.executable), "landscape")
    proc = subprocess.run([exe, "sharpness", str(ckpt), "--top-k", "1", "--n-samples", "50", "--no-progress",
                           "--threads", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "lambda_max" in proc.stdout and "50 samples" in proc.stdout
