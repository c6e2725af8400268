"""Surfaces as movies (.gif with Pillow, .mp4 with ffmpeg): training epoch by epoch, or a turning surface.

- ``trajectory``: the model's path over the loss contours of its PCA plane (Li et al. 2018,
  section 7), one frame per stored snapshot: a marker at the snapshot, the path so far drawn behind
  it, and a caption with the epoch and the loss on the plane there (bilinear between the grid's
  cells; the snapshot itself lies off the plane by the file's ``trajectory/error``).
- ``rotate``: the 3D surface turning a full circle.

MP4 needs an ffmpeg executable: the one the ``imageio-ffmpeg`` wheel ships (extra ``movie``:
``pip install 'loss-landscape-lab[movie]'``), else one on PATH. Every file is written beside the target and
renamed into place, so a failed movie leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
from typing import Callable, Optional

import numpy as np

from landscape.base import atomic
from landscape.base.errors import check_choice
from landscape.base.extras import DISTRIBUTION, MissingExtra

ANIMATIONS = ("rotate", "trajectory")


def ffmpeg_exe() -> str:
    """The ffmpeg executable: imageio-ffmpeg's bundled binary, else ``ffmpeg`` on PATH; raises
    :class:`~landscape.extras.MissingExtra` naming the ``movie`` extra when there is neither."""
    try:
        import imageio_ffmpeg
    except ImportError:
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise MissingExtra(f"An .mp4 needs ffmpeg, which was not found: pip install '{DISTRIBUTION}[movie]' "
                           "(or write a .gif)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_available() -> bool:
    """Whether an .mp4 can be written here (see :func:`ffmpeg_exe`)."""
    try:
        ffmpeg_exe()
    except MissingExtra:
        return False
    return True


def frame_count(surface, kind: Optional[str] = None, frames: int = 36) -> int:
    """How many frames :func:`animate` writes: one per trajectory snapshot, or ``frames`` turning."""
    kind = kind or ("trajectory" if surface.trajectory else "rotate")
    return len(_path(surface)[0]) if kind == "trajectory" and surface.trajectory else frames


def _path(surface):
    coords = np.asarray(surface.trajectory["coords"], float).reshape(-1, 2)
    epochs = np.asarray(surface.trajectory.get("epochs", np.arange(len(coords))))
    return coords, epochs


def animate(surface, path, *, kind: Optional[str] = None, fmt: Optional[str] = None,
            value: str = "train_loss", frames: int = 36,
            fps: int = 12, dpi: int = 80, figsize=(5.0, 4.2), elev: float = 30.0, log: Optional[bool] = None,
            vmin=None, vmax=None, progress: Optional[Callable[[int, int], None]] = None) -> str:
    """Write an animation of a 2D ``surface`` to ``path`` (.gif or .mp4); returns the path.

    fmt:    'gif' or 'mp4' (default: from the extension of ``path``)
    kind:   'trajectory' (the training path drawn epoch by epoch over the contours; one frame per
            snapshot; needs ``surface.trajectory``) or 'rotate' (the 3D surface turning a full circle
            in ``frames`` steps); default: 'trajectory' if the surface has one, else 'rotate'
    log:    as for the plots (None or False: linear; True: log10 heights and colours)
    progress: optional callback(frame, total)
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib import animation

    path = os.fspath(path)
    ext = fmt or os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in ("gif", "mp4"):
        raise ValueError(f"An animation is written as .gif or .mp4, but {path!r} was passed; "
                         "end the file name in .gif or .mp4.")
    ffmpeg = ffmpeg_exe() if ext == "mp4" else None
    if kind is None:
        kind = "trajectory" if surface.trajectory else "rotate"
    check_choice("kind", kind, ANIMATIONS)
    if surface.ndim != 2:
        raise ValueError(f"An animation needs a 2D surface, but {surface.label()!r} is 1D.")
    if frames < 2:
        raise ValueError(f"The value for `frames` must be at least 2, but {frames!r} was passed.")
    if kind == "trajectory" and not surface.trajectory:
        raise ValueError(f"kind='trajectory' needs a surface with a trajectory (PCA directions), "
                         f"but {surface.label()!r} has none; use kind='rotate'.")

    fig = plt.figure(figsize=figsize, dpi=dpi, layout="constrained")
    try:
        draw = _rotation if kind == "rotate" else _training
        update, n = draw(fig, surface, value, log=log, vmin=vmin, vmax=vmax, frames=frames, elev=elev)
        if ext == "gif":
            writer, rc = animation.PillowWriter(fps=fps), {}
        else:
            writer, rc = animation.FFMpegWriter(fps=fps), {"animation.ffmpeg_path": ffmpeg}
        with matplotlib.rc_context(rc), atomic.replacing(path, "." + ext) as tmp:
            with writer.saving(fig, str(tmp), dpi):
                for i in range(n):
                    update(i)
                    writer.grab_frame()
                    if progress:
                        progress(i + 1, n)
    finally:
        plt.close(fig)
    return path


def _rotation(fig, surface, value, *, log, vmin, vmax, frames, elev):
    from landscape import plot

    # short labels: long ones leave the frame as it turns
    ax = plot.surface3d(surface, value, fig.add_subplot(projection="3d"), log=log, vmin=vmin, vmax=vmax,
                        short_labels=True)
    azim0 = ax.azim

    def update(i):
        ax.view_init(elev=elev, azim=azim0 + 360.0 * i / frames)
    return update, frames


def _training(fig, surface, value, *, log, vmin, vmax, frames, elev):
    from landscape import plot

    from ._draw import TRAJECTORY_COLOR
    from ._labels import value_label
    from ._scale import get_values
    from .surface3d import heights_at

    ax = plot.contourf(surface, value, fig.add_subplot(), log=log, vmin=vmin, vmax=vmax, trajectory=False)
    coords, epochs = _path(surface)
    at = heights_at(surface, get_values(surface, value), coords)  # the value on the plane, per snapshot
    (behind,) = ax.plot([], [], color=TRAJECTORY_COLOR, linewidth=1.5, zorder=9)
    (marker,) = ax.plot([], [], color=TRAJECTORY_COLOR, marker="o", markersize=8,
                        markeredgecolor="white", markeredgewidth=1.2, linestyle="none", zorder=10)
    caption = fig.supxlabel(" ", fontsize="small")  # the layout keeps a line for it under the axes
    last = f"{epochs[-1]:g}"

    def update(i):
        behind.set_data(coords[: i + 1, 0], coords[: i + 1, 1])
        marker.set_data(coords[i: i + 1, 0], coords[i: i + 1, 1])
        here = f"{value_label(value)} {at[i]:.4g} on the plane" if np.isfinite(at[i]) else "off the grid"
        caption.set_text(f"epoch {epochs[i]:g} of {last} · {here}")
    return update, len(coords)

