"""landscape.html: the self-contained page, the data it embeds, and the page in a real browser.

The browser test opens the page from disk in headless Chromium (Debian's `chromium`; `.ci/run`
installs it) with every network request sent to a closed port, screenshots it, and reads back what
the browser holds: the plotted data, the hover text, the log/linear switch and, on a comparison
page, the linked cameras. Without Chromium it is skipped, saying so.
"""
import base64
import json
import re
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

import landscape  # noqa: E402
from landscape import cli
from landscape.plot import html
from landscape.plot._labels import value_label  # noqa: E402
from landscape.plot._scale import shared_scale  # noqa: E402
from landscape.storage import io  # noqa: E402

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


@pytest.fixture
def real_file(tmp_path, mlp, xy):
    """A surface computed for real (a small MLP on random data), 9 x 7 cells, plus a diverged cell."""
    torch.manual_seed(0)
    dirs = landscape.directions.random(mlp, n=2, seed=0)
    path = tmp_path / "mlp.h5"
    surf = landscape.surface.compute(mlp, dirs, x=(-1, 1, 9), y=(-0.5, 0.5, 7), data=xy, path=str(path),
                                     progress=False)
    surf.values["train_loss"][0, 0] = np.inf  # as a blown-up cell is stored: drawn at the cap, hovered as inf
    io.save(surf, path)
    return path


def pca_surface(path, name="mlp_pca"):
    x, y = np.linspace(-2, 3, 11), np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(x, y)
    loss = 0.01 + (X - 0.2) ** 2 + 3 * Y ** 2
    s = io.Surface(x=x, y=y, values={"train_loss": loss, "train_acc": 1 / (1 + loss)},
                   attrs={"model_name": name, "direction_kind": "pca"},
                   trajectory={"coords": np.array([[2.5, 0.8], [1.5, 0.5], [0.8, 0.1], [0.0, 0.0]]),
                               "epochs": np.array([0, 1, 2, 3]), "explained": np.array([0.7, 0.2])})
    io.save(s, path)
    return path


def figure_json(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="landscape-figure">(.*?)</script>', page, re.S)
    assert m, "the page holds no figure"
    return json.loads(m.group(1).replace("<\\/", "</"))


def array(spec) -> np.ndarray:
    """A plotly JSON array: a plain list, or {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(spec, dict) and "bdata" in spec:
        a = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]).newbyteorder("<"))
        shape = [int(n) for n in str(spec.get("shape", len(a))).split(",")]
        return a.reshape(shape)
    return np.asarray(spec, dtype=np.float64)


def stacked(surf) -> np.ndarray:
    return np.stack([surf.values[n] for n in surf.values], axis=-1)


def test_page_is_offline_and_embeds_every_stored_value(real_file, tmp_path):
    res = invoke("export", real_file, "--out", tmp_path / "s.html")
    assert res.exit_code == 0, res.output
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    # nothing to fetch: no element loads a file or URL, and plotly.js is inside
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", page, re.I)
    assert "plotly.js v" in page[:200_000] and "Plotly.newPlot" in page
    surf = io.load(real_file)
    fig = figure_json(page)
    surface, contour = fig["data"][0], fig["data"][1]
    assert surface["type"] == "surface" and contour["type"] == "contour"
    # hover data: every value of every cell, exactly as stored ([x][y] on a 3D surface for plotly.js)
    np.testing.assert_array_equal(array(surface["customdata"]).transpose(1, 0, 2), stacked(surf))
    np.testing.assert_array_equal(array(contour["customdata"]), stacked(surf))
    for trace in (surface, contour):
        np.testing.assert_array_equal(array(trace["x"]), surf.x)
        np.testing.assert_array_equal(array(trace["y"]), surf.y)
    for name in surf.values:
        assert value_label(name) in surface["hovertemplate"]
    # drawn heights: clipped like the plots (the inf cell at the cap), log10 on the log view
    scale = shared_scale([surf.values["train_loss"]], log=None, value="train_loss")
    z = array(surface["z"])
    assert z[0, 0] == pytest.approx(np.log10(scale.vmax) if scale.log else scale.vmax)
    assert np.all(np.isfinite(z))
    caption = re.search(r"<figcaption>(.*?)</figcaption>", page, re.S).group(1)
    assert "9 × 7 grid (63/63 cells done)" in caption and "random directions" in caption


def test_the_switch_holds_both_views(real_file):
    surf = io.load(real_file)
    fig = html.figure(surf, log=False)
    menu = fig.layout.updatemenus[0]
    assert [b.label for b in menu.buttons] == ["linear scale", "log scale"] and menu.active == 0
    raw = surf.values["train_loss"]
    views = {b.label: b.args for b in menu.buttons}
    for label, log in (("linear scale", False), ("log scale", True)):
        restyle, relayout, traces = views[label]
        scale = shared_scale([raw], log=log, value="train_loss")
        want = np.clip(raw, scale.vmin, scale.vmax)
        want = np.log10(want) if log else want
        z = np.asarray(restyle["z"][traces.index(0)], dtype=np.float64)
        np.testing.assert_allclose(z, want)
        assert relayout["scene.zaxis.range"] == pytest.approx([want.min(), want.max()])
        assert ("log" in relayout["scene.zaxis.title.text"]) == log
    assert np.asarray(fig.data[0].z)[3, 4] == pytest.approx(raw[3, 4])  # linear was asked for


def test_pca_page_draws_the_path_on_both_panels(tmp_path):
    surf = io.load(pca_surface(tmp_path / "pca.h5"))
    fig = html.figure(surf)
    paths = [t for t in fig.data if t.name == "training path"]
    assert sorted(t.type for t in paths) == ["scatter", "scatter3d"]
    for t in paths:
        np.testing.assert_array_equal(np.c_[t.x, t.y], surf.trajectory["coords"])
        assert list(t.text) == [f"epoch {e}" for e in range(4)]
    on_surface = next(t for t in paths if t.type == "scatter3d")
    assert np.all(np.isfinite(np.asarray(on_surface.z, dtype=float)))  # every snapshot lies on the grid


def test_compare_page_shares_one_scale_and_links_cameras(real_file, tmp_path):
    other = io.load(real_file)
    other.values = {k: v * 3 for k, v in other.values.items()}
    other.attrs["model_name"] = "tripled"
    io.save(other, tmp_path / "b.h5")
    res = invoke("compare", real_file, tmp_path / "b.h5", "--out", tmp_path / "ab.html", "--linear")
    assert res.exit_code == 0, res.output
    page = (tmp_path / "ab.html").read_text(encoding="utf-8")
    fig = figure_json(page)
    surfaces = [t for t in fig["data"] if t["type"] == "surface"]
    assert [t["scene"] for t in surfaces] == ["scene", "scene2"]
    assert surfaces[0]["cmin"] == surfaces[1]["cmin"] and surfaces[0]["cmax"] == surfaces[1]["cmax"]
    assert fig["layout"]["scene"]["zaxis"]["range"] == fig["layout"]["scene2"]["zaxis"]["range"]
    assert 'gd.on("plotly_relayouting", link)' in page
    assert [a["text"] for a in fig["layout"]["annotations"][:2]] == [io.load(real_file).label(), "tripled"]


def test_bad_requests_are_one_line(tmp_path, real_file, monkeypatch):
    line = io.Surface(x=np.linspace(-1, 1, 5), y=None, values={"train_loss": np.ones(5)})
    with pytest.raises(ValueError, match="2D"):
        html.to_html(line, tmp_path / "l.html")
    res = invoke("compare", real_file, real_file, "--out", tmp_path / "ab.html", "--style", "paper")
    assert res.exit_code == 2 and "--style" in res.output
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if the extra were not installed
    res = invoke("export", real_file, "--out", tmp_path / "s.html")
    assert res.exit_code == 2, res.output
    assert res.output.strip() == ("Error: An .html page needs plotly, which is not installed: "
                                  "pip install 'loss-landscape-lab[html]'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.h5"]


# --- in a real browser ------------------------------------------------------------------------------

# Run inside a copy of the page once it has loaded: read back what the browser plotted, hover a
# cell of the contour (plotly's own hover call) and of the first 3D surface (the mouse moved over
# its canvas: WebGL picking), press the linear-scale button, turn the first camera; print it all.
PROBE = """<script>
window.addEventListener("load", function () {
  var gd = document.getElementById("landscape-plot"), out = {hover3d: []};
  function plain(a) { return Array.from(a, function (r) { return r.length === undefined ? r : plain(r); }); }
  function labels() { return Array.from(document.querySelectorAll("g.hovertext text"), function (t) {
    return t.textContent; }); }
  function done() { document.body.insertAdjacentHTML("beforeend",
    "<pre id='probe'>" + JSON.stringify(out).replace(/</g, "&lt;") + "</pre>"); }
  function later(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  try {
    out.traces = gd._fullData.map(function (t) {
      return {type: t.type, x: plain(t.x), y: plain(t.y), customdata: t.customdata && plain(t.customdata)}; });
    Plotly.Fx.hover(gd, {xval: 0.0, yval: 0.0}, "xy");
    out.hover = labels();
    Plotly.Fx.unhover(gd);
    gd.on("plotly_hover", function (ev) {
      var p = ev.points[0];
      if (p.data.type === "surface") out.hover3d.push({x: p.x, y: p.y, customdata: plain(p.customdata),
                                                       labels: labels()});
    });
    var canvas = gd.querySelector(".gl-container canvas"), box = canvas.getBoundingClientRect();
    [0.55, 0.65, 0.45, 0.75, 0.35].reduce(function (chain, f) {
      return chain.then(function () {
        if (out.hover3d.length) return;
        canvas.dispatchEvent(new MouseEvent("mousemove", {clientX: box.left + box.width / 2,
                                                          clientY: box.top + f * box.height, bubbles: true}));
        return later(300);
      });
    }, later(200)).then(function () {
      var linear = gd.layout.updatemenus[0].buttons[0];
      return Plotly.update(gd, linear.args[0], linear.args[1], linear.args[2]);
    }).then(function () {
      out.zrange = gd._fullLayout.scene.zaxis.range;
      return Plotly.relayout(gd, {"scene.camera": {eye: {x: 2, y: 0.5, z: 0.25}}});
    }).then(function () {
      out.camera2 = gd._fullLayout.scene2.camera.eye;
      done();
    }).catch(function (e) { out.error = String(e); done(); });
  } catch (e) { out.error = String(e); done(); }
});
</script>"""


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
           "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}",
           # the network is off: every request goes to a proxy on a closed port and fails
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--window-size=1200,900", "--virtual-time-budget=5000", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium; "
                                             ".ci/run installs it)")
def test_page_in_headless_chromium_offline(real_file, tmp_path):
    single = html.to_html(io.load(real_file), tmp_path / "s.html")
    shot = tmp_path / "s.png"
    run = chromium(tmp_path, f"--screenshot={shot}", f"file://{single}")
    assert shot.exists(), run.stderr[-2000:]
    with Image.open(shot) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert rgb.shape[:2] == (900, 1200)
    # not blank: the 3D panel (left 40%, where only WebGL draws colour) holds many saturated pixels
    panel = rgb[80:450, : int(0.4 * 1200)]
    saturated = (panel.max(axis=2) - panel.min(axis=2)) > 60
    assert saturated.mean() > 0.02, f"3D panel blank ({saturated.mean():.1%} of it coloured)"
    assert len(np.unique(panel.reshape(-1, 3), axis=0)) > 200

    surf = io.load(real_file)
    pair = html.page([surf, surf], log=True)
    probe = tmp_path / "probe.html"
    probe.write_text(pair.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    run = chromium(tmp_path, "--dump-dom", f"file://{probe}")
    m = re.search(r"<pre id=\"probe\">(.*?)</pre>", run.stdout, re.S)
    assert m, run.stderr[-2000:]
    out = json.loads(m.group(1).replace("&lt;", "<"))
    assert "error" not in out, out["error"]
    # the data the browser plotted is the file's
    cells = stacked(surf)
    finite = np.isfinite(cells)  # JSON has no inf: the browser's inf comes back as null
    traces = [t for t in out["traces"] if t["type"] in ("surface", "contour")]
    assert [t["type"] for t in traces] == ["surface", "contour"] * 2
    for t in traces:
        np.testing.assert_array_equal(np.asarray(t["x"]), surf.x)
        np.testing.assert_array_equal(np.asarray(t["y"]), surf.y)
        got = np.array(t["customdata"], dtype=np.float64)
        if t["type"] == "surface":  # held as [x][y] for plotly.js (see landscape.html)
            got = got.transpose(1, 0, 2)
        np.testing.assert_array_equal(got[finite], cells[finite])

    def check_hover(labels, x, y):
        """The label names (x, y) and every value stored at that cell."""
        shown = dict(re.findall(r"([a-z0-9 ]+?) = (-?Infinity|NaN|[-+0-9.e]+)", " ".join(labels)))
        assert len(shown) == 2 + len(surf.values), labels
        ix, iy = int(np.argmin(abs(surf.x - x))), int(np.argmin(abs(surf.y - y)))
        assert float(shown["direction 1"]) == pytest.approx(surf.x[ix], abs=1e-3)
        assert float(shown["direction 2"]) == pytest.approx(surf.y[iy], abs=1e-3)
        for name in surf.values:  # the blown-up cell reads Infinity
            assert float(shown[value_label(name)]) == pytest.approx(surf.values[name][iy, ix], rel=1e-3)
        return ix, iy

    check_hover(out["hover"], 0.0, 0.0)  # the contour
    assert out["hover3d"], "moving the mouse over the 3D surface showed no hover"
    hit = out["hover3d"][0]
    ix, iy = check_hover(hit["labels"], hit["x"], hit["y"])  # the 3D surface: the cell under the mouse
    np.testing.assert_array_equal(np.array(hit["customdata"], dtype=np.float64)[finite[iy, ix]],
                                  cells[iy, ix][finite[iy, ix]])
    # the linear-scale button puts heights back in loss units; turning one camera turns the other
    finite = surf.values["train_loss"][np.isfinite(surf.values["train_loss"])]
    assert out["zrange"][0] == pytest.approx(finite.min())
    assert out["camera2"] == {"x": 2, "y": 0.5, "z": 0.25}
