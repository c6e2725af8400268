"""Direction ensembles (surface.compute(planes=K)) and per-cell standard errors: what the file holds,
that plane k is the single plane of seed s + k, that a killed job resumes to the same bytes."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
import torch

from landscape.core import directions, evaluate, surface
from landscape.storage import io

pytestmark = pytest.mark.usefixtures("one_thread")


def test_planes_file_holds_plane_0_at_the_root_and_all_k_along_a_leading_axis(mlp, xy, tmp_path):
    dirs = directions.random(mlp, n=2, seed=5)
    path = tmp_path / "p.h5"
    s = surface.compute(mlp, dirs, x=(-1, 1, 5), y=(-1, 1, 4), data=xy, planes=3, path=str(path), progress=False)
    assert s.n_planes == 3 and s.attrs["planes"] == 3 and list(s.planes.seeds) == [5, 6, 7]
    assert s.planes.values["train_loss"].shape == (3, 4, 5) and s.planes.done.all()
    np.testing.assert_array_equal(s.values["train_loss"], s.planes.values["train_loss"][0])
    for k in (1, 2):  # plane k is exactly the one-plane surface of seed 5 + k
        one = surface.compute(mlp, directions.random(mlp, n=2, seed=5 + k), x=(-1, 1, 5), y=(-1, 1, 4), data=xy,
                              progress=False)
        np.testing.assert_array_equal(s.plane(k).values["train_loss"], one.values["train_loss"])
        np.testing.assert_array_equal(s.plane(k).se["train_loss"], one.se["train_loss"])
        assert s.plane(k).attrs["seed"] == 5 + k
    with h5py.File(path, "r") as f:  # the reference's readers see plane 0 where they always did
        assert f["train_loss"].shape == (4, 5) and f["planes/train_loss"].shape == (3, 4, 5)
        assert list(f["planes/seeds"][()]) == [5, 6, 7] and f["se/train_loss"].shape == (4, 5)
    mem = surface.compute(mlp, dirs, x=(-1, 1, 5), y=(-1, 1, 4), data=xy, planes=3, progress=False)
    np.testing.assert_array_equal(mem.planes.values["train_acc"], s.planes.values["train_acc"])
    np.testing.assert_array_equal(mem.planes.se["train_loss"], s.planes.se["train_loss"])


def test_a_saved_ensemble_reads_back(mlp, xy, tmp_path):
    s = surface.compute(mlp, directions.random(mlp, n=1, seed=0), x=(-1, 1, 7), data=xy, planes=2, progress=False)
    io.save(s, tmp_path / "s.h5")
    back = io.load(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.planes.values["train_loss"], s.planes.values["train_loss"])
    np.testing.assert_array_equal(back.se["train_acc"], s.se["train_acc"])


def test_standard_error_is_that_of_the_per_sample_losses(mlp, xy):
    """The stored s.e. at a cell equals std(per-sample loss) / sqrt(n), computed by hand at that point."""
    d = directions.random(mlp, n=1, seed=0)
    s = surface.compute(mlp, d, x=[0.0, 0.5], data=xy, progress=False)
    import copy

    moved = copy.deepcopy(mlp)
    with torch.no_grad():
        for name, t in moved.named_parameters():
            if name in d[0]:
                t.add_(0.5 * d[0][name])
        per = torch.nn.functional.cross_entropy(moved(xy[0]), xy[1], reduction="none").double()
        right = (moved(xy[0]).argmax(1) == xy[1]).double()
    assert s.values["train_loss"][1] == pytest.approx(float(per.mean()), rel=1e-6)
    assert s.se["train_loss"][1] == pytest.approx(float(per.std() / 8), rel=1e-5)
    assert s.se["train_acc"][1] == pytest.approx(float(right.std() / 8), rel=1e-6)
    half = surface.compute(mlp, d, x=[0.0, 0.5], data=xy, population={"train": 128}, progress=False)
    assert half.se["train_loss"][1] == pytest.approx(s.se["train_loss"][1] * np.sqrt(64 / 127))


def test_a_custom_loss_has_no_standard_error(mlp, xy):
    s = surface.compute(mlp, directions.random(mlp, n=1), x=(-1, 1, 3), data=xy, progress=False,
                        loss=lambda model, batch: torch.nn.functional.cross_entropy(model(batch[0]), batch[1]))
    assert s.se == {} and np.isfinite(s.values["train_loss"]).all()


@pytest.mark.parametrize("kw, message", [
    (dict(planes=0), "planes"), (dict(planes=1.5), "planes"), (dict(tol=-1), "tol"), (dict(tol=float("nan")), "tol"),
])
def test_bad_planes_and_tol_are_refused_before_any_work(mlp, xy, tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        surface.compute(mlp, directions.random(mlp, n=1), x=(-1, 1, 3), data=xy, path=str(tmp_path / "x.h5"),
                        progress=False, **kw)
    assert not (tmp_path / "x.h5").exists()


def test_planes_need_random_directions(mlp, xy):
    other = torch.nn.Sequential(*[type(m)() if isinstance(m, torch.nn.ReLU) else m for m in mlp.net])
    with pytest.raises(ValueError, match="random"):
        surface.compute(mlp, directions.target(mlp, mlp.state_dict()), x=(0, 1, 3), data=xy, planes=2, progress=False)
    del other


KILLED = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    from conftest import TinyMLP
    from landscape.core import directions, surface
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyMLP().eval()
    g = torch.Generator().manual_seed(1)
    xy = torch.randn(400, 4, generator=g), torch.randint(0, 3, (400,), generator=g)
    surface.compute(model, directions.random(model, n=2, seed=3), x=(-1, 1, 11), y=(-1, 1, 11), data=xy,
                    planes=3, batch_size=16, path=sys.argv[1], progress=False, round_seconds=0.01)
""")


def test_interrupted_ensemble_resumes_to_the_bytes_of_an_uninterrupted_run(mlp, xy, tmp_path, monkeypatch):
    """A job stopped in its second plane (an error after a few rounds) and rerun writes the same bytes
    as a job never stopped; the SIGKILL version of this is the slow test below."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    kw = dict(x=(-1, 1, 9), y=(-1, 1, 9), data=xy, planes=3, progress=False, round_seconds=0.0)
    surface.compute(mlp, directions.random(mlp, n=2, seed=3), path=str(tmp_path / "ref.h5"), **kw)
    real, calls = io.write_cells, []

    def dies(path, idx, vals, plane=0):
        calls.append(plane)
        if plane == 1 and calls.count(1) == 3:
            raise KeyboardInterrupt
        real(path, idx, vals, plane=plane)

    monkeypatch.setattr(io, "write_cells", dies)
    with pytest.raises(KeyboardInterrupt):
        surface.compute(mlp, directions.random(mlp, n=2, seed=3), path=str(tmp_path / "cut.h5"), **kw)
    monkeypatch.setattr(io, "write_cells", real)
    done = io.read_done(tmp_path / "cut.h5", planes=True)
    assert done[0].all() and 0 < done[1].sum() < 81 and not done[2].any()
    surface.compute(mlp, directions.random(mlp, n=2, seed=3), path=str(tmp_path / "cut.h5"), **kw)
    assert (tmp_path / "cut.h5").read_bytes() == (tmp_path / "ref.h5").read_bytes()


@pytest.mark.slow
def test_killed_ensemble_resumes_to_the_bytes_of_an_uninterrupted_run(tmp_path):
    """SIGKILL a planes=3 job twice at random moments; the rerun's file equals, byte for byte, the
    file of a run never interrupted (SOURCE_DATE_EPOCH fixes the one attribute that says when)."""
    script = tmp_path / "job.py"
    script.write_text(KILLED.format(tests=os.path.dirname(__file__)))
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1800000000"}
    run = lambda out: subprocess.run([sys.executable, str(script), str(out)], env=env, check=True)  # noqa: E731
    started = time.perf_counter()
    run(tmp_path / "ref.h5")
    seconds = time.perf_counter() - started
    out = tmp_path / "killed.h5"
    rng = np.random.default_rng(int(time.time()))
    counts = []
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env)
        before, deadline = (counts or [0])[-1], time.time() + 60
        while proc.poll() is None and time.time() < deadline:  # wait for progress of its own, then kill
            if out.exists() and io.read_done(out, planes=True).sum() > before:
                break
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, seconds / 8)))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        counts.append(int(io.read_done(out, planes=True).sum()))
    assert any(0 < c < 3 * 121 for c in counts), counts  # a kill landed mid-job
    run(out)
    assert out.read_bytes() == (tmp_path / "ref.h5").read_bytes()


# --- figures ----------------------------------------------------------------------------------------

def test_a_1d_ensemble_draws_the_median_its_band_and_each_plane(mlp, xy):
    from landscape import plot

    s = surface.compute(mlp, directions.random(mlp, n=1, seed=0), x=(-1, 1, 9), data=xy, planes=4, progress=False)
    ax = plot.line(s, values=["train_loss"])
    thin = [l for l in ax.get_lines() if l.get_label() == "_plane"]
    assert len(thin) == 4
    median = [l for l in ax.get_lines() if "median of 4 planes" in l.get_label()][0]
    np.testing.assert_allclose(median.get_ydata(), np.median(s.planes.values["train_loss"], axis=0))
    assert any("95% of 4 planes" in c.get_label() for c in ax.collections)


def test_se_band_is_196_standard_errors_wide(mlp, xy):
    from landscape import plot

    s = surface.compute(mlp, directions.random(mlp, n=1, seed=0), x=(-1, 1, 9), data=xy, progress=False)
    ax = plot.line(s, values=["train_loss"], se=True, log=False, vmin=0, vmax=100)
    band = [c for c in ax.collections if "s.e." in c.get_label()][0]
    top = band.get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(float(np.max(s.values["train_loss"] + 1.96 * s.se["train_loss"])), rel=1e-6)


def test_planes_kind_draws_one_panel_per_plane_on_shared_levels(mlp, xy):
    from landscape import plot

    s = surface.compute(mlp, directions.random(mlp, n=2, seed=2), x=(-1, 1, 5), y=(-1, 1, 5), data=xy, planes=3,
                        progress=False)
    fig = plot.planes(s)
    panels = [a for a in fig.axes if a.get_title().startswith("plane")]
    assert [a.get_title() for a in panels] == ["plane 0 (seed 2)", "plane 1 (seed 3)", "plane 2 (seed 4)"]
    levels = [tuple(c.levels) for a in panels for c in a.collections if hasattr(c, "levels")]
    assert levels and len(set(levels)) == 1
    with pytest.raises(ValueError, match="--planes K"):
        plot.planes(s.plane(0))


def test_the_reference_plot_2d_reads_plane_0(mlp, xy, tmp_path):
    """tomgoldstein/loss-landscape's plot_2D.py reads xcoordinates, ycoordinates and the value by name
    and draws ``plt.contour(X, Y, Z)``: on an ensemble file it gets plane 0, complete."""
    import matplotlib.pyplot as plt

    surface.compute(mlp, directions.random(mlp, n=2, seed=0), x=(-1, 1, 5), y=(-1, 1, 4), data=xy, planes=2,
                    path=str(tmp_path / "p.h5"), progress=False)
    f = h5py.File(tmp_path / "p.h5", "r")  # as plot_2D.py opens it
    x, y = np.array(f["xcoordinates"][:]), np.array(f["ycoordinates"][:])
    X, Y = np.meshgrid(x, y)
    Z = np.array(f["train_loss"][:])
    CS = plt.contour(X, Y, Z, cmap="summer", levels=np.linspace(Z.min(), Z.max(), 6))
    assert Z.shape == X.shape and np.isfinite(Z).all() and len(CS.levels) == 6
    np.testing.assert_array_equal(Z, f["planes/train_loss"][0])
    f.close()
