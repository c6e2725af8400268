"""Grid metrics of surfaces with known shape, and the |lambda_min / lambda_max| map."""
import json

import numpy as np
import pytest
import torch
from test_hessian import _data64, _mlp64

from landscape.analysis import geometry, sharpness
from landscape.core.params import snapshot
from landscape.storage.io import Surface

X = np.linspace(-1, 1, 41)
Y = np.linspace(-1, 1, 31)
XX, YY = np.meshgrid(X, Y)  # (ny, nx): values are indexed [y, x]


def _bowl(hxx=3.0, hyy=1.0, hxy=0.3, x0=0.1, y0=-0.2, c=0.2):
    """c + u^T H u / 2 around (x0, y0), sampled on the [y, x] grid."""
    dx, dy = XX - x0, YY - y0
    return c + 0.5 * hxx * dx ** 2 + 0.5 * hyy * dy ** 2 + hxy * dx * dy


def test_quadratic_fit_recovers_the_hessian_of_a_bowl():
    surf = Surface(x=X, y=Y, values={"train_loss": _bowl()})
    fit = geometry.quadratic_fit(surf)
    np.testing.assert_allclose(fit.hessian, [[3.0, 0.3], [0.3, 1.0]], atol=1e-9)
    np.testing.assert_allclose(fit.curvature, [3.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(fit.eigenvalues, np.linalg.eigvalsh([[3.0, 0.3], [0.3, 1.0]]), atol=1e-9)
    assert fit.center == pytest.approx((0.1, -0.2)) and fit.min_value == pytest.approx(0.2)
    assert fit.n_points == 25 and fit.r2 == pytest.approx(1.0)
    assert json.loads(json.dumps(fit.to_dict()))["window"] == 2


def test_quadratic_fit_on_a_line_and_at_the_edge():
    line = Surface(x=X, y=None, values={"train_loss": 2.0 * (X - 0.3) ** 2})
    assert geometry.quadratic_fit(line).curvature[0] == pytest.approx(4.0)
    # minimum in a corner: the window is clipped, the fit still exact
    corner = Surface(x=X, y=Y, values={"train_loss": _bowl(x0=-1.0, y0=-1.0)})
    fit = geometry.quadratic_fit(corner, window=3)
    assert fit.n_points == 16 and fit.center == pytest.approx((-1.0, -1.0))
    np.testing.assert_allclose(fit.hessian, [[3.0, 0.3], [0.3, 1.0]], atol=1e-9)


def test_nan_cells_are_ignored_and_missing_values_refused():
    values = _bowl()
    values[14, 22] = np.nan  # two cells from the minimum at (iy, ix) = (12, 22)
    values[:3] = np.nan
    surf = Surface(x=X, y=Y, values={"train_loss": values})
    fit = geometry.quadratic_fit(surf)
    assert fit.n_points == 24
    np.testing.assert_allclose(fit.hessian, [[3.0, 0.3], [0.3, 1.0]], atol=1e-9)
    with pytest.raises(ValueError, match="`value` must be one of"):
        geometry.quadratic_fit(surf, "test_loss")
    with pytest.raises(ValueError, match="no finite"):
        geometry.quadratic_fit(Surface(x=X, y=Y, values={"train_loss": np.full(XX.shape, np.nan)}))
    with pytest.raises(ValueError, match="window"):
        geometry.quadratic_fit(surf, window=0)


def test_basin_width_and_area_of_an_ellipse():
    H = np.array([[3.0, 0.3], [0.3, 1.0]])
    surf = Surface(x=X, y=Y, values={"train_loss": _bowl()})
    small, large = geometry.basins(surf, thresholds=[0.05, 1.0])
    # {u : u^T H u / 2 <= delta}: an ellipse of area 2 pi delta / sqrt(det H); widths 2 sqrt(2 delta / h_ii)
    assert small["area"] == pytest.approx(2 * np.pi * 0.05 / np.sqrt(np.linalg.det(H)), rel=0.1)
    assert small["width"][0] == pytest.approx(2 * np.sqrt(0.1 / 3.0), abs=X[1] - X[0])
    assert small["width"][1] == pytest.approx(2 * np.sqrt(0.1 / 1.0), abs=Y[1] - Y[0])
    assert not small["clipped"] and large["clipped"]  # delta = 1 reaches the grid's edge
    assert large["area"] > small["area"] and 0 < small["fraction"] < large["fraction"] <= 1
    line = Surface(x=X, y=None, values={"train_loss": X ** 2})
    (b,) = geometry.basins(line, thresholds=[0.25])
    assert b["width"] == [pytest.approx(1.0, abs=X[1] - X[0])] and b["area"] == b["width"][0]
    with pytest.raises(ValueError, match="thresholds"):
        geometry.basins(surf, thresholds=[0.1, 0.0])


def test_basin_stops_at_a_ridge():
    values = (XX - 0.5) ** 2  # a valley along y at x = 0.5 ...
    values[:, 20] = 10.0  # ... cut off by a wall at x = 0 from cells x in [-0.5, 0) that are as low
    (b,) = geometry.basins(Surface(x=X, y=Y, values={"train_loss": values}), thresholds=[1.0])
    assert b["fraction"] == pytest.approx(20 / 41)  # the right of the wall only


def test_roughness_counts_minima_and_residual_energy():
    smooth = Surface(x=X, y=Y, values={"train_loss": _bowl()})
    r = geometry.roughness(smooth)
    assert r["n_local_minima"] == 1 and r["residual_energy"] < 1e-12
    bumpy = Surface(x=X, y=Y, values={"train_loss": _bowl() + 0.3 * np.sin(12 * XX) * np.sin(12 * YY)})
    rb = geometry.roughness(bumpy)
    assert rb["n_local_minima"] > 3 and 0.05 < rb["residual_energy"] < 1


def test_grid_metrics_are_flat_and_serializable():
    values = _bowl()
    m = geometry.grid_metrics(Surface(x=X, y=Y, values={"train_loss": values, "train_acc": 1 - values}),
                              thresholds=[0.1, 0.5])
    assert m["value"] == "train_loss" and m["curvature_x"] == pytest.approx(3.0) and m["curvature_y"] == pytest.approx(1.0)
    assert m["basin_width_x"].shape == m["basin_area"].shape == (2,)
    assert m["n_local_minima"] == 1
    json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in m.items()})
    line = geometry.grid_metrics(Surface(x=X, y=None, values={"train_loss": X ** 2}))
    assert "curvature_y" not in line and line["curvature_x"] == pytest.approx(2.0)


def test_curvature_map_matches_eigs_at_each_point():
    model, (Xd, Yd) = _mlp64(), _data64()
    g = torch.Generator().manual_seed(0)
    dirs = [{k: torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3 for k, p in model.named_parameters()}
            for _ in range(2)]
    before = snapshot(model)
    cmap = geometry.curvature_map(model, (Xd, Yd), dirs, x=[0.0, 1.0], y=[-1.0, 0.0, 1.0], tol=0.0)
    assert cmap.lambda_max.shape == cmap.ratio.shape == (3, 2)
    assert all(torch.equal(before[k], v) for k, v in snapshot(model).items())
    # the point (x = 1, y = -1) is cell [0, 1]: compare with a model moved there by hand
    moved = _mlp64()
    with torch.no_grad():
        for k, p in moved.named_parameters():
            p.add_(1.0 * dirs[0][k] - 1.0 * dirs[1][k])
    top = sharpness.hessian_eigs(moved, (Xd, Yd), which="LA").values[0]
    low = sharpness.hessian_eigs(moved, (Xd, Yd), which="SA").values[0]
    assert cmap.lambda_max[0, 1] == pytest.approx(top, rel=1e-8)
    assert cmap.lambda_min[0, 1] == pytest.approx(low, rel=1e-8)
    assert cmap.ratio[0, 1] == pytest.approx(abs(low / top))
    at_origin = sharpness.hessian_eigs(model, (Xd, Yd)).values[0]
    assert cmap.lambda_max[1, 0] == pytest.approx(at_origin, rel=1e-8)
    with pytest.raises(ValueError, match="needs 1 direction"):
        geometry.curvature_map(model, (Xd, Yd), dirs, x=[0.0])


def test_surface_curvature_map_uses_a_coarse_subset_of_the_grid():
    model, data = _mlp64(), _data64()
    dirs = [{k: torch.zeros_like(p) for k, p in model.named_parameters()} for _ in range(2)]
    surf = Surface(x=X, y=Y, values={"train_loss": _bowl()}, directions=dirs)
    cmap = geometry.surface_curvature_map(surf, model, data, n=3, tol=1e-6)
    assert list(cmap.x) == [-1.0, 0.0, 1.0] and list(cmap.y) == [-1.0, 0.0, 1.0]
    assert np.ptp(cmap.lambda_max) < 1e-6  # zero directions: the same point everywhere
    with pytest.raises(ValueError, match="no directions"):
        geometry.surface_curvature_map(Surface(x=X, y=Y, values={"train_loss": _bowl()}), model, data)
