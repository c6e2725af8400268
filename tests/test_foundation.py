"""Shared foundations: parameter selection and restoration, data/loss handling, checkpoints, progress."""
import io
import os

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.base import progress
from landscape.base.errors import FileFormatError, check_choice
from landscape.core import evaluate, params
from landscape.storage import checkpoint


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def xy(n=50):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


# --- params ---------------------------------------------------------------------------------------

def test_select_default_skips_frozen_parameters():
    net = small_net()
    net[0].weight.requires_grad_(False)
    chosen = params.select(net)
    assert "0.weight" not in chosen and "3.weight" in chosen


@pytest.mark.parametrize("choice, expected", [
    (r"^3\.", {"3.weight", "3.bias"}),
    (["0.bias"], {"0.bias"}),
    (lambda n, p: p.dim() == 1 and n.startswith("1."), {"1.weight", "1.bias"}),
])
def test_select_filters(choice, expected):
    assert set(params.select(small_net(), choice)) == expected


def test_select_matching_nothing_says_what_to_pass():
    with pytest.raises(ValueError, match="regex"):
        params.select(small_net(), "nomatch")
    with pytest.raises(ValueError, match="does not have"):
        params.select(small_net(), ["nope"])


def test_restored_puts_back_weights_buffers_and_mode_even_on_error():
    net = small_net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(RuntimeError):
        with params.restored(net):
            net.eval()
            with torch.no_grad():
                for p in net.parameters():
                    p.add_(1.0)
            net[1].running_mean.fill_(5.0)
            raise RuntimeError("boom")
    assert net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


# --- evaluate -------------------------------------------------------------------------------------

def test_mean_loss_is_independent_of_batching_and_data_form():
    net = small_net().eval()
    X, Y = xy()
    obj = evaluate.objective("cross_entropy")
    whole = evaluate.evaluate(net, evaluate.batches((X, Y), batch_size=50), obj)
    pieces = evaluate.batches((X, Y), batch_size=7)
    assert len(pieces) == 8
    split = evaluate.evaluate(net, pieces, obj)
    loader = evaluate.evaluate(net, evaluate.batches(DataLoader(TensorDataset(X, Y), batch_size=9)), obj)
    dataset = evaluate.evaluate(net, evaluate.batches(TensorDataset(X, Y), batch_size=13), obj)
    exact = nn.functional.cross_entropy(net(X), Y).item()
    for r in (whole, split, loader, dataset):
        assert r["loss"] == pytest.approx(exact, rel=1e-6)
        assert r["acc"] == pytest.approx((net(X).argmax(1) == Y).float().mean().item())
        assert r["count"] == 50


def test_custom_losses_mean_and_sum_forms_agree():
    net = small_net().eval()
    X, Y = xy()
    dict_batches = [{"inputs": X[:20], "labels": Y[:20]}, {"inputs": X[20:], "labels": Y[20:]}]
    mean_form = evaluate.objective(lambda m, b: nn.functional.cross_entropy(m(b["inputs"]), b["labels"]))
    sum_form = evaluate.objective(
        lambda m, b: (nn.functional.cross_entropy(m(b["inputs"]), b["labels"], reduction="sum"), len(b["labels"])))
    module_form = evaluate.objective(nn.CrossEntropyLoss())
    a = evaluate.evaluate(net, dict_batches, mean_form)
    b = evaluate.evaluate(net, dict_batches, sum_form)
    c = evaluate.evaluate(net, evaluate.batches((X, Y)), module_form)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) == pytest.approx(c["loss"], rel=1e-6)
    assert a["acc"] is None


def test_mse_for_regression_has_no_accuracy():
    net = nn.Linear(4, 2)
    X = torch.randn(10, 4)
    Y = torch.randn(10, 2)
    r = evaluate.evaluate(net, evaluate.batches((X, Y)), evaluate.objective("mse"))
    assert r["acc"] is None
    assert r["loss"] == pytest.approx(nn.functional.mse_loss(net(X), Y).item(), rel=1e-5)


def test_api_misuse_raises_value_error_saying_what_to_pass():
    net = small_net().eval()
    X, Y = xy()
    with pytest.raises(ValueError, match="must be one of"):
        evaluate.objective("hinge")
    with pytest.raises(ValueError, match="not a scalar"):
        obj = evaluate.objective(lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1], reduction="none"))
        evaluate.evaluate(net, evaluate.batches((X, Y)), obj)
    with pytest.raises(ValueError, match="as many targets"):
        evaluate.batches((X, Y[:10]))
    with pytest.raises(ValueError, match="shaped as the model expects"):
        evaluate.check_model_accepts(net, evaluate.batches((torch.randn(5, 7), Y[:5])), evaluate.objective())


def test_check_choice_suggests():
    with pytest.raises(ValueError, match="Did you mean 'filter'"):
        check_choice("norm", "filtr", ["filter", "layer"])


# --- checkpoints ----------------------------------------------------------------------------------

def test_checkpoint_round_trip_and_bare_state_dict(tmp_path):
    net = small_net()
    checkpoint.save(tmp_path / "a.pt", net, spec={"name": "custom"}, data={"dataset": "digits"}, epoch=3)
    ck = checkpoint.load(tmp_path / "a.pt")
    assert ck["epoch"] == 3 and ck["model"] == {"name": "custom"}
    for k, v in net.state_dict().items():
        assert torch.equal(ck["state_dict"][k], v)
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    assert checkpoint.load(tmp_path / "bare.pt")["model"] is None
    assert len(checkpoint.sha256(tmp_path / "a.pt")) == 64


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/landscape_pwned",))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Exploit()}, path)
    if os.path.exists("/tmp/landscape_pwned"):
        os.unlink("/tmp/landscape_pwned")
    with pytest.raises(FileFormatError, match="Refused"):
        checkpoint.load(path)
    assert not os.path.exists("/tmp/landscape_pwned")


def test_not_a_checkpoint_and_newer_version(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="not a readable"):
        checkpoint.load(tmp_path / "x.pt")
    with pytest.raises(FileFormatError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.pt")
    torch.save({"format": checkpoint.FORMAT, "version": 99, "state_dict": {}}, tmp_path / "new.pt")
    with pytest.raises(FileFormatError, match="upgrade"):
        checkpoint.load(tmp_path / "new.pt")


def test_check_compatible_names_the_mismatch():
    with pytest.raises(FileFormatError, match="shape of '0.weight'"):
        checkpoint.check_compatible(small_net(), {**small_net().state_dict(), "0.weight": torch.zeros(2, 2)}, "x.pt")


# --- progress -------------------------------------------------------------------------------------

def test_progress_writes_plain_lines_with_eta_when_not_a_tty():
    stream = io.StringIO()
    with progress.bar(total=4, desc="surface", stream=stream, log_every=0.0) as b:
        for _ in range(4):
            b.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in stream.getvalue()
    assert lines[0].startswith("surface: 1/4 (25.0%)") and "ETA" in lines[0]
    assert list(progress.track([1, 2, 3], enabled=False)) == [1, 2, 3]


def test_a_disabled_bar_makes_no_semaphore_a_killed_worker_would_leak():
    # a study worker ends with os._exit on Ctrl-C: anything it registered with multiprocessing's
    # resource tracker is then reported as leaked (two warning lines after the one-line message)
    import subprocess
    import sys

    code = ("import os, multiprocessing.resource_tracker as rt\n"
            "made = []\n"
            "rt.register = lambda name, kind: made.append(kind)\n"
            "from landscape.base import progress\n"
            "with progress.bar(total=3, enabled=False) as b:\n"
            "    b.update(2); b.set_postfix_str('x')\n"
            "    assert b.n == 2\n"
            "print(made)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
