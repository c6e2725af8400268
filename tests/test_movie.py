"""landscape.movie: training as a movie over its PCA plane, written as GIF and MP4 and decoded back."""
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from landscape import cli
from landscape.core import directions, surface
from landscape.plot import movie  # noqa: E402
from landscape.storage import io

EPOCHS = 6


@pytest.fixture
def pca_file(tmp_path, mlp, xy):
    """A real PCA-plane surface: snapshots of the MLP along EPOCHS - 1 SGD steps, the plane through
    them, a 9 x 9 grid framing the path."""
    torch.manual_seed(0)
    X, Y = xy
    opt = torch.optim.SGD(mlp.parameters(), lr=0.5)
    snaps = [{k: v.clone() for k, v in mlp.state_dict().items()}]
    for _ in range(EPOCHS - 1):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(mlp(X), Y).backward()
        opt.step()
        snaps.append({k: v.clone() for k, v in mlp.state_dict().items()})
    dirs = directions.pca(snaps, mlp, n=2, epochs=list(range(EPOCHS)))
    lo, hi = dirs.coords.min(axis=0), dirs.coords.max(axis=0)
    pad = 0.2 * (hi - lo)
    path = tmp_path / "pca.h5"
    surface.compute(mlp, dirs, x=(lo[0] - pad[0], hi[0] + pad[0], 9), y=(lo[1] - pad[1], hi[1] + pad[1], 9),
                    data=xy, path=str(path), progress=False)
    return path


def mp4_frames(path) -> list:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def gif_frames(path) -> list:
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
        return out


@pytest.mark.parametrize("ext", ["mp4", "gif"])
def test_training_movie_has_one_frame_per_epoch(pca_file, tmp_path, ext):
    out = tmp_path / f"path.{ext}"
    res = CliRunner().invoke(cli.main, ["export", str(pca_file), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    frames = mp4_frames(out) if ext == "mp4" else gif_frames(out)
    assert len(frames) == EPOCHS == len(io.load(pca_file).trajectory["epochs"])
    # the marker moves (and the caption changes) from each frame to the next
    for a, b in zip(frames, frames[1:]):
        assert np.abs(a.astype(int) - b.astype(int)).max() > 50
    assert frames[0].shape[0] > 200 and frames[0].std() > 20  # a picture, not a blank


def test_movie_caption_names_epoch_and_loss(pca_file, tmp_path):
    import matplotlib.pyplot as plt

    surf = io.load(pca_file)
    fig = plt.figure()
    update, n = movie._training(fig, surf, "train_loss", log=None, vmin=None, vmax=None, frames=36, elev=30)
    update(n - 1)
    caption = fig.get_supxlabel()
    # the last snapshot is the final model, the plane's origin: its loss is the grid's centre cell's
    origin = surf.values["train_loss"][np.argmin(abs(surf.y)), np.argmin(abs(surf.x))]
    assert caption.startswith(f"epoch {EPOCHS - 1} of {EPOCHS - 1} · train loss ")
    assert float(caption.split("train loss ")[1].split()[0]) == pytest.approx(origin, rel=0.2)


def test_mp4_without_ffmpeg_names_the_extra(pca_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if the extra were not installed
    monkeypatch.setenv("PATH", str(tmp_path))  # and no ffmpeg on PATH
    assert not movie.ffmpeg_available()
    res = CliRunner().invoke(cli.main, ["export", str(pca_file), "--out", str(tmp_path / "a.mp4")])
    assert res.exit_code == 2
    assert res.output.strip() == ("Error: An .mp4 needs ffmpeg, which was not found: "
                                  "pip install 'loss-landscape-lab[movie]' (or write a .gif)")
    assert not (tmp_path / "a.mp4").exists()


def test_rotation_mp4(tmp_path):
    x = np.linspace(-1, 1, 7)
    X, Y = np.meshgrid(x, x)
    s = io.Surface(x=x, y=x.copy(), values={"train_loss": 0.1 + X ** 2 + Y ** 2})
    path = movie.animate(s, tmp_path / "turn.mp4", frames=4, dpi=40, figsize=(3, 2.5))
    assert len(mp4_frames(path)) == 4
