"""`landscape surface` and `landscape info` end to end on a trained digits model, including a test
that SIGKILLs real `landscape surface` processes at random moments and resumes."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from landscape import cli, data, models
from landscape.storage import checkpoint, io

SPEC = dict(depth=4, width=0.5, in_shape=(1, 8, 8), num_classes=10)  # 2 hidden layers of 32, BN


def _train(epochs=12, seed=0, normalize=True, run_dir=None):
    """A small digits MLP trained with full-batch Adam (about a second); snapshots into run_dir."""
    torch.manual_seed(seed)
    X, Y = data.load("digits", "train", normalize=normalize)
    model = models.create("mlp", seed=seed, **SPEC)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    meta = {"dataset": "digits", "normalize": normalize}
    for epoch in range(epochs + 1):
        if run_dir is not None and epoch % 3 == 0:
            checkpoint.save(run_dir / "snapshots" / f"epoch_{epoch:04d}.pt", model, spec=models.spec(model), data=meta,
                            epoch=epoch)
        if epoch == epochs:
            break
        model.train()
        for i in range(0, len(X), 256):
            loss = F.cross_entropy(model(X[i:i + 256]), Y[i:i + 256])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model, meta


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(final.pt path, run dir, second checkpoint path): a trained model, its run, another seed's model."""
    root = tmp_path_factory.mktemp("run")
    (root / "snapshots").mkdir()
    model, meta = _train(run_dir=root)
    checkpoint.save(root / "final.pt", model, spec=models.spec(model), data=meta, epoch=12, extra={"name": "mlp4"})
    other, _ = _train(seed=1)
    checkpoint.save(root / "other.pt", other, spec=models.spec(other), data=meta, epoch=12)
    return root / "final.pt", root, root / "other.pt"


def run(*args):
    result = CliRunner().invoke(cli.main, [str(a) for a in args])
    return result


def test_51x51_surface_then_info(trained, tmp_path):
    """The acceptance run, kept quick: a 51 x 51 grid on a subset of 64 samples per split."""
    ckpt, _, _ = trained
    out = tmp_path / "s.h5"
    r = run("surface", ckpt, "--x", "-1:1:51", "--y", "-1:1:51", "--n-samples", 64, "--out", out, "--threads", 1,
            "--no-progress")
    assert r.exit_code == 0, r.output
    assert "2601/2601 cells done" in r.output
    s = io.load(out)
    assert s.shape == (51, 51) and s.done().all()
    assert list(s.values) == ["train_loss", "train_acc", "test_loss", "test_acc"]
    e = s.extremes("train_loss")
    assert max(abs(c) for c in e["argmin_coords"]) <= 0.2  # a trained model sits near the minimum
    assert s.values["train_loss"][25, 25] < 0.5 and s.values["train_acc"][25, 25] > 0.85
    assert e["max"] > 3 * s.values["train_loss"][25, 25]
    a = s.attrs
    assert a["model_name"] == "mlp4" and a["model_spec"] == models.spec(checkpoint.load_model(ckpt)[0])
    assert a["checkpoint_sha256"] == checkpoint.sha256(ckpt) and a["dataset"] == "digits"
    assert (a["n_samples"], a["n_test_samples"], a["data_seed"], a["normalize"]) == (64, 64, 0, True)
    assert (a["direction_kind"], a["norm"], a["ignore"], a["seed"], a["bn"]) == ("random", "filter", "biasbn", 0, "eval")

    info = run("info", out)
    assert info.exit_code == 0, info.output
    for text in (f"landscape-surface {io.FORMAT_VERSION}", "2601/2601 cells", "train_loss: min", "test_acc: min", "checkpoint_sha256",
                 "x: -1 .. 1, 51 points", "y: -1 .. 1, 51 points", "mlp4"):
        assert text in info.output, text


@pytest.mark.slow
def test_51x51_full_digits_surface(trained, tmp_path):
    """The full acceptance run: every digits sample, train and test (about a minute on one core)."""
    ckpt, _, _ = trained
    start = time.time()
    r = run("surface", ckpt, "--x", "-1:1:51", "--y", "-1:1:51", "--out", tmp_path / "full.h5", "--threads", 1)
    assert r.exit_code == 0, r.output
    s = io.load(tmp_path / "full.h5")
    assert s.done().all() and s.attrs["n_samples"] == 1437 and s.attrs["n_test_samples"] == 360
    print(f"51x51 full digits surface: {time.time() - start:.1f} s")


def test_rerun_resumes_and_other_settings_need_overwrite(trained, tmp_path):
    ckpt, _, _ = trained
    out = tmp_path / "s.h5"
    base = ["surface", ckpt, "--x", "-1:1:5", "--n-samples", 32, "--split", "train", "--out", out, "--no-progress"]
    assert run(*base).exit_code == 0
    first = io.load(out)
    again = run(*base)
    assert again.exit_code == 0 and "5/5 cells done" in again.output
    np.testing.assert_array_equal(io.load(out).values["train_loss"], first.values["train_loss"])
    other = run(*base, "--seed", 1)
    assert other.exit_code == 2
    assert "--overwrite" in other.output and "seed" in other.output
    assert run(*base, "--seed", 1, "--overwrite").exit_code == 0
    assert io.load(out).attrs["seed"] == 1


@pytest.mark.parametrize("args, message", [
    (["--x", "1:-1:5"], "MIN must be less than MAX"),
    (["--split", "train,val"], "--split"),
    (["--dir", "target"], "--target"),
    (["--dir", "pca"], "--trajectory"),
    (["--norm", "filtr"], "filtr"),
    (["--dataset", "nope"], "nope"),
    (["--planes", 0], "--planes"),
    (["--tol", -1], "--tol"),
    (["--tol", "nan"], "--tol"),
    (["--planes", 2, "--dir", "hessian"], "--planes"),
])
def test_bad_input_is_a_one_line_usage_error(trained, tmp_path, args, message):
    ckpt, _, _ = trained
    r = run("surface", ckpt, "--x", "-1:1:3", "--out", tmp_path / "s.h5", "--no-progress", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s.h5").exists()


def test_missing_checkpoint_is_a_usage_error(tmp_path):
    r = run("surface", tmp_path / "nope.pt", "--out", tmp_path / "s.h5")
    assert r.exit_code == 2 and "does not exist" in r.output


def test_target_direction_reaches_the_target_model(trained, tmp_path):
    ckpt, _, other = trained
    out = tmp_path / "t.h5"
    r = run("surface", ckpt, "--dir", "target", "--target", other, "--x", "0:1:3", "--split", "test", "--out", out,
            "--no-progress")
    assert r.exit_code == 0, r.output
    s = io.load(out)
    assert s.attrs["direction_kind"] == "target" and s.attrs["target_sha256"] == [checkpoint.sha256(other)]
    X, Y = data.load("digits", "test")
    with torch.no_grad():
        for path, i in ((ckpt, 0), (other, 2)):
            m, _ = checkpoint.load_model(path)
            assert s.values["test_loss"][i] == pytest.approx(F.cross_entropy(m(X), Y).item(), rel=1e-4)


def test_pca_direction_from_a_trajectory(trained, tmp_path):
    ckpt, run_dir, _ = trained
    out = tmp_path / "p.h5"
    r = run("surface", ckpt, "--dir", "pca", "--trajectory", run_dir, "--x", "-2:2:3", "--y", "-2:2:3",
            "--n-samples", 32, "--split", "train", "--out", out, "--no-progress")
    assert r.exit_code == 0, r.output
    s = io.load(out)
    assert s.attrs["direction_kind"] == "pca" and s.attrs["n_snapshots"] == 5
    assert s.trajectory["coords"].shape == (5, 2) and s.trajectory["epochs"].tolist() == [0, 3, 6, 9, 12]
    assert 0.5 < float(np.sum(s.trajectory["explained"])) <= 1.0
    assert "trajectory: 5 points" in run("info", out).output


def test_pca_grid_that_leaves_the_trajectory_out_says_by_how_much(trained, tmp_path):
    ckpt, run_dir, _ = trained
    out = tmp_path / "p.h5"
    r = run("surface", ckpt, "--dir", "pca", "--trajectory", run_dir, "--x", "-0.01:0.01:3", "--y", "-0.01:0.01:3",
            "--n-samples", 16, "--split", "train", "--out", out, "--no-progress")
    assert r.exit_code == 0, r.output
    coords = io.load(out).trajectory["coords"]
    lo, hi = coords.min(0), coords.max(0)
    assert lo[0] < -0.01 or hi[0] > 0.01  # the start of training lies far from the final model
    warning = next(line for line in r.output.splitlines() if "does not cover the trajectory along x" in line)
    assert f"{lo[0]:.3g}..{hi[0]:.3g}" in warning
    assert f"--x {min(-0.01, lo[0]):.3g}:{max(0.01, hi[0]):.3g}:3" in warning


def test_hessian_direction(trained, tmp_path):
    ckpt, _, _ = trained
    out = tmp_path / "h.h5"
    r = run("surface", ckpt, "--dir", "hessian", "--x", "-0.5:0.5:3", "--n-samples", 64, "--split", "train",
            "--out", out, "--no-progress")
    assert r.exit_code == 0, r.output
    s = io.load(out)
    assert s.attrs["direction_kind"] == "hessian" and s.attrs["hessian_eigenvalues"][0] > 0
    norm = torch.cat([t.reshape(-1) for t in s.directions[0].values()]).norm()
    assert float(norm) == pytest.approx(1.0, rel=1e-4)


def test_resuming_a_hessian_surface_reuses_its_directions(trained, tmp_path, monkeypatch):
    ckpt, _, _ = trained
    args = ["surface", ckpt, "--dir", "hessian", "--x", "-0.5:0.5:3", "--n-samples", 64, "--split", "train",
            "--out", tmp_path / "h.h5", "--no-progress"]
    assert run(*args).exit_code == 0
    first = io.load(tmp_path / "h.h5")
    monkeypatch.setitem(sys.modules, "landscape.analysis.sharpness", None)  # recomputing would now fail
    again = run(*args)
    assert again.exit_code == 0 and "3/3 cells done" in again.output, again.output
    assert io.load(tmp_path / "h.h5").attrs["hessian_eigenvalues"] == first.attrs["hessian_eigenvalues"]


def test_hessian_direction_without_sharpness_module(trained, tmp_path, monkeypatch):
    ckpt, _, _ = trained
    monkeypatch.setitem(sys.modules, "landscape.analysis.sharpness", None)  # import fails as if absent
    r = run("surface", ckpt, "--dir", "hessian", "--x", "-1:1:3", "--out", tmp_path / "h.h5", "--no-progress")
    assert r.exit_code == 2 and "landscape.analysis.sharpness" in r.output


def test_data_normalization_follows_the_checkpoint(tmp_path):
    model, meta = _train(epochs=2, normalize=False)
    ckpt = tmp_path / "raw.pt"
    checkpoint.save(ckpt, model, spec=models.spec(model), data=meta)
    out = tmp_path / "raw.h5"
    assert run("surface", ckpt, "--x", "-1:1:3", "--split", "test", "--out", out, "--no-progress").exit_code == 0
    X, Y = data.load("digits", "test", normalize=False)
    with torch.no_grad():
        expect = F.cross_entropy(model(X), Y).item()
    assert io.load(out).values["test_loss"][1] == pytest.approx(expect, rel=1e-5)
    assert io.load(out).attrs["normalize"] is False


def test_info_reads_reference_layout(tmp_path):
    import h5py

    with h5py.File(tmp_path / "ref.h5", "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f["train_loss"] = np.array([2.0, 1.0, -1.0])
        f["train_acc"] = np.array([40.0, 90.0, -1.0])
    r = run("info", tmp_path / "ref.h5")
    assert r.exit_code == 0, r.output
    assert "reference layout" in r.output and "2/3 cells" in r.output and "train_loss: min 1 at (0)" in r.output


# --- the kill test --------------------------------------------------------------------------------

def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(trained, tmp_path):
    """Kill real `landscape surface` processes with SIGKILL at random moments (before the file
    exists, while rounds are being written); each time the file opens; resuming ends with exactly the
    grid of an uninterrupted run."""
    ckpt, _, _ = trained
    # Small batches stretch the grid to ~2 s of computing (unbatched it takes ~0.4 s); kills come
    # within a tenth of the measured grid time after progress, so they land mid-grid.
    args = ["surface", str(ckpt), "--x", "-1:1:21", "--y", "-1:1:21", "--n-samples", 400, "--split", "train",
            "--batch-size", 16, "--threads", 1, "--no-progress", "--round-seconds", "0.02"]
    started = time.perf_counter()
    ref = run(*args, "--out", tmp_path / "ref.h5")
    grid_seconds = time.perf_counter() - started  # this machine's whole grid, imports already paid
    assert ref.exit_code == 0, ref.output
    expected = io.load(tmp_path / "ref.h5")

    out = tmp_path / "kill.h5"
    cmd = [sys.executable, "-c", "from landscape import cli; cli.main()", *map(str, args), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    rng = np.random.default_rng(int(time.time()))
    done_counts = []
    for attempt in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        if attempt == 0:
            time.sleep(float(rng.uniform(0.3, 1.5)))  # imports, file creation or the first rounds
        else:  # once this run has written something of its own, at a random moment of the computation
            before, deadline = (done_counts or [0])[-1], time.time() + 60
            while proc.poll() is None and time.time() < deadline:
                if out.exists() and io.read_done(out).sum() > before:
                    break
                time.sleep(0.005)
            # within the next tenth of the grid's time, so the kill lands mid-grid on any machine
            time.sleep(float(rng.uniform(0.0, min(0.15, grid_seconds / 10))))
        if proc.poll() is None:  # poll() reaps a run that already ended: no pid left to kill
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if out.exists():
            partial = io.load(out)  # opens after every kill
            done_counts.append(int(partial.done().sum()))
            assert np.isnan(partial.values["train_loss"][~partial.done()]).all()
    print("done after kills:", done_counts)
    assert done_counts == sorted(done_counts)  # work is never lost
    assert sum(0 < c < 441 for c in done_counts) >= 2, done_counts  # kills landed mid-grid
    final = run(*args, "--out", out)
    assert final.exit_code == 0, final.output
    got = io.load(out)
    assert got.done().all()
    for name in expected.values:
        np.testing.assert_array_equal(got.values[name], expected.values[name])


def test_planes_then_info_gives_every_metric_as_median_and_interval(trained, tmp_path):
    ckpt, _, _ = trained
    out = tmp_path / "p.h5"
    r = run("surface", ckpt, "--x", "-1:1:7", "--y", "-1:1:7", "--planes", 3, "--n-samples", 64, "--out", out,
            "--threads", 1, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "3 planes (seeds 0..2)" in r.output
    info = run("info", out)
    assert info.exit_code == 0, info.output
    for text in ("planes:    3 direction sets", "over 3 planes (median [95% interval]", "curvature x (quadratic fit):",
                 "basin width at min+0.1", "local minima (below every neighbour by > 2 s.e.)", "barrier to the grid's edge",
                 "cell 0.333 x 0.333", "finite-population correction toward"):
        assert text in info.output, text
    assert run("plot", out, "--kind", "planes", "--out", tmp_path / "p.png").exit_code == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_plot_se_is_for_line_plots_of_files_with_standard_errors(trained, tmp_path):
    ckpt, _, _ = trained
    out = tmp_path / "l.h5"
    assert run("surface", ckpt, "--x", "-1:1:5", "--n-samples", 64, "--split", "train", "--out", out, "--threads", 1,
               "--no-progress").exit_code == 0
    r = run("plot", out, "--kind", "line", "--se", "--out", tmp_path / "l.png")
    assert r.exit_code == 0, r.output
    plane = tmp_path / "p.h5"
    assert run("surface", ckpt, "--x", "-1:1:3", "--y", "-1:1:3", "--n-samples", 64, "--split", "train", "--out", plane,
               "--threads", 1, "--no-progress").exit_code == 0
    r = run("plot", plane, "--kind", "contour", "--se", "--out", tmp_path / "c.png")
    assert r.exit_code == 2 and "--se" in r.output and not (tmp_path / "c.png").exists()
    r = run("plot", tmp_path.parent / "nope.h5", "--kind", "planes", "--out", tmp_path / "x.png")
    assert r.exit_code == 2
    r = run("plot", plane, "--kind", "planes", "--out", tmp_path / "x.png")
    assert r.exit_code == 2 and "--planes K" in r.output and not (tmp_path / "x.png").exists()
