"""The HDF5 surface format: round trips, golden files, the reference layout, versions, metrics and
the write discipline that makes files survive SIGKILL."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape.base.errors import FileFormatError
from landscape.storage import io

DATA = Path(__file__).parent / "golden"


def small_surface(ndim=2):
    x = np.linspace(-1, 1, 5)
    y = np.linspace(-2, 2, 3) if ndim == 2 else None
    shape = (5,) if y is None else (3, 5)
    g = np.random.default_rng(0)
    values = {"train_loss": g.random(shape), "train_acc": g.random(shape), "test_loss": g.random(shape)}
    values["train_loss"].reshape(-1)[3] = np.nan  # a done cell whose loss diverged
    done = np.ones(shape, bool)
    done.reshape(-1)[4] = False
    for v in values.values():
        v.reshape(-1)[4] = np.nan
    dirs = [{"a.weight": torch.randn(3, 2, generator=torch.Generator().manual_seed(k)), "a.bias": torch.zeros(3)}
            for k in range(ndim)]
    attrs = {"model_name": "m", "model_spec": {"name": "mlp", "depth": 3, "in_shape": [1, 8, 8]}, "seed": 4,
             "norm": "filter", "ignore": "none", "n_samples": 100, "lr": 0.1, "flag": True, "nothing": None,
             "names": ["a", "b"], "eigs": np.array([1.5, 2.5]), "sizes": [1, 2, 3]}
    traj = {"coords": np.arange(6.0).reshape(3, 2), "epochs": np.array([0, 5, 10]), "explained": np.array([0.6, 0.3])}
    return io.Surface(x=x, y=y, values=values, attrs=attrs, directions=dirs, trajectory=traj,
                      metrics={"sam": 0.25, "hessian": {"top": np.array([3.0, 2.0]), "method": "lanczos"}},
                      computed=done)


@pytest.mark.parametrize("ndim", [1, 2])
def test_round_trip_gives_identical_arrays_and_attributes(tmp_path, ndim):
    s = small_surface(ndim)
    io.save(s, tmp_path / "s.h5")
    back = io.load(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.x, s.x)
    if ndim == 2:
        np.testing.assert_array_equal(back.y, s.y)
    else:
        assert back.y is None
    assert list(back.values) == list(s.values)
    for k in s.values:
        np.testing.assert_array_equal(back.values[k], s.values[k])  # NaN == NaN here
    np.testing.assert_array_equal(back.done(), s.done())
    for k, v in s.attrs.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(back.attrs[k], v)
        else:
            assert back.attrs[k] == v and type(back.attrs[k]) is type(v), k
    assert back.attrs["format"] == "landscape-surface" and "created_at" in back.attrs
    for a, b in zip(s.directions, back.directions):
        assert list(a) == list(b)
        assert all(torch.equal(a[n], b[n]) for n in a)
    for k in s.trajectory:
        np.testing.assert_array_equal(back.trajectory[k], s.trajectory[k])
    assert back.metrics["sam"] == 0.25 and back.metrics["hessian"]["method"] == "lanczos"
    np.testing.assert_array_equal(back.metrics["hessian"]["top"], [3.0, 2.0])
    # A second round trip changes nothing (created_at etc. are kept, not re-stamped).
    io.save(back, tmp_path / "t.h5")
    again = io.load(tmp_path / "t.h5")
    assert {k: v for k, v in again.attrs.items() if not isinstance(v, np.ndarray)} == \
        {k: v for k, v in back.attrs.items() if not isinstance(v, np.ndarray)}


def test_attributes_are_hdf5_native_no_pickles(tmp_path):
    io.save(small_surface(), tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r") as f:
        for key, value in f.attrs.items():
            assert isinstance(value, (str, np.ndarray, np.number, np.bool_)), (key, type(value))
        assert isinstance(f.attrs["model_spec"], str)  # JSON
        assert f.attrs["format_version"] == io.FORMAT_VERSION
        assert f["train_loss"].dtype == np.float64 and f["done"].dtype == np.uint8
        assert f["train_loss"].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
        assert f.id.get_create_plist().get_version()[0] == 0  # superblock v0: no "open for write" flag


def test_golden_v1_1_planes_file_reads():
    """A file of format 1.1 with a 2-plane ensemble, standard errors and per-cell sample counts
    (tests/golden/make_golden.py) must read the same forever."""
    s = io.load(DATA / "surface_v1.1_planes.h5")
    assert s.attrs["format_version"] == "1.1" and s.n_planes == 2 and list(s.planes.seeds) == [0, 1]
    X, Y = np.meshgrid(s.x, s.y)
    expect = 1 + X ** 2 + 2 * Y ** 2
    expect[0, 0] = 2.5
    done = np.ones((3, 4), bool)
    done[2, 3] = False
    np.testing.assert_array_equal(s.planes.done, np.stack([done, done]))
    np.testing.assert_allclose(s.plane(1).values["train_loss"][done], 2 * expect[done])
    np.testing.assert_allclose(s.se["train_loss"][done], 0.1 * expect[done])
    assert s.samples["train"][0, 1] == 50 and s.samples["train"][2, 3] == 0 and s.plane(1).attrs["seed"] == 1
    assert np.isnan(s.values["train_loss"][2, 3]) and s.attrs["population"] == {"train": 100}


def test_golden_v1_0_file_reads():
    """A file written by format 1.0 (tests/golden/make_golden.py) must read the same forever."""
    s = io.load(DATA / "surface_v1.0.h5")
    assert s.attrs["format_version"] == "1.0" and s.attrs["created_at"] == "2026-01-01T00:00:00+00:00"
    assert s.attrs["model_spec"] == {"name": "mlp", "depth": 2} and s.attrs["seed"] == 0
    np.testing.assert_array_equal(s.x, np.linspace(-1, 1, 4))
    np.testing.assert_array_equal(s.y, np.linspace(-0.5, 0.5, 3))
    X, Y = np.meshgrid(s.x, s.y)
    expect = 1 + X ** 2 + 2 * Y ** 2
    done = np.ones((3, 4), bool)
    done[2, 3] = False
    np.testing.assert_array_equal(s.done(), done)
    assert np.isinf(s.values["train_loss"][0, 0]) and np.isnan(s.values["train_loss"][2, 3])
    sel = done.copy()
    sel[0, 0] = False
    np.testing.assert_allclose(s.values["train_loss"][sel], expect[sel])
    np.testing.assert_allclose(s.values["train_acc"][done], (1 / expect)[done])
    assert list(s.directions[0]) == ["layer.weight", "layer.bias"]
    assert torch.equal(s.directions[1]["layer.weight"], -torch.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(s.trajectory["explained"], [0.75, 0.125])
    assert s.metrics["sharpness"] == 0.5
    assert s.extremes("train_loss")["argmin_coords"] == (s.x[1], s.y[1]) == pytest.approx((-1 / 3, 0.0))


def reference_file(path, x, y, fill, fraction_done=0.6, seed=0):
    """Write a surface exactly as tomgoldstein/loss-landscape does (plot_surface.py + scheduler.py):
    -1-filled arrays of shape (len(x), len(y)), cells filled through ``ravel()[ind]`` with ``ind``
    enumerating ``np.meshgrid(x, y)``, accuracies in percent. Returns the cells it filled."""
    with h5py.File(path, "a") as f:
        f["dir_file"] = "model.t7_weights_xignore=biasbn_xnorm=filter.h5"
        f["xcoordinates"] = x
        if y is not None:
            f["ycoordinates"] = y
    with h5py.File(path, "r+") as f:
        shape = x.shape if y is None else (len(x), len(y))
        losses, accuracies = -np.ones(shape=shape), -np.ones(shape=shape)
        f["train_loss"], f["train_acc"] = losses, accuracies
        inds = np.array(range(losses.size))[losses.ravel() <= 0]
        if y is not None:
            xm, ym = np.meshgrid(x, y)
            coords = np.c_[xm.ravel()[inds], ym.ravel()[inds]]
        else:
            coords = x.ravel()[inds]
        keep = np.random.default_rng(seed).random(len(inds)) < fraction_done
        for count, ind in enumerate(inds):
            if keep[count]:
                loss, acc = fill(coords[count])
                losses.ravel()[ind] = loss
                accuracies.ravel()[ind] = acc
        f["train_loss"][:] = losses
        f["train_acc"][:] = accuracies


def _loss(c):
    c = np.atleast_1d(c)
    return 1 + c[0] + 10 * (c[1] if len(c) > 1 else 0)


@pytest.mark.parametrize("nx, ny", [(5, 3), (4, 4), (6, None)])
def test_reference_layout_loads(tmp_path, nx, ny):
    x = np.linspace(-1, 1, nx)
    y = np.linspace(0, 2, ny) if ny else None
    path = tmp_path / "ref.h5"
    reference_file(path, x, y, lambda c: (_loss(c), 50.0))
    s = io.load(path)
    assert s.attrs["format"].startswith("loss-landscape")
    assert s.attrs["dir_file"].startswith("model.t7")
    assert s.shape == ((nx,) if ny is None else (ny, nx))
    done = s.done()
    assert 0 < done.sum() < done.size
    for idx in zip(*np.nonzero(done)):
        xi = x[idx[-1]]
        yi = y[idx[0]] if ny else None
        assert s.values["train_loss"][idx] == pytest.approx(_loss((xi, yi) if ny else xi))
        assert s.values["train_acc"][idx] == pytest.approx(0.5)  # percent -> fraction
    assert np.isnan(s.values["train_loss"][~done]).all()


def test_newer_major_version_is_refused_and_newer_minor_read(tmp_path):
    io.save(small_surface(), tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        f.attrs["format_version"] = "1.7"
        f.attrs["future_setting"] = "ignored"
    assert io.load(tmp_path / "s.h5").attrs["future_setting"] == "ignored"
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        f.attrs["format_version"] = "2.0"
    with pytest.raises(FileFormatError, match="upgrade"):
        io.load(tmp_path / "s.h5")


def test_unreadable_files_raise_file_format_error(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        io.load(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="HDF5"):
        io.load(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["something"] = 1
    with pytest.raises(FileFormatError, match="reference layout"):
        io.load(tmp_path / "other.h5")
    with pytest.raises(FileFormatError, match="not a landscape surface"):
        io.prepare(tmp_path / "other.h5", np.zeros(2), None, ["train_loss"], {})


def test_cells_not_marked_done_read_as_nan(tmp_path):
    """A kill between writing values and setting done bytes: the values must not be trusted."""
    path = tmp_path / "s.h5"
    io.create(path, np.linspace(0, 1, 4), None, ["train_loss"], {})
    with h5py.File(path, "r+") as f:
        f["train_loss"][1] = 3.0  # value written, done byte never set
    io.write_cells(path, [2], {"train_loss": [5.0]})
    s = io.load(path)
    assert np.isnan(s.values["train_loss"][1]) and s.values["train_loss"][2] == 5.0
    assert s.done().tolist() == [False, False, True, False]


def _data_extents(path):
    out = []
    with h5py.File(path, "r") as f:
        for name in ("train_loss", "test_loss", "done"):
            ds = f[name]
            out.append((ds.id.get_offset(), ds.id.get_offset() + ds.id.get_storage_size()))
    return out


def test_writing_cells_never_touches_metadata(tmp_path):
    """The crash-safety invariant: after creation only raw data bytes of values and done change."""
    path = tmp_path / "s.h5"
    io.create(path, np.linspace(0, 1, 7), np.linspace(0, 1, 5), ["train_loss", "test_loss"], {"seed": 1})
    before = path.read_bytes()
    extents = _data_extents(path)
    io.write_cells(path, np.array([0, 1, 2, 9, 34, 33, 20]), {"train_loss": np.arange(7.0), "test_loss": -np.arange(7.0)})
    after = path.read_bytes()
    assert len(after) == len(before)
    changed = np.flatnonzero(np.frombuffer(before, np.uint8) != np.frombuffer(after, np.uint8))
    assert changed.size > 0
    inside = np.zeros(changed.size, bool)
    for lo, hi in extents:
        inside |= (changed >= lo) & (changed < hi)
    assert inside.all(), f"bytes outside the datasets changed: {changed[~inside][:10]}"
    s = io.load(path)
    flat = s.values["train_loss"].reshape(-1)
    assert [flat[i] for i in (0, 1, 2, 9, 34, 33, 20)] == list(np.arange(7.0))


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from landscape import io
    path = sys.argv[1]
    print("ready", flush=True)
    # like a surface job: every cell is written once, in rounds (a job never rewrites a done cell)
    for start in range(0, 200 * 200, 13):
        idx = np.arange(start, min(start + 13, 200 * 200))
        io.write_cells(path, idx, {"train_loss": idx * 1.0, "train_acc": -idx * 1.0})
""")


def test_sigkill_during_writes_leaves_a_consistent_file(tmp_path):
    """Kill a process that does nothing but write rounds, at random moments: the file always opens,
    and every cell marked done holds a complete, consistent pair of values."""
    path = tmp_path / "k.h5"
    io.create(path, np.arange(200.0), np.arange(200.0), ["train_loss", "train_acc"], {})
    rng = np.random.default_rng(0)
    before = 0
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.time() + 60  # wait for this writer's first round (a loaded machine is slow to start)
        while io.read_done(path).sum() <= before and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        s = io.load(path)
        done = s.done().reshape(-1)
        assert done.sum() > before
        before = int(done.sum())
        loss, acc = s.values["train_loss"].reshape(-1), s.values["train_acc"].reshape(-1)
        idx = np.flatnonzero(done)
        assert np.all(loss[idx] == idx) and np.all(acc[idx] == -idx)  # both values of every done cell
        assert np.isnan(loss[~done]).all() and np.isnan(acc[~done]).all()


def test_save_metrics_adds_groups_atomically(tmp_path):
    path = tmp_path / "s.h5"
    io.save(small_surface(), path)
    io.save_metrics(path, {"eig_max": 12.5, "trace": np.array([1.0, 2.0]), "per_point": {"grid": np.ones((3, 5))}})
    io.save_metrics(path, {"rho": 0.05, "value": 0.3}, group="sam")
    s = io.load(path)
    assert s.metrics["eig_max"] == 12.5 and "sam" not in list(s.metrics["per_point"])
    np.testing.assert_array_equal(s.metrics["per_point"]["grid"], np.ones((3, 5)))
    assert s.metrics["sam"] == {"rho": 0.05, "value": 0.3}
    io.save_metrics(path, {"eig_max": 1.0})  # replaces the group
    assert io.load(path).metrics["eig_max"] == 1.0 and "trace" not in io.load(path).metrics
    with pytest.raises(ValueError, match="group"):
        io.save_metrics(path, {"a": 1}, group="directions")
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]  # no temporary files left


def test_extremes_give_coordinates(tmp_path):
    s = small_surface()
    v = s.values["test_loss"]
    e = s.extremes("test_loss")
    j, i = np.unravel_index(np.nanargmin(v), v.shape)
    assert e["min"] == v[j, i] and e["argmin"] == (j, i) and e["argmin_coords"] == (s.x[i], s.y[j])
