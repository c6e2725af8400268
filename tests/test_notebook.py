"""Surfaces and progress bars in Jupyter: the repr methods, and a notebook run in a real kernel."""
import base64
import io as bytes_io
import re

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from landscape.base import progress  # noqa: E402
from landscape.storage import io


def surface(ndim=2):
    x = np.linspace(-1, 1, 9)
    if ndim == 1:
        return io.Surface(x=x, y=None, values={"train_loss": 0.1 + x ** 2, "train_acc": 1 / (1.1 + x ** 2)},
                          attrs={"model_name": "line20"})
    X, Y = np.meshgrid(x, x[:7])
    loss = 0.1 + X ** 2 + 2 * Y ** 2
    loss[0, 0] = np.nan  # a cell not computed yet
    return io.Surface(x=x, y=x[:7].copy(), values={"train_loss": loss, "train_acc": 1 / (1 + loss)},
                      attrs={"model_name": "mlp20", "direction_kind": "random", "norm": "filter",
                             "dataset": "digits", "n_samples": 1437})


@pytest.mark.parametrize("ndim", [1, 2])
def test_repr_png_is_the_figure(ndim):
    png = surface(ndim)._repr_png_()
    with Image.open(bytes_io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size[0] > 300
        rgb = np.asarray(im.convert("RGB")).astype(int)
    coloured = (rgb.max(axis=2) - rgb.min(axis=2) > 60).mean()
    assert coloured > (0.3 if ndim == 2 else 0.01)  # filled contours, or the curves


def test_repr_html_is_a_summary_and_the_figure():
    s = surface()
    text = s._repr_html_()
    assert "<th style='text-align:left'>grid</th><td style='text-align:left'>9 × 7, 62/63 cells done</td>" in text
    assert "random, norm filter" in text and "digits, 1437 samples" in text
    lo, hi = np.nanmin(s.values["train_loss"]), np.nanmax(s.values["train_loss"])
    assert f"{lo:.4g} .. {hi:.4g}" in text
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text).group(1))
    assert png == s._repr_png_()


def test_not_a_notebook_here():
    assert not progress.in_notebook()
    assert type(progress.bar(3, "x")).__name__ == "_LogBar"  # pytest's stderr is no TTY


NOTEBOOK_CELLS = [
    # a surface computed in the kernel, with its progress bar
    """import torch, landscape
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
X, Y = torch.randn(64, 4), torch.randint(0, 3, (64,))
dirs = landscape.directions.random(model, n=2, seed=0)
surf = landscape.surface.compute(model, dirs, x=(-1, 1, 5), y=(-1, 1, 5), data=(X, Y), path=PATH)""",
    # a cell ending in the surface shows it
    "landscape.io.load(PATH)",
]


def test_in_a_jupyter_kernel(tmp_path):
    """Run a notebook in a real IPython kernel: the surface's progress bar is a widget, and a cell
    ending in a Surface shows the summary and the figure."""
    nbformat = pytest.importorskip("nbformat", reason="needs nbformat, nbclient, ipykernel (the test extra)")
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient (the test extra)")
    pytest.importorskip("ipykernel", reason="needs ipykernel (the test extra)")
    pytest.importorskip("ipywidgets", reason="needs ipywidgets (the test extra)")
    path = tmp_path / "nb.h5"
    cells = [nbformat.v4.new_code_cell(f"PATH = {str(path)!r}")]
    cells += [nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS]
    nb = nbformat.v4.new_notebook(cells=cells)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    bar_outputs = nb.cells[1].outputs
    widgets = [o for o in bar_outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, bar_outputs  # a notebook widget, not lines of text on stderr
    assert not [o for o in bar_outputs if o.get("name") == "stderr" and "surface:" in o.get("text", "")]
    shown = nb.cells[2].outputs[0]["data"]
    assert "25/25 cells done" in shown["text/html"]
    with Image.open(bytes_io.BytesIO(base64.b64decode(shown["image/png"]))) as im:
        assert im.format == "PNG"
