"""landscape.plot.compare: default titles from model specs, and grids of panels (Li et al. Fig. 5)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from landscape import cli, models, plot
from landscape.plot import _labels  # noqa: E402
from landscape.storage import io  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def member(depth=56, skip=True, width=1.0, seed=0, model_name="resnet", n=11, rough=0.0, path=None):
    """A surface of a family-built model: the file records model_name 'resnet' and the full spec,
    as ``landscape.surface.compute`` does for ``models.create("resnet", depth=..., skip=...)``."""
    spec = models.spec(models.create("resnet", depth=depth, skip=skip, width=width, seed=seed, in_shape=(1, 8, 8)))
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    loss = 0.1 + (1 + depth / 50) * (X ** 2 + Y ** 2) + rough * np.sin(8 * X) ** 2
    return io.Surface(x=x, y=x.copy(), values={"train_loss": loss, "train_acc": 1 / (1 + loss)},
                      attrs={"model_name": model_name, "model_spec": spec, "direction_kind": "random",
                             "norm": "filter"}, path=path)


def panels(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def annotations(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() in ("row_label", "col_label")]


# --- default titles -----------------------------------------------------------------------------

def test_default_titles_of_a_family_built_pair_differ():
    fig = plot.compare([member(skip=True), member(skip=False)], kind="contour")
    assert [ax.get_title() for ax in panels(fig)] == ["resnet56", "resnet56_noskip"]


def test_a_family_built_surface_names_itself_the_same_everywhere():
    """Messages, exports and the sharpness output use Surface.label(): the display name too."""
    assert member(skip=False).label() == "resnet56_noskip"
    assert member(model_name="my_resnet").label() == "my_resnet"


def test_titles_name_the_option_that_tells_alike_names_apart():
    titles = _labels.titles([member(width=1.0), member(width=2.0)])
    assert titles == ["resnet56 (width 1)", "resnet56 (width 2)"]
    assert _labels.titles([member(seed=0), member(seed=1)]) == ["resnet56 (seed=0)", "resnet56 (seed=1)"]


def test_titles_of_identical_specs_fall_back_to_file_names():
    assert _labels.titles([member(path="/x/early.h5"), member(path="/x/late.h5")]) == [
        "resnet56 [early.h5]", "resnet56 [late.h5]"]


def test_a_given_model_name_and_explicit_titles_win():
    assert _labels.title(member(model_name="my_resnet")) == "my_resnet"
    fig = plot.compare([member(skip=True), member(skip=False)], titles=["A", "B"])
    assert [ax.get_title() for ax in panels(fig)] == ["A", "B"]


# --- grids --------------------------------------------------------------------------------------

def study_surfaces(**kw):
    """Li et al. Fig. 5: rows skip / no skip, columns depth 20, 56, 110."""
    return [member(depth=d, skip=s, rough=0.0 if s else 0.5, **kw) for s in (True, False) for d in (20, 56, 110)]


@pytest.mark.parametrize("kind", ["surface", "contour"])
def test_grid_2x3_lays_out_six_panels_with_one_colour_bar_and_shared_levels(kind):
    surfs = study_surfaces()
    fig = plot.compare(surfs, kind=kind, grid=(2, 3))
    axes = panels(fig)
    assert len(axes) == 6 and len(colorbars(fig)) == 1
    pos = [ax.get_subplotspec().get_geometry()[:2] for ax in axes]
    assert all(p == (2, 3) for p in pos)
    norms = {(ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) for ax in axes}
    assert len(norms) == 1
    lo = min(np.nanmin(s.values["train_loss"]) for s in surfs)
    assert norms.pop()[0] == pytest.approx(lo)
    if kind == "surface":
        assert len({ax.get_zlim() for ax in axes}) == 1
        assert len({(ax.elev, ax.azim) for ax in axes}) == 1
    else:
        assert len({tuple(ax.collections[0].levels) for ax in axes}) == 1
        # axis labels once: x under the bottom row, y beside the first column
        assert [bool(ax.get_xlabel()) for ax in axes] == [False] * 3 + [True] * 3
        assert [bool(ax.get_ylabel()) for ax in axes] == [True, False, False] * 2
    # labels from the specs: skip on the rows, depth on the columns; no panel repeats them
    assert annotations(axes[0]) == ["depth 20", "skip connections"]
    assert annotations(axes[3]) == ["no skip connections"]
    assert [annotations(ax) for ax in axes[1:3]] == [["depth 56"], ["depth 110"]]
    assert all(ax.get_title() == "" for ax in axes)


def test_grid_labels_follow_the_layout_and_can_be_given():
    surfs = [member(depth=d, skip=s) for d in (20, 56) for s in (True, False)]  # rows = depth
    rows, cols, keys = _labels.grid_labels(surfs, 2, 2)
    assert rows == ["depth 20", "depth 56"] and cols == ["skip connections", "no skip connections"]
    assert set(keys) == {"depth", "skip"}
    fig = plot.compare(surfs, grid=(2, 2), row_labels=["shallow", "deep"], col_labels=["with", "without"])
    axes = panels(fig)
    assert annotations(axes[0]) == ["with", "shallow"] and annotations(axes[3]) == []


def test_grid_keeps_titles_for_what_the_labels_do_not_name():
    surfs = [member(depth=d, skip=True, width=w) for d, w in ((20, 1.0), (56, 2.0), (20, 2.0), (56, 1.0))]
    fig = plot.compare(surfs, grid=(2, 2))  # depth by column; width varies within rows and columns
    axes = panels(fig)
    assert [annotations(ax) for ax in axes] == [["depth 20"], ["depth 56"], [], []]
    assert [ax.get_title() for ax in axes] == ["resnet20 (width 1)", "resnet56 (width 2)",
                                               "resnet20 (width 2)", "resnet56 (width 1)"]
    fig = plot.compare(surfs, grid=(1, 4))  # one panel per column: the column labels say it all
    assert [annotations(ax) for ax in panels(fig)] == [
        ["depth 20, width 1"], ["depth 56, width 2"], ["depth 20, width 2"], ["depth 56, width 1"]]


def test_grid_with_an_empty_panel():
    surfs = study_surfaces()
    surfs[5] = None
    fig = plot.compare(surfs, kind="heatmap", grid=(2, 3))
    axes = panels(fig)
    assert len(axes) == 6 and not axes[5].axison
    assert [t.get_text() for t in axes[5].texts] == ["no surface"]


def test_grid_shape_must_match_the_surfaces():
    with pytest.raises(ValueError, match="2x2 has 4 panels, but 6"):
        plot.compare(study_surfaces(), grid=(2, 2))
    with pytest.raises(ValueError, match="row_labels"):
        plot.compare(study_surfaces(), grid=(2, 3), row_labels=["one"])


# --- the command --------------------------------------------------------------------------------

def test_compare_grid_on_the_command_line(tmp_path):
    paths = []
    for i, s in enumerate(study_surfaces()):
        paths.append(tmp_path / f"m{i}.h5")
        io.save(s, paths[-1])
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(cli.main, ["compare", *map(str, paths), "--grid", "2x3", "--kind", "surface",
                                        "--out", str(out)])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        w, h = im.size
    assert w > h  # three columns, two rows
    for args, message in ((["--grid", "2by3"], "ROWSxCOLS"), (["--grid", "3x3"], "9 panels, but 6 files"),
                          (["--row-label", "a"], "give --grid"),
                          (["--grid", "2x3", "--col-label", "a"], "one --col-label per col (3)")):
        res = CliRunner().invoke(cli.main, ["compare", *map(str, paths), *args, "--out", str(out)])
        assert res.exit_code == 2 and message in res.output, res.output
