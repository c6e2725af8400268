"""Reading the reference code's surface files (tomgoldstein/loss-landscape, ``plot_surface.py``):
its dataset names, its "not computed" sentinel (-1), its [y, x] buffer order and accuracies in
percent. ``io.load`` hands such files here; landscape's own files keep the same root datasets, so the
reference's plot scripts read ours too."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from landscape.base.errors import FileFormatError

from . import h5attrs
from .surfacedata import Surface

VALUE_NAMES = ("train_loss", "train_acc", "test_loss", "test_acc")
REFERENCE_FORMAT = "loss-landscape (reference layout)"


def value_order(name: str) -> tuple:
    """train_loss, train_acc, test_loss, test_acc first (the reference order), then others by name."""
    return (VALUE_NAMES.index(name), "") if name in VALUE_NAMES else (len(VALUE_NAMES), name)


def load_reference(f, attrs: Dict[str, Any], path) -> Surface:
    """The reference code's layout (tomgoldstein/loss-landscape, plot_surface.py).

    It fills value arrays with -1 for "not computed" and stores a 2D array with shape
    (len(x), len(y)) whose flat buffer is the row-major [y, x] grid (``losses.ravel()[ind]`` with
    ``ind`` from ``np.meshgrid(x, y)``); so we reshape the buffer to (ny, nx) — for square grids this
    changes nothing. Accuracies are in percent there and become fractions here.
    """
    import h5py

    if "format" in attrs:  # another landscape file: a path file (`landscape connect`), a direction file
        raise FileFormatError(f"{str(path)!r} is a {attrs['format']} file, not a surface file; `landscape info` "
                              "shows what it holds (path files: landscape.pathfile.load).")
    if "xcoordinates" not in f:
        raise FileFormatError(f"{str(path)!r} is neither a landscape surface file nor in the reference layout "
                              "(no 'xcoordinates' dataset).")
    x = np.asarray(f["xcoordinates"][()], dtype=np.float64).reshape(-1)
    y = np.asarray(f["ycoordinates"][()], dtype=np.float64).reshape(-1) if "ycoordinates" in f else None
    shape = (len(x),) if y is None else (len(y), len(x))
    values = {}
    for name, ds in f.items():
        if not isinstance(ds, h5py.Dataset) or name in ("xcoordinates", "ycoordinates"):
            continue
        if ds.dtype.kind in "fi" and ds.size == int(np.prod(shape)) and ds.ndim == len(shape):
            v = np.asarray(ds[()], dtype=np.float64).reshape(shape)
            v[v == -1] = np.nan
            if name.endswith("_acc"):
                v = v / 100.0
            values[name] = v
        elif ds.dtype.kind in "SOU" and ds.shape == ():
            attrs[name] = h5attrs.plain(ds[()])
    values = {k: values[k] for k in sorted(values, key=value_order)}
    attrs.setdefault("format", REFERENCE_FORMAT)
    return Surface(x=x, y=y, values=values, attrs=attrs, path=str(path))
