"""landscape.plot: assertions on what was drawn (levels, colour limits, labels, gaps, clipping), headless."""
import importlib
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from landscape import plot  # noqa: E402
from landscape.plot import _scale  # noqa: E402
from landscape.storage.io import Surface  # noqa: E402

ATTRS = {"direction_kind": "random", "norm": "filter", "ignore": "biasbn"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def bowl(n=21, name="mlp20", scale=1.0, shift=0.1, attrs=None):
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    loss = shift + scale * (X ** 2 + 0.5 * Y ** 2)
    acc = 1.0 / (1.0 + loss)
    return Surface(x=x, y=x.copy(), values={"train_loss": loss, "train_acc": acc,
                                            "test_loss": loss + 0.05, "test_acc": acc * 0.95},
                   attrs={**ATTRS, "model_name": name, **(attrs or {})})


def line_surface(n=31, name="mlp20"):
    x = np.linspace(-1, 1, n)
    loss = 0.1 + x ** 2
    return Surface(x=x, y=None, values={"train_loss": loss, "train_acc": 1 / (1 + loss),
                                        "test_loss": loss + 0.1, "test_acc": 0.9 / (1 + loss)},
                   attrs={**ATTRS, "model_name": name})


def colorbar_of(ax):
    cbs = [c.colorbar for c in ax.collections if getattr(c, "colorbar", None) is not None]
    assert len(cbs) == 1
    return cbs[0]


# --- planar kinds -------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [plot.contour, plot.contourf, plot.heatmap])
def test_planar_kinds_label_axes_and_title_from_metadata(fn):
    s = bowl(name="resnet56_noskip")
    ax = fn(s)
    assert ax is plt.gca()
    assert ax.get_xlabel() == "direction 1 (filter-normalized)"
    assert ax.get_ylabel() == "direction 2 (filter-normalized)"
    assert ax.get_title() == "resnet56_noskip"
    cb = colorbar_of(ax)
    lo, hi = cb.mappable.norm.vmin, cb.mappable.norm.vmax
    assert lo == pytest.approx(s.values["train_loss"].min())
    assert hi == pytest.approx(s.values["train_loss"].max())
    assert cb.ax.get_ylabel() == "train loss (linear)"  # the scale, and nothing clipped


def test_draws_on_the_axes_given_and_returns_it():
    fig, (a, b) = plt.subplots(1, 2)
    assert plot.contourf(bowl(), ax=b) is b
    assert len(a.collections) == 0 and len(b.collections) > 0


def test_axis_labels_follow_direction_metadata():
    s = bowl(attrs={"direction_kind": "pca", "explained_variance": [0.712, 0.143]})
    ax = plot.contour(s)
    assert ax.get_xlabel() == "PC1 (71.2% of variance)"
    assert ax.get_ylabel() == "PC2 (14.3% of variance)"
    plt.figure()
    ax = plot.contour(bowl(attrs={"norm": "layer"}))
    assert ax.get_xlabel() == "direction 1 (layer-normalized)"
    plt.figure()
    ax = plot.contour(bowl(attrs={"xlabel": "my axis"}))
    assert ax.get_xlabel() == "my axis"


def test_minimum_is_marked_where_it_is():
    s = bowl()
    s.values["train_loss"][3, 17] = -5.0
    ax = plot.contour(s)
    marks = [l for l in ax.lines if l.get_label().startswith("min")]
    assert len(marks) == 1
    assert marks[0].get_xdata()[0] == pytest.approx(s.x[17])
    assert marks[0].get_ydata()[0] == pytest.approx(s.y[3])
    assert marks[0].get_label() == "min -5"


def test_accuracy_marks_its_maximum():
    ax = plot.heatmap(bowl(), "train_acc")
    assert any(l.get_label().startswith("max") for l in ax.lines)
    assert colorbar_of(ax).ax.get_ylabel() == "train accuracy (linear)"


def test_nan_cells_are_gaps():
    s = bowl()
    s.values["train_loss"][5:8, 2:4] = np.nan
    ax = plot.heatmap(s)
    drawn = ax.collections[0].get_array()
    assert np.ma.count_masked(drawn) == 6
    # the colour scale ignores the gaps
    assert colorbar_of(ax).mappable.norm.vmax == pytest.approx(np.nanmax(s.values["train_loss"]))
    plot.contour(s, ax=plt.figure().add_subplot())
    plot.contourf(s, ax=plt.figure().add_subplot())
    plot.surface3d(s)
    # cells touching a missing corner are holes: 20x20 cells minus those touching the 3x2 block
    s3d = importlib.import_module("landscape.plot.surface3d")
    raw = s.values["train_loss"]
    verts, _ = s3d.pieces(s.x, s.y, raw, np.nanmax(raw), False, levels=np.linspace(0, 2, 9))
    area = sum(0.5 * abs(np.dot(v[:, 0], np.roll(v[:, 1], 1)) - np.dot(v[:, 1], np.roll(v[:, 0], 1))) for v in verts)
    assert area == pytest.approx((20 * 20 - 4 * 3) * 0.1 ** 2)


def test_infinite_and_huge_losses_are_clipped_and_the_colour_bar_says_so():
    s = bowl()
    s.values["train_loss"][0, :3] = np.inf
    s.values["train_loss"][1, :3] = 1e8
    ax = plot.contourf(s)
    cb = colorbar_of(ax)
    finite_ok = s.values["train_loss"][np.isfinite(s.values["train_loss"]) & (s.values["train_loss"] < 1e3)]
    assert cb.mappable.norm.vmax == pytest.approx(finite_ok.max())
    assert re.fullmatch(r"train loss \(linear, clipped at [0-9.]+\)", cb.ax.get_ylabel())
    assert cb.extend == "max"
    assert ax.collections[0].extend == "max"


def test_vmax_clips_and_is_named():
    ax = plot.contour(bowl(), vmax=0.5, levels=6)
    cb = colorbar_of(ax)
    assert cb.ax.get_ylabel() == "train loss (linear, clipped at 0.5)"
    assert ax.collections[0].levels[-1] == pytest.approx(0.5)
    assert cb.extend == "max"


def test_log_scale_uses_lognorm_and_round_levels():
    s = bowl()
    ax = plot.contourf(s, log=True, levels=10)
    cs = ax.collections[0]
    assert isinstance(cs.norm, mcolors.LogNorm)
    lv = cs.levels
    assert lv[0] == pytest.approx(s.values["train_loss"].min()) and lv[-1] == pytest.approx(s.values["train_loss"].max())
    assert 5 <= len(lv) <= 20 and np.all(np.diff(lv) > 0)
    mantissas = lv[1:-1] / 10.0 ** np.floor(np.log10(lv[1:-1]))
    assert np.allclose(mantissas, np.round(mantissas, 1))  # 0.2, 0.3, 0.5, ... not 0.2154
    wide = _scale.make_levels(1e-4, 1e3, 20, log=True)  # 7 decades: 1-3 steps or so, all round
    assert 10 <= len(wide) <= 40


def test_explicit_levels_are_used():
    ax = plot.contour(bowl(), levels=[0.2, 0.4, 0.8])
    assert list(ax.collections[0].levels) == [0.2, 0.4, 0.8]


def test_trajectory_overlay_with_epoch_labels():
    s = bowl(attrs={"direction_kind": "pca"})
    t = np.linspace(0, 1, 11)
    s.trajectory = {"coords": np.stack([0.8 * (1 - t), 0.5 * (1 - t)], axis=1), "epochs": np.arange(0, 22, 2),
                    "explained": np.array([0.6, 0.2])}
    ax = plot.contour(s)
    paths = [l for l in ax.lines if l.get_label() == "training path"]
    assert len(paths) == 1 and len(paths[0].get_xdata()) == 11
    texts = [t.get_text() for t in ax.texts]
    assert "epoch 0" in texts and "final (epoch 20)" in texts
    assert ax.get_xlabel() == "PC1 (60.0% of variance)"
    # hidden on request; required on request
    assert not [l for l in plot.contour(s, ax=plt.figure().add_subplot(), trajectory=False).lines
                if l.get_label() == "training path"]
    with pytest.raises(ValueError, match="no trajectory"):
        plot.contour(bowl(), trajectory=True)


def test_one_d_surface_asked_for_a_2d_kind():
    for fn in (plot.contour, plot.contourf, plot.heatmap, plot.surface3d):
        with pytest.raises(ValueError, match="needs a 2D surface.*kind='line'"):
            fn(line_surface())


def test_unknown_value_names_the_stored_ones():
    with pytest.raises(ValueError, match=r"`value`.*\['train_loss', 'train_acc', 'test_loss', 'test_acc'\].*'val_loss'"):
        plot.contour(bowl(), "val_loss")


def test_unknown_kind():
    with pytest.raises(ValueError, match=r"`kind`.*'contuor'.*Did you mean 'contour'"):
        plot.draw(bowl(), "contuor")
    with pytest.raises(ValueError, match="`kind`"):
        plot.compare([bowl(), bowl()], kind="pie")


def test_nan_is_a_gap_even_in_a_computed_cell_and_inf_is_drawn_at_the_cap():
    """Issue 21.3: a cell whose loss came out NaN (the network diverged there) is a gap like a cell
    not computed yet, never a colour or a wall at the cap; an overflowed loss (+inf) is clipped."""
    s = bowl()
    s.values["train_loss"][2, 2] = np.nan
    s.values["train_loss"][4, 4] = np.inf
    s.computed = np.ones(s.shape, dtype=bool)
    ax = plot.heatmap(s)
    drawn = ax.collections[0].get_array()
    assert np.ma.count_masked(drawn) == 1 and np.ma.is_masked(drawn[2, 2])
    assert drawn[4, 4] == pytest.approx(colorbar_of(ax).mappable.norm.vmax)
    assert "clipped" in colorbar_of(ax).ax.get_ylabel()

    s = bowl()
    for k in s.values:
        s.values[k][:] = np.nan
    ax = plot.heatmap(s, ax=plt.figure().add_subplot())
    assert np.ma.count_masked(ax.collections[0].get_array()) == s.values["train_loss"].size


# --- 3D -----------------------------------------------------------------------------------------

def test_surface3d_needs_a_3d_axes_and_sets_view_and_zlim():
    fig = plt.figure()
    with pytest.raises(ValueError, match="3D axes"):
        plot.surface3d(bowl(), ax=fig.add_subplot())
    ax = plot.surface3d(bowl(), ax=plt.figure().add_subplot(projection="3d"), view=(40, -30), vmax=1.0)
    assert ax.name == "3d"
    assert (ax.elev, ax.azim) == (40, -30)
    assert ax.get_zlim()[1] == pytest.approx(1.0)
    assert "clipped at 1" in colorbar_of(ax).ax.get_ylabel()


def test_surface3d_log_draws_log10_heights():
    s = bowl()
    ax = plot.surface3d(s, log=True)
    lo, hi = ax.get_zlim()
    assert lo == pytest.approx(np.log10(s.values["train_loss"].min()))
    assert hi == pytest.approx(np.log10(s.values["train_loss"].max()))


# --- line ---------------------------------------------------------------------------------------

def test_line_draws_loss_and_accuracy_on_twin_axes():
    ax = plot.line(line_surface())
    twin = ax.landscape_twin
    assert twin is not None
    assert {l.get_label() for l in ax.lines if not l.get_label().startswith("_")} == {"train loss", "test loss"}
    assert {l.get_label() for l in twin.lines} == {"train accuracy", "test accuracy"}
    assert ax.get_xlabel() == "direction 1 (filter-normalized)"
    assert ax.get_ylabel() == "loss (linear)" and twin.get_ylabel() == "accuracy"
    assert ax.get_title() == "mlp20"


def test_line_log_and_clipping_and_gaps():
    s = line_surface()
    s.values["train_loss"][0] = np.inf
    s.values["train_loss"][10] = np.nan
    ax = plot.line(s, log=True)
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel().startswith("loss (log scale, clipped at")
    train = [l for l in ax.lines if l.get_label() == "train loss"][0]
    assert np.isnan(train.get_ydata()[10])
    assert np.isfinite(train.get_ydata()[0])


def test_line_of_a_2d_surface_is_the_slice_through_zero():
    s = bowl()
    ax = plot.line(s, values=["train_loss"])
    y = ax.lines[0].get_ydata()
    assert np.allclose(y, s.values["train_loss"][10])
    assert "slice at y = 0" in ax.get_title()


# --- compare ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["contour", "contourf", "heatmap", "surface"])
def test_compare_shares_levels_colours_and_has_one_colour_bar(kind):
    a, b = bowl(name="resnet56"), bowl(name="resnet56_noskip", scale=4.0, shift=0.3)
    b.values["train_loss"][0, 0] = np.inf
    fig = plot.compare([a, b], kind=kind)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2
    assert len(fig.axes) == 3  # two panels + one colour bar
    assert [ax.get_title() for ax in panels] == ["resnet56", "resnet56_noskip"]
    mappables = [ax.collections[0] for ax in panels]
    assert mappables[0].norm.vmin == mappables[1].norm.vmin
    assert mappables[0].norm.vmax == mappables[1].norm.vmax
    both = np.concatenate([a.values["train_loss"].ravel(), b.values["train_loss"].ravel()])
    assert mappables[0].norm.vmin == pytest.approx(np.min(both))
    if kind in ("contour", "contourf"):
        assert np.array_equal(mappables[0].levels, mappables[1].levels)
    if kind == "surface":
        assert panels[0].get_zlim() == panels[1].get_zlim()
        assert (panels[0].elev, panels[0].azim) == (panels[1].elev, panels[1].azim)
    cbar_ax = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][0]
    assert "clipped at" in cbar_ax.get_ylabel()


def test_compare_titles_and_view():
    fig = plot.compare([bowl(), bowl()], kind="surface", titles=["with skip", "without"], view=(20, 45))
    panels = [ax for ax in fig.axes if ax.name == "3d"]
    assert [ax.get_title() for ax in panels] == ["with skip", "without"]
    assert all((ax.elev, ax.azim) == (20, 45) for ax in panels)
    with pytest.raises(ValueError, match="titles"):
        plot.compare([bowl(), bowl()], titles=["only one"])


def test_compare_lines_share_limits():
    a, b = line_surface(name="a"), line_surface(name="b")
    b.values["train_loss"] = b.values["train_loss"] * 5
    fig = plot.compare([a, b], kind="line")
    panels = [ax for ax in fig.axes if hasattr(ax, "landscape_twin")]
    assert len(panels) == 2
    assert panels[0].get_ylim() == panels[1].get_ylim()
    assert panels[0].landscape_twin.get_ylim() == panels[1].landscape_twin.get_ylim()


def test_compare_refuses_1d_for_2d_kinds():
    with pytest.raises(ValueError, match="1D"):
        plot.compare([bowl(), line_surface()], kind="contour")


# --- gradient flow ------------------------------------------------------------------------------

def flow(name, decay):
    layers = [f"l{i}" for i in range(6)]
    epochs = [0, 1, 2, 3]
    norms = [[decay ** (5 - d) * (1 + e) for d in range(6)] for e in epochs]
    return {"name": name, "gradient_flow": {"layers": layers, "epochs": epochs, "norms": norms}}


def test_gradient_flow_for_a_pair():
    fig = plot.gradient_flow([flow("mlp20", 0.9), flow("mlp20_noskip", 0.1)])
    depth, time = fig.axes
    assert depth.get_yscale() == "log" and time.get_yscale() == "log"
    labels = [l.get_label() for l in depth.lines]
    assert labels == ["mlp20, init", "mlp20, epoch 3", "mlp20_noskip, init", "mlp20_noskip, epoch 3"]
    first = [l for l in depth.lines if l.get_label() == "mlp20_noskip, init"][0]
    assert np.allclose(first.get_ydata(), [0.1 ** (5 - d) for d in range(6)])
    assert len(time.lines) == 4
    assert depth.get_xlabel() == "layer (input → output)"


def test_gradient_flow_accepts_the_inner_dict_and_checks_shapes():
    fig = plot.gradient_flow(flow("x", 0.5)["gradient_flow"], names=["run"])
    assert fig.axes[0].lines[0].get_label() == "run, init"
    bad = flow("x", 0.5)
    bad["gradient_flow"]["norms"] = [[1.0, 2.0]]
    with pytest.raises(ValueError, match="shape"):
        plot.gradient_flow(bad)
    with pytest.raises(ValueError, match="gradient-flow log"):
        plot.gradient_flow({"epochs": []})
    with pytest.raises(ValueError, match="epoch 9"):
        plot.gradient_flow(flow("x", 0.5), epochs=[9])


# --- scale rules --------------------------------------------------------------------------------

def test_smooth_surface_is_never_clipped_but_a_diverged_corner_is():
    s = bowl(n=51)
    scale = _scale.shared_scale([s.values["train_loss"]])
    assert not scale.clipped and scale.extend == "neither"
    v = s.values["train_loss"].copy()
    v[:5, :5] = 1e6  # about 1% of the cells diverged
    scale = _scale.shared_scale([v])
    assert scale.clipped
    assert scale.vmax == pytest.approx(np.max(v[v < 1e6]))


def test_all_nan_surface_still_draws():
    s = bowl()
    for k in s.values:
        s.values[k][:] = np.nan
    ax = plot.heatmap(s)
    assert np.ma.count_masked(ax.collections[0].get_array()) == s.values["train_loss"].size


def test_bad_limits():
    with pytest.raises(ValueError, match="vmin"):
        plot.contour(bowl(), vmin=2, vmax=1)
    with pytest.raises(ValueError, match="levels"):
        plot.contour(bowl(), levels=1)
    with pytest.raises(ValueError, match="positive"):
        plot.contour(bowl(), log=True, vmin=0)


# --- style and save -----------------------------------------------------------------------------

def test_styles_set_sizes_and_truetype_and_reset():
    with plot.style("paper"):
        assert plot.active_style() == "paper"
        assert plt.rcParams["pdf.fonttype"] == 42 and plt.rcParams["ps.fonttype"] == 42
        assert plt.figure().get_size_inches()[0] == pytest.approx(3.5)
    with plot.style("paper", width="double"):
        assert plt.figure().get_size_inches()[0] == pytest.approx(7.0)
    with plot.style("slides"):
        w, h = plt.figure().get_size_inches()
        assert w / h == pytest.approx(16 / 9)
        assert plt.rcParams["font.size"] >= 16
    assert plot.active_style() is None
    with pytest.raises(ValueError, match="`style`.*'poster'"):
        with plot.style("poster"):
            pass


def test_save_by_extension_creates_dirs_and_leaves_no_temporary(tmp_path):
    fig = plot.compare([bowl(), bowl()], kind="contourf")
    heads = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}
    for ext, head in heads.items():
        out = tmp_path / "deep" / "dir" / f"fig.{ext}"
        assert plot.save(fig, out) == str(out)
        assert out.read_bytes().startswith(head)
    assert sorted(os.listdir(tmp_path / "deep" / "dir")) == ["fig.pdf", "fig.png", "fig.svg"]
    with pytest.raises(ValueError, match=r"\.png.*fig\.jpg"):
        plot.save(fig, tmp_path / "fig.jpg")
    assert not (tmp_path / "fig.jpg").exists()


def test_paper_pdf_of_a_51x51_grid_embeds_truetype_and_is_small(tmp_path):
    a = bowl(n=51, name="resnet56")
    b = bowl(n=51, name="resnet56_noskip", scale=3.0)
    b.values["train_loss"] += 0.3 * np.sin(9 * a.values["train_loss"])  # many wiggly contours
    out = tmp_path / "fig.pdf"
    with plot.style("paper", width="double"):
        fig = plot.compare([a, b], kind="contourf")
        plot.save(fig, out)
    pdf = out.read_bytes()
    assert b"/FontFile2" in pdf  # TrueType font program embedded
    assert b"/Type3" not in pdf
    assert b"/Subtype /Image" in pdf  # the filled contours were rasterized inside the vector file
    assert len(pdf) < 500_000
    with plot.style("paper"):
        fig = plot.draw(b, "surface")
        plot.save(fig, tmp_path / "surface.pdf")
    pdf = (tmp_path / "surface.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf and len(pdf) < 500_000


def test_draw_every_kind_of_a_2d_surface_and_line_of_a_1d_one():
    s = bowl()
    for kind in plot.kinds_for(s):
        fig = plot.draw(s, kind)
        assert fig.axes
    assert plot.kinds_for(line_surface()) == ("line",)
    fig = plot.draw(line_surface(), "line", "test_loss")
    assert [l.get_label() for l in fig.axes[0].lines if not l.get_label().startswith("_")] == ["test loss"]


def test_log_scale_only_when_asked():
    s = bowl()
    s.values["train_loss"] = 1e-4 * 10 ** (6 * (s.values["train_loss"] - 0.1) / 1.5)  # 1e-4 .. 1e2
    ax = plot.contourf(s)
    assert not isinstance(ax.collections[0].norm, mcolors.LogNorm)
    assert ax.collections[0].norm.vmax <= 10.0  # at most the stated cap
    assert "linear, clipped at" in colorbar_of(ax).ax.get_ylabel()
    ax = plot.contourf(s, log=True, ax=plt.figure().add_subplot())
    assert isinstance(ax.collections[0].norm, mcolors.LogNorm)
    s.values["train_acc"] = s.values["train_loss"]
    assert not isinstance(plot.heatmap(s, "train_acc", ax=plt.figure().add_subplot()).collections[0].norm,
                          mcolors.LogNorm)


def test_a_flat_panel_on_shared_levels_says_what_it_holds():
    """A sigmoid net's plane (2.30 everywhere) beside sharper nets crosses no shared level, so it
    draws no line: the panel says so instead of looking empty."""
    sharp, flat = bowl(name="relu", scale=8.0), bowl(name="sigmoid", scale=0.001, shift=2.3)
    fig = plot.compare([sharp, flat], kind="contour")
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes if ax.get_title()]
    assert not any("no level crossed" in t for t in texts[0])
    assert any(re.fullmatch(r"no level crossed: 2\.3\d* everywhere|no level crossed: 2\.3\d* to 2\.3\d* everywhere", t)
               for t in texts[1]), texts[1]
