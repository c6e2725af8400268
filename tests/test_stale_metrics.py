"""Issue 21 items 1 and 4: sharpness numbers are never computed silently from part of a surface,
never outlive the cells they describe, and a bad output path fails before anything changes."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CountingLoss

from landscape import cli
from landscape.core import directions, surface
from landscape.storage import io


def _job(mlp, xy, path, limit=None):
    dirs = directions.random(mlp, n=2, seed=0)
    return surface.compute(mlp, dirs, x=(-1, 1, 7), y=(-1, 1, 5), data=xy, path=str(path), progress=False,
                           round_seconds=0.0, loss=CountingLoss(limit, "stop_after"))


def _partial(mlp, xy, path):
    with pytest.raises(KeyboardInterrupt):
        _job(mlp, xy, path, limit=24)
    done = io.load(path).done()
    assert 0 < done.sum() < done.size
    return done


def _sharpness(*args):
    return CliRunner().invoke(cli.main, ["sharpness", *map(str, args)])


def test_sharpness_refuses_a_partly_computed_surface(tmp_path, mlp, xy):
    path = tmp_path / "part.h5"
    done = _partial(mlp, xy, path)
    r = _sharpness(path)
    assert r.exit_code == 2, r.output
    assert f"partly computed ({int(done.sum())} of {done.size} cells)" in r.output and "--partial" in r.output
    assert io.load(path).metrics == {}  # nothing stored


def test_partial_metrics_say_so_and_go_when_the_surface_is_resumed(tmp_path, mlp, xy):
    path = tmp_path / "part.h5"
    done = _partial(mlp, xy, path)
    r = _sharpness(path, "--partial")
    assert r.exit_code == 0, r.output
    assert "PARTIAL" in r.output
    stored = io.load(path).metrics["train_loss"]
    assert (stored["cells_done"], stored["cells_total"]) == (int(done.sum()), done.size)
    # resuming writes new cells: the stale metrics are dropped from the file, and info no longer lists them
    resumed = _job(mlp, xy, path)
    assert resumed.done().all() and resumed.metrics == {}
    assert "metrics:" not in CliRunner().invoke(cli.main, ["info", str(path)]).output
    # metrics of the finished surface are kept (no cell changes after them) and describe every cell
    assert _sharpness(path).exit_code == 0
    again = _job(mlp, xy, path)  # resume of a finished file: nothing written, nothing dropped
    assert again.metrics["train_loss"]["cells_done"] == done.size


def test_cells_written_after_metrics_drop_every_metric_group(tmp_path):
    path = tmp_path / "s.h5"
    io.create(path, np.linspace(-1, 1, 3), None, ["train_loss"], {"format": io.FORMAT})
    io.write_cells(path, [0], {"train_loss": [1.0]})
    io.save_metrics(path, {"a": 1.0})
    io.save_metrics(path, {"b": 2.0}, group="extra")
    assert set(io.load(path).metrics) == {"a", "extra"}
    io.write_cells(path, [1, 2], {"train_loss": [2.0, 3.0]})
    back = io.load(path)
    assert back.metrics == {} and back.done().all()
    np.testing.assert_array_equal(back.values["train_loss"], [1.0, 2.0, 3.0])


def test_unwritable_json_fails_before_the_file_changes(tmp_path, mlp, xy):
    path = tmp_path / "full.h5"
    _job(mlp, xy, path)
    before = path.read_bytes()
    blocker = tmp_path / "ro"
    blocker.write_text("a file where a directory should be")
    r = _sharpness(path, "--thresholds", "0.2", "--json", blocker / "s.json")
    assert r.exit_code == 2, r.output
    assert "ro" in r.output and "not a directory" in r.output
    assert path.read_bytes() == before  # metrics not rewritten
    ok = _sharpness(path, "--thresholds", "0.2", "--json", tmp_path / "s.json")
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "s.json").read_text())["train_loss"]["basin_thresholds"] == [0.2]
