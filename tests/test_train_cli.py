"""`landscape train` / `landscape pair` through CliRunner and real subprocesses (kill -9 and resume)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from landscape import cli, data
from landscape.core import evaluate
from landscape.storage import checkpoint

SMALL = ["--dataset", "digits", "--n-train", "200", "--epochs", "2", "--batch-size", "50", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def landscape_cmd():
    script = Path(sys.executable).with_name("landscape")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from landscape import cli; cli.main()"]


def weights(path):
    return checkpoint.load(path)["state_dict"]


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_help_lists_train_and_pair():
    out = invoke("--help").output
    assert "train " in out and "pair " in out
    assert "--patience" in invoke("train", "--help").output
    assert "--vary [skip|norm]" in invoke("pair", "--help").output


def test_train_writes_a_self_describing_run(tmp_path):
    res = invoke("train", "mlp8", *SMALL, "--seed", "1", "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "test acc" in res.output and "mlp8" in res.output and "best epoch" in res.output
    ckpt = checkpoint.load(tmp_path / "run" / "final.pt")
    assert {k: ckpt["data"][k] for k in ("dataset", "n_train", "seed", "normalize")} == \
        {"dataset": "digits", "n_train": 200, "seed": 1, "normalize": True}
    # the checkpoint alone is enough to rebuild the model and reload its data: the test accuracy repeats
    model, ckpt = checkpoint.load_model(tmp_path / "run" / "final.pt")
    d = ckpt["data"]
    Xt, Yt = data.load(d["dataset"], "test", root=d["root"], normalize=d["normalize"])
    acc = evaluate.evaluate(model, evaluate.batches((Xt, Yt)), evaluate.objective())["acc"]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert acc == pytest.approx(history["epochs"][-1]["test_acc"], abs=1e-12)
    assert ckpt["model"]["in_shape"] == [1, 8, 8] and ckpt["model"]["num_classes"] == 10


def test_progress_is_plain_lines_in_a_log(tmp_path):
    args = [a for a in SMALL if a != "--quiet"]
    res = invoke("train", "mlp8", *args, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "\r" not in res.output  # no carriage-return bar redraws in a non-TTY log
    last = [line for line in res.output.splitlines() if line.startswith("mlp8: ")][-1]
    assert "(100.0%)" in last and "epoch 2/2" in last and "test_acc" in last


@pytest.mark.parametrize("vary, other", [("skip", "mlp8_noskip"), ("norm", "mlp8_nonorm")])
def test_pair_trains_both_members_from_the_same_start(tmp_path, vary, other):
    res = invoke("pair", "mlp8", "--vary", vary, *SMALL, "--out", tmp_path)
    assert res.exit_code == 0, res.output
    header = res.output.splitlines()[0].split()
    assert header == ["mlp8", other]
    a, b = (weights(tmp_path / name / "snapshots" / "epoch_0000.pt") for name in ("mlp8", other))
    shared = sorted(set(a) & set(b))  # all parameters; BN running statistics exist only in the BN member
    assert {k for k in a if "running" not in k and "batches" not in k} <= set(shared)
    assert same({k: a[k] for k in shared}, {k: b[k] for k in shared})  # same seed: identical initial weights
    spec_a, spec_b = (checkpoint.load(tmp_path / n / "final.pt")["model"] for n in ("mlp8", other))
    differ = {k for k in spec_a if spec_a[k] != spec_b[k]}
    assert differ == {vary}
    cfg_a, cfg_b = (json.loads((tmp_path / n / "config.json").read_text()) for n in ("mlp8", other))
    assert cfg_a["train"] == cfg_b["train"] and cfg_a["data"] == cfg_b["data"]


def test_pair_refuses_before_training_if_a_member_dir_holds_a_run(tmp_path):
    assert invoke("train", "mlp8_noskip", *SMALL, "--out", tmp_path / "mlp8_noskip").exit_code == 0
    res = invoke("pair", "mlp8", *SMALL, "--out", tmp_path)
    assert res.exit_code == 2 and "already holds a finished run" in res.output
    assert not (tmp_path / "mlp8").exists()  # nothing trained for the first member either


def _one_line_error(res, code, pattern):
    assert res.exit_code == code, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error") and pattern in lines[-1], res.output
    assert "Traceback" not in res.output


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    _one_line_error(invoke("train", "mlp2O", *SMALL, "--out", tmp_path / "a"), 2, "Unknown model 'mlp2O'")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--dataset", "digitz", "--out", tmp_path / "b"), 2, "digitz")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--epochs", "0", "--out", tmp_path / "c"), 2, "--epochs")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--milestones", "5,2", "--out", tmp_path / "d"), 2, "milestones")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--n-train", "99999", "--out", tmp_path / "e"), 2, "--n-train")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--patience", "2", "--out", tmp_path / "f"), 2, "val_fraction")
    _one_line_error(invoke("pair", "vgg9", *SMALL, "--out", tmp_path / "g"), 2, "no `skip` switch")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--out", blocker / "run"), 2, "Cannot write the run directory")


def test_existing_runs_resume_overwrite_and_architecture(tmp_path):
    out = tmp_path / "run"
    assert invoke("train", "mlp8", *SMALL, "--out", out).exit_code == 0
    _one_line_error(invoke("train", "mlp8", *SMALL, "--out", out), 2, "already holds a finished run")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--out", out, "--resume", "--overwrite"), 2, "exclude each other")
    _one_line_error(invoke("train", "mlp8_noskip", *SMALL, "--out", out, "--resume"), 2, "skip=True")
    _one_line_error(invoke("train", "mlp8", *SMALL, "--lr", "0.3", "--out", out, "--resume"), 2, "different settings")
    before = weights(out / "final.pt")
    res = invoke("train", "mlp8", *SMALL, "--out", out, "--resume")  # finished: nothing to do, same summary
    assert res.exit_code == 0 and same(before, weights(out / "final.pt"))
    assert invoke("train", "mlp8", *SMALL, "--seed", "4", "--out", out, "--overwrite").exit_code == 0
    assert not same(before, weights(out / "final.pt"))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_booby_trapped_state_is_refused_on_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"format": "landscape-train-state", "version": 1, "x": _RunsCode(marker)}, out / "last_state.pt")
    res = invoke("train", "mlp8", *SMALL, "--out", out, "--resume")
    _one_line_error(res, 2, "Refused to load")
    assert not marker.exists()


def test_bad_input_through_a_real_subprocess(tmp_path):
    proc = subprocess.run(landscape_cmd() + ["train", "resnet5", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("Error: Unknown model 'resnet5'")
    assert "Traceback" not in proc.stderr and not (tmp_path / "x" / "final.pt").exists()


def test_sigkilled_run_resumes_to_the_same_weights(tmp_path):
    """A real `landscape train` process killed with SIGKILL mid-run, rerun with --resume, ends bitwise
    where an uninterrupted run ends (dropout, augmentation, validation split and a step schedule on)."""
    args = ["train", "mlp8", "--dataset", "digits", "--n-train", "300", "--epochs", "20", "--batch-size", "32",
            "--val-fraction", "0.2", "--augment", "--dropout", "0.1", "--schedule", "step", "--milestones", "5,15",
            "--seed", "3", "--save-every", "5", "--threads", "1", "--quiet"]
    cut = tmp_path / "cut"
    proc = subprocess.Popen(landscape_cmd() + args + ["--out", str(cut)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    epochs_done = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                epochs_done = len(json.loads((cut / "history.json").read_text())["epochs"]) - 1
            except (OSError, ValueError):
                pass
            if epochs_done >= 3:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert epochs_done >= 3 and not (cut / "final.pt").exists(), "killed too late to test resuming"
    res = invoke(*args, "--out", cut)  # no --resume: refused, the interrupted run is not clobbered
    assert res.exit_code == 2 and "interrupted run" in res.output
    res = invoke(*args, "--out", cut, "--resume")
    assert res.exit_code == 0, res.output
    ref = tmp_path / "ref"
    assert invoke(*args, "--out", ref).exit_code == 0
    assert same(weights(cut / "final.pt"), weights(ref / "final.pt"))
    h_cut, h_ref = (json.loads((d / "history.json").read_text()) for d in (cut, ref))
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h["epochs"]]  # noqa: E731
    assert strip(h_cut) == strip(h_ref) and [r["epoch"] for r in h_cut["epochs"]] == list(range(21))
    assert sorted(p.name for p in (cut / "snapshots").iterdir()) == sorted(p.name for p in (ref / "snapshots").iterdir())
    assert json.loads((cut / "gradient_flow.json").read_text()) == json.loads((ref / "gradient_flow.json").read_text())


@pytest.mark.slow
def test_acceptance_pair_mlp20_skip_on_digits(tmp_path):
    """The issue's acceptance: `landscape pair mlp20 --vary skip` on digits in < 2 minutes, skip >= 95%."""
    start = time.monotonic()
    proc = subprocess.run(landscape_cmd() + ["pair", "mlp20", "--vary", "skip", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout, f"\nwall {elapsed:.1f}s")
    final = {n: checkpoint.load(tmp_path / n / "final.pt")["metrics"] for n in ("mlp20", "mlp20_noskip")}
    assert final["mlp20"]["test_acc"] >= 0.95
    assert elapsed < 120
