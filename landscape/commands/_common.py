"""Pieces shared by the subcommands: parameter types, common options, device and thread setup."""
from __future__ import annotations

import math
from dataclasses import dataclass

import click

MAX_GRID_POINTS_PER_AXIS = 10001


@dataclass(frozen=True)
class Range:
    """An evenly spaced axis ``start:stop:num`` (both ends included), like ``numpy.linspace``."""

    start: float
    stop: float
    num: int

    def as_tuple(self):
        return (self.start, self.stop, self.num)


class RangeType(click.ParamType):
    """``MIN:MAX:NUM`` such as ``-1:1:51``: MIN < MAX, finite, 1 < NUM <= 10001, and the NUM evenly
    spaced points finite and distinct (what ``landscape.surface.axis`` samples)."""

    name = "MIN:MAX:NUM"

    def convert(self, value, param, ctx):
        if isinstance(value, Range):
            return value
        parts = str(value).split(":")
        if len(parts) != 3:
            self.fail(f"{value!r} is not of the form MIN:MAX:NUM (for example -1:1:51).", param, ctx)
        try:
            start, stop = float(parts[0]), float(parts[1])
        except ValueError:
            self.fail(f"{value!r}: MIN and MAX must be numbers (for example -1:1:51).", param, ctx)
        try:
            num = int(parts[2])
        except ValueError:
            self.fail(f"{value!r}: NUM must be a whole number of points (for example -1:1:51).", param, ctx)
        if not (math.isfinite(start) and math.isfinite(stop)):
            self.fail(f"{value!r}: MIN and MAX must be finite.", param, ctx)
        if not start < stop:
            self.fail(f"{value!r}: MIN must be less than MAX.", param, ctx)
        if not 2 <= num <= MAX_GRID_POINTS_PER_AXIS:
            self.fail(f"{value!r}: NUM must be between 2 and {MAX_GRID_POINTS_PER_AXIS}.", param, ctx)
        # the coordinates must be finite and distinct: -1e308:1e308:3 overflows to inf, and
        # 1:1.0000000000000002:3 leaves no float between the ends for the middle point
        pts = self.points(start, stop, num)
        if not (math.isfinite(stop - start) and all(math.isfinite(p) for p in pts)
                and all(b > a for a, b in zip(pts, pts[1:]))):
            self.fail(f"{value!r}: MIN and MAX are too far apart or too close for {num} distinct points.", param, ctx)
        return Range(start, stop, num)

    @staticmethod
    def points(start: float, stop: float, num: int):
        """The coordinates ``numpy.linspace(start, stop, num)`` gives (what the surface samples)."""
        import numpy as np

        with np.errstate(all="ignore"):
            return np.linspace(start, stop, num).tolist()


RANGE = RangeType()


class FiniteFloat(click.ParamType):
    """A finite number (``float`` accepts ``nan`` and ``inf``, which no colour scale or limit means)."""

    name = "FLOAT"

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r}: give a finite number.", param, ctx)
        return number


FINITE = FiniteFloat()


def device_option(f):
    return click.option(
        "--device", default="auto", show_default=True, metavar="auto|cpu|cuda|cuda:N",
        help="Where to compute; auto picks CUDA when available.")(f)


THREADS_HELP = ("CPU threads (0: automatic: 1 for small models, else the cores not busy with other work; "
                "see docs/scaling.md).")


def threads_option(f):
    return click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True, help=THREADS_HELP)(f)


ROOT_HELP = "Data root for on-disk datasets [default: $LANDSCAPE_DATA or ~/.cache/landscape/data]."


def data_root_option(dest: str = "root", **kwargs):
    """``--data-root DIR`` (also ``--root``, its old name in some commands) into parameter ``dest``."""
    return click.option("--data-root", "--root", dest, type=click.Path(file_okay=False, **kwargs), default=None,
                        help=ROOT_HELP)


def progress_option(help: str = "Show progress bars with ETA (on stderr)."):
    """``--progress/--no-progress``; ``-q`` and ``--quiet`` are short for ``--no-progress``."""
    return click.option("--progress/--no-progress", " /-q", " /--quiet", "progress", default=True, show_default=True,
                        help=help)


def setup_compute(device: str = "auto", threads: int = 0):
    """Apply ``--threads`` and resolve ``--device`` to a ``torch.device`` (ValueError if unavailable).

    ``--threads N`` holds for the rest of the command (``landscape.threads.fixed``); 0 lets each job
    choose (``landscape.threads.auto``)."""
    import torch

    if threads:
        from landscape.core import threads as threads_mod

        click.get_current_context().with_resource(threads_mod.fixed(threads))
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise click.BadParameter(f"{device!r} is not a device; use auto, cpu, cuda or cuda:N.", param_hint="--device")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("cuda was asked for but no CUDA device is available; use --device cpu.",
                                 param_hint="--device")
    return dev


@dataclass(frozen=True)
class TrainedOn:
    """What a checkpoint was trained on, as a command evaluating it loads it again: the dataset (or
    the one ``--dataset`` names), its standardization and data root (kept only for that same
    dataset), and the training loss."""

    dataset: str
    normalize: bool
    root: object
    loss: str


def trained_on(ckpt: dict, path, dataset=None, root=None) -> TrainedOn:
    """:class:`TrainedOn` from a checkpoint's ``data`` and ``config``; ValueError when it names no
    dataset and ``--dataset`` gives none."""
    meta = ckpt.get("data") or {}
    recorded = meta.get("dataset") or meta.get("name")
    name = dataset or recorded
    if not name:
        raise ValueError(f"{str(path)!r} does not say which dataset it was trained on; pass --dataset NAME "
                         "(see `landscape data list`).")
    same = dataset is None or dataset == recorded
    return TrainedOn(dataset=name, normalize=meta.get("normalize", True) if same else True,
                     root=root or (meta.get("root") if same else None),
                     loss=(ckpt.get("config") or {}).get("loss") or "cross_entropy")

