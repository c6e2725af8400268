"""Direction ensembles: the same grid along K random direction sets, drawn from seeds
``seed, seed + 1, …, seed + K - 1`` (same kind, normalization and ignore rule).

One random plane is one draw: the curve or contour it shows changes with the seed, and random
planes see the *mean* curvature tr(H)/N and hide saddles (Böttcher & Wheeler 2022, "Visualizing
high-dimensional loss landscapes with Hessian directions"). K planes turn every number read off the
grid into a median and a 95% interval over planes (``landscape.analysis.geometry.plane_metrics``).

``landscape.core.surface.compute(..., planes=K)`` evaluates plane after plane into one file
(``planes/`` in docs/file-format.md); each plane resumes like a single grid does.
"""
from __future__ import annotations

from typing import List, Sequence

from torch import nn

from landscape.base.errors import check_int

from . import directions as directions_mod

MAX_PLANES = 1024


def check_planes(planes: int, dirs) -> int:
    """Validate ``planes`` against the directions it would redraw; returns it as an int."""
    check_int("planes", planes, 1)
    if planes > MAX_PLANES:
        raise ValueError(f"planes must be at most {MAX_PLANES}, got {planes}.")
    if planes > 1:
        attrs = getattr(dirs, "attrs", {}) or {}
        if attrs.get("direction_kind") != "random":
            kind = attrs.get("direction_kind", "custom (no attrs)")
            raise ValueError(f"planes={planes} redraws random directions from seeds seed, seed+1, …; the directions "
                             f"given are {kind!r}. Pass directions from landscape.directions.random(...), or planes=1.")
    return int(planes)


def seeds(first: int, planes: int) -> List[int]:
    """The seeds of the K planes: ``first, first + 1, …``."""
    return [int(first) + k for k in range(int(planes))]


def redraw(model: nn.Module, dirs: Sequence, seed: int) -> directions_mod.Directions:
    """Random directions like ``dirs`` (``landscape.directions.random`` with its recorded settings and
    the tensors it moves) drawn from ``seed``."""
    a = dict(getattr(dirs, "attrs", {}) or {})
    names = list(dirs[0])
    params = {n for n, _ in model.named_parameters()}
    new = directions_mod.random(model, n=len(dirs), norm=a.get("norm", "filter"),
                                ignore=None if a.get("ignore", "biasbn") == "none" else a.get("ignore", "biasbn"),
                                include_buffers=bool(a.get("include_buffers", False)),
                                orthogonal=bool(a.get("orthogonal", False)), seed=int(seed),
                                params=[n for n in names if n in params])
    if list(new[0]) != names:
        raise ValueError("The directions cannot be redrawn for other seeds: they move other tensors than "
                         "landscape.directions.random(...) with their settings would. Pass planes=1.")
    out = directions_mod.Directions([{n: d[n] for n in names} for d in new], new.attrs)
    return out
