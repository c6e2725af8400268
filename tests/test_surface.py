"""The surface engine against a naive oracle, restoration of the model, resume and settings checks."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import CountingLoss
from torch import nn

from landscape.core import directions, evaluate, surface
from landscape.core.engine import PointEvaluator
from landscape.storage import io


def naive_value(model, dirs, coords, X, Y, batch=7, bn="eval"):
    """The oracle: copy the model, set w = w0 + a*d1 (+ b*d2), loop over the data in small batches."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, t in m.state_dict(keep_vars=True).items():
            if name in dirs[0]:
                new = t.detach().clone()
                for c, d in zip(coords, dirs):
                    new = new + float(c) * d[name]
                t.data = new
        if bn == "recompute":
            for mod in m.modules():
                if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                    mod.reset_running_stats()
                    mod.momentum = None
                    mod.train()
            for i in range(0, len(X), 1024):  # the engine's default batches for BN statistics
                m(X[i:i + 1024])
        m.eval()
        loss, correct = 0.0, 0
        for i in range(0, len(X), batch):
            out = m(X[i:i + batch])
            loss += F.cross_entropy(out, Y[i:i + batch], reduction="sum").item()
            correct += (out.argmax(1) == Y[i:i + batch]).sum().item()
    return loss / len(X), correct / len(X)


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_grid_equals_naive_evaluation(which, request):
    model = request.getfixturevalue(which)
    X, Y = request.getfixturevalue("xy" if which == "mlp" else "images")
    Xt, Yt = X[: len(X) // 2] * 1.5, Y[: len(X) // 2]
    dirs = directions.random(model, n=2, seed=0)
    x, y = np.array([-1.0, -0.3, 0.0, 0.6, 1.0]), np.array([-0.8, 0.0, 0.5])  # non-square: catches [x, y] mix-ups
    surf = surface.compute(model, dirs, x=x, y=y, data=(X, Y), test_data=(Xt, Yt), progress=False)
    assert surf.shape == (3, 5) and surf.values["train_loss"].shape == (3, 5)
    for j, b in enumerate(y):
        for i, a in enumerate(x):
            loss, acc = naive_value(model, dirs, (a, b), X, Y)
            tloss, tacc = naive_value(model, dirs, (a, b), Xt, Yt)
            assert surf.values["train_loss"][j, i] == pytest.approx(loss, rel=1e-6)
            assert surf.values["train_acc"][j, i] == pytest.approx(acc, abs=1e-12)
            assert surf.values["test_loss"][j, i] == pytest.approx(tloss, rel=1e-6)
            assert surf.values["test_acc"][j, i] == pytest.approx(tacc, abs=1e-12)


def test_line_equals_naive_evaluation(mlp, xy):
    dirs = directions.random(mlp, n=1, seed=1)
    surf = surface.compute(mlp, dirs, x=(-2, 2, 7), data=xy, progress=False)
    assert surf.ndim == 1 and surf.values["train_loss"].shape == (7,)
    for i, a in enumerate(np.linspace(-2, 2, 7)):
        assert surf.values["train_loss"][i] == pytest.approx(naive_value(mlp, dirs, (a,), *xy)[0], rel=1e-6)


def test_recomputed_batchnorm_matches_naive_and_differs_from_eval(cnn, images):
    dirs = directions.random(cnn, n=2, seed=0)
    kw = dict(x=(-1, 1, 3), y=(-1, 1, 2), data=images, progress=False)
    rec = surface.compute(cnn, dirs, bn="recompute", **kw)
    ev = surface.compute(cnn, dirs, bn="eval", **kw)
    for j, b in enumerate((-1.0, 1.0)):
        for i, a in enumerate((-1.0, 0.0, 1.0)):
            expect = naive_value(cnn, dirs, (a, b), *images, bn="recompute")[0]
            assert rec.values["train_loss"][j, i] == pytest.approx(expect, rel=1e-6)
    assert not np.allclose(rec.values["train_loss"], ev.values["train_loss"])
    assert rec.attrs["bn"] == "recompute"


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same(model, saved):
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k


def test_weights_buffers_and_mode_restored_bitwise(cnn, images):
    cnn.train()
    before = _state(cnn)
    dirs = directions.random(cnn, n=2, seed=0, include_buffers=True, ignore=None)
    surface.compute(cnn, dirs, x=(-1, 1, 3), y=(-1, 1, 3), data=images, bn="recompute", progress=False)
    _assert_same(cnn, before)
    assert cnn.training and all(m.training for m in cnn.modules())
    assert cnn.bn1.momentum == 0.1


def test_weights_restored_after_an_error_mid_grid(mlp, xy):
    before = _state(mlp)
    calls = {"n": 0}

    def flaky(model, batch):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("disk on fire")
        return F.cross_entropy(model(batch[0]), batch[1])

    with pytest.raises(RuntimeError, match="disk on fire"):
        surface.compute(mlp, directions.random(mlp, n=2), x=(-1, 1, 3), y=(-1, 1, 3), data=xy, loss=flaky,
                        progress=False)
    _assert_same(mlp, before)


def test_frozen_parameters_stay_fixed_and_params_filter_restricts(mlp, xy):
    mlp.net[0].weight.requires_grad_(False)
    dirs = directions.random(mlp, n=1, seed=0)
    assert "net.0.weight" not in dirs[0]
    ev = PointEvaluator(mlp, dirs, {"train": [xy]}, evaluate.objective("cross_entropy"))
    frozen = mlp.net[0].weight.detach().clone()
    ev.set_point([0.7])
    assert torch.equal(mlp.net[0].weight, frozen)
    assert not torch.equal(mlp.net[4].weight, ev.origin["net.4.weight"])
    ev.reset()
    only_last = surface.compute(mlp, dirs, x=(-1, 1, 3), data=xy, params=r"^net\.4\.", progress=False)
    assert only_last.attrs["moved_tensors"] == 2
    with pytest.raises(ValueError, match="params="):
        surface.compute(mlp, dirs, x=(-1, 1, 3), data=xy, params=["net.0.weight"], progress=False)


def test_bad_input_raises_value_errors(mlp, cnn, xy):
    dirs = directions.random(mlp, n=2)
    with pytest.raises(ValueError, match="bn"):
        surface.compute(mlp, dirs, y=(-1, 1, 3), data=xy, bn="train", progress=False)
    with pytest.raises(ValueError, match="needs 1 direction"):
        surface.compute(mlp, dirs, data=xy, progress=False)
    with pytest.raises(ValueError, match="does not have"):
        surface.compute(cnn, directions.random(mlp, n=1), data=xy, progress=False)
    with pytest.raises(ValueError, match="could not be evaluated"):
        surface.compute(mlp, dirs[:1], data=(torch.randn(5, 7), torch.zeros(5, dtype=torch.long)), progress=False)
    with pytest.raises(ValueError, match="increasing"):
        surface.compute(mlp, dirs[:1], x=[0.0, -1.0], data=xy, progress=False)
    with pytest.raises(ValueError, match="precision"):
        surface.compute(mlp, dirs[:1], data=xy, precision="fp8", progress=False)


def test_custom_loss_and_named_splits(mlp, xy):
    dirs = directions.random(mlp, n=1)
    X, Y = xy
    surf = surface.compute(mlp, dirs, x=(-1, 1, 3), data={"val": (X[:20], Y[:20])},
                           loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), progress=False)
    assert list(surf.values) == ["val_loss"]  # a custom loss has no accuracy
    expect = naive_value(mlp, dirs, (1.0,), X[:20], Y[:20])[0]
    assert surf.values["val_loss"][2] == pytest.approx(expect, rel=1e-6)


def test_file_and_memory_agree_and_record_settings(tmp_path, mlp, xy):
    dirs = directions.random(mlp, n=2, seed=3, norm="layer")
    kw = dict(x=(-1, 1, 4), y=(-0.5, 0.5, 3), data=xy, test_data=xy, progress=False)
    mem = surface.compute(mlp, dirs, **kw)
    disk = surface.compute(mlp, dirs, path=tmp_path / "s.h5", attrs={"dataset": "random"}, **kw)
    for name in mem.values:
        np.testing.assert_array_equal(mem.values[name], disk.values[name])
    a = disk.attrs
    assert a["format"] == "landscape-surface" and a["format_version"] == io.FORMAT_VERSION
    assert (a["direction_kind"], a["norm"], a["ignore"], a["seed"]) == ("random", "layer", "biasbn", 3)
    assert (a["loss"], a["bn"], a["precision"], a["n_samples"], a["n_test_samples"]) == \
        ("cross_entropy", "eval", "fp32", 64, 64)
    assert a["dataset"] == "random" and a["model_name"] == "TinyMLP" and "torch" in a["library_versions"]
    assert disk.done().all()
    for d_mem, d_disk in zip(dirs, disk.directions):
        assert all(torch.equal(d_mem[n], d_disk[n]) for n in d_mem)


def test_resume_fills_only_missing_cells_and_equals_uninterrupted(tmp_path, mlp, xy):
    dirs = directions.random(mlp, n=2, seed=0)
    kw = dict(x=(-1, 1, 5), y=(-1, 1, 4), data=xy, progress=False, round_seconds=0.0)  # a round per cell
    full = surface.compute(mlp, dirs, **kw)
    path = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after 7 model evaluations
        surface.compute(mlp, dirs, path=path, loss=_named(CountingLoss(limit=7), "counting"), **kw)
    partial = io.load(path)
    n_done = int(partial.done().sum())
    assert 0 < n_done < 20
    assert np.isnan(partial.values["train_loss"][~partial.done()]).all()
    # (a callable loss is recorded by its __name__, part of the job's identity)
    resumed = surface.compute(mlp, dirs, path=path, loss=_named(CountingLoss(), "counting"), **kw)
    assert resumed.done().all()
    np.testing.assert_allclose(resumed.values["train_loss"], full.values["train_loss"], rtol=1e-6)


def _named(fn, name):
    fn.__name__ = name
    return fn


def test_resume_counts_only_missing_cells(tmp_path, mlp, xy):
    dirs = directions.random(mlp, n=1, seed=0)
    path = tmp_path / "c.h5"
    kw = dict(x=(-1, 1, 6), data=[xy], progress=False, round_seconds=0.0)
    with pytest.raises(KeyboardInterrupt):
        surface.compute(mlp, dirs, path=path, loss=_named(CountingLoss(limit=4), "c"), **kw)
    done = int(io.load(path).done().sum())
    counter = _named(CountingLoss(), "c")
    surface.compute(mlp, dirs, path=path, loss=counter, **kw)
    assert counter.calls == 2 + (6 - done)  # a model check, a FLOP count (threads), one batch per missing cell


def test_resume_keeps_the_files_batch_size(tmp_path, mlp, xy):
    """A file made with an explicit batch size (or by a version whose automatic choice differed) is
    resumed without naming it again, and the values equal an uninterrupted run with that batch size."""
    dirs = directions.random(mlp, n=1, seed=0)
    path = tmp_path / "b.h5"
    kw = dict(x=(-1, 1, 6), data=xy, progress=False, round_seconds=0.0)
    with pytest.raises(KeyboardInterrupt):
        per_cell = -(-len(xy[0]) // 7)  # batches per cell; stop during the third cell
        surface.compute(mlp, dirs, path=path, batch_size=7, loss=_named(CountingLoss(limit=1 + 2 * per_cell + 1), "c"),
                        **kw)
    assert 0 < io.read_done(path).sum() < 6
    resumed = surface.compute(mlp, dirs, path=path, loss=_named(CountingLoss(), "c"), **kw)
    assert resumed.done().all() and resumed.attrs["batch_size"] == 7
    full = surface.compute(mlp, dirs, batch_size=7, loss=_named(CountingLoss(), "c"), **kw)
    np.testing.assert_array_equal(resumed.values["train_loss"], full.values["train_loss"])
    with pytest.raises(ValueError, match="batch_size"):  # an explicit, different batch size is another job
        surface.compute(mlp, dirs, path=path, batch_size=8, loss=_named(CountingLoss(), "c"), **kw)


def test_grids_beyond_the_cell_cap_are_refused_before_any_work(tmp_path, mlp, xy):
    dirs = directions.random(mlp, n=2, seed=0)
    with pytest.raises(ValueError, match="4097 x 4096"):
        surface.compute(mlp, dirs, x=(-1, 1, 4097), y=(-1, 1, 4096), data=xy, path=tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()
    with pytest.raises(ValueError, match="num <= 16,777,216"):
        surface.axis((-1, 1, 10**9))  # refused before np.linspace allocates 8 GB
    s = surface.compute(mlp, dirs[:1], x=(-1, 1, 3), data=xy, progress=False)  # the cap leaves ordinary grids alone
    assert s.done().all()


def test_different_job_refused_unless_overwrite(tmp_path, mlp, xy):
    path = tmp_path / "s.h5"
    kw = dict(x=(-1, 1, 3), data=xy, progress=False)
    surface.compute(mlp, directions.random(mlp, n=1, seed=0), path=path, **kw)
    with pytest.raises(ValueError, match="overwrite"):
        surface.compute(mlp, directions.random(mlp, n=1, seed=1), path=path, **kw)
    with pytest.raises(ValueError, match="x grid"):
        surface.compute(mlp, directions.random(mlp, n=1, seed=0), path=path, x=(-1, 1, 4), data=xy, progress=False)
    with pytest.raises(ValueError, match="bn"):
        surface.compute(mlp, directions.random(mlp, n=1, seed=0), path=path, bn="recompute", **kw)
    other = copy.deepcopy(mlp)
    with torch.no_grad():
        other.net[0].bias.add_(1e-3)
    with pytest.raises(ValueError, match="weights_sha256"):
        surface.compute(other, directions.random(mlp, n=1, seed=0), path=path, **kw)
    s = surface.compute(mlp, directions.random(mlp, n=1, seed=1), path=path, overwrite=True, **kw)
    assert s.attrs["seed"] == 1 and s.done().all()


def test_pca_directions_store_their_trajectory(tmp_path, mlp, xy):
    snaps = []
    for k in range(5):
        m = copy.deepcopy(mlp)
        with torch.no_grad():
            for i, p in enumerate(m.parameters()):
                p.add_(0.05 * (k + 1) * torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (i + 1) * (k + 2)).reshape(p.shape))
        snaps.append(m.state_dict())
    res = directions.pca(snaps, mlp, n=2, epochs=[0, 1, 2, 3, 4])
    s = surface.compute(mlp, res, x=(-1, 1, 3), y=(-1, 1, 3), data=xy, path=tmp_path / "p.h5", progress=False)
    assert s.attrs["direction_kind"] == "pca"
    np.testing.assert_array_equal(s.trajectory["coords"], res.coords)
    np.testing.assert_array_equal(s.trajectory["explained"], res.explained)
