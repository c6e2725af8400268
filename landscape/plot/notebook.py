"""Surfaces in Jupyter: a cell that ends in a ``Surface`` shows a short summary and a figure.

``Surface._repr_html_`` (the summary table and the figure inline) and ``Surface._repr_png_`` (the
figure alone) call :func:`html` and :func:`png`. The figure is a filled contour for a 2D surface
(with the training path of a PCA plane) and the curves of every value for a 1D one. It is drawn on
a bare matplotlib Figure, not through pyplot, so the notebook's inline backend does not show it a
second time.
"""
from __future__ import annotations

import base64
import html as html_text
from io import BytesIO

import numpy as np

FIGSIZE = (4.6, 3.6)  # inches: a figure that fits beside the summary in a notebook column
DPI = 80


def png(surface, value: str = "train_loss", dpi: int = DPI) -> bytes:
    """PNG bytes of ``surface``: filled contours of ``value`` (2D; the first stored value if there is
    no ``value``) or the curves of every value (1D)."""
    from matplotlib.figure import Figure

    from landscape import plot

    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    if surface.ndim == 1:
        plot.line(surface, ax)
    else:
        plot.contourf(surface, value if value in surface.values else next(iter(surface.values)), ax)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def summary(surface) -> list:
    """(name, text) rows: model, grid and progress, directions, data, and each value's range."""
    a = surface.attrs
    done = surface.done()
    rows = [("model", surface.label()),
            ("grid", f"{' × '.join(str(n) for n in reversed(surface.shape))}, "
                     f"{int(done.sum())}/{done.size} cells done")]
    if a.get("direction_kind"):
        rows.append(("directions", ", ".join(f"{a[k]}" if k == "direction_kind" else f"{k} {a[k]}"
                                             for k in ("direction_kind", "norm", "ignore") if a.get(k))))
    if a.get("dataset"):
        splits = ", ".join(s.strip() for s in str(a.get("splits") or "").split(",") if s.strip())
        rows.append(("data", str(a["dataset"]) + (f" {splits}" if splits else "")
                     + (f", {a['n_samples']} samples" if a.get("n_samples") else "")))
    if surface.path:
        rows.append(("file", str(surface.path)))
    for name in surface.values:
        e = surface.extremes(name)
        rows.append((name, "not computed yet" if e["argmin"] is None else f"{e['min']:.4g} .. {e['max']:.4g}"))
    if surface.trajectory:
        rows.append(("trajectory", f"{len(np.asarray(surface.trajectory['coords']))} snapshots"))
    return rows


def html(surface) -> str:
    """The summary as a small table beside the figure (an inline PNG)."""
    rows = "".join(f"<tr><th style='text-align:left'>{html_text.escape(k)}</th>"
                   f"<td style='text-align:left'>{html_text.escape(v)}</td></tr>" for k, v in summary(surface))
    image = base64.b64encode(png(surface)).decode("ascii")
    return (f"<div style='display:flex;gap:1em;align-items:flex-start'><table>{rows}</table>"
            f"<img alt='{html_text.escape(surface.label())}' src='data:image/png;base64,{image}'></div>")
