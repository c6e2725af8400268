"""`landscape plot` / `compare` / `export` on real surface files (ours and the reference layout)."""
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from landscape import cli  # noqa: E402
from landscape.storage import io  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def one_line_error(res, pattern, code=2):
    assert res.exit_code == code, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("Error") and pattern in lines[0], res.output


def surface(n=15, name="mlp20", ndim=2, rough=0.0):
    x = np.linspace(-1, 1, n)
    if ndim == 1:
        loss = 0.1 + x ** 2
        y = None
    else:
        X, Y = np.meshgrid(x, x)
        loss = 0.1 + X ** 2 + Y ** 2 + rough * np.sin(8 * X) * np.cos(7 * Y) ** 2
        y = x.copy()
    values = {"train_loss": loss, "train_acc": 1 / (1 + loss), "test_loss": loss + 0.1, "test_acc": 0.9 / (1 + loss)}
    return io.Surface(x=x, y=y, values=values,
                      attrs={"model_name": name, "direction_kind": "random", "norm": "filter", "ignore": "biasbn"})


@pytest.fixture
def files(tmp_path):
    a, b = tmp_path / "with.h5", tmp_path / "without.h5"
    io.save(surface(name="mlp20"), a)
    s = surface(name="mlp20_noskip", rough=1.0)
    s.values["train_loss"][0, :2] = np.inf
    for v in s.values.values():
        v[3, 3] = np.nan  # a cell not computed yet
    io.save(s, b)
    line = tmp_path / "line.h5"
    io.save(surface(ndim=1), line)
    return {"a": a, "b": b, "line": line, "dir": tmp_path}


def reference_file(path, nx=9, ny=7):
    """A file as tomgoldstein/loss-landscape writes it: -1 = not computed, accuracy in percent."""
    x, y = np.linspace(-1, 1, nx), np.linspace(-1, 1, ny)
    X, Y = np.meshgrid(x, y)
    loss = 0.2 + X ** 2 + Y ** 2
    acc = 100 / (1 + loss)
    loss[-1, -1] = acc[-1, -1] = -1
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = x
        f["ycoordinates"] = y
        f["train_loss"] = loss.ravel().reshape(nx, ny)  # their buffer layout for non-square grids
        f["train_acc"] = acc.ravel().reshape(nx, ny)
        f["dir_file"] = "model_300.t7_weights_xignore=biasbn_xnorm=filter.h5"
    return path


@pytest.mark.parametrize("kind", ["contour", "contourf", "heatmap", "surface", "line"])
def test_plot_each_kind_writes_a_png(files, kind):
    out = files["dir"] / "figs" / f"{kind}.png"
    res = invoke("plot", files["b"], "--kind", kind, "--out", out)
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.output
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 300


def test_plot_all_suffixes_names_and_1d_files_get_the_line(files):
    out = files["dir"] / "all" / "surf.png"
    res = invoke("plot", files["a"], "--kind", "all", "--out", out, "--log", "--levels", "12")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        f"surf_{k}.png" for k in ("line", "contour", "contourf", "heatmap", "surface"))
    res = invoke("plot", files["line"], "--kind", "all", "--out", files["dir"] / "l" / "one.png")
    assert res.exit_code == 0, res.output
    assert [p.name for p in (files["dir"] / "l").iterdir()] == ["one_line.png"]


def test_plot_paper_pdf_with_options(files):
    out = files["dir"] / "paper.pdf"
    res = invoke("plot", files["b"], "--kind", "contourf", "--style", "paper", "--width", "double",
                 "--vmax", "2", "--value", "test_loss", "--out", out)
    assert res.exit_code == 0, res.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Type3" not in pdf


def test_compare_two_files(files):
    for kind in ("contour", "surface", "line"):
        out = files["dir"] / f"cmp_{kind}.png"
        res = invoke("compare", files["a"], files["b"], "--kind", kind, "--out", out, "--style", "slides")
        assert res.exit_code == 0, res.output
        with Image.open(out) as im:
            w, h = im.size
            assert w > h  # 16:9 slide
    res = invoke("compare", files["a"], files["b"], "--title", "skip", "--title", "no skip",
                 "--out", files["dir"] / "t.svg")
    assert res.exit_code == 0, res.output
    svg = (files["dir"] / "t.svg").read_text()
    assert "no skip" in svg and "train loss (linear, clipped at" in svg


def test_export_vtp_obj_gif(files):
    res = invoke("export", files["a"], "--out", files["dir"] / "s.vtp")
    assert res.exit_code == 0, res.output
    piece = ET.parse(files["dir"] / "s.vtp").getroot().find("PolyData/Piece")
    assert int(piece.get("NumberOfPoints")) == 15 * 15
    res = invoke("export", files["b"], "--to", "obj", "--out", files["dir"] / "s.obj", "--value", "test_loss")
    assert res.exit_code == 0, res.output
    text = (files["dir"] / "s.obj").read_text()
    assert text.count("\nv ") == 225 and text.count("\nf ") == 2 * (14 * 14 - 4)
    res = invoke("export", files["a"], "--to", "gif", "--frames", "3", "--out", files["dir"] / "t.gif")
    assert res.exit_code == 0, res.output
    with Image.open(files["dir"] / "t.gif") as im:
        assert im.n_frames == 3


def test_reference_layout_files_plot(tmp_path):
    ref = reference_file(tmp_path / "ref.h5")
    res = invoke("plot", ref, "--kind", "all", "--out", tmp_path / "ref.png")
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("ref_*.png"))) == 5
    res = invoke("compare", ref, ref, "--kind", "heatmap", "--out", tmp_path / "c.png")
    assert res.exit_code == 0, res.output


def test_bad_input_is_one_line_and_exit_2(files):
    d = files["dir"]
    text = d / "notes.txt"
    text.write_text("not a surface")
    one_line_error(invoke("plot", text, "--out", d / "x.png"), "HDF5")
    one_line_error(invoke("plot", d / "missing.h5", "--out", d / "x.png"), "does not exist")
    one_line_error(invoke("plot", files["line"], "--kind", "contour", "--out", d / "x.png"), "needs a 2D surface")
    one_line_error(invoke("plot", files["a"], "--kind", "pie", "--out", d / "x.png"), "'pie'")
    one_line_error(invoke("plot", files["a"], "--value", "val_loss", "--out", d / "x.png"), "'val_loss'")
    one_line_error(invoke("plot", files["a"], "--style", "poster", "--out", d / "x.png"), "'poster'")
    one_line_error(invoke("plot", files["a"], "--out", d / "x.jpg"), ".png")
    one_line_error(invoke("compare", files["a"], files["line"], "--out", d / "x.png"), "1D")
    one_line_error(invoke("compare", files["a"], files["b"], "--kind", "bars", "--out", d / "x.png"), "'bars'")
    one_line_error(invoke("export", files["a"], "--to", "stl", "--out", d / "x.stl"), "'stl'")
    one_line_error(invoke("export", files["line"], "--to", "obj", "--out", d / "x.obj"), "2D")
    assert not list(d.glob("x.*"))


def test_unknown_kind_through_a_real_subprocess(files):
    script = Path(sys.executable).with_name("landscape")
    cmd = [str(script)] if script.exists() else [sys.executable, "-c", "from landscape import cli; cli.main()"]
    proc = subprocess.run(cmd + ["plot", str(files["a"]), "--kind", "contuor", "--out", str(files["dir"] / "x.png")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("Error: Invalid value for '--kind': 'contuor' is not one of") and "contour" in proc.stderr
    assert "Traceback" not in proc.stderr
