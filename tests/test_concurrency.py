"""Reading (and adding metrics to) a surface file while a real `landscape surface` job writes it.

`landscape info` and `landscape plot` on the file of a running job must read a consistent snapshot:
every cell marked done holds its final value, cells not done read as NaN; the readers never block,
crash or damage the writer. `landscape sharpness` (which rewrites the file to add its metrics/)
waits for the writer's round and the writer goes on in the new file: no round is lost.
"""
import re
import subprocess
import time

import numpy as np
from click.testing import CliRunner
from conftest import landscape_exe

from landscape import cli, models
from landscape.storage import checkpoint, io

SPEC = dict(depth=4, width=0.5, in_shape=(1, 8, 8), num_classes=10)
N = 41  # 41 x 41 cells in small batches: a few seconds of writing, however fast the machine


def test_info_plot_and_sharpness_while_a_job_writes(tmp_path):
    model = models.create("mlp", seed=0, **SPEC)
    ckpt = tmp_path / "ckpt.pt"
    checkpoint.save(ckpt, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    out = tmp_path / "s.h5"
    writer = subprocess.Popen(
        landscape_exe() + ["surface", str(ckpt), "--x", f"-1:1:{N}", "--y", f"-1:1:{N}", "--n-samples", "300",
                           "--batch-size", "32", "--threads", "1", "--no-progress", "--round-seconds", "0.02", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out.exists() and io.read_done(out).any()):
        assert writer.poll() is None, writer.communicate()
        assert time.time() < deadline, "the job wrote nothing"
        time.sleep(0.01)

    snapshots, infos, plots, metrics_added = [], 0, 0, False
    runner = CliRunner()
    while writer.poll() is None:
        snap = io.load(out)
        snapshots.append((snap.done().copy(), {k: v.copy() for k, v in snap.values.items()}))
        info = runner.invoke(cli.main, ["info", str(out)])
        assert info.exit_code == 0, info.output
        count = int(re.search(r"done:\s+(\d+)/", info.output).group(1))
        assert count >= int(snapshots[-1][0].sum())  # progress never goes backwards
        infos += 1
        if plots < 2:
            fig = tmp_path / f"p{plots}.png"
            r = runner.invoke(cli.main, ["plot", str(out), "--kind", "heatmap", "--out", str(fig)])
            assert r.exit_code == 0, r.output
            assert fig.read_bytes()[:4] == b"\x89PNG"
            plots += 1
        elif not metrics_added and snap.done().sum() >= 9:
            r = runner.invoke(cli.main, ["sharpness", str(out), "--window", "1"])
            assert r.exit_code in (0, 2), r.output  # 2: too few cells around the minimum yet; fine
            metrics_added = r.exit_code == 0
        time.sleep(0.02)
    _, err = writer.communicate()
    assert writer.returncode == 0, err
    assert "Traceback" not in err

    final = io.load(out)
    assert final.done().all(), int(final.done().sum())  # no round lost, not even around the metrics rewrite
    if metrics_added:
        assert "train_loss" in final.metrics
    assert len(snapshots) >= 3 and infos >= 3
    counts = [int(d.sum()) for d, _ in snapshots]
    assert counts == sorted(counts) and counts[0] < N * N
    for done, values in snapshots:  # each snapshot: done cells final, the rest NaN
        for name, v in values.items():
            np.testing.assert_array_equal(v[done], final.values[name][done])
            assert np.isnan(v[~done]).all()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
