"""Surfaces sharded across torchrun ranks: the environment, the sharding loop, and real 2-process jobs
(CPU, gloo over loopback) that must equal a one-process grid bit for bit, also when a rank is
SIGKILLed mid-run and torchrun restarts the group."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape import cli, models
from landscape.core import distributed
from landscape.storage import checkpoint, io

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "tests" / "torchrun_job.py"
sys.path.insert(0, str(ROOT / "tests"))
import torchrun_job  # noqa: E402


def torchrun(*args, restarts=0, nproc=2):
    """A `torchrun --standalone` command line (free port, loopback) with this interpreter."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            f"--max-restarts={restarts}", "--monitor-interval=0.1", *[str(a) for a in args]]


def worker_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def run_to_end(cmd, timeout=120):
    proc = subprocess.Popen(cmd, cwd=ROOT, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {timeout} s:\n{out[-3000:]}")
    return proc.returncode, out


# --- the environment ----------------------------------------------------------------------------------

def test_context_from_torchrun_environment(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.from_env() == distributed.Context(0, 1, 0) and not distributed.from_env().active
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = distributed.from_env()
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.active, ctx.is_main) == (3, 4, 1, True, False)
    assert distributed.device_for(torch.device("cpu"), ctx) == torch.device("cpu")
    assert distributed.device_for(torch.device("cuda", 0), ctx) == torch.device("cuda", 0)  # explicit index kept
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4 and WORLD_SIZE=4"):
        distributed.from_env()
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ValueError, match="RANK='zero'"):
        distributed.from_env()


def test_run_sharded_deals_cells_round_by_round(monkeypatch):
    """Three ranks simulated by threads (all_gather through a barrier): with one cell per rank and
    round, round k's cells go to ranks 0, 1, 2 in order, the last round leaves rank 2 idle, and every
    rank's sink sees every result exactly once."""
    world, pending = 3, np.arange(2, 40)
    slots, barrier, local = [None] * world, threading.Barrier(world, timeout=30), threading.local()

    def fake_all_gather(obj):
        slots[local.rank] = obj
        barrier.wait()
        out = list(slots)
        barrier.wait()
        return out

    monkeypatch.setattr(distributed, "all_gather", fake_all_gather)
    shares, written, errors = {r: [] for r in range(world)}, {r: [] for r in range(world)}, []

    def rank_main(r):
        local.rank = r

        def evaluate(coords):
            shares[r].append(coords[:, 0].astype(int).tolist())
            return {"v": coords[:, 0] * 10.0}

        def sink(idx, vals):
            np.testing.assert_array_equal(vals["v"], idx * 10.0)
            written[r].extend(idx.tolist())

        try:
            distributed.run_sharded(evaluate, pending, lambda idx: np.asarray(idx, float)[:, None], sink, None,
                                    round_seconds=0.0, ctx=distributed.Context(r, world, r))
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for r in range(world):
        assert sorted(written[r]) == pending.tolist() and len(written[r]) == len(pending)
        assert shares[r][0] == [2 + r]  # round 0: one cell each, in rank order
    assert len(shares[2]) == len(shares[0]) - 1  # 38 cells: the last round has 2, rank 2 sits it out
    mine = sorted(c for r in range(world) for share in shares[r] for c in share)
    assert mine == pending.tolist()  # each cell evaluated by exactly one rank


def test_on_main_runs_once_and_passes_errors_to_every_rank():
    calls = []
    assert distributed.on_main(lambda: calls.append(1) or 5, distributed.Context()) == 5 and calls == [1]
    with pytest.raises(ValueError, match="boom"):
        distributed.on_main(lambda: (_ for _ in ()).throw(ValueError("boom")), distributed.Context())


def test_checksum_names_bytes_and_order():
    a = [{"w": torch.ones(3), "b": torch.zeros(2)}]
    assert distributed.checksum(a) == distributed.checksum([{"w": torch.ones(3), "b": torch.zeros(2)}])
    assert distributed.checksum(a) != distributed.checksum([{"w": torch.ones(3), "b": torch.full((2,), 1e-30)}])
    assert distributed.checksum(a) != distributed.checksum([{"b": torch.zeros(2), "w": torch.ones(3)}])


# --- real torchrun jobs -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    model, (X, Y), _ = torchrun_job.job()
    path = tmp_path_factory.mktemp("ckpt") / "m.pt"
    checkpoint.save(path, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True}, epoch=0)
    return path


@pytest.mark.parametrize("extra", [[], ["--planes", "2"]])
def test_two_process_cli_grid_equals_one_process_bit_for_bit(ckpt, tmp_path, extra):
    """`torchrun --nproc-per-node 2 -m landscape surface ...` == `landscape surface ...` in one process
    (and so for a direction ensemble, plane by plane, standard errors included)."""
    args = ["surface", ckpt, "--x", "-1:1:7", "--y", "-1:1:6", "--n-samples", "96", "--device", "cpu",
            "--no-progress", *extra]
    one = tmp_path / "one.h5"
    r = CliRunner().invoke(cli.main, [str(a) for a in args] + ["--threads", "1", "--out", str(one)])
    assert r.exit_code == 0, r.output
    two = tmp_path / "two.h5"
    rc, out = run_to_end(torchrun("-m", "landscape", *args, "--out", two))
    assert rc == 0, out
    assert out.count("Wrote ") == 1  # rank 0 alone prints
    a, b = io.load(one), io.load(two)
    assert b.done().all() and list(a.values) == list(b.values) == ["train_loss", "train_acc", "test_loss", "test_acc"]
    for name in a.values:
        np.testing.assert_array_equal(a.values[name], b.values[name])  # bit for bit
        np.testing.assert_array_equal(a.se[name], b.se[name])
        if extra:
            np.testing.assert_array_equal(a.planes.values[name], b.planes.values[name])
    assert a.attrs["weights_sha256"] == b.attrs["weights_sha256"]


def test_sigkill_one_rank_under_max_restarts_resumes_to_the_same_file(tmp_path):
    """Kill rank 1 mid-run; torchrun restarts the group, which resumes from the file's done cells."""
    grid, out, pids = 13, tmp_path / "k.h5", tmp_path / "pids"
    pids.mkdir()
    proc = subprocess.Popen(torchrun(JOB, out, grid, 12, pids, restarts=1), cwd=ROOT, env=worker_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        killed_at = None
        deadline = time.monotonic() + 90
        while killed_at is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            victim = pids / "0-1.pid"
            if not (victim.exists() and out.exists()):
                continue
            try:
                done = int(io.read_done(out).sum())
            except Exception:  # the file is being created or written: look again
                continue
            if 0 < done < grid * grid // 2:
                os.kill(int(victim.read_text()), signal.SIGKILL)
                killed_at = done
        assert killed_at is not None, "the job finished (or hung) before a rank could be killed"
        log, _ = proc.communicate(timeout=120)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, log
    assert (pids / "1-0.pid").exists() and (pids / "1-1.pid").exists(), "the group was not restarted"
    got = io.load(out)
    assert got.done().all()
    want = torchrun_job.compute(None, grid, 0)  # uninterrupted, one process, same code path
    np.testing.assert_array_equal(got.values["train_loss"], want.values["train_loss"])


@pytest.mark.slow  # about 18 s on a loaded 2-core machine
def test_ddp_training_matches_one_process_training(tmp_path):
    """2 ranks x half of every batch with DistributedDataParallel == one process on whole batches (to
    float rounding; a net without BatchNorm, whose statistics would be per rank); rank 0 writes the run."""
    rc, out = run_to_end(torchrun(JOB, "train", tmp_path / "ddp"))
    assert rc == 0, out
    run_dir = tmp_path / "ddp"
    assert (run_dir / "final.pt").is_file() and (run_dir / "snapshots" / "epoch_0002.pt").is_file()
    history = __import__("json").loads((run_dir / "history.json").read_text())
    single = torchrun_job.train(None)
    np.testing.assert_allclose([r["train_loss"] for r in history["epochs"]],
                               [r["train_loss"] for r in single.history], rtol=1e-5)
    ddp = checkpoint.load(run_dir / "final.pt")["state_dict"]
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ddp[k], v, rtol=1e-5, atol=1e-6)
