"""landscape.plot.studies: the figures of the vanishing-gradient, normalization and overfitting studies."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape import plot  # noqa: E402
from landscape.plot import studies  # noqa: E402
from landscape.storage.io import Surface  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_activation_panels_show_the_measured_slope_and_the_quarter_bound():
    fig = studies.activation_derivatives(["sigmoid", "relu", "tanh"])
    axes = _visible(fig)
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["sigmoid", "relu", "tanh"]
    assert axes[0].get_title().endswith("max f′ = 0.25")  # sigmoid's derivative peaks at 1/4
    assert axes[1].get_title().endswith("max f′ = 1")
    for ax in axes:
        bound = [ln for ln in ax.get_lines() if ln.get_label() == "1/4"]
        assert len(bound) == 1 and set(bound[0].get_ydata()) == {0.25}
    with pytest.raises(ValueError, match="activation"):
        studies.activation_derivatives(["swish"])


def test_gradient_by_layer_one_panel_per_depth_one_line_per_activation(tmp_path):
    init = {8: {"relu": [1.0] * 8, "sigmoid": list(4.0 ** -np.arange(8)[::-1])},
            20: {"relu": [1.0] * 20, "sigmoid": [0.0] + [1.0] * 19}}
    fig = studies.gradient_by_layer(init, init)
    axes = _visible(fig)
    assert len(axes) == 4 and all(ax.get_yscale() == "log" for ax in axes)
    assert [ln.get_label() for ln in axes[0].get_lines()] == ["relu", "sigmoid"]
    assert np.isnan(axes[1].get_lines()[1].get_ydata()[0])  # a zero norm is a gap on a log axis
    plot.save(fig, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_accuracy_vs_batch_lines_per_norm_and_gap_panel():
    acc = {"batch": {2: 0.5, 128: 0.8}, "layer": {2: 0.7, 128: 0.75}}
    fig = studies.accuracy_vs_batch(acc, {"batch": {2: 0.3, 128: 0.01}, "layer": {2: 0.0, 128: 0.0}})
    ax, gap = _visible(fig)
    assert [c.get_label() for c in ax.containers] == ["batch", "layer"]  # one errorbar line per norm
    assert [list(c.lines[0].get_ydata()) for c in ax.containers] == [[50.0, 80.0], [70.0, 75.0]]
    assert list(gap.containers[0].lines[0].get_ydata()) == [0.3, 0.01]
    with pytest.raises(ValueError, match="accuracy"):
        studies.accuracy_vs_batch({})


def test_accuracy_vs_batch_draws_the_median_and_range_over_seeds():
    fig = studies.accuracy_vs_batch({"batch": {2: [0.5, 0.9, 0.6], 128: [0.8, 0.8, 0.7]}})
    ax = _visible(fig)[0]
    line, _, (bars,) = ax.containers[0]
    assert list(line.get_ydata()) == [60.0, 80.0]  # the medians, not the last seed's
    bars = bars.get_segments()  # one vertical bar per batch size: lowest to highest seed
    assert [sorted(seg[:, 1].tolist()) for seg in bars] == [[50.0, 90.0], [70.0, 80.0]]
    assert "over 3 seeds" in ax.get_title()


def test_train_test_curves_mark_the_kept_epoch_and_skip_initialization():
    rows = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": None, "test_loss": 0.5 + 0.1 * e}
            for e in range(6)]
    fig = studies.train_test_curves({"a": rows, "b": rows, "c": rows}, best={"a": 3})
    axes = _visible(fig)
    assert len(axes) == 3
    labels = [ln.get_label() for ln in axes[0].get_lines()]
    assert labels == ["train", "test", "weights kept"]  # no val line: the run had no validation split
    assert list(axes[0].get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="value"):
        studies.train_test_curves({"a": rows}, value="f1")


def test_landscapes_1d_share_one_axes_and_pick_log_for_wide_ranges():
    x = np.linspace(-1, 1, 11)
    flat = Surface(x=x, y=None, values={"train_loss": 0.01 + x ** 2})
    sharp = Surface(x=x, y=None, values={"train_loss": 0.01 + 100 * x ** 2})
    fig = studies.landscapes_1d({"flat": flat, "sharp": sharp})
    (ax,) = _visible(fig)
    assert ax.get_yscale() == "log" and [ln.get_label() for ln in ax.get_lines()][:2] == ["flat", "sharp"]
    plane = Surface(x=x, y=np.array([-1.0, 0.0, 1.0]), values={"train_loss": np.stack([x, x ** 2, x])})
    fig = studies.landscapes_1d({"p": plane}, log=False)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), x ** 2)  # the row through y = 0
    with pytest.raises(ValueError, match="value"):
        studies.landscapes_1d({"p": plane}, value="val_loss")
    fig = studies.landscapes_1d({"depth 8": {"relu": flat, "sigmoid": sharp}, "depth 20": {"relu": sharp}})
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == ["depth 8", "depth 20"]
    assert axes[0].get_ylim() == axes[1].get_ylim()  # shared axes
    assert [ln.get_label() for ln in axes[1].get_lines()][0] == "relu"
