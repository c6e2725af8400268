"""Figures of files that are not a finished 2D grid: partly computed (issue 21.5), 1D (21.11),
with NaN cells (21.3)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from landscape import cli, plot
from landscape.storage import io  # noqa: E402

ATTRS = {"model_name": "mlp20", "direction_kind": "random", "norm": "filter"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def bowl(n=21):
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    loss = 0.1 + X ** 2 + Y ** 2
    return x, {"train_loss": loss, "train_acc": 1 / (1 + loss)}


def partial_file(path, fraction=0.15, n=21):
    """A surface file as a run killed early leaves it: the first rows done, the rest NaN."""
    x, values = bowl(n)
    io.create(path, x, x.copy(), list(values), ATTRS)
    k = int(fraction * n * n)
    io.write_cells(path, np.arange(k), {name: v.ravel()[:k] for name, v in values.items()})
    return k, n * n


def svg_text(path):
    return path.read_text()


def test_a_partial_file_says_so_and_marks_no_grid_minimum(tmp_path):
    path = tmp_path / "partial.h5"
    done, total = partial_file(path)
    out = tmp_path / "p.svg"
    res = CliRunner().invoke(cli.main, ["plot", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = svg_text(out)
    assert f"partial: {done} of {total} cells" in text
    assert "min so far" in text
    # the same through the API, on every 2D kind
    surf = io.load(path)
    for kind in ("contour", "contourf", "heatmap", "surface"):
        ax = plot.draw(surf, kind).axes[0]
        assert f"partial: {done} of {total} cells" in ax.get_title()
        marks = [t.get_label() for t in ax.lines if "min" in t.get_label()]
        assert marks and all(m.startswith("min so far") for m in marks), marks


def test_a_finished_file_has_no_note_and_a_plain_minimum(tmp_path):
    path = tmp_path / "done.h5"
    partial_file(path, fraction=1.0)
    ax = plot.draw(io.load(path), "contour").axes[0]
    assert ax.get_title() == "mlp20"
    assert [t.get_label() for t in ax.lines if "min" in t.get_label()] == ["min 0.1"]


def test_computed_nan_cells_are_named_and_left_blank():
    x, values = bowl(11)
    values["train_loss"][3, 4] = np.nan
    surf = io.Surface(x=x, y=x.copy(), values=values, attrs=ATTRS, computed=np.ones((11, 11), bool))
    ax = plot.draw(surf, "heatmap").axes[0]
    assert ax.get_title() == "mlp20\n1 cell diverged (NaN): blank"
    assert np.ma.is_masked(ax.collections[0].get_array()[3, 4])


# --- 1D files -----------------------------------------------------------------------------------

def line_file(path, name="mlp20", nan_at=None, inf_at=None):
    x = np.linspace(-1, 1, 31)
    loss = 0.1 + 3 * x ** 2
    if nan_at is not None:
        loss[nan_at] = np.nan
    if inf_at is not None:
        loss[inf_at] = np.inf
    io.save(io.Surface(x=x, y=None, values={"train_loss": loss, "train_acc": 1 / (1 + loss)},
                       attrs={**ATTRS, "model_name": name}), path)


def test_1d_files_draw_as_lines_by_default(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    line_file(a)
    line_file(b, name="mlp20_noskip")
    for args in (["plot", a], ["compare", a, b]):
        out = tmp_path / "f.png"
        res = CliRunner().invoke(cli.main, [str(v) for v in args] + ["--out", str(out)])
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 0
    assert plot.draw(io.load(a)).axes[0].get_ylabel().startswith("loss")


def test_errors_about_a_file_name_the_file(tmp_path):
    a, two_d = tmp_path / "line.h5", tmp_path / "plane.h5"
    line_file(a)
    x, values = bowl(5)
    io.save(io.Surface(x=x, y=x.copy(), values=values, attrs=ATTRS), two_d)
    for args in (["plot", a, "--kind", "contour"], ["compare", two_d, a]):
        res = CliRunner().invoke(cli.main, [str(v) for v in args] + ["--out", str(tmp_path / "f.png")])
        assert res.exit_code == 2, res.output
        assert str(a) in res.output and "is 1D" in res.output, res.output


def test_line_nan_is_a_gap_and_a_blow_up_leaves_the_frame(tmp_path):
    path = tmp_path / "l.h5"
    line_file(path, nan_at=5, inf_at=0)
    ax = plot.draw(io.load(path), "line", "train_loss").axes[0]
    y = ax.lines[0].get_ydata()
    top = ax.get_ylim()[1]
    assert np.isnan(y[5])  # a gap, not a wall at the cap
    assert y[0] > top  # the curve leaves through the top of the frame, not along the cap
    assert np.all(y[1:5] < top)
