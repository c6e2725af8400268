"""A direction ensemble drawn whole: one panel per plane on shared levels (``--kind planes``).

K random planes of one model (``surface.compute(..., planes=K)``) differ only in the seed of their
directions; drawing them side by side on one scale shows which features of a contour plot are the
model's and which are the draw's. 1D ensembles draw as one line plot: the median over planes, the
band holding 95% of them, and every plane as a thin curve (:func:`landscape.plot.line`).
"""
from __future__ import annotations

import math
from typing import Optional

from matplotlib.figure import Figure

from .compare import compare


def planes(surface, value: str = "train_loss", kind: str = "contour", cols: Optional[int] = None,
           **kwargs) -> Figure:
    """One ``kind`` panel per plane of ``surface`` (contour by default), all on one colour scale and set
    of levels, titled by plane and seed; a Figure. ``kwargs`` go to :func:`landscape.plot.compare`
    (levels, vmin, vmax, log, ...). Raises ValueError for a surface without an ensemble or a 1D one
    (draw that with ``line``: median, band and each plane)."""
    if surface.planes is None:
        raise ValueError("--kind planes draws a direction ensemble: this file holds one plane; make one with "
                         "`landscape surface ... --planes K` (surface.compute(..., planes=K)).")
    if surface.ndim != 2:
        raise ValueError("--kind planes draws 2D planes; a 1D ensemble is drawn by --kind line (the median over "
                         "lines, their 95% band and each line).")
    K = len(surface.planes)
    cols = cols or min(K, 4 if K > 4 else K)
    rows = math.ceil(K / cols)
    panels = surface.each_plane() + [None] * (rows * cols - K)
    titles = [f"plane {k} (seed {int(s)})" for k, s in enumerate(surface.planes.seeds)] + [""] * (rows * cols - K)
    kwargs.pop("trajectory", None)
    fig = compare(panels, kind=kind, value=value, grid=(rows, cols), titles=titles, row_labels=None, col_labels=None,
                  **kwargs)
    fig.suptitle(f"{surface.label()}: {K} random planes, one colour scale")
    return fig
