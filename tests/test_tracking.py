"""Sharpness tracked along training (landscape.analysis.tracking) and full-batch gradient descent
(TrainConfig(optimizer="gd")): oracle checks against dense Hessians, resume, the CLI, the figure."""
import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from landscape.analysis import hessian
from landscape.analysis.tracking import SharpnessTracker, stability_threshold
from landscape.training.train import TrainConfig, fit, recommended

pytestmark = pytest.mark.usefixtures("one_thread")


def blobs(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = torch.randint(0, 3, (n,), generator=g)
    return centers[y] + 0.8 * torch.randn(n, 4, generator=g), y


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def dense_hessian(model, data, loss="cross_entropy"):
    with hessian.operator(model, data, loss) as H:
        return H.dense().double(), H


GD = dict(optimizer="gd", lr=0.5, epochs=6, batch_size=1024, momentum=0.0, nesterov=False, weight_decay=0.0,
          schedule="constant", warmup_epochs=0.0, save_every=0)


def test_gd_is_full_batch_gradient_descent_in_any_chunking():
    X, Y = blobs()
    ref = small_net()
    params = list(ref.parameters())
    for _ in range(6):  # w <- w - lr * grad of the mean loss over all samples
        loss = nn.functional.cross_entropy(ref(X), Y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= 0.5 * g
    one = fit(small_net(), (X, Y), config=TrainConfig(**GD), progress_bar=False)
    chunked = fit(small_net(), (X, Y), config=TrainConfig(**{**GD, "batch_size": 13}), progress_bar=False)
    assert len(one.history) == 7  # one step per epoch
    for a, b, c in zip(ref.parameters(), one.model.parameters(), chunked.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def test_gd_recipe_is_plain_constant_step_descent():
    c = recommended("mnist1d", optimizer="gd", lr=0.3)
    assert (c.momentum, c.nesterov, c.schedule, c.warmup_epochs, c.weight_decay) == (0.0, False, "constant", 0.0, 0.0)
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(optimizer="gd", momentum=0.9, nesterov=False)


def test_thresholds():
    assert stability_threshold("gd", 0.1) == pytest.approx(20.0)
    assert stability_threshold("sgd", 0.1, momentum=0.9) == pytest.approx(38.0)
    assert stability_threshold("adam", 0.01) == pytest.approx(3800.0)


def test_tracked_values_match_dense_hessian_oracles():
    X, Y = blobs()
    config = TrainConfig(**{**GD, "optimizer": "sgd", "batch_size": 32, "epochs": 2, "track_sharpness": 3,
                            "track_top_k": 2, "track_trace": 400, "track_batch": 2})
    tracker = SharpnessTracker(config)
    run = fit(small_net(), (X, Y), config=config, tracker=tracker, progress_bar=False)
    rows = run.sharpness
    assert [r["step"] for r in rows] == [0, 3, 6]  # 3 batches per epoch, 2 epochs
    Hd, _ = dense_hessian(run.model, (X, Y))
    eig = torch.linalg.eigvalsh(Hd)
    last = rows[-1]
    assert last["lambda_max"] == pytest.approx(float(eig[-1]), rel=1e-4)
    assert last["lambda_2"] == pytest.approx(float(eig[-2]), rel=1e-3)
    assert abs(last["trace"] - float(eig.sum())) < 4 * last["trace_stderr"] + 1e-6
    assert last["threshold"] == pytest.approx(2 / 0.5) and last["lr"] == 0.5
    # batch sharpness on the tracker's own batches, against dense mini-batch Hessians
    num = den = 0.0
    for xb, yb in tracker.batches:
        Hb, H = dense_hessian(run.model, (xb, yb))
        _, g = H.loss_and_grad()
        g = g.double()
        num, den = num + float(g @ Hb @ g), den + float(g @ g)
    assert last["batch_sharpness"] == pytest.approx(num / den, rel=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tracking_does_not_change_training(optimizer):
    """Measuring mid-epoch draws no training RNG and leaves weights, buffers and modes as they were."""
    X, Y = blobs()
    base = dict(optimizer=optimizer, lr=0.05, epochs=2, batch_size=16, schedule="constant", warmup_epochs=0.0,
                save_every=0, seed=4, augment=True)
    if optimizer == "adam":
        base.update(momentum=0.0, nesterov=False)

    def net():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 3))

    def noisy(x, generator):
        return x + 0.1 * torch.randn(x.shape, generator=generator)

    plain = fit(net(), (X, Y), config=TrainConfig(**base), augment=noisy, progress_bar=False)
    tracked_config = TrainConfig(**base, track_sharpness=2, track_trace=4, track_batch=2,
                                 track_preconditioned=optimizer == "adam")
    tracked = fit(net(), (X, Y), config=tracked_config, tracker=SharpnessTracker(tracked_config), augment=noisy,
                  progress_bar=False)
    assert len(tracked.sharpness) == 7  # steps 0, 2, ..., 12
    a, b = plain.model.state_dict(), tracked.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_adam_preconditioned_sharpness_matches_dense_oracle():
    X, Y = blobs()
    config = TrainConfig(optimizer="adam", lr=0.01, epochs=1, batch_size=96, weight_decay=0.0, schedule="constant",
                         warmup_epochs=0.0, track_sharpness=1, track_preconditioned=True, save_every=0)
    model = small_net()
    run = fit(model, (X, Y), config=config, tracker=SharpnessTracker(config), progress_bar=False)
    assert run.sharpness[0]["preconditioned"] is None  # no second moment before the first step
    # rebuild Adam's P after its one step: t = 1, v = (1 - beta2) g^2
    _, H = dense_hessian(small_net(), (X, Y))
    _, g0 = H.loss_and_grad()
    v = 0.001 * g0 ** 2
    P = 0.1 * ((v / 0.001).sqrt() + 1e-8)
    Hd, _ = dense_hessian(run.model, (X, Y))
    D = P.double().rsqrt()
    expected = float(torch.linalg.eigvalsh(D[:, None] * Hd * D[None, :])[-1])
    assert run.sharpness[1]["preconditioned"] == pytest.approx(expected, rel=1e-3)
    assert run.sharpness[1]["threshold"] == pytest.approx(38 / 0.01)


class Killed(Exception):
    pass


def test_killed_tracked_run_resumes_to_the_uninterrupted_history(tmp_path):
    X, Y = blobs()
    config = TrainConfig(**{**GD, "epochs": 8, "track_sharpness": 2, "track_top_k": 2, "track_batch": 1,
                            "batch_size": 48})

    class DiesAtThird(SharpnessTracker):
        calls = 0

        def measure(self, *args, **kwargs):
            DiesAtThird.calls += 1
            if DiesAtThird.calls == 4:  # step 6: after epochs 0..5 were saved
                raise Killed
            return super().measure(*args, **kwargs)

    ref = fit(small_net(), (X, Y), config=config, tracker=SharpnessTracker(config), run_dir=tmp_path / "ref",
              progress_bar=False)
    with pytest.raises(Killed):
        fit(small_net(), (X, Y), config=config, tracker=DiesAtThird(config), run_dir=tmp_path / "cut", progress_bar=False)
    resumed = fit(small_net(seed=3), (X, Y), config=config, tracker=SharpnessTracker(config), run_dir=tmp_path / "cut",
                  resume=True, progress_bar=False)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert len(ref.sharpness) == 5
    assert strip(resumed.sharpness) == strip(ref.sharpness)
    assert strip(resumed.history) == strip(ref.history)
    on_disk = [json.loads((tmp_path / d / "history.json").read_text())["sharpness"] for d in ("ref", "cut")]
    assert strip(on_disk[0]) == strip(on_disk[1])


def test_tracking_config_is_checked_and_needs_a_tracker():
    X, Y = blobs()
    with pytest.raises(ValueError, match="track_preconditioned"):
        TrainConfig(track_sharpness=5, track_preconditioned=True, optimizer="sgd")
    with pytest.raises(ValueError, match="track_method"):
        TrainConfig(track_sharpness=5, track_method="qr")
    with pytest.raises(ValueError, match="tracker="):
        fit(small_net(), (X, Y), config=TrainConfig(epochs=1, track_sharpness=1), progress_bar=False)
    # an untracked config's dict is what it was before tracking existed (old runs still match)
    assert not any(k.startswith("track_") for k in TrainConfig().to_dict())
    c = TrainConfig(track_sharpness=4, track_trace=10)
    assert TrainConfig.from_dict(c.to_dict()) == c


# --- the command line ------------------------------------------------------------------------------

def invoke(*args):
    from landscape import cli

    return CliRunner().invoke(cli.main, [str(a) for a in args])


def test_cli_tracked_lambda_max_agrees_with_landscape_sharpness_on_the_snapshot(tmp_path):
    """The tracked λmax at step 10 and `landscape sharpness` on snapshots/epoch_0010.pt (same 300 samples)."""
    out = tmp_path / "run"
    r = invoke("train", "mlp8", "--dataset", "mnist1d", "--n-train", 300, "--optimizer", "gd", "--lr", 0.1,
               "--epochs", 10, "--track-sharpness", 5, "--track-samples", 300, "--save-every", 5, "--threads", 1,
               "--out", out, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "lambda_max, last" in r.output and "sharpness.csv" in r.output
    history = json.loads((out / "history.json").read_text())
    rows = history["sharpness"]
    assert [row["step"] for row in rows] == [0, 5, 10]
    assert history["sharpness_settings"]["n_samples"] == 300
    assert all(row["threshold"] == pytest.approx(20.0) for row in rows)
    assert len(history["epochs"]) == 11  # gd: one step per epoch
    r = invoke("sharpness", out / "snapshots" / "epoch_0010.pt", "--top-k", 1, "--n-samples", 300, "--data-seed", 0,
               "--threads", 1, "--json", tmp_path / "s.json", "--no-progress")
    assert r.exit_code == 0, r.output
    separate = json.loads((tmp_path / "s.json").read_text())["eigenvalues"]["values"][0]
    assert rows[-1]["lambda_max"] == pytest.approx(separate, rel=0.01)
    assert (out / "sharpness.csv").read_text().splitlines()[0].startswith("step,epoch,lr,threshold,lambda_max")
    assert (out / "sharpness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, match", [
    (["--track-trace", "5"], "--track-sharpness"),
    (["--optimizer", "gd", "--momentum", "0.9"], "momentum"),
    (["--track-sharpness", "2", "--track-preconditioned"], "track_preconditioned"),
])
def test_cli_bad_tracking_options_exit_2_and_write_nothing(tmp_path, args, match):
    out = tmp_path / "run"
    r = invoke("train", "mlp8", "--dataset", "digits", "--n-train", 50, "--epochs", 1, "--out", out, *args)
    assert r.exit_code == 2 and match in r.output, r.output
    assert not (out / "history.json").exists()


@pytest.mark.slow
def test_sigkilled_tracked_gd_run_resumes_to_the_same_history(tmp_path):
    """A real `landscape train --optimizer gd --track-sharpness` process killed with SIGKILL, then --resume:
    the same weights, history and tracked rows as an uninterrupted run (state written every 10 steps)."""
    import signal
    import subprocess
    import sys
    import time

    args = ["train", "mlp8", "--dataset", "mnist1d", "--n-train", "300", "--optimizer", "gd", "--lr", "0.1",
            "--epochs", "40", "--track-sharpness", "5", "--track-batch-sharpness", "2", "--threads", "1", "--quiet"]
    cut = tmp_path / "cut"
    cmd = [sys.executable, "-c", "from landscape import cli; cli.main()"]
    proc = subprocess.Popen(cmd + args + ["--out", str(cut)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, done = time.monotonic() + 120, 0
    try:
        while time.monotonic() < deadline and proc.poll() is None and done < 10:
            try:
                done = len(json.loads((cut / "history.json").read_text())["epochs"]) - 1
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert done >= 10 and not (cut / "final.pt").exists(), "killed too late to test resuming"
    assert invoke(*args, "--out", cut, "--resume").exit_code == 0
    ref = tmp_path / "ref"
    assert invoke(*args, "--out", ref).exit_code == 0
    docs = [json.loads((d / "history.json").read_text()) for d in (cut, ref)]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(docs[0]["sharpness"]) == strip(docs[1]["sharpness"]) and len(docs[1]["sharpness"]) == 9
    assert strip(docs[0]["epochs"]) == strip(docs[1]["epochs"])
    a, b = (torch.load(d / "final.pt", weights_only=True)["state_dict"] for d in (cut, ref))
    assert all(torch.equal(a[k], b[k]) for k in a)
