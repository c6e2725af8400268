"""landscape.connect (issue 19): curves between two minima, their training, barriers, the path file,
its figures and the `landscape connect` command. Tiny models: every test takes about a second."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from conftest import TinyCNN, ctrl_c_default

from landscape import cli, models
from landscape.analysis import connect
from landscape.analysis.connect import ConnectConfig, Curve
from landscape.core import params
from landscape.storage import checkpoint, pathfile

QUICK = dict(epochs=3, batch_size=16, points=7, plane=6)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(96, 1, 8, 8, generator=g)
    Y = torch.randint(0, 3, (96,), generator=g)
    return (X[:64], Y[:64]), (X[64:], Y[64:])


def _trained(seed, train):
    torch.manual_seed(seed)
    model = TinyCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(train[0]), train[1]).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def pair(data):
    return _trained(0, data[0]), _trained(1, data[0])


def _moved_bend(curve, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in curve.bend.values():
            t.add_(torch.randn(t.shape, generator=g))


# --- the curve ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", connect.CURVES)
def test_curve_ends_are_the_two_models_bitwise(pair, kind):
    a, b = pair
    curve = Curve(a, b, kind)
    _moved_bend(curve)  # whatever the bend, the ends are fixed
    for t, model in ((0, a), (1, b), (0.0, a), (1.0, b)):
        own = dict(model.named_parameters())
        w = curve.weights(t)
        assert list(w) == list(own)
        for name, tensor in w.items():
            assert tensor.dtype == own[name].dtype
            assert tensor.numpy().tobytes() == own[name].detach().numpy().tobytes(), (kind, t, name)
    for t in (0, 1):  # the straight line too
        assert all(torch.equal(v, dict((a, b)[t].named_parameters())[n]) for n, v in curve.line(t).items())


@pytest.mark.parametrize("kind", connect.CURVES)
def test_bend_at_the_midpoint_makes_the_curve_the_line(pair, kind):
    a, b = pair
    curve = Curve(a, b, kind)  # the bend starts at (A + B) / 2
    for t in np.linspace(0, 1, 11):
        w, line = curve.weights(t), curve.line(t)
        for name in w:
            torch.testing.assert_close(w[name], line[name], rtol=0, atol=1e-6)
    _moved_bend(curve)
    with torch.no_grad():
        far = max(float((curve.weights(0.5)[n] - curve.line(0.5)[n]).abs().max()) for n in curve.a)
    assert far > 0.1  # and a bend off the midpoint is not the line


def test_coefficients_sum_to_one_and_the_polychain_passes_through_the_bend(pair):
    for kind in connect.CURVES:
        for t in np.linspace(0, 1, 13):
            assert sum(connect.coefficients(kind, t)) == pytest.approx(1.0, abs=1e-12)
    assert connect.coefficients("polychain", 0.5) == (0.0, 1.0, 0.0)
    assert connect.coefficients("bezier", 0.5) == (0.25, 0.5, 0.25)
    with pytest.raises(ValueError, match="curve"):
        connect.coefficients("spline", 0.5)


def test_other_architectures_are_refused(pair):
    with pytest.raises(ValueError, match="same architecture"):
        Curve(pair[0], TinyCNN(classes=4))


def test_barrier_is_the_peak_above_the_mean_of_the_ends():
    assert pathfile.barrier([1.0, 3.0, 2.0]) == pytest.approx(1.5)
    assert pathfile.barrier([1.0, 0.5, 1.0]) == pytest.approx(0.0)  # never above the ends: 0
    assert np.isnan(pathfile.barrier([1.0, np.nan, 2.0]))  # a missing point: unknown


# --- the job ----------------------------------------------------------------------------------------

def test_connect_in_memory(pair, data):
    a, b = pair
    before_a, before_b = params.snapshot(a), params.snapshot(b)
    paths = connect.connect(a, b, data[0], data[1], config=ConnectConfig(**QUICK), progress=False)
    for model, before in ((a, before_a), (b, before_b)):  # neither model is changed
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert list(paths.curve) == ["train_loss", "train_acc", "test_loss", "test_acc"]
    for which in ("line", "curve"):
        assert np.isfinite(paths.values(which)["train_loss"]).all()
    # the ends are the same models on both paths, so the same numbers
    assert paths.line["train_loss"][[0, -1]].tolist() == paths.curve["train_loss"][[0, -1]].tolist()
    assert np.isfinite(paths.barrier("line")) and np.isfinite(paths.barrier("curve", "test_loss"))
    assert paths.plane.shape == (6, 6) and np.isfinite(paths.plane.values["train_loss"]).all()
    # the plane holds the curve: its end points are A and B, its middle off the line by the bend's height
    assert paths.coords[0].tolist() == [0.0, 0.0] and paths.coords[-1].tolist() == [1.0, 0.0]
    assert paths.coords[3, 1] == pytest.approx(paths.points[2][1] / 2)
    assert paths.training["epoch"].tolist() == [1, 2, 3]


def test_bend_training_lowers_the_loss_in_the_middle(pair, data):
    a, b = pair
    curve = Curve(a, b)
    with params.restored(a):
        before = connect.evaluate_at(a, curve.weights(0.5), {"train": [data[0]]}, connect.evaluate.objective(),
                                     [data[0]])["train_loss"]
    paths = connect.connect(a, b, data[0], config=ConnectConfig(epochs=30, batch_size=16, points=3, plane=0),
                            progress=False)
    assert paths.curve["train_loss"][1] < 0.9 * before  # t = 0.5: the line's midpoint before training
    assert paths.barrier("curve") < paths.barrier("line")
    assert paths.plane is None and "test_loss" not in paths.curve


def test_path_file_resumes_points_and_refuses_another_job(pair, data, tmp_path):
    a, b = pair
    out = tmp_path / "ab.h5"
    config = ConnectConfig(**QUICK)
    first = connect.connect(a, b, data[0], data[1], config=config, path=out, progress=False)
    assert not connect.state_path_for(out).exists()  # the file holds the bend now
    # forget some points, as a kill would leave them, and resume
    import h5py
    with h5py.File(out, "r+") as f:
        f["curve/done"][2:5] = 0
        f["curve/train_loss"][2:5] = 123.0
        f["plane/done"][0, :] = 0
    assert np.isnan(pathfile.load(out).curve["train_loss"][2:5]).all()  # undone points read as NaN
    again = connect.connect(a, b, data[0], data[1], config=config, path=out, progress=False)
    np.testing.assert_array_equal(again.curve["train_loss"], first.curve["train_loss"])
    np.testing.assert_array_equal(again.plane.values["train_loss"], first.plane.values["train_loss"])
    with pytest.raises(ValueError, match="holds another connect job.*epochs"):
        connect.connect(a, b, data[0], data[1], config=ConnectConfig(**{**QUICK, "epochs": 4}), path=out,
                        progress=False)
    replaced = connect.connect(a, b, data[0], data[1], config=ConnectConfig(**{**QUICK, "epochs": 4}), path=out,
                               overwrite=True, progress=False)
    assert replaced.attrs["epochs"] == 4 and len(replaced.training["epoch"]) == 4


def test_interrupted_training_resumes_to_the_same_bend(pair, data, tmp_path, monkeypatch):
    a, b = pair
    config = ConnectConfig(epochs=4, batch_size=16, points=3, plane=0, seed=5)
    whole = connect.connect(a, b, data[0], config=config, path=tmp_path / "whole.h5", progress=False)
    out = tmp_path / "cut.h5"
    save = connect._Trainer._save

    def save_then_stop(self):
        save(self)
        if self.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(connect._Trainer, "_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        connect.connect(a, b, data[0], config=config, path=out, progress=False)
    assert connect.state_path_for(out).is_file() and not out.exists()
    monkeypatch.setattr(connect._Trainer, "_save", save)
    resumed = connect.connect(a, b, data[0], config=config, path=out, progress=False)
    for name, t in whole.bend.items():  # seeded: the same bend, bit for bit
        assert torch.equal(t, resumed.bend[name]), name
    np.testing.assert_array_equal(whole.training["loss"], resumed.training["loss"])
    np.testing.assert_array_equal(whole.curve["train_loss"], resumed.curve["train_loss"])


def test_a_state_of_other_settings_is_refused(pair, data, tmp_path, monkeypatch):
    a, b = pair
    out = tmp_path / "ab.h5"

    def stop(self):
        raise KeyboardInterrupt

    save = connect._Trainer._save
    monkeypatch.setattr(connect._Trainer, "_save", lambda self: (save(self), stop(self)))
    with pytest.raises(KeyboardInterrupt):
        connect.connect(a, b, data[0], config=ConnectConfig(epochs=3, points=3, plane=0), path=out, progress=False)
    monkeypatch.setattr(connect._Trainer, "_save", save)
    with pytest.raises(ValueError, match="interrupted connect job with other settings"):
        connect.connect(a, b, data[0], config=ConnectConfig(epochs=3, points=3, plane=0, lr=0.01), path=out,
                        progress=False)


def test_bad_settings_and_identical_models(pair, data):
    with pytest.raises(ValueError, match="curve"):
        ConnectConfig(curve="spline")
    with pytest.raises(ValueError, match="plane"):
        ConnectConfig(plane=3)
    with pytest.raises(ValueError, match="same weights"):
        connect.connect(pair[0], pair[0], data[0], progress=False)


# --- figures ------------------------------------------------------------------------------------------

def test_figures_of_a_path_file(pair, data, tmp_path):
    import matplotlib.pyplot as plt

    from landscape import plot
    from landscape.plot import paths as ppaths

    paths = connect.connect(*pair, data[0], data[1], config=ConnectConfig(**QUICK), progress=False)
    fig = ppaths.draw(paths, "line")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(l.startswith("straight line, train loss (barrier") for l in labels)
    assert any(l.startswith("Bézier curve, test loss (barrier") for l in labels)
    plot.save(fig, tmp_path / "line.png")
    plt.close(fig)
    fig = ppaths.draw(paths, "contour")
    ax = fig.axes[0]
    curve_line = [l for l in ax.get_lines() if l.get_label() == "Bézier curve"][0]
    np.testing.assert_allclose(curve_line.get_xydata(), paths.coords)
    assert ax.get_ylim()[0] < 0 < paths.points[2][1] < ax.get_ylim()[1]  # the line and the bend in view
    plot.save(fig, tmp_path / "plane.png")
    plt.close(fig)
    assert (tmp_path / "line.png").stat().st_size > 0 and (tmp_path / "plane.png").stat().st_size > 0


# --- the command --------------------------------------------------------------------------------------

SPEC = dict(depth=4, width=0.25, in_shape=(1, 8, 8), num_classes=10)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    meta = {"dataset": "digits", "normalize": True}
    for seed in (0, 1):
        model = models.create("mlp", seed=seed, **SPEC)
        checkpoint.save(root / f"s{seed}.pt", model, spec=models.spec(model), data=meta, extra={"name": "mlp4"})
    other = models.create("mlp", seed=0, **{**SPEC, "skip": False})
    checkpoint.save(root / "noskip.pt", other, spec=models.spec(other), data=meta)
    return root


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def test_cli_connect_info_plot(checkpoints, tmp_path):
    out = tmp_path / "ab.h5"
    args = ("connect", checkpoints / "s0.pt", checkpoints / "s1.pt", "--out", out, "--epochs", 1, "--points", 5,
            "--plane", 5, "--n-samples", 96, "--no-progress", "--threads", 1)
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "train_loss barrier: line" in result.output
    result = run("info", out)
    assert result.exit_code == 0, result.output
    assert "curve:     5/5 points done" in result.output and "test_loss barrier: line" in result.output
    assert "mlp4" in result.output
    assert run(*args).exit_code == 0  # a finished job reruns as a no-op
    result = run("plot", out, "--out", tmp_path / "ab.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ab.png").is_file()  # what was asked: both views in one figure (issue 30.7)
    assert not (tmp_path / "ab_line.png").exists()
    from PIL import Image

    width, height = Image.open(tmp_path / "ab.png").size
    assert width > 1.5 * height  # two panels side by side
    result = run("plot", out, "--kind", "all", "--out", tmp_path / "ab.png")
    assert (tmp_path / "ab_line.png").is_file() and (tmp_path / "ab_contour.png").is_file()
    result = run("plot", out, "--kind", "line", "--out", tmp_path / "only.png")
    assert result.exit_code == 0 and (tmp_path / "only.png").is_file()


@pytest.mark.parametrize("case, message", [
    ("architecture", "different architectures"),
    ("missing", "does not exist"),
    ("curve", "'spline' is not one of 'bezier', 'polychain'"),
])
def test_cli_bad_input_is_one_line_exit_2(checkpoints, tmp_path, case, message):
    a, b = checkpoints / "s0.pt", checkpoints / "s1.pt"
    extra = []
    if case == "architecture":
        b = checkpoints / "noskip.pt"
    elif case == "missing":
        b = tmp_path / "nope.pt"
    else:
        extra = ["--curve", "spline"]
    result = run("connect", a, b, "--out", tmp_path / "x.h5", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.slow
def test_cli_ctrl_c_then_rerun_continues_to_the_same_curve(checkpoints, tmp_path):
    """A real `landscape connect` process interrupted (SIGINT) during the curve's training resumes
    from its last epoch and ends with the bend an uninterrupted run trains, bit for bit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def command(out):
        return [sys.executable, "-m", "landscape", "connect", str(checkpoints / "s0.pt"), str(checkpoints / "s1.pt"),
                "--out", str(out), "--epochs", "40", "--points", "5", "--plane", "0", "--n-samples", "600",
                "--threads", "1", "--no-progress"]

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cut, whole = tmp_path / "cut.h5", tmp_path / "whole.h5"
    proc = subprocess.Popen(command(cut), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_default)
    state = connect.state_path_for(cut)
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err and not cut.exists()
    import json

    epochs_done = len(json.loads(checkpoint.safe_torch_load(state)["history"])["epoch"])
    assert 0 < epochs_done < 40  # stopped during the training, after saving at least one epoch
    rerun = subprocess.run(command(cut), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    reference = subprocess.run(command(whole), env=env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr
    a, b = pathfile.load(cut), pathfile.load(whole)
    assert all(torch.equal(a.bend[n], b.bend[n]) for n in b.bend)
    np.testing.assert_array_equal(a.curve["train_loss"], b.curve["train_loss"])
