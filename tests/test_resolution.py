"""Numbers at the grid's resolution are said to be so; local minima must stand out of the data noise."""
import numpy as np

from landscape.analysis import geometry
from landscape.analysis.planes import describe, plane_metrics
from landscape.storage.io import Surface


def line(values, se=None):
    x = np.linspace(-1, 1, len(values))
    return Surface(x=x, y=None, values={"train_loss": np.asarray(values, float)},
                   se={} if se is None else {"train_loss": np.asarray(se, float)})


def test_a_basin_one_cell_wide_reads_as_below_the_cell():
    x = np.linspace(-1, 1, 21)  # cell 0.1
    s = line(5 * np.abs(x) + 1.0)  # rises 0.5 over one cell: the +0.1 basin is the minimum's cell alone
    m = plane_metrics(s, thresholds=(0.1, 1.01))
    assert m["basin_cells_x"][0, 0] == 1 and abs(m["cell_x"] - 0.1) < 1e-12
    text = "\n".join(describe(m, 1))
    assert "x < 0.1: one cell" in text
    assert "basin is one cell wide along x" in text  # the curvature there is beyond the resolution
    assert "x 0.5 (5 cells of 0.1)" in text  # at +1.01 the basin spans 5 cells, said with the cell size


def test_local_minima_count_only_beyond_twice_the_standard_error():
    x = np.linspace(-1, 1, 41)
    wiggle = x ** 2 + 0.02 * (-1.0) ** np.arange(41)  # bumps of 0.04 cell to cell: several strict minima
    strict = geometry.roughness(line(wiggle))
    assert strict["n_local_minima"] > 3 and strict["n_local_minima"] == strict["n_local_minima_strict"]
    noisy = geometry.roughness(line(wiggle, se=np.full(41, 0.05)))  # noise larger than the bumps
    assert noisy["n_local_minima"] == 1 and noisy["n_local_minima_strict"] == strict["n_local_minima_strict"]
    exact = geometry.roughness(line(wiggle, se=np.full(41, 1e-4)))  # noise far below them
    assert exact["n_local_minima"] == strict["n_local_minima"]


def test_escape_barrier_is_the_lowest_pass_to_the_edge():
    x = np.linspace(-1, 1, 21)
    v = np.where(np.abs(x) <= 0.4, x ** 2, 0.16 - 0.1 * (np.abs(x) - 0.4))  # passes of 0.16 at x = ±0.4
    v[x > 0.45] += 0.2  # the right side stays higher: the way out is to the left
    assert abs(geometry.escape_barrier(line(v)) - 0.16) < 1e-12


def test_minimum_on_the_edge_is_said():
    x = np.linspace(-1, 1, 11)
    m = plane_metrics(line(x + 2.0))
    assert m["min_on_edge"].all() and "may lie beyond the grid" in "\n".join(describe(m, 1))
