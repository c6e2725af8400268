"""3D surfaces cut cleanly at the clip height: no walls, spikes or plateau drawn above the cap."""
import importlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape import plot  # noqa: E402
from landscape.plot import _scale  # noqa: E402
from landscape.storage.io import Surface  # noqa: E402

s3d = importlib.import_module("landscape.plot.surface3d")  # the module; plot.surface3d is its function


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def rough(n, seed=0):
    """A chaotic-looking surface: a bowl with ripples and noise, far above a cap of 10 at the rim."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    loss = np.maximum(0.1 + 8 * (X ** 2 + Y ** 2) + 3 * np.sin(9 * X) * np.cos(7 * Y) + 2 * rng.random(X.shape), 0.05)
    loss[0, 0] = np.inf  # a diverged corner
    loss[5, 5] = np.nan  # a cell not computed yet
    return Surface(x=x, y=x.copy(), values={"train_loss": loss}, attrs={"model_name": "rough"})


def drawn(surface, **kw):
    """(polygons, colour values, cap in drawing units) as surface3d draws them."""
    raw = _scale.get_values(surface, "train_loss")
    scale = _scale.shared_scale([raw], value="train_loss", **kw)
    top = float(scale.transform(np.float64(scale.vmax)))
    verts, colours = s3d.pieces(surface.x, surface.y, s3d.drawing_heights(raw, scale), top, scale.log,
                                levels=scale.transform(scale.levels))
    return verts, colours, top


def projected_area(verts):
    """Area of the polygons seen from above (shoelace formula)."""
    return sum(0.5 * abs(np.dot(v[:, 0], np.roll(v[:, 1], 1)) - np.dot(v[:, 1], np.roll(v[:, 0], 1))) for v in verts)


@pytest.mark.parametrize("n", [21, 51])
@pytest.mark.parametrize("log", [False, True])
def test_a_clipped_surface_draws_nothing_above_the_clip_height(n, log):
    s = rough(n)
    verts, colours, top = drawn(s, vmax=10.0, log=log)
    z = np.concatenate([v[:, 2] for v in verts])
    assert np.all(np.isfinite(z))
    assert z.max() <= top + 1e-12
    # the cut is there: a rim of points exactly at the cap, not a plateau of whole cells at it
    assert np.sum(np.isclose(z, top)) > n
    flat_top = [v for v in verts if np.allclose(v[:, 2], top)]
    assert flat_top == []
    assert colours.max() <= 10.0 * (1 + 1e-9)
    ax = plot.surface3d(s, vmax=10.0, log=log, ax=plt.figure().add_subplot(projection="3d"))
    assert len(ax.collections[0].get_array()) == len(verts)
    assert ax.get_zlim()[1] == pytest.approx(top)


def test_the_rim_lies_where_the_surface_crosses_the_cap():
    """A plane z = x cut at 0.3: every cut point is at x = 0.3 (linear interpolation along edges),
    so the rim is a straight line at any grid size, and cells wholly above are left out."""
    for n in (5, 11, 50):
        x = np.linspace(-1, 1, n)
        height = np.tile(x, (n, 1))
        verts, _ = s3d.clip_below(s3d.cell_quads(x, x, height)[0], 0.3)
        pts = np.concatenate(verts)
        on_rim = np.isclose(pts[:, 2], 0.3)
        assert np.allclose(pts[on_rim, 0], 0.3)
        assert pts[:, 0].max() == pytest.approx(0.3)
        assert projected_area(verts) == pytest.approx(1.3 * 2.0)  # the part of the square with x <= 0.3


def test_an_unclipped_surface_keeps_every_cell_cut_into_slabs_at_the_levels():
    x = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(x, x)
    s = Surface(x=x, y=x.copy(), values={"train_loss": 0.1 + X ** 2 + Y ** 2}, attrs={})
    raw = s.values["train_loss"]
    scale = _scale.shared_scale([raw], value="train_loss")
    whole, _ = s3d.pieces(x, x, raw, scale.vmax, False)
    assert len(whole) == 64 and all(len(v) == 4 for v in whole)
    verts, colours, _ = drawn(s, log=False)
    assert projected_area(verts) == pytest.approx(4.0)  # the whole plane, nothing lost or doubled
    # each slab lies within one band between levels, and is coloured by a height inside it
    levels = scale.levels
    for v, c in zip(verts, colours):
        k = np.searchsorted(levels, v[:, 2].mean())
        assert levels[k - 1] - 1e-12 <= v[:, 2].min() and v[:, 2].max() <= levels[k] + 1e-12
        assert levels[k - 1] - 1e-12 <= c <= levels[k] + 1e-12
