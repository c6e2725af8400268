"""Adaptive grids (landscape.core.adaptive): a budget of N evaluations spent where the figure needs
them, the rest of the grid interpolated; the points kept in the file's adaptive/ group.

Most tests use a two-parameter "model" whose loss is a known function of its weights, so the
surface is known everywhere: f(a, b) = loss at w = (a, b)."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from landscape import cli, models
from landscape.core import adaptive, directions, surface
from landscape.storage import checkpoint, io

ROOT = Path(__file__).resolve().parents[1]
DATA = (torch.zeros(1, 1), torch.zeros(1))
PIT = (0.35, -0.25)


class Point(nn.Module):
    """Weights w = (a, b); the loss functions below read them directly."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x):
        return x


AXES = directions.Directions([{"w": torch.tensor([1.0, 0.0], dtype=torch.float64)},
                              {"w": torch.tensor([0.0, 1.0], dtype=torch.float64)}], {})


def pit_loss(model, batch):
    """A flat-floored basin (0.1 within radius 0.6, walls outside) with a narrow pit (width 0.025,
    depth 0.2) at PIT, which sits between the lines of a 21 x 21 grid on [-1, 1]²."""
    a, b = model.w[0], model.w[1]
    r2 = a ** 2 + b ** 2
    p2 = (a - PIT[0]) ** 2 + (b - PIT[1]) ** 2
    return 0.1 + 0.05 * r2 + 20 * torch.clamp(torch.sqrt(r2) - 0.6, min=0) ** 2 - 0.2 * torch.exp(-p2 / (2 * 0.025 ** 2))


def bowl_loss(model, batch):
    """A tilted bowl reaching the default cap of 10 well inside the plane (walls to ~60)."""
    a, b = model.w[0], model.w[1]
    return 0.05 + 30 * (a ** 2 + 0.5 * b ** 2 + 0.3 * a * b) + 20 * torch.abs(a) ** 3


def run(loss, n=31, budget=150, **kw):
    kw.setdefault("progress", False)
    return surface.compute(Point(), AXES, x=(-1, 1, n), y=(-1, 1, n), data=DATA, loss=loss, metrics=("loss",),
                           adaptive=budget, **kw)


# --- the budget ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("budget, shape, match", [
    (3, (51, 51), "adaptive 3 is not allowed for this 2D grid: give between 18"),
    (2602, (51, 51), "and the grid's 2,601 cells"),
    (4, (2,), "at least 5 points per axis"),
    (10, (51, 3), "the grid is 3 x 51"),
    (2.5, (51,), "whole number"),
    (True, (51,), "whole number"),
])
def test_bad_budgets_get_one_line_errors(budget, shape, match):
    with pytest.raises(ValueError, match=match) as err:
        adaptive.check(budget, shape)
    assert "\n" not in str(err.value)
    assert adaptive.check(18, (51, 51)) == 18 and adaptive.check(6, (7,)) == 6


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "mlp.pt"
    m = models.create("mlp", seed=0, depth=4, width=0.5, in_shape=(1, 8, 8), num_classes=10)
    checkpoint.save(path, m, spec=models.spec(m), data={"dataset": "digits", "normalize": True})
    return path


@pytest.mark.parametrize("args, match", [
    (["--x", "-1:1:51", "--y", "-1:1:51", "--adaptive", "3"], "Error: --adaptive 3 is not allowed"),
    (["--x", "-1:1:2", "--adaptive", "4"], "Error: --adaptive 4 needs at least 5 points per axis"),
])
def test_cli_bad_adaptive_exits_2_with_one_line_and_no_file(tmp_path, ckpt, args, match):
    out = tmp_path / "s.h5"
    result = CliRunner().invoke(cli.main, ["surface", str(ckpt), *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(match), result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


# --- where the points go --------------------------------------------------------------------------------

def test_a_narrow_pit_a_uniform_grid_misses_is_found_with_the_same_budget():
    uniform = surface.compute(Point(), AXES, x=(-1, 1, 21), y=(-1, 1, 21), data=DATA, loss=pit_loss,
                              metrics=("loss",), progress=False)
    assert uniform.extremes("train_loss")["min"] > 0.09  # no cell of the 21 x 21 grid falls into the pit
    found = run(pit_loss, n=101, budget=21 * 21)
    assert len(found.points["index"]) <= 441
    best = found.extremes("train_loss")
    assert best["min"] < -0.05  # the pit's floor (-0.06 on the 101 x 101 lattice) ...
    assert np.allclose(best["argmin_coords"], PIT, atol=0.021)  # ... where it is, to one lattice step
    assert best["argmin"] is not None and found.points["index"].tolist().count(
        np.ravel_multi_index(best["argmin"], found.shape)) == 1  # an evaluated point, not an interpolated one


def test_points_go_below_the_cap_and_cells_there_are_close():
    s = run(bowl_loss, n=51, budget=500)
    u = surface.compute(Point(), AXES, x=(-1, 1, 51), y=(-1, 1, 51), data=DATA, loss=bowl_loss, metrics=("loss",),
                        progress=False)
    truth = u.values["train_loss"]
    evaluated = s.points["values"]["train_loss"]
    assert (truth < 10).mean() < 0.45 and (evaluated < 10).mean() > 0.6  # most points where the figure is
    got = s.values["train_loss"]
    flat = s.points["index"]
    assert np.array_equal(got.reshape(-1)[flat], truth.reshape(-1)[flat])  # evaluated cells are exact
    below = truth < 10
    assert np.abs(np.minimum(got, 10) - truth)[below].max() < 0.25  # the drawn range is close everywhere


def line_pit_loss(model, batch):
    """pit_loss along b = PIT[1]: the line through the pit."""
    with torch.no_grad():
        shifted = Point()
        shifted.w.copy_(torch.stack([model.w[0], model.w[0] * 0 + PIT[1]]))
    shifted.w = nn.Parameter(torch.stack([model.w[0], model.w[0] * 0 + PIT[1]]))
    return pit_loss(shifted, batch)


def test_a_line_refines_too():
    uniform = surface.compute(Point(), AXES[:1], x=(-1, 1, 21), data=DATA, loss=line_pit_loss, metrics=("loss",),
                              progress=False)
    s = surface.compute(Point(), AXES[:1], x=(-1, 1, 201), data=DATA, loss=line_pit_loss, metrics=("loss",),
                        adaptive=21, progress=False)
    assert s.ndim == 1 and len(s.points["index"]) <= 21 and s.points["coords"].shape[1] == 1
    assert np.isfinite(s.values["train_loss"]).all()
    assert uniform.extremes("train_loss")["min"] > 0.05 and s.extremes("train_loss")["min"] < 0.0


# --- determinism, resume ------------------------------------------------------------------------------

def test_same_budget_same_points_and_grid_in_memory_and_in_a_file(tmp_path):
    a = run(bowl_loss)
    b = run(bowl_loss, path=tmp_path / "s.h5")
    assert np.array_equal(a.points["index"], b.points["index"])
    assert np.array_equal(a.points["round"], b.points["round"])
    assert np.array_equal(a.values["train_loss"], b.values["train_loss"])
    assert b.attrs["adaptive"] == 150 and b.attrs["adaptive_sampler"] == adaptive.SAMPLER
    again = run(bowl_loss, path=tmp_path / "s.h5")  # a finished file: nothing to do, nothing rewritten
    assert np.array_equal(again.values["train_loss"], b.values["train_loss"])


class Interrupt:
    """A loss that raises KeyboardInterrupt at its ``at``-th call (what Ctrl-C does mid-job)."""

    def __init__(self, loss, at):
        self.loss, self.at, self.calls = loss, at, 0
        self.__name__ = loss.__name__  # the loss name is part of the job: same as the plain run

    def __call__(self, model, batch):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.loss(model, batch)


@pytest.mark.parametrize("at", [20, 100])  # in the coarse start (36 points), in a refinement round
def test_interrupted_job_resumes_to_the_uninterrupted_result_bit_for_bit(tmp_path, at):
    out = tmp_path / "s.h5"
    with pytest.raises(KeyboardInterrupt):
        run(Interrupt(bowl_loss, at), path=out, round_seconds=0.0)
    slots = h5py.File(out, "r")["adaptive/done"][()]
    assert 0 < slots.sum() < at  # some points were stored before the kill
    assert not io.read_done(out).any()  # the grid is written only at the end
    from landscape.commands.info import describe

    assert f"adaptive:  {int(slots.sum())}/150 evaluations so far" in describe(io.load(out))
    resumed = run(bowl_loss, path=out)
    whole = run(bowl_loss, path=tmp_path / "whole.h5")
    assert np.array_equal(resumed.points["index"], whole.points["index"])
    assert np.array_equal(resumed.points["values"]["train_loss"], whole.points["values"]["train_loss"])
    assert np.array_equal(resumed.values["train_loss"], whole.values["train_loss"])


def test_a_file_of_another_budget_is_another_job(tmp_path):
    run(bowl_loss, path=tmp_path / "s.h5")
    with pytest.raises(ValueError, match="adaptive"):
        run(bowl_loss, budget=100, path=tmp_path / "s.h5")


# --- the file -----------------------------------------------------------------------------------------

def test_file_holds_points_in_order_and_a_grid_the_reference_layout_reads(tmp_path):
    s = run(bowl_loss, path=tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r") as f:
        g = f["adaptive"]
        k = len(s.points["index"])
        assert g["index"].shape == (150,) and (g["done"][:k] == 1).all()
        assert np.array_equal(g["coords"][:k], surface.cell_coords(s.x, s.y, g["index"][:k]))
        assert np.all(np.diff(g["round"][:k]) >= 0)  # slots in evaluation order, round after round
        assert f["train_loss"].shape == (31, 31) and np.isfinite(f["train_loss"][()]).all()  # plain grid
        assert f["done"][()].all()
    info = CliRunner().invoke(cli.main, ["info", str(tmp_path / "s.h5")])
    assert info.exit_code == 0
    assert f"adaptive:  {k} evaluations" in info.output and "interpolated" in info.output
    io.save(s, tmp_path / "copy.h5")  # a copy keeps its points
    copy = io.load(tmp_path / "copy.h5")
    assert np.array_equal(copy.points["index"], s.points["index"])


def test_show_points_draws_the_evaluated_points(tmp_path):
    import matplotlib.pyplot as plt

    from landscape import plot

    s = run(bowl_loss, path=tmp_path / "s.h5")
    fig = plot.draw(s, "contour", show_points=True)
    offsets = [c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets()) == len(s.points["index"])]
    assert offsets and np.allclose(np.asarray(offsets[0]), s.points["coords"])
    plt.close(fig)
    uniform = surface.compute(Point(), AXES, x=(-1, 1, 11), y=(-1, 1, 11), data=DATA, loss=bowl_loss,
                              metrics=("loss",), progress=False, path=tmp_path / "u.h5")
    with pytest.raises(ValueError, match="uniform grid"):
        plot.points(uniform)
    result = CliRunner().invoke(cli.main, ["plot", str(tmp_path / "u.h5"), "--show-points", "--out",
                                           str(tmp_path / "u.png")])
    assert result.exit_code == 2 and "--show-points" in result.output and not (tmp_path / "u.png").exists()
    result = CliRunner().invoke(cli.main, ["compare", str(tmp_path / "s.h5"), str(tmp_path / "u.h5"),
                                           "--show-points", "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output


# --- studies ------------------------------------------------------------------------------------------

def test_a_study_config_asks_for_adaptive_planes():
    import tomllib

    from landscape.studies import config as study

    text = study.packaged()["li2018-mnist1d-resnet"].read_text()
    d = tomllib.loads(text)
    d.setdefault("grid", {})["adaptive"] = 130  # 30% of the 21 x 21 plane
    d["grid"]["plane"] = [-1.0, 1.0, 21]
    config = study.from_dict(d)
    assert config.grid.adaptive == 130
    assert study.from_dict(tomllib.loads(study.to_toml(config))).grid.adaptive == 130  # written back to TOML
    assert study.quick(config).grid.adaptive == 130  # --quick keeps the share (21 x 21 stays)
    d["grid"]["adaptive"] = 3
    with pytest.raises(ValueError, match="grid.adaptive 3 is not allowed"):
        study.from_dict(d)


# --- processes: torchrun ranks, SIGKILL -------------------------------------------------------------

def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


CLI_ARGS = ["--x", "-1:1:21", "--y", "-1:1:21", "--adaptive", "100", "--n-samples", "96", "--device", "cpu",
            "--threads", "1", "--no-progress"]


@pytest.mark.slow  # about 20 s on a loaded 2-core machine
def test_two_torchrun_ranks_give_the_one_process_adaptive_grid_bit_for_bit(ckpt, tmp_path):
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    r = CliRunner().invoke(cli.main, ["surface", str(ckpt), *CLI_ARGS, "--out", str(one)])
    assert r.exit_code == 0, r.output
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--max-restarts=0",
           "--monitor-interval=0.1", "-m", "landscape", "surface", str(ckpt), *CLI_ARGS, "--out", str(two)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count("Wrote ") == 1  # rank 0 alone writes and prints
    a, b = io.load(one), io.load(two)
    assert np.array_equal(a.points["index"], b.points["index"])
    for name in a.values:
        assert np.array_equal(a.values[name], b.values[name], equal_nan=True)
        assert np.array_equal(a.points["values"][name], b.points["values"][name], equal_nan=True)


@pytest.mark.slow  # about 15 s on a loaded 2-core machine
def test_sigkilled_cli_job_resumes_to_the_uninterrupted_file(ckpt, tmp_path):
    import signal
    import time

    out, whole = tmp_path / "k.h5", tmp_path / "whole.h5"
    cmd = [sys.executable, "-m", "landscape", "surface", str(ckpt), *CLI_ARGS, "--round-seconds", "0"]
    proc = subprocess.Popen(cmd + ["--out", str(out)], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if 40 <= int(h5py.File(out, "r", locking=False)["adaptive/done"][()].sum()):
                break
        except (OSError, KeyError):
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = int(h5py.File(out, "r", locking=False)["adaptive/done"][()].sum())
    assert 40 <= done < 100, done  # killed mid-run
    assert subprocess.run(cmd + ["--out", str(out)], cwd=ROOT, env=_env(), capture_output=True).returncode == 0
    assert subprocess.run(cmd + ["--out", str(whole)], cwd=ROOT, env=_env(), capture_output=True).returncode == 0
    a, b = io.load(out), io.load(whole)
    assert np.array_equal(a.points["index"], b.points["index"])
    for name in a.values:
        assert np.array_equal(a.values[name], b.values[name], equal_nan=True)


def test_metrics_state_the_resolution_the_points_give():
    from landscape.analysis import geometry

    s = run(bowl_loss, n=51, budget=400)
    m = geometry.grid_metrics(s)
    assert m["evaluated"] == len(s.points["index"])
    step = 2 / 50
    res = m["basin_width_resolution_x"]
    assert res.shape == (3,) and (res >= step - 1e-12).all()  # never finer than one cell ...
    assert (res <= 8 * step).all()  # ... and the basin's edges were refined (the start is 10 cells apart)
    evaluated = geometry.evaluated_mask(s)
    assert evaluated.sum() == m["evaluated"]
