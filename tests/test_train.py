"""landscape.train / schedules / gradflow: the training API and its run-directory contract."""
import dataclasses
import json
import math
import os
import pickle

import pytest
import torch
from torch import nn

from landscape import models
from landscape.base.errors import FileFormatError
from landscape.storage import checkpoint
from landscape.training import gradflow
from landscape.training.schedules import lr_at
from landscape.training.train import COLUMNS, TrainConfig, check_run_dir, fit, load_history, recommended


def blobs(n=240, seed=0, noise=0.6):
    """Three Gaussian clusters in 4-D: learnable to > 90% in a few epochs. X (n, 4), Y (n,)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = torch.randint(0, 3, (n,), generator=g)
    return centers[y] + noise * torch.randn(n, 4, generator=g), y


def tiny_net(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 16), nn.BatchNorm1d(16),
                         nn.ReLU(), nn.Linear(16, 3))


def digits_like_mlp(seed=0):
    """A built-in model (has a spec) for 1x2x2 inputs = 4 features, so blobs() reshaped fits it."""
    return models.create("mlp8", in_shape=(1, 2, 2), num_classes=3, seed=seed)


FAST = dict(epochs=4, batch_size=32, lr=0.05, save_every=2)


def state_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------ schedules

def test_step_schedule_matches_multisteplr():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5], gamma=0.1)
    for epoch in range(8):  # oracle: PyTorch's own scheduler stepped once per epoch
        ours = lr_at(epoch * 10 + 7, 10, lr=0.1, epochs=8, schedule="step", milestones=(3, 5), gamma=0.1)
        assert ours == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()


def test_cosine_matches_cosineannealing_at_epoch_starts():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    for epoch in range(7):
        assert lr_at(epoch * 5, 5, lr=0.2, epochs=6, schedule="cosine") == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12)
        opt.step()
        sched.step()


def test_warmup_is_linear_never_zero_and_reaches_peak():
    rates = [lr_at(s, 10, lr=1.0, epochs=5, schedule="constant", warmup_epochs=2) for s in range(30)]
    assert rates[0] == pytest.approx(1 / 20) and rates[0] > 0
    assert rates[9] == pytest.approx(10 / 20)
    assert rates[19] == pytest.approx(1.0) and rates[29] == 1.0
    assert all(a < b for a, b in zip(rates[:20], rates[1:20]))


def test_unknown_schedule_names_choices():
    with pytest.raises(ValueError, match="schedule.*'cosine'"):
        lr_at(0, 10, lr=0.1, epochs=1, schedule="cosin")


# ------------------------------------------------------------------------------------ config

@pytest.mark.parametrize("bad, match", [
    (dict(optimizer="adagrad"), "optimizer"), (dict(epochs=0), "epochs"), (dict(lr=-1.0), "lr"),
    (dict(lr=float("nan")), "lr"), (dict(momentum=0.0, nesterov=True), "nesterov"), (dict(val_fraction=1.0), "val_fraction"),
    (dict(patience=0), "patience"), (dict(batch_size=0), "batch_size"), (dict(milestones=(0,)), "milestones"),
])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_config_is_frozen_and_round_trips():
    c = TrainConfig(milestones=[3, 6], optimizer="adamw")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError, match="Unknown TrainConfig keys"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    assert recommended("cifar10").milestones == (150, 225, 275) and recommended("digits") == TrainConfig()


# ------------------------------------------------------------------------------------ gradient flow

def test_gradient_flow_matches_manual_norms_in_depth_order():
    net = tiny_net()
    flow = gradflow.GradientFlow(net)
    assert flow.names == ["0", "3", "6"]  # weights of 2+ dims only: the BN scale is left out
    X, Y = blobs(32)
    for _ in range(2):
        net.zero_grad()
        nn.functional.cross_entropy(net(X), Y).backward()
        flow.accumulate()
    expected = [net[i].weight.grad.norm().item() for i in (0, 3, 6)]  # same grads twice: mean = value
    assert flow.mean() == pytest.approx(expected, rel=1e-6)


def test_gradient_flow_uses_models_layer_order():
    net = models.create("mlp8", in_shape=(1, 8, 8), num_classes=10, seed=0)
    names = gradflow.GradientFlow(net).names
    assert names == [n[: -len(".weight")] for n in models.layer_order(net)]
    assert names[0] == "linear1" and names[-1] == "fc"


def test_measure_leaves_buffers_rng_and_grads_untouched():
    net = tiny_net(dropout=0.3)
    X, Y = blobs(64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    norms = gradflow.measure(net, [(X[:32], Y[:32]), (X[32:], Y[32:])],
                             lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]))
    assert len(norms) == 3 and all(v > 0 for v in norms)
    assert state_equal(before, net.state_dict())  # BN running stats restored
    assert torch.equal(rng, torch.get_rng_state())  # dropout draws did not advance the caller's RNG
    assert all(p.grad is None for p in net.parameters())


# ------------------------------------------------------------------------------------ fit

def test_fit_learns_and_writes_the_run_directory(tmp_path):
    X, Y = blobs(240)
    Xt, Yt = blobs(90, seed=1)
    run = fit(digits_like_mlp(), (X.view(-1, 1, 2, 2), Y), test_data=(Xt.view(-1, 1, 2, 2), Yt),
              config=TrainConfig(**FAST), run_dir=tmp_path, data_meta={"dataset": "blobs4"}, progress_bar=False)
    assert run.final["test_acc"] > 0.9 and run.final["epoch"] == 4
    assert run.name == "mlp8"
    for name in ("final.pt", "best.pt", "history.json", "history.csv", "gradient_flow.json", "config.json", "last_state.pt"):
        assert (tmp_path / name).is_file(), name
    # snapshots: initialization, every 2 epochs, and the last
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["epoch_0000.pt", "epoch_0002.pt", "epoch_0004.pt"]
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in hist["epochs"]] == [0, 1, 2, 3, 4]
    assert all(set(COLUMNS) <= set(r) for r in hist["epochs"])
    assert hist["epochs"][0]["lr"] is None and hist["epochs"][1]["val_loss"] is None
    assert hist["best_epoch"] == run.best_epoch and hist["stopped_early"] is False
    assert hist["epochs"][0]["train_loss"] > hist["epochs"][-1]["train_loss"]
    csv_lines = (tmp_path / "history.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(COLUMNS) and len(csv_lines) == 6
    flow = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert flow["epochs"] == [0, 1, 2, 3, 4] and flow["layers"][0] == "linear1" and flow["layers"][-1] == "fc"
    assert len(flow["norms"]) == 5 and all(len(r) == len(flow["layers"]) == 8 for r in flow["norms"])
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["train"] == run.config.to_dict() and cfg["model"]["name"] == "mlp"
    # final.pt rebuilds the trained model by itself, with the data description
    model, ckpt = checkpoint.load_model(tmp_path / "final.pt")
    assert state_equal(model.state_dict(), run.model.state_dict())
    assert ckpt["data"] == {"dataset": "blobs4"} and ckpt["epoch"] == 4 and ckpt["name"] == "mlp8"
    snap0 = checkpoint.load(tmp_path / "snapshots" / "epoch_0000.pt")
    assert snap0["epoch"] == 0 and not state_equal(snap0["state_dict"], ckpt["state_dict"])
    merged = load_history(tmp_path)
    assert merged["name"] == "mlp8" and merged["gradient_flow"] == flow and merged["epochs"] == hist["epochs"]


def test_fit_without_run_dir_with_plain_module_and_dataset_input():
    X, Y = blobs(200)
    run = fit(tiny_net(), torch.utils.data.TensorDataset(X, Y), val_data=blobs(60, seed=3),
              config=TrainConfig(**{**FAST, "optimizer": "adam", "lr": 0.01, "nesterov": False}), progress_bar=False)
    assert run.run_dir is None and run.final["val_acc"] > 0.9
    assert run.best_epoch == min(run.history[1:], key=lambda r: r["val_loss"])["epoch"]
    assert not run.model.training  # handed back in eval mode


def test_same_seed_bitwise_identical_final_weights(tmp_path):
    X, Y = blobs(200)
    config = TrainConfig(**{**FAST, "augment": True})
    # augmentation draws from the run's generator: include it in what must repeat
    noise = lambda x, generator: x + 0.05 * torch.randn(x.shape, generator=generator)  # noqa: E731
    runs = [fit(tiny_net(dropout=0.2), (X, Y), config=config, run_dir=tmp_path / f"r{i}", augment=noise,
                progress_bar=False) for i in range(2)]
    a, b = (checkpoint.load(tmp_path / f"r{i}" / "final.pt")["state_dict"] for i in range(2))
    assert state_equal(a, b)
    other = fit(tiny_net(dropout=0.2), (X, Y), config=dataclasses.replace(config, seed=1), augment=noise, progress_bar=False)
    assert not state_equal(a, other.model.state_dict())


def test_fit_leaves_the_callers_global_rng_alone():
    X, Y = blobs(100)
    net = tiny_net(dropout=0.5)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(net, (X, Y), config=TrainConfig(epochs=1, batch_size=32), progress_bar=False)
    assert torch.equal(torch.rand(3), expected)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_interrupted_then_resumed_run_is_bitwise_identical(tmp_path, optimizer):
    """An exception mid-epoch (a stand-in for a kill; the CLI test uses a real SIGKILL) then resume=True."""
    X, Y = blobs(200)
    config = TrainConfig(**{**FAST, "epochs": 5, "augment": True, "val_fraction": 0.2, "schedule": "step",
                            "milestones": (3,), "optimizer": optimizer, "lr": 0.05 if optimizer == "sgd" else 0.01})
    calls = {"n": 0}

    def identity(x, generator):
        return x

    def dies_at_call_13(x, generator):  # 5 batches per epoch: mid-epoch 3
        calls["n"] += 1
        if calls["n"] == 13:
            raise Interrupt
        return x

    ref = fit(tiny_net(dropout=0.2), (X, Y), config=config, run_dir=tmp_path / "ref", augment=identity, progress_bar=False)
    with pytest.raises(Interrupt):
        fit(tiny_net(dropout=0.2), (X, Y), config=config, run_dir=tmp_path / "cut", augment=dies_at_call_13,
            progress_bar=False)
    assert not (tmp_path / "cut" / "final.pt").exists()
    with pytest.raises(ValueError, match="interrupted run.*--resume"):
        fit(tiny_net(dropout=0.2), (X, Y), config=config, run_dir=tmp_path / "cut", augment=identity, progress_bar=False)
    resumed = fit(tiny_net(seed=5, dropout=0.2), (X, Y), config=config, run_dir=tmp_path / "cut", augment=identity,
                  resume=True, progress_bar=False)
    assert state_equal(ref.model.state_dict(), resumed.model.state_dict())
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(resumed.history) == strip(ref.history) and resumed.gradient_flow == ref.gradient_flow
    # resuming a finished run trains nothing and returns it as it is
    again = fit(tiny_net(seed=9, dropout=0.2), (X, Y), config=config, run_dir=tmp_path / "cut", resume=True,
                augment=identity, progress_bar=False)
    assert state_equal(again.model.state_dict(), ref.model.state_dict()) and again.final == resumed.final


def test_early_stopping_restores_the_best_weights(tmp_path):
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(200, 4, generator=g), torch.randint(0, 3, (200,), generator=g)  # random labels: overfits
    config = TrainConfig(epochs=60, batch_size=32, optimizer="adam", lr=0.01, nesterov=False, val_fraction=0.3,
                         patience=3, save_every=0)
    run = fit(tiny_net(), (X, Y), config=config, run_dir=tmp_path, progress_bar=False)
    assert run.stopped_early and len(run.history) < 61
    assert run.history[-1]["epoch"] == run.best_epoch + 3  # stopped after `patience` epochs without improvement
    val = [r["val_loss"] for r in run.history[1:]]
    assert run.history[run.best_epoch]["val_loss"] == min(val)
    assert run.final["epoch"] == run.best_epoch
    best = checkpoint.load(tmp_path / "best.pt")
    final = checkpoint.load(tmp_path / "final.pt")
    assert best["epoch"] == final["epoch"] == run.best_epoch and state_equal(best["state_dict"], final["state_dict"])
    assert json.loads((tmp_path / "history.json").read_text())["stopped_early"] is True
    snaps = sorted(p.name for p in (tmp_path / "snapshots").iterdir())  # save_every=0: first and last only
    assert snaps == ["epoch_0000.pt", f"epoch_{run.history[-1]['epoch']:04d}.pt"]


def test_resume_or_overwrite_without_run_dir_is_refused():
    with pytest.raises(ValueError, match="run_dir"):
        fit(tiny_net(), blobs(50), config=TrainConfig(epochs=1), resume=True, progress_bar=False)


def test_patience_without_validation_data_is_refused():
    with pytest.raises(ValueError, match="patience.*val_fraction"):
        fit(tiny_net(), blobs(50), config=TrainConfig(epochs=2, patience=2), progress_bar=False)


def test_divergence_stops_and_is_recorded():
    X, Y = blobs(100)
    run = fit(tiny_net(), (X * 1e3, Y), config=TrainConfig(epochs=10, lr=1e6, batch_size=25, weight_decay=0.0, warmup_epochs=0),
              progress_bar=False)
    assert run.diverged and len(run.history) < 11
    assert not math.isfinite(run.history[-1]["train_loss"])


def test_existing_run_is_not_overwritten_without_consent(tmp_path):
    X, Y = blobs(100)
    cfg = TrainConfig(epochs=1, batch_size=50)
    fit(tiny_net(), (X, Y), config=cfg, run_dir=tmp_path, progress_bar=False)
    with pytest.raises(ValueError, match="already holds a finished run.*--resume.*--overwrite"):
        fit(tiny_net(), (X, Y), config=cfg, run_dir=tmp_path, progress_bar=False)
    with pytest.raises(ValueError, match="already holds"):
        check_run_dir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    fit(tiny_net(), (X, Y), config=cfg, run_dir=tmp_path, overwrite=True, progress_bar=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"  # overwrite removes only the run's own files


def test_resume_refuses_another_architecture_or_config(tmp_path):
    X, Y = blobs(100)
    cfg = TrainConfig(epochs=2, batch_size=50)
    data4 = (X.view(-1, 1, 2, 2), Y)
    fit(digits_like_mlp(), data4, config=cfg, run_dir=tmp_path, progress_bar=False)
    other = models.create("mlp8", in_shape=(1, 2, 2), num_classes=3, skip=False, seed=0)
    with pytest.raises(ValueError, match="skip=True.*skip=False"):
        fit(other, data4, config=cfg, run_dir=tmp_path, resume=True, progress_bar=False)
    with pytest.raises(ValueError, match="different settings.*lr"):
        fit(digits_like_mlp(), data4, config=dataclasses.replace(cfg, lr=0.5), run_dir=tmp_path, resume=True,
            progress_bar=False)


class _RunsCode:
    """Unpickling this calls os.system: the classic malicious 'checkpoint'."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "landscape-checkpoint", "version": 1, "state_dict": {}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(FileFormatError, match="Refused to load.*could run code"):
        checkpoint.load(path)
    with pytest.raises(FileFormatError, match="Refused"):
        checkpoint.load_model(path)
    assert not marker.exists()
    # a booby-trapped training state is refused by --resume the same way
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / "last_state.pt", "wb") as f:
        pickle.dump(_RunsCode(marker), f, protocol=2)
    with pytest.raises(FileFormatError, match="Refused to load.*last_state.pt"):
        fit(tiny_net(), blobs(50), config=TrainConfig(epochs=1), run_dir=run_dir, resume=True, progress_bar=False)
    assert not marker.exists()


def test_unwritable_run_dir_is_a_value_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="Cannot write the run directory"):
        fit(tiny_net(), blobs(50), config=TrainConfig(epochs=1), run_dir=blocker / "run", progress_bar=False)


def test_bad_data_is_a_value_error():
    with pytest.raises(ValueError, match="train_data"):
        fit(tiny_net(), [1, 2, 3], config=TrainConfig(epochs=1), progress_bar=False)
    with pytest.raises(ValueError, match="could not be evaluated"):
        fit(tiny_net(), (torch.randn(20, 5), torch.zeros(20, dtype=torch.long)), config=TrainConfig(epochs=1),
            progress_bar=False)
