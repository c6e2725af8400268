"""Acceptance for per-cell standard errors and ``tol`` on the digits MLP, with all 1,797 samples as the
reference: 95% intervals from 256 samples cover the full-data loss; ``tol`` stops cells early, keeps
them within 2·tol of the full-data loss, and never draws a cell above the cap below it."""
import numpy as np
import pytest
import torch
from test_surface_cli import _train

from landscape import data
from landscape.core import directions, surface
from landscape.core.cells import Tolerance, block_ends
from landscape.storage import io

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    """A digits MLP (2 hidden layers of 32, trained a second) and all 1,797 digits, train and test."""
    model, _ = _train()
    X = torch.cat([data.load("digits", s)[0] for s in ("train", "test")])
    Y = torch.cat([data.load("digits", s)[1] for s in ("train", "test")])
    return model, (X, Y), directions.random(model, n=2, seed=0)


def test_intervals_from_256_samples_cover_the_full_data_loss(digits):
    """Over 10 draws of 256 samples x 121 cells, ``loss ± 1.96 s.e.`` (with the finite-population
    correction toward 1,797) covers the full-data loss in at least 90% of (cell, draw) pairs. One draw
    alone covers 84-100% of its cells (measured over 8 draws): the cells share their samples, so a
    draw that is easier than the data set is easier at every cell."""
    model, (X, Y), d = digits
    grid = dict(x=(-1, 1, 11), y=(-1, 1, 11), progress=False)
    full = surface.compute(model, d, data=(X, Y), **grid).values["train_loss"]
    hits = []
    for seed in range(10):
        idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:256]
        sub = surface.compute(model, d, data=(X[idx], Y[idx]), population={"train": len(X)}, **grid)
        hits.append(np.abs(sub.values["train_loss"] - full) <= 1.96 * sub.se["train_loss"])
    assert np.mean(hits) >= 0.90, [float(np.mean(h)) for h in hits]


def test_block_ends_grow_by_steps_up_to_the_data():
    assert block_ends(1797, 256, 512) == [256, 768, 1280, 1792, 1797]
    assert block_ends(100, 256) == [100] and block_ends(600)[:3] == [128, 256, 384]


def test_tol_stops_early_stays_close_and_keeps_high_cells_above_the_cap(digits, tmp_path):
    model, (X, Y), d = digits
    grid = dict(x=(-1, 1, 11), y=(-1, 1, 11), progress=False)
    full = surface.compute(model, d, data=(X, Y), **grid).values["train_loss"]
    cap = 3.0  # a low cap, so that this small grid has cells above it
    s = surface.compute(model, d, data=(X, Y), tol=Tolerance(0.02, cap=cap), path=str(tmp_path / "t.h5"), **grid)
    used = s.samples["train"]
    assert s.attrs["tol"] == 0.02 and s.attrs["tol_cap"] == cap
    assert used.min() == 128 and used.max() <= len(X) and used.mean() < 0.8 * len(X)
    below, above = full <= cap, full > cap
    assert np.mean(np.abs(s.values["train_loss"] - full)[below] <= 0.04) >= 0.95
    assert (s.values["train_loss"][above] > cap).all()
    settled = used < len(X)  # a cell that stopped early did so for a reason
    se, v = s.se["train_loss"], s.values["train_loss"]
    assert ((se <= 0.02) | (v - 1.96 * se > cap))[settled].all()
    np.testing.assert_array_equal(io.load(tmp_path / "t.h5").samples["train"], used)


def test_tol_needs_tensor_data(digits):
    model, (X, Y), d = digits
    with pytest.raises(ValueError, match="tol="):
        surface.compute(model, d, x=(-1, 1, 3), y=(-1, 1, 3), data=list(zip(X.split(64), Y.split(64))), tol=0.01,
                        progress=False)


def test_tol_cells_do_not_depend_on_their_round(digits):
    """Each cell walks the same permutation with its own stopping: rounds of 1 cell or of all give
    the same bits (so resumed and sharded tol grids match uninterrupted ones)."""
    model, (X, Y), d = digits
    kw = dict(x=(-1, 1, 5), y=(-1, 1, 5), data=(X, Y), tol=0.02, progress=False)
    a = surface.compute(model, d, round_seconds=0.0, **kw)
    b = surface.compute(model, d, round_seconds=100.0, **kw)
    np.testing.assert_array_equal(a.values["train_loss"], b.values["train_loss"])
    np.testing.assert_array_equal(a.samples["train"], b.samples["train"])
