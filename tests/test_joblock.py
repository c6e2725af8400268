"""One job per output file: a second job aimed at a file a live job fills stops with a message; the
lock dies with its process (kill -9 included) and leaves nothing behind."""
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from landscape import cli, models
from landscape.base.joblock import lock_path, output_lock
from landscape.core import directions, surface
from landscape.storage import checkpoint, io

HOLDER = textwrap.dedent("""
    import sys, time
    from landscape.joblock import output_lock
    with output_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    """A live process holding the job lock of tmp_path / "s.h5"."""
    path = tmp_path / "s.h5"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"locked"
    yield path, proc
    proc.kill()
    proc.wait()


def test_second_job_on_a_busy_file_is_refused_and_runs_once_the_first_dies(holder, mlp, xy):
    path, proc = holder
    kw = dict(x=(-1, 1, 3), data=xy, progress=False, path=path)
    dirs = directions.random(mlp, n=1, seed=0)
    with pytest.raises(ValueError, match=rf"Another job \(process {proc.pid}\) is writing .*s\.h5"):
        surface.compute(mlp, dirs, **kw)
    assert not path.exists()  # refused before anything was written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    s = surface.compute(mlp, dirs, **kw)  # a killed holder leaves no stale lock
    assert s.done().all()
    assert not lock_path(path).exists()  # and a finished job cleans up after itself


def test_cli_reports_a_busy_output_as_a_usage_error_and_leaves_the_file_alone(holder, tmp_path):
    path, proc = holder
    io.create(path, np.linspace(-1, 1, 3), None, ["train_loss"], {"note": "the first job's"})
    before = path.read_bytes()
    ckpt = tmp_path / "m.pt"
    model = models.create("mlp", seed=0, depth=2, width=0.25, in_shape=(1, 8, 8), num_classes=10)
    checkpoint.save(ckpt, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    r = CliRunner().invoke(cli.main, ["surface", str(ckpt), "--x", "-1:1:3", "--n-samples", "32", "--no-progress",
                                      "--overwrite", "--out", str(path)])
    assert r.exit_code == 2, r.output
    assert f"process {proc.pid}" in r.output and "Traceback" not in r.output
    assert path.read_bytes() == before  # not even --overwrite replaces a file another job fills


def test_sequential_jobs_and_nested_reuse_in_one_process(tmp_path):
    path = tmp_path / "a.h5"
    with output_lock(path):
        assert lock_path(path).exists()
        with pytest.raises(ValueError, match="Another job"):  # also a second holder in the same process
            with output_lock(path):
                pass
    assert not lock_path(path).exists()
    with output_lock(path):  # and it can be taken again
        pass


def test_training_into_a_run_directory_another_job_fills_is_refused(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"locked"
        r = CliRunner().invoke(cli.main, ["train", "mlp8", "--n-train", "64", "--epochs", "1", "--no-progress",
                                          "--resume", "--out", str(run)])
        assert r.exit_code == 2 and f"process {proc.pid}" in r.output, r.output
        assert not (run / "final.pt").exists()
    finally:
        proc.kill()
        proc.wait()
    r = CliRunner().invoke(cli.main, ["train", "mlp8", "--n-train", "64", "--epochs", "1", "--no-progress",
                                      "--out", str(run)])
    assert r.exit_code == 0, r.output
    assert (run / "final.pt").exists() and not lock_path(run).exists()
