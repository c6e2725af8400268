"""Text on the figures: one number notation per scale, round ticks, labels that do not overlap.

The overlap tests render the figure (Agg) and compare the window extents matplotlib actually drew.
"""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from landscape import plot  # noqa: E402
from landscape.plot import _draw, _format, _place, _scale  # noqa: E402
from landscape.storage.io import Surface  # noqa: E402

ATTRS = {"direction_kind": "random", "norm": "filter", "model_name": "mlp20"}
POWER = re.compile(r"^\$(-?[0-9.]+\\times)?10\^\{-?[0-9]+\}\$$")  # $10^{3}$, $2\times10^{-5}$
PLAIN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # 0.0218, 300


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def plane(lo, hi, n=41, name="mlp20"):
    """A bowl whose loss runs geometrically from ``lo`` at the centre to ``hi`` in the corners."""
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    r = (X ** 2 + Y ** 2) / 2
    loss = lo * (hi / lo) ** r
    return Surface(x=x, y=x.copy(), values={"train_loss": loss, "train_acc": 1 / (1 + loss)},
                   attrs={**ATTRS, "model_name": name})


def with_path(s, coords, epochs=None):
    coords = np.asarray(coords, dtype=float)
    s.trajectory = {"coords": coords, "epochs": np.arange(len(coords)) if epochs is None else epochs,
                    "explained": np.array([0.6, 0.3])}
    s.attrs["direction_kind"] = "pca"
    return s


def tick_texts(axis):
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def colorbar_of(ax):
    cbs = [c.colorbar for c in ax.collections if getattr(c, "colorbar", None) is not None]
    assert len(cbs) == 1
    return cbs[0]


def extents(fig, texts):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [t.get_window_extent(r) for t in texts]


def overlapping_pairs(boxes):
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


# --- notation -----------------------------------------------------------------------------------

def test_format_number_writes_plain_decimals_or_powers_of_ten():
    assert _format.format_number(0.021787, plain=True) == "0.0218"
    assert _format.format_number(300.0, plain=True) == "300"
    assert _format.format_number(1e5, plain=True) == "100000"
    assert _format.format_number(7.552e-5, plain=False) == r"$7.55\times10^{-5}$"
    assert _format.format_number(1e8, plain=False) == "$10^{8}$"
    assert _format.format_number(9.9996e3, plain=False) == "$10^{4}$"  # rounding reaches the next decade
    assert _format.format_number(0, plain=False) == "0"
    assert _format.format_number(float("inf"), plain=True) == "inf"
    # a scale is plain while it stays within PLAIN_RANGE; one end beyond makes all of it powers
    assert _format.plain_notation(0.02, 144, log=True)
    assert not _format.plain_notation(0.02, 6.6e8, log=True)
    assert not _format.plain_notation(7.5e-5, 50, log=True)
    assert _format.plain_notation(-3, 250, log=False)


@pytest.mark.parametrize("lo, hi, pattern", [(0.02, 144.0, PLAIN), (0.02, 6.6e8, POWER), (7.5e-5, 50.0, POWER)])
def test_colour_bar_and_contour_labels_share_one_notation(lo, hi, pattern):
    ax = plot.contour(plane(lo, hi), log=True)
    cb_labels = tick_texts(colorbar_of(ax).ax.yaxis)
    clabels = [t.get_text() for t in ax.texts if t.get_text() and not t.get_text().startswith("min")]
    minimum = [t.get_text() for t in ax.texts if t.get_text().startswith("min ")]
    assert len(cb_labels) >= 3 and clabels and len(minimum) == 1
    for text in cb_labels + clabels + [minimum[0][4:]]:
        assert pattern.match(text), (text, cb_labels, clabels, minimum)
    assert not any("e+" in t or "e-" in t for t in cb_labels + clabels + minimum)


def test_log_colour_bar_ticks_are_decades_and_few():
    ax = plot.heatmap(plane(0.02, 6.6e8), log=True)  # 10 decades
    ticks = colorbar_of(ax).get_ticks()
    assert 3 <= len(ticks) <= _format.MAX_TICKS
    assert np.allclose(np.log10(ticks), np.round(np.log10(ticks)))


def test_surface3d_z_ticks_are_whole_decades_in_the_scale_notation():
    ax = plot.surface3d(plane(0.02, 860.0), log=True)
    plt.gcf().canvas.draw()
    locs = ax.zaxis.get_majorticklocs()
    lo, hi = ax.get_zlim()
    shown = [v for v in locs if lo - 1e-9 <= v <= hi + 1e-9]
    assert len(shown) >= 3
    assert np.allclose(shown, np.round(shown))  # log10 heights: 10^-1, 10^0, ... never 0.0316
    labels = [ax.zaxis.get_major_formatter()(v) for v in shown]
    assert labels == ["0.1", "1", "10", "100"]
    # linear: round steps from MaxNLocator
    ax = plot.surface3d(plane(0.5, 3.0), log=False, ax=plt.figure().add_subplot(projection="3d"))
    locs = ax.zaxis.get_majorticklocs()
    assert np.allclose(locs * 4, np.round(locs * 4))


def test_clipping_note_uses_the_scale_notation():
    s = plane(0.02, 6.6e8)
    ax = plot.contourf(s, vmax=3e7, log=True)
    assert colorbar_of(ax).ax.get_ylabel() == r"train loss (log scale, clipped at $3\times10^{7}$)"


def test_line_log_axis_uses_the_same_notation():
    x = np.linspace(-1, 1, 41)
    loss = 1e-3 * 10 ** (4 * x ** 2)  # 0.001 .. 10
    s = Surface(x=x, y=None, values={"train_loss": loss}, attrs=ATTRS)
    ax = plot.line(s, log=True)
    plt.gcf().canvas.draw()
    assert tick_texts(ax.yaxis) == ["0.001", "0.01", "0.1", "1", "10"]


def test_gradient_flow_log_axes_use_the_notation_and_legends_sit_below():
    flow = {"layers": ["a", "b", "c"], "epochs": [0, 1, 2],
            "norms": [[0.01, 0.1, 1.0], [0.02, 0.2, 2.0], [0.05, 0.5, 50.0]]}
    fig = plot.gradient_flow({"name": "m", "gradient_flow": flow})
    fig.canvas.draw()
    for ax in fig.axes:
        labels = tick_texts(ax.yaxis)
        assert labels and all(PLAIN.match(t) for t in labels), labels
        legend = ax.get_legend().get_window_extent()
        assert legend.y1 <= ax.get_window_extent().y0  # below the plot: no curve under it


# --- automatic log scale --------------------------------------------------------------------------

def test_default_scale_is_linear_from_the_minimum_to_a_stated_cap():
    """Issue 16: a log default drew the basin with the lower minimum as the deeper, narrower funnel
    whatever its width; the default is linear, from the lowest minimum up to 10, named on the bar."""
    s = plane(0.02, 144.0)
    ax = plot.contourf(s)
    norm = ax.collections[0].norm
    assert not isinstance(norm, mcolors.LogNorm)
    assert (norm.vmin, norm.vmax) == (pytest.approx(0.02), 10.0)
    assert colorbar_of(ax).ax.get_ylabel() == "train loss (linear, clipped at 10)"
    ax = plot.contourf(s, log=True, ax=plt.figure().add_subplot())  # one option away
    assert isinstance(ax.collections[0].norm, mcolors.LogNorm)
    assert colorbar_of(ax).ax.get_ylabel() == "train loss (log scale)"
    # a loss that never comes below 5 is capped at ten times its minimum (rounded up to 1-2-5);
    # a narrow bowl not at all
    assert _scale.shared_scale([plane(1.1, 500.0).values["train_loss"]], value="train_loss").vmax == 10.0
    assert _scale.shared_scale([plane(7.0, 5000.0).values["train_loss"]], value="train_loss").vmax == 100.0
    assert _scale.loss_cap(12.0) == 200.0 and _scale.loss_cap(50.0) == 500.0
    narrow = _scale.shared_scale([plane(0.3, 2.5).values["train_loss"]], value="train_loss")
    assert narrow.vmax == pytest.approx(2.5) and not narrow.clipped
    # accuracy has no loss cap
    acc = _scale.shared_scale([plane(0.02, 144.0).values["train_loss"]], value="train_acc")
    assert acc.vmax > 10


# --- label placement ------------------------------------------------------------------------------

def fast_first_step_path():
    """Like a real run: one long first step, then epochs bunching up towards the minimum."""
    t = np.linspace(0, 1, 30) ** 0.3
    start, knee, end = np.array([0.85, 0.7]), np.array([0.1, -0.6]), np.array([0.0, 0.0])
    rest = knee + (end - knee) * t[:, None]
    return np.concatenate([[start], [start + 0.6 * (knee - start)], rest])


def test_label_points_keep_first_and_last_and_skip_crowded_ones():
    fig, ax = plt.subplots()
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    coords = fast_first_step_path()
    picked = _draw._label_points(ax, coords)
    assert picked[:2] == [0, len(coords) - 1]
    assert len(picked) <= _draw.MAX_EPOCH_LABELS
    pts = coords[picked] / 2.0  # axes fractions (the axes span 2 data units)
    for i in range(len(picked)):
        for j in range(i + 1, len(picked)):
            if {picked[i], picked[j]} & {0, len(coords) - 1}:
                continue
            assert np.linalg.norm(pts[i] - pts[j]) >= _draw.EPOCH_LABEL_SPACING


@pytest.mark.parametrize("layout", ["constrained", None])
def test_epoch_min_and_contour_labels_do_not_overlap_each_other_or_the_path(layout):
    s = with_path(plane(0.02, 6.6e8), fast_first_step_path())
    fig = plt.figure(figsize=(5, 4), layout=layout)
    ax = plot.contour(s, ax=fig.add_subplot(), log=True)
    texts = [t for t in ax.texts if t.get_text()]
    epoch_labels = [t.get_text() for t in texts if t.get_color() == _draw.TRAJECTORY_COLOR]
    assert epoch_labels[0] == "epoch 0" and f"final (epoch {len(s.trajectory['coords']) - 1})" in epoch_labels
    assert any(t.get_text().startswith("min ") for t in texts)
    assert len(texts) - len(epoch_labels) - 1 >= 2  # some contour labels found room
    boxes = extents(fig, texts)
    assert overlapping_pairs(boxes) == [], [texts[i].get_text() for p in overlapping_pairs(boxes) for i in p]
    # no label covers a point of the training path (its own point sits next to it, not under it)
    path = ax.transData.transform(s.trajectory["coords"])
    for t, b in zip(texts, boxes):
        inside = [p for p in path if b.x0 < p[0] < b.x1 and b.y0 < p[1] < b.y1]
        assert not inside, (t.get_text(), inside)
    # and every label is inside the axes
    frame = ax.get_window_extent()
    for t, b in zip(texts, boxes):
        assert frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1 and frame.y0 - 1 <= b.y0 and b.y1 <= frame.y1 + 1, \
            t.get_text()


def test_contour_labels_avoid_obstacles_and_other_lines():
    s = plane(0.02, 1e4)
    fig, ax = plt.subplots(figsize=(5, 4))
    levels = [0.1, 1, 10]  # rings of radius ~0.45, 0.7, 0.97
    cs = ax.contour(s.x, s.y, s.values["train_loss"], levels=levels, norm=mcolors.LogNorm())
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    obstacles = _place.Obstacles(ax)
    # a wall across the middle, and the outer region (loss > 5) taken: the 10 ring lies entirely
    # under obstacles, so it goes unlabelled rather than labelled over them
    wall = np.stack([np.linspace(-1, 1, 50), np.zeros(50)], axis=1)
    obstacles.add_path(wall, radius=1.0)
    g = np.linspace(-1, 1, 121)
    GX, GY = np.meshgrid(g, g)
    taken = 0.02 * (1e4 / 0.02) ** ((GX ** 2 + GY ** 2) / 2) > 5
    obstacles.add_marker(np.stack([GX[taken], GY[taken]], axis=1), radius=0.0)
    texts = _place.contour_labels(ax, cs, levels, lambda v: f"{v:g}", obstacles)
    assert {t.get_text() for t in texts} == {"0.1", "1"}
    boxes = extents(fig, texts)
    wall_px = ax.transData.transform(wall)
    for t, b in zip(texts, boxes):
        assert not any(b.y0 < p[1] < b.y1 and b.x0 < p[0] < b.x1 for p in wall_px), t.get_text()
    assert overlapping_pairs(boxes) == []
    per_level = {t.get_text(): 0 for t in texts}
    for t in texts:
        per_level[t.get_text()] += 1
    assert max(per_level.values()) <= _place.MAX_PER_LEVEL


def test_obstacle_geometry():
    fig, ax = plt.subplots()
    obstacles = _place.Obstacles(ax)
    assert obstacles.clearance((0, 0), 10, 4) == np.inf
    obstacles.points = np.array([[10.0, 0.0]])
    assert obstacles.clearance((0, 0), 10, 4) == pytest.approx(5.0)
    assert obstacles.clearance((0, 0), 10, 4, angle=np.pi / 2) == pytest.approx(8.0)  # turned upright
    assert obstacles.clearance((8, 0), 10, 4) == -1.0
    w, h = _place.text_size("epoch 0", 8)
    assert 25 < w < 40 and 8 < h < 11


def test_a_rough_surface_still_gets_a_few_contour_labels_on_white_boxes():
    x = np.linspace(-1, 1, 101)
    X, Y = np.meshgrid(x, x)
    loss = np.exp(3 * (X ** 2 + Y ** 2)) * (1 + 0.3 * np.sin(20 * X) * np.cos(17 * Y)) + 0.01
    s = Surface(x=x, y=x.copy(), values={"train_loss": loss}, attrs=ATTRS)
    ax = plot.contour(s, levels=30, log=True, ax=plt.figure(figsize=(4, 3.2)).add_subplot())
    labels = [t for t in ax.texts if not t.get_text().startswith("min")]
    assert len(labels) == _place.MIN_LABELS
    # the clean spots ran out: the rest sit on crossing lines, hidden by a box
    assert any(t.get_bbox_patch() is not None for t in labels)
    # a smooth bowl's labels need no box
    ax = plot.contour(plane(0.02, 144.0), log=True, ax=plt.figure().add_subplot())
    labels = [t for t in ax.texts if not t.get_text().startswith("min")]
    assert len(labels) >= 2 and all(t.get_bbox_patch() is None for t in labels)


def test_the_final_model_is_marked_and_named_apart_from_the_grid_minimum():
    """Issue 21.16: the path's end (the final model) gets its own ring and 'final (epoch N)'; the
    star stays the grid's minimum; a label pushed away from its point gets a leader line."""
    coords = fast_first_step_path()
    s = with_path(plane(0.02, 6.6e8), coords - np.array([0.3, 0.0]))  # the minimum off the path
    fig = plt.figure(figsize=(5, 4))
    ax = plot.contour(s, ax=fig.add_subplot(), log=True)
    final = [l for l in ax.lines if l.get_label() == "final model"]
    assert len(final) == 1
    assert np.allclose(final[0].get_xydata(), s.trajectory["coords"][-1:])
    texts = [t.get_text() for t in ax.texts]
    assert f"final (epoch {len(coords) - 1})" in texts and "epoch 0" in texts
    assert any(t.startswith("min ") for t in texts)
    # every label lies clear of the path's markers and the final ring
    boxes = extents(fig, [t for t in ax.texts if t.get_text()])
    path = ax.transData.transform(s.trajectory["coords"])
    for b in boxes:
        assert not [p for p in path if b.x0 < p[0] < b.x1 and b.y0 < p[1] < b.y1]
    ax3 = plot.surface3d(s, ax=plt.figure().add_subplot(projection="3d"), log=True)
    assert [l.get_label() for l in ax3.lines].count("final model") == 1


def test_far_labels_get_a_leader_line():
    assert _place.leader((30.0, 0.0), 20.0, 8.0) is not None
    assert _place.leader((12.0, 0.0), 20.0, 8.0) is None
