"""landscape.export: VTK PolyData (.vtp), OBJ meshes, GIF animations (movies: test_movie.py)."""
import base64
import os
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from landscape.plot import export  # noqa: E402
from landscape.storage.io import Surface  # noqa: E402


def grid(nx=7, ny=5, name="mlp20"):
    x, y = np.linspace(-1, 1, nx), np.linspace(-0.5, 0.5, ny)
    X, Y = np.meshgrid(x, y)
    loss = 0.1 + X ** 2 + Y ** 2
    return Surface(x=x, y=y, values={"train_loss": loss, "train_acc": 1 / (1 + loss)},
                   attrs={"model_name": name, "direction_kind": "random", "norm": "filter"})


def decode(el):
    """A VTK inline-binary DataArray -> numpy (UInt64 byte-count header, then the data)."""
    raw = base64.b64decode(el.text)
    nbytes = int(np.frombuffer(raw[:8], dtype="<u8")[0])
    dtype = {"Float64": "<f8", "Int64": "<i8", "UInt8": "u1"}[el.get("type")]
    data = np.frombuffer(raw[8:], dtype=dtype)
    assert data.nbytes == nbytes
    return data


def test_vtp_is_polydata_xml_with_the_grid_points_and_quads(tmp_path):
    s = grid()
    s.values["train_loss"][2, 3] = np.nan  # one missing point removes the 4 cells around it
    path = export.to_vtp(s, tmp_path / "s.vtp")
    root = ET.parse(path).getroot()
    assert root.get("type") == "PolyData"
    piece = root.find("PolyData/Piece")
    assert int(piece.get("NumberOfPoints")) == 7 * 5
    assert int(piece.get("NumberOfPolys")) == 6 * 4 - 4
    pts = decode(piece.find("Points/DataArray")).reshape(-1, 3)
    assert pts.shape == (35, 3)
    X, Y = np.meshgrid(s.x, s.y)
    assert np.allclose(pts[:, 0], X.ravel()) and np.allclose(pts[:, 1], Y.ravel())
    ok = ~np.isnan(s.values["train_loss"].ravel())
    assert np.allclose(pts[ok, 2], s.values["train_loss"].ravel()[ok])
    conn = decode(piece.find("Polys/DataArray[@Name='connectivity']"))
    offsets = decode(piece.find("Polys/DataArray[@Name='offsets']"))
    assert len(conn) == 4 * 20 and list(offsets[:2]) == [4, 8]
    assert 2 * 7 + 3 not in set(conn.tolist())  # the missing point is in no quad
    arrays = {a.get("Name"): decode(a) for a in piece.findall("PointData/DataArray")}
    assert set(arrays) == {"height", "computed", "train_loss", "train_acc"}
    assert np.isnan(arrays["train_loss"][2 * 7 + 3]) and arrays["computed"][2 * 7 + 3] == 0


def test_vtp_clips_infinite_heights_and_can_use_log(tmp_path):
    s = grid()
    s.values["train_loss"][0, 0] = np.inf
    root = ET.parse(export.to_vtp(s, tmp_path / "s.vtp", log=True)).getroot()
    pts = decode(root.find("PolyData/Piece/Points/DataArray")).reshape(-1, 3)
    assert np.all(np.isfinite(pts))
    finite = s.values["train_loss"][np.isfinite(s.values["train_loss"])]
    assert pts[0, 2] == pytest.approx(np.log10(finite.max()))


def test_vtp_of_a_1d_surface_is_polylines_split_at_gaps(tmp_path):
    x = np.linspace(-1, 1, 9)
    loss = x ** 2 + 0.1
    loss[4] = np.nan
    s = Surface(x=x, y=None, values={"train_loss": loss})
    piece = ET.parse(export.to_vtp(s, tmp_path / "l.vtp")).getroot().find("PolyData/Piece")
    assert int(piece.get("NumberOfPoints")) == 9
    assert int(piece.get("NumberOfLines")) == 2
    assert list(decode(piece.find("Lines/DataArray[@Name='offsets']"))) == [4, 8]


def test_obj_vertex_and_face_counts(tmp_path):
    s = grid(nx=6, ny=4)
    s.values["train_loss"][0, 0] = np.nan  # removes one corner cell
    path = export.to_obj(s, tmp_path / "s.obj")
    lines = open(path).read().splitlines()
    verts = [l for l in lines if l.startswith("v ")]
    faces = [l for l in lines if l.startswith("f ")]
    assert len(verts) == 6 * 4
    assert len(faces) == 2 * (5 * 3 - 1)
    idx = np.array([[int(t) for t in f.split()[1:]] for f in faces])
    assert idx.min() >= 1 and idx.max() <= 24 and 1 not in idx  # vertex 1 (the NaN one) unused
    v = np.array([[float(t) for t in l.split()[1:]] for l in verts])
    assert v[7, 2] == pytest.approx(s.values["train_loss"][1, 1])


def test_obj_needs_2d(tmp_path):
    s = Surface(x=np.linspace(-1, 1, 5), y=None, values={"train_loss": np.ones(5)})
    with pytest.raises(ValueError, match="2D"):
        export.to_obj(s, tmp_path / "l.obj")
    assert not (tmp_path / "l.obj").exists()


def test_gif_rotation_has_frames(tmp_path):
    path = export.export(grid(), tmp_path / "turn.gif", frames=4, dpi=40, figsize=(3, 2.5))
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 4


def test_gif_trajectory_has_one_frame_per_epoch(tmp_path):
    s = grid()
    s.trajectory = {"coords": np.array([[0.8, 0.4], [0.4, 0.2], [0.1, 0.05], [0.0, 0.0]]), "epochs": np.arange(4)}
    path = export.animate(s, tmp_path / "path.gif", dpi=40, figsize=(3, 2.5))
    with Image.open(path) as im:
        assert im.n_frames == 4
    with pytest.raises(ValueError, match="trajectory"):
        export.animate(grid(), tmp_path / "x.gif", kind="trajectory")


def test_unknown_format_and_no_leftovers(tmp_path):
    with pytest.raises(ValueError, match=r"`to`.*\['vtp', 'obj', 'html', 'gif', 'mp4'\].*'stl'"):
        export.export(grid(), tmp_path / "a.stl")
    export.export(grid(), tmp_path / "a.vtp")
    export.export(grid(), tmp_path / "a.obj")
    assert sorted(os.listdir(tmp_path)) == ["a.obj", "a.vtp"]


def test_written_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = export.to_obj(grid(), tmp_path / "a.obj")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
