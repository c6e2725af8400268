"""Surfaces to turn in a browser: one self-contained HTML page that works offline (plotly).

``to_html(surface, "surf.html")`` writes a page with the 3D surface (drag to turn it, scroll to
zoom), a contour view of the same value, the training path where the file has one (PCA planes), a
log/linear switch, and the file's settings in a caption. Hovering a cell shows its (x, y) and every
value stored there. ``to_html([a, b], "ab.html")`` puts surfaces side by side on one scale
(colours, z range, contour levels) with their 3D cameras linked: turning one turns them all.

Nothing is fetched: plotly.js (~4.8 MB, most of the page) is written into the file, and the figure
lies in a ``<script type="application/json" id="landscape-figure">`` block (plotly's JSON, arrays as
base64 binary). Heights are clipped like the plots (``landscape.plot._scale``), on the log view in
log10 units with tick labels in the value's own units; hover shows the stored values unclipped.
Needs the ``plotly`` package (``pip install 'loss-landscape-lab[html]'``).
"""
from __future__ import annotations

import html
import json
import os
from typing import Optional, Sequence

import numpy as np

from landscape.base import atomic
from landscape.base.extras import require

from . import _labels
from ._draw import TRAJECTORY_COLOR, trajectory_data
from ._scale import Scale, best_index, get_values, is_accuracy, shared_scale
from .surface3d import heights_at

COLORSCALE = "Viridis"
DEFAULT_CONTOURS = 20
# far enough out that the turned cube and its axis titles stay inside the panel
CAMERA = {"eye": {"x": 1.75, "y": 1.75, "z": 1.1}}
# panel geometry in pixels: a 3D panel above (or, for one surface, beside) its contour panel
PANEL_WIDTH, PANEL_HEIGHT = 560, 470
# Turning one 3D panel turns the others: every camera change (while dragging and at its end) is
# copied to the other scenes. `syncing` stops the copies from echoing back.
_LINK_CAMERAS = """
  var syncing = false;
  function link(ev) {
    if (syncing) return;
    var key = Object.keys(ev).find(function (k) { return /^scene\\d*\\.camera$/.test(k); });
    if (!key) return;
    var update = {};
    Object.keys(gd._fullLayout).filter(function (k) { return /^scene\\d*$/.test(k); }).forEach(function (s) {
      if (s + ".camera" !== key) update[s + ".camera"] = ev[key];
    });
    syncing = true;
    Plotly.relayout(gd, update).then(function () { syncing = false; });
  }
  gd.on("plotly_relayouting", link);
  gd.on("plotly_relayout", link);
"""


def _plotly():
    return require("plotly", "html", "An .html page")


def _drawn(raw: np.ndarray, scale: Scale) -> np.ndarray:
    """Heights in drawing units: clipped into the scale, log10 on a log scale, NaN where missing."""
    return np.asarray(scale.transform(scale.apply(raw).filled(np.nan)), dtype=np.float64)


def _ticks(scale: Scale) -> dict:
    """Axis / colour-bar ticks in drawing units with labels in data units (log10 axes read 0.1, 1, 10)."""
    if not scale.log:
        return {"tickvals": None, "ticktext": None}
    lo, hi = np.log10(scale.vmin), np.log10(scale.vmax)
    vals = []
    for mantissas in ((1,), (1, 3), (1, 2, 5)):  # coarse to fine until there are at least 3 ticks
        vals = [m * 10.0 ** d for d in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in mantissas]
        vals = [v for v in vals if lo - 1e-9 <= np.log10(v) <= hi + 1e-9]
        if len(vals) >= 3:
            break
    return {"tickvals": [float(np.log10(v)) for v in vals], "ticktext": [f"{v:g}" for v in vals]}


def _hover(surface, x_label: str, y_label: str) -> str:
    rows = [f"{x_label} = %{{x:.4g}}", f"{y_label} = %{{y:.4g}}"]
    rows += [f"{_labels.value_label(n)} = %{{customdata[{i}]:.4g}}" for i, n in enumerate(surface.values)]
    return "<br>".join(rows) + "<extra></extra>"


def _cells(surface) -> np.ndarray:
    """(ny, nx, k): every stored value at every cell, in file order (what hover shows)."""
    return np.stack([np.asarray(v, dtype=np.float64) for v in surface.values.values()], axis=-1)


class _Views:
    """The linear and log views of one value over all panels: each view's scale, per-trace data and
    layout, so a button can switch every trace and axis at once."""

    def __init__(self, raws, value, vmin, vmax, levels):
        self.levels = levels
        self.scales = {"linear": shared_scale(raws, vmin, vmax, log=False, value=value)}
        if (vmin is None or vmin > 0) and (vmax is None or vmax > 0):  # a non-positive limit has no log view
            self.scales["log"] = shared_scale(raws, vmin, vmax, log=True, value=value)
        self.label = _labels.value_label(value)
        self.restyle = {name: {} for name in self.scales}   # view -> attribute -> {trace index: value}
        self.relayout = {name: {} for name in self.scales}  # view -> layout path -> value

    def set(self, trace: int, attr: str, per_view) -> None:
        """Give ``trace``'s ``attr`` the value ``per_view(scale)`` in each view."""
        for name, scale in self.scales.items():
            self.restyle[name].setdefault(attr, {})[trace] = per_view(scale)

    def layout(self, path: str, per_view) -> None:
        for name, scale in self.scales.items():
            self.relayout[name][path] = per_view(scale)

    def title(self, scale: Scale) -> str:
        return scale.label(self.label + (" (log scale)" if scale.log else ""))

    def contours(self, scale: Scale) -> dict:
        lo, hi = (np.log10(scale.vmin), np.log10(scale.vmax)) if scale.log else (scale.vmin, scale.vmax)
        return {"start": float(lo), "end": float(hi), "size": float(hi - lo) / (self.levels or DEFAULT_CONTOURS)}

    def buttons(self) -> list:
        """One plotly 'update' button per view. One restyle sets every attribute on every registered
        trace; a trace without that attribute (a contour's ``cmin``) gets null, which plotly ignores."""
        traces = sorted({t for per_trace in self.restyle["linear"].values() for t in per_trace})
        out = []
        for name in self.scales:
            update = {attr: [per_trace.get(t) for t in traces] for attr, per_trace in self.restyle[name].items()}
            out.append({"label": f"{name} scale", "method": "update", "args": [update, self.relayout[name], traces]})
        return out


def figure(surfaces, value: str = "train_loss", *, log: Optional[bool] = None, vmin: Optional[float] = None,
           vmax: Optional[float] = None, levels: Optional[int] = None, titles: Optional[Sequence[str]] = None):
    """A plotly Figure of one or more 2D surfaces: a 3D panel and a contour panel per surface, on
    one shared scale, with a log/linear switch. The page opens on the linear view unless ``log``
    (None or False: linear, as every figure, :mod:`landscape.plot._scale`); the switch turns to the
    log view where the limits allow one. Raises ValueError for a 1D surface or an unknown value."""
    _plotly()
    from plotly.subplots import make_subplots

    surfaces = list(surfaces) if isinstance(surfaces, (list, tuple)) else [surfaces]
    for s in surfaces:
        if s.ndim != 2:
            raise ValueError(f"An .html page shows a 2D surface, but {s.label()!r} is 1D; "
                             "draw a line with `landscape plot --kind line`.")
    if titles is not None and len(titles) != len(surfaces):
        raise ValueError(f"Give one title per surface ({len(surfaces)}) or none, but {len(titles)} were passed.")
    raws = [get_values(s, value) for s in surfaces]
    start = "log" if log else "linear"  # linear unless asked, as every figure (landscape.plot._scale)
    views = _Views(raws, value, vmin, vmax, levels)
    if start not in views.scales:
        raise ValueError(f"A log scale needs positive limits, but vmin={vmin!r} and vmax={vmax!r} were passed.")
    n = len(surfaces)
    titles = list(titles) if titles else [_labels.title(s) for s in surfaces]
    if n == 1:
        rows, cols, specs = 1, 2, [[{"type": "scene"}, {"type": "xy"}]]
        where = [((1, 1), (1, 2))]
        subtitles = [titles[0], f"{titles[0]}: contours"]
    else:
        rows, cols, specs = 2, n, [[{"type": "scene"}] * n, [{"type": "xy"}] * n]
        where = [((1, i + 1), (2, i + 1)) for i in range(n)]
        subtitles = titles + [""] * n
    fig = make_subplots(rows=rows, cols=cols, specs=specs, subplot_titles=subtitles,
                        horizontal_spacing=0.08, vertical_spacing=0.08)
    scale0 = views.scales[start]
    for i, (surface, raw) in enumerate(zip(surfaces, raws)):
        _panel(fig, views, scale0, surface, raw, value, where[i], first=i == 0)
    fig.update_layout(
        width=PANEL_WIDTH * max(n, 2), height=PANEL_HEIGHT * rows, margin=dict(l=40, r=40, t=60, b=40),
        updatemenus=[{"type": "buttons", "direction": "right", "x": 0.0, "y": 1.08, "xanchor": "left",
                      "yanchor": "bottom", "showactive": True, "pad": {"r": 6},
                      "active": list(views.scales).index(start), "buttons": views.buttons()}],
        legend=dict(orientation="h", x=0.2, xanchor="left", y=1.08, yanchor="bottom"),
    )
    fig.update_layout(views.relayout[start])
    return fig


def _panel(fig, views: _Views, scale0: Scale, surface, raw, value, where, first: bool) -> None:
    """The 3D and contour traces of one surface (and its path and minimum), registered with ``views``."""
    import plotly.graph_objects as go

    (r3, c3), (r2, c2) = where
    x, y = np.asarray(surface.x, np.float64), np.asarray(surface.y, np.float64)
    x_label, y_label = _labels.axis_label(surface, 0, short=True), _labels.axis_label(surface, 1, short=True)
    cells, hover = _cells(surface), _hover(surface, x_label, y_label)
    colorbar = lambda s: dict(title=dict(text=views.title(s), side="right"), len=0.8, **_ticks(s))  # noqa: E731
    # plotly.js looks a 3D surface's customdata up as [x index][y index], unlike its z [y][x]
    # (plotly/plotly.js#5003): the browser test hovers a cell of a non-square grid to hold it to that
    fig.add_trace(go.Surface(x=x, y=y, z=_drawn(raw, scale0), customdata=cells.transpose(1, 0, 2),
                             hovertemplate=hover,
                             colorscale=COLORSCALE, cmin=_lo(scale0), cmax=_hi(scale0), showscale=first,
                             colorbar=colorbar(scale0), name=surface.label()), row=r3, col=c3)
    t = len(fig.data) - 1
    views.set(t, "z", lambda s: _drawn(raw, s))
    views.set(t, "cmin", _lo)
    views.set(t, "cmax", _hi)
    if first:
        views.set(t, "colorbar", colorbar)
    scene = fig.data[t].scene  # 'scene', 'scene2', ...
    # the whole grid, computed or not: a file still being written shows where its cells are missing
    fig.layout[scene].update(xaxis_title=x_label, yaxis_title=y_label, aspectmode="cube", camera=CAMERA,
                             xaxis_range=[x.min(), x.max()], yaxis_range=[y.min(), y.max()])
    views.layout(f"{scene}.zaxis.range", lambda s: [_lo(s), _hi(s)])
    views.layout(f"{scene}.zaxis.title.text", views.title)
    for key, _ in _ticks(scale0).items():
        views.layout(f"{scene}.zaxis.{key}", lambda s, key=key: _ticks(s)[key])

    fig.add_trace(go.Contour(x=x, y=y, z=_drawn(raw, scale0), customdata=cells, hovertemplate=hover,
                             colorscale=COLORSCALE, zmin=_lo(scale0), zmax=_hi(scale0), showscale=False,
                             contours=views.contours(scale0), line=dict(width=0.5), name=surface.label(),
                             showlegend=False), row=r2, col=c2)
    t = len(fig.data) - 1
    views.set(t, "z", lambda s: _drawn(raw, s))
    views.set(t, "zmin", _lo)
    views.set(t, "zmax", _hi)
    views.set(t, "contours", views.contours)
    # the grid's own limits: a marker on its edge must not pad the axes with an empty strip
    fig.update_xaxes(title_text=x_label, range=[x.min(), x.max()], row=r2, col=c2)
    fig.update_yaxes(title_text=y_label, range=[y.min(), y.max()], row=r2, col=c2)

    best = best_index(raw, value)
    if best is not None:
        iy, ix = best
        fig.add_trace(go.Scatter(x=[x[ix]], y=[y[iy]], mode="markers",
                                 name="maximum" if is_accuracy(value) else "minimum",
                                 marker=dict(symbol="star", size=13, color="white", line=dict(color="black", width=1)),
                                 customdata=[cells[iy, ix]], hovertemplate=hover, showlegend=first), row=r2, col=c2)
    traj = trajectory_data(surface, None)
    if traj is not None:
        coords = np.asarray(traj["coords"], np.float64).reshape(-1, 2)
        epochs = np.asarray(traj.get("epochs", np.arange(len(coords))))
        path = dict(color=TRAJECTORY_COLOR, width=3)
        text = [f"epoch {e:g}" for e in epochs]
        fig.add_trace(go.Scatter(x=coords[:, 0], y=coords[:, 1], mode="lines+markers", name="training path",
                                 line=path, marker=dict(size=4, color=TRAJECTORY_COLOR), text=text,
                                 hovertemplate=f"%{{text}}<br>{x_label} = %{{x:.4g}}<br>{y_label} = %{{y:.4g}}"
                                               "<extra></extra>", showlegend=first), row=r2, col=c2)
        # on the surface (NaN off the grid), lifted by 1% of the z range so the surface does not hide it
        heights = lambda s: heights_at(surface, _drawn(raw, s), coords) + 0.01 * (_hi(s) - _lo(s))  # noqa: E731
        fig.add_trace(go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=heights(scale0), mode="lines+markers",
                                   name="training path", line=path, marker=dict(size=2, color=TRAJECTORY_COLOR),
                                   text=text, hovertemplate="%{text}<extra></extra>", showlegend=False),
                      row=r3, col=c3)
        views.set(len(fig.data) - 1, "z", heights)


def _lo(scale: Scale) -> float:
    return float(np.log10(scale.vmin)) if scale.log else float(scale.vmin)


def _hi(scale: Scale) -> float:
    return float(np.log10(scale.vmax)) if scale.log else float(scale.vmax)


# --- the page ---------------------------------------------------------------------------------------

def _caption(surface, value: str) -> str:
    """One line of the settings that matter most, then every attribute in a table that unfolds."""
    a = surface.attrs
    grid = " × ".join(str(n) for n in reversed(surface.shape))
    done = surface.done()
    parts = [f"<b>{html.escape(surface.label())}</b>", html.escape(_labels.value_label(value)),
             f"{grid} grid ({int(done.sum())}/{done.size} cells done)"]
    if a.get("direction_kind"):
        dirs = f"{a['direction_kind']} directions"
        extra = [f"{k} {a[k]}" for k in ("norm", "ignore") if a.get(k) not in (None, "", "none")]
        if isinstance(a.get("seed"), (int, np.integer)) and a["seed"] >= 0:  # PCA planes record -1: no seed
            extra.append(f"seed {a['seed']}")
        parts.append(html.escape(dirs + (f" ({', '.join(extra)})" if extra else "")))
    if a.get("dataset"):
        samples = f", {a['n_samples']} samples" if a.get("n_samples") else ""
        parts.append(html.escape(f"{a['dataset']} {a.get('splits', '')}{samples}".replace("  ", " ")))
    if surface.path:
        parts.append(f"file <code>{html.escape(os.path.basename(surface.path))}</code>")
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_attr_text(v))}</td></tr>"
                   for k, v in sorted(a.items()))
    return (f"<figcaption>{' · '.join(parts)}<details><summary>all settings</summary>"
            f"<table>{rows}</table></details></figcaption>")


def _attr_text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em; color: #222; }
figcaption { font-size: 0.9em; margin: 0.5em 0 1.5em 0; max-width: 80em; }
figcaption table { border-collapse: collapse; margin-top: 0.4em; font-size: 0.95em; }
figcaption th { text-align: left; padding-right: 1em; font-weight: normal; color: #555; vertical-align: top; }
figcaption td { font-family: ui-monospace, monospace; word-break: break-all; }
"""


def page(surfaces, value: str = "train_loss", *, title: Optional[str] = None, **kwargs) -> str:
    """The HTML text of the page for one surface or a list (see :func:`figure` for the arguments)."""
    plotly = _plotly()
    surfaces = list(surfaces) if isinstance(surfaces, (list, tuple)) else [surfaces]
    fig = figure(surfaces, value, **kwargs)
    title = title or " vs ".join(s.label() for s in surfaces)
    # "</" inside the JSON would end the <script> element early (a model named "</script>")
    data = fig.to_json().replace("</", "<\\/")
    captions = "".join(_caption(s, value) for s in surfaces)
    link = _LINK_CAMERAS if len(surfaces) > 1 else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<figure style="margin: 0">
<div id="landscape-plot"></div>
{captions}
</figure>
<script type="application/json" id="landscape-figure">{data}</script>
<script>
(function () {{
  var fig = JSON.parse(document.getElementById("landscape-figure").textContent);
  var gd = document.getElementById("landscape-plot");
  Plotly.newPlot(gd, fig.data, fig.layout, {{responsive: false, displaylogo: false}});
{link}}})();
</script>
</body>
</html>
"""


def to_html(surfaces, path, value: str = "train_loss", **kwargs) -> str:
    """Write the page for one surface or a list of surfaces to ``path`` (atomically); returns it.

    Keyword arguments: ``log``, ``vmin``, ``vmax``, ``levels`` (about how many contours), ``titles``
    (one per surface), ``title`` (the browser tab's); see :func:`figure`.
    """
    path = os.fspath(path)
    text = page(surfaces, value, **kwargs)
    with atomic.replacing(path, ".html") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
