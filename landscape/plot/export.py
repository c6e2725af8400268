"""Surfaces out of matplotlib: ParaView (.vtp), a mesh (.obj), a page (.html), movies (.gif, .mp4).

- ``.vtp``: VTK XML PolyData, written by hand (no VTK dependency), as Li et al. 2018 did for their
  ParaView renderings. Points are the grid (x, y, drawn height); one quad per grid cell whose four
  corners are computed; every stored value is a point array (``height`` is the drawn one, clipped
  like the plots). Arrays are inline base64 "binary" so NaN survives (VTK's ASCII parser cannot
  read ``nan``). A 1D surface becomes polylines in the (x, value) plane.
- ``.obj``: Wavefront mesh of the same grid, two triangles per computed cell (Blender, MeshLab).
- ``.html``: one self-contained page to turn the surface in a browser (:mod:`landscape.html`).
- ``.gif`` / ``.mp4``: the training trajectory drawn epoch by epoch over the contours of a PCA-plane
  surface, or the 3D surface turning around (:mod:`landscape.movie`).

Every writer writes a temporary file beside the target and renames it into place.
"""
from __future__ import annotations

import base64
import contextlib
import os
from typing import Optional
from xml.sax.saxutils import quoteattr

import numpy as np

from landscape.base import atomic
from landscape.base.errors import check_choice

from ._scale import get_values, shared_scale
from .movie import animate

FORMATS = ("vtp", "obj", "html", "gif", "mp4")


@contextlib.contextmanager
def _atomic(path: str, suffix: str):
    """Yield a temporary path (ending in ``suffix``, which writers read the format from) beside
    ``path``; it replaces ``path`` only if the block succeeds (``landscape.atomic``)."""
    with atomic.replacing(path, suffix) as tmp:
        yield str(tmp)


def heights(surface, value: str = "train_loss", *, log: bool = False, vmin=None, vmax=None):
    """``(z, ok, scale)``: drawn heights (clipped like the plots; log10 if ``log``), shape
    ``surface.shape``, with missing cells set to the lowest height; ``ok`` marks computed cells."""
    raw = get_values(surface, value)
    # geometry is linear unless asked: a mesh in log10 units is a different shape, not a colour choice
    scale = shared_scale([raw], vmin=vmin, vmax=vmax, log=bool(log), value=value)
    ok = ~np.isnan(raw)
    z = scale.transform(scale.apply(raw).filled(scale.vmin))
    return np.asarray(z, dtype=np.float64), ok, scale


# --- VTK PolyData ------------------------------------------------------------------------------

def _b64(array: np.ndarray) -> str:
    # uncompressed inline binary: one base64 stream of [UInt64 byte count][little-endian data]
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return base64.b64encode(np.uint64(len(data)).tobytes() + data).decode("ascii")


def _data_array(name: Optional[str], array: np.ndarray, components: int = 1) -> str:
    vtk_type = {"f": "Float64", "i": "Int64", "u": "UInt8"}[array.dtype.kind]
    array = array.astype({"f": np.float64, "i": np.int64, "u": np.uint8}[array.dtype.kind])
    name_attr = f" Name={quoteattr(name)}" if name else ""
    comp = f' NumberOfComponents="{components}"' if components != 1 else ""
    return f'<DataArray type="{vtk_type}"{name_attr}{comp} format="binary">{_b64(array.ravel())}</DataArray>'


def cell_faces(ok: np.ndarray) -> np.ndarray:
    """(m, 4) point indices of the quads of cells whose 4 corners are computed; ``ok`` is (ny, nx),
    points numbered row-major (index = iy * nx + ix), corners counter-clockwise."""
    ny, nx = ok.shape
    cell_ok = ok[:-1, :-1] & ok[:-1, 1:] & ok[1:, 1:] & ok[1:, :-1]
    iy, ix = np.nonzero(cell_ok)
    p = iy * nx + ix
    return np.stack([p, p + 1, p + nx + 1, p + nx], axis=1)


def _runs(ok: np.ndarray) -> list:
    """Index ranges of consecutive computed points in a 1D mask (each a polyline of >= 2 points)."""
    runs, start = [], None
    for i, good in enumerate(list(ok) + [False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            if i - start >= 2:
                runs.append(np.arange(start, i))
            start = None
    return runs


def to_vtp(surface, path, value: str = "train_loss", *, log: bool = False, vmin=None, vmax=None,
           zscale: float = 1.0) -> str:
    """Write ``surface`` as VTK XML PolyData for ParaView; returns the path.

    Points: (x, y, zscale * height) for a 2D surface, (x, height, 0) for a 1D one, where height is
    ``value`` clipped like the plots (log10 of it with ``log``). Point arrays: ``height``, a
    ``computed`` 0/1 mask, and every value in the file (NaN where not computed, ±inf as NaN).
    """
    path = os.fspath(path)
    z, ok, scale = heights(surface, value, log=log, vmin=vmin, vmax=vmax)
    x = np.asarray(surface.x, dtype=np.float64)
    if surface.ndim == 2:
        X, Y = np.meshgrid(x, np.asarray(surface.y, dtype=np.float64))
        points = np.stack([X.ravel(), Y.ravel(), zscale * z.ravel()], axis=1)
        polys = cell_faces(ok)
        lines: list = []
    else:
        points = np.stack([x, z, np.zeros_like(x)], axis=1)
        polys = np.zeros((0, 4), dtype=np.int64)
        lines = _runs(ok)
    arrays = [_data_array("height", z.ravel()), _data_array("computed", ok.ravel().astype(np.uint8))]
    for name in surface.values:
        v = np.asarray(surface.values[name], dtype=np.float64).ravel()
        arrays.append(_data_array(name, np.where(np.isfinite(v), v, np.nan)))
    out = [
        '<?xml version="1.0"?>',
        "<!-- landscape surface: value=%s%s model=%s -->" % (
            value, " (log10)" if scale.log else "", str(surface.label()).replace("--", "-")),
        '<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
        "<PolyData>",
        f'<Piece NumberOfPoints="{len(points)}" NumberOfVerts="0" NumberOfLines="{len(lines)}" '
        f'NumberOfStrips="0" NumberOfPolys="{len(polys)}">',
        '<PointData Scalars="height">', *arrays, "</PointData>",
        "<Points>", _data_array(None, points, components=3), "</Points>",
    ]
    for tag, cells in (("Lines", lines), ("Polys", list(polys))):
        if len(cells):
            conn = np.concatenate(cells).astype(np.int64)
            offsets = np.cumsum([len(c) for c in cells]).astype(np.int64)
            out += [f"<{tag}>", _data_array("connectivity", conn), _data_array("offsets", offsets), f"</{tag}>"]
    out += ["</Piece>", "</PolyData>", "</VTKFile>", ""]
    with _atomic(path, ".vtp") as tmp, open(tmp, "w") as fh:
        fh.write("\n".join(out))
    return path


# --- Wavefront OBJ -----------------------------------------------------------------------------

def to_obj(surface, path, value: str = "train_loss", *, log: bool = False, vmin=None, vmax=None,
           zscale: float = 1.0) -> str:
    """Write a 2D ``surface`` as a triangle mesh (.obj); returns the path.

    One vertex per grid point (x, y, zscale * height; row-major, 1-based in the file), two
    triangles per cell whose 4 corners are computed. Heights as in :func:`to_vtp`.
    """
    path = os.fspath(path)
    if surface.ndim != 2:
        raise ValueError(f"An .obj mesh needs a 2D surface, but {surface.label()!r} is 1D; use .vtp for a line.")
    z, ok, scale = heights(surface, value, log=log, vmin=vmin, vmax=vmax)
    X, Y = np.meshgrid(np.asarray(surface.x, float), np.asarray(surface.y, float))
    quads = cell_faces(ok) + 1  # OBJ indices start at 1
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]) if len(quads) else np.zeros((0, 3), int)
    with _atomic(path, ".obj") as tmp, open(tmp, "w") as fh:
        fh.write(f"# landscape surface: {surface.label()}, value={value}{' (log10)' if scale.log else ''}, "
                 f"grid {len(surface.y)}x{len(surface.x)} [y, x], {len(tris)} triangles\n")
        fh.write("o surface\n")
        np.savetxt(fh, np.stack([X.ravel(), Y.ravel(), zscale * z.ravel()], axis=1), fmt="v %.9g %.9g %.9g")
        np.savetxt(fh, tris, fmt="f %d %d %d")
    return path


# --- one entry point -----------------------------------------------------------------------------

def export(surface, path, to: Optional[str] = None, value: str = "train_loss", **kwargs) -> str:
    """Write ``surface`` to ``path`` as ``to`` ('vtp', 'obj', 'html', 'gif', 'mp4'; default: the
    extension). Keyword arguments go to :func:`to_vtp`, :func:`to_obj`,
    :func:`landscape.html.to_html` or :func:`landscape.movie.animate`. Returns the path.
    """
    path = os.fspath(path)
    if to is None:
        to = os.path.splitext(path)[1].lower().lstrip(".")
    check_choice("to", to, FORMATS)
    if to == "vtp":
        return to_vtp(surface, path, value, **kwargs)
    if to == "obj":
        return to_obj(surface, path, value, **kwargs)
    if to == "html":
        from . import html

        return html.to_html(surface, path, value, **kwargs)
    return animate(surface, path, fmt=to, value=value, **kwargs)
