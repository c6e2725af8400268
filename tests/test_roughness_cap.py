"""Roughness that follows the figure (issue 30.5): a smooth bowl inside steep walls is smooth where
the figure draws it (below the loss cap), though a quadratic fitted to the whole grid, walls and
all, calls it rough; a rough surface stays rough below the cap."""
import numpy as np

from landscape.analysis import geometry
from landscape.storage.io import Surface


def _surf(z, x):
    return Surface(x=x, y=x, values={"train_loss": z})


def test_a_bowl_inside_steep_walls_is_smooth_below_the_cap():
    x = np.linspace(-1, 1, 41)
    X, Y = np.meshgrid(x, x)
    r2 = X ** 2 + Y ** 2
    bowl = 0.1 + 13.5 * r2  # reaches 8.2 at r2 = 0.6, below the figure's cap of 10
    walled = np.where(r2 > 0.6, 8.2 + 1e3 * (r2 - 0.6) ** 2 + 50 * (r2 - 0.6), bowl)  # then walls far above it
    m = geometry.roughness(_surf(walled, x))
    assert m["roughness_cap"] == 10.0 and 0 < m["cells_below_cap"] < walled.size
    assert m["residual_energy"] > 0.25         # the whole grid: the walls are not a parabola
    assert m["residual_energy_below_cap"] < 0.02  # what the figure shows: one smooth bowl
    # a bumpy surface is rough either way
    bumpy = bowl + 2.0 * np.sin(9 * X) * np.sin(9 * Y)
    b = geometry.roughness(_surf(bumpy, x))
    assert b["residual_energy_below_cap"] > 5 * m["residual_energy_below_cap"] and b["residual_energy_below_cap"] > 0.05


def test_too_few_cells_below_the_cap_is_nan():
    x = np.linspace(-1, 1, 5)
    z = np.full((5, 5), 50.0)
    z[2, 2] = 1.0  # one cell below the cap of 10
    m = geometry.roughness(_surf(z, x))
    assert m["cells_below_cap"] == 1 and np.isnan(m["residual_energy_below_cap"])


def test_an_accuracy_has_no_cap():
    x = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(x, x)
    m = geometry.roughness(Surface(x=x, y=x, values={"train_acc": 1 - 0.3 * (X ** 2 + Y ** 2)}), "train_acc")
    assert m["cells_below_cap"] == X.size and m["residual_energy_below_cap"] == m["residual_energy"]


def test_a_basin_width_at_the_grid_resolution_gets_no_vote():
    from landscape.studies import report
    from landscape.studies.pipeline.summary import compare_members

    a = {"lambda_max": 1.0, "trace": 5.0, "curvature_x": 1.0, "curvature_y": 1.0, "basin_width_x": 0.5,
         "basin_width_y": 0.5, "cell_x": 0.1, "cell_y": 0.1}
    b = {"lambda_max": 9.0, "trace": 20.0, "curvature_x": 3.0, "curvature_y": 3.0, "basin_width_x": 0.1,
         "basin_width_y": 0.1, "cell_x": 0.1, "cell_y": 0.1}  # one grid step: the basin is narrower than the grid sees
    comp = compare_members(a, b)
    assert comp["measures"]["basin_width"]["b_sharper"] is None and comp["measures"]["basin_width"]["at_resolution"]
    assert comp["measured"] == 3 and comp["sharper_count"] == 3
    b2 = {**b, "basin_width_x": 0.3, "basin_width_y": 0.3}
    assert compare_members(a, b2)["measures"]["basin_width"]["b_sharper"] is True
    assert compare_members(a, b2)["measured"] == 4
