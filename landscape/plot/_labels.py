"""Words on the figures, taken from the surface's metadata (never from its file name).

Axis labels say what a unit along a direction means: "direction 1 (filter-normalized)" for the
random directions of Li et al. (2018), "PC1 (71.2% of variance)" for a PCA plane through a
training trajectory, "interpolation α" for a 1D target direction (Goodfellow et al. 2015).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

VALUE_LABELS = {
    "train_loss": "train loss",
    "test_loss": "test loss",
    "val_loss": "validation loss",
    "train_acc": "train accuracy",
    "test_acc": "test accuracy",
    "val_acc": "validation accuracy",
}

NORM_WORDS = {
    "filter": "filter-normalized",
    "layer": "layer-normalized",
    "weight": "weight-normalized",
    "none": "unnormalized",
}


def value_label(value: str) -> str:
    """'train_loss' -> 'train loss'; unknown names get their underscores replaced."""
    return VALUE_LABELS.get(value, value.replace("_", " "))


def _attr(surface, key: str, default=None):
    v = surface.attrs.get(key, default)
    if isinstance(v, bytes):
        v = v.decode()
    return v


def _explained(surface) -> Optional[np.ndarray]:
    """Explained-variance ratios of a PCA plane, from the trajectory or the attributes."""
    traj = surface.trajectory or {}
    ev = traj.get("explained") if isinstance(traj, dict) else None
    if ev is None:
        ev = _attr(surface, "explained_variance", _attr(surface, "pca_explained"))
    if ev is None:
        return None
    ev = np.asarray(ev, dtype=float).ravel()
    return ev if ev.size else None


def axis_label(surface, axis: int, short: bool = False) -> str:
    """Label of coordinate axis ``axis`` (0 for x, 1 for y) of ``surface``.

    An explicit ``xlabel``/``ylabel`` attribute wins; otherwise the direction kind and
    normalization recorded in the attributes decide. ``short`` drops the parenthesis
    ("direction 1", "PC1"): 3D panels have no room for more.
    """
    explicit = _attr(surface, ("xlabel", "ylabel")[axis])
    if explicit:
        return str(explicit)
    if short:
        return axis_label(surface, axis).split(" (")[0]
    kind = _attr(surface, "direction_kind")
    n = axis + 1
    if kind == "pca":
        ev = _explained(surface)
        if ev is not None and ev.size > axis:
            return f"PC{n} ({100 * ev[axis]:.1f}% of variance)"
        return f"PC{n}"
    if kind == "target":
        return "interpolation α (0: model, 1: target)" if axis == 0 else "direction 2"
    if kind == "hessian":
        return f"Hessian eigenvector {n}"
    if kind == "plane":
        return f"plane coordinate {n}"
    norm = _attr(surface, "norm")
    word = NORM_WORDS.get(str(norm)) if norm is not None else None
    return f"direction {n} ({word})" if word else f"direction {n}"


def spec(surface) -> Optional[dict]:
    """The model spec recorded in ``surface`` (``{"name": family, "depth": 56, ...}``), or None."""
    found = surface.attrs.get("model_spec") if surface is not None else None
    return found if isinstance(found, dict) and found.get("name") else None


def title(surface) -> str:
    """The name of one surface's model, for a panel title (:meth:`landscape.io.Surface.label`:
    ``resnet56_noskip`` for a model built from the family with options)."""
    return surface.label()


def source(surface) -> str:
    """How an error names a surface: its file ('runs/line.h5') if it came from one, else its title."""
    path = getattr(surface, "path", None)
    return repr(str(path)) if path else repr(title(surface))


def cells_done(surface) -> Tuple[int, int]:
    """(cells computed, cells in the grid), by ``Surface.done``: the file's record of finished
    cells if it has one, else the cells holding any value that is not NaN."""
    return int(np.count_nonzero(surface.done())), int(np.prod(surface.shape))


def is_partial(surface) -> bool:
    done, total = cells_done(surface)
    return done < total


def notes(surface, value: str) -> str:
    """What a reader must know before reading a panel, on the line under its title: 'partial: 390
    of 2601 cells' for a file still being computed, '4 cells diverged (NaN): blank' for computed
    cells whose value is NaN. '' when there is nothing to say."""
    out = []
    done, total = cells_done(surface)
    if done < total:
        out.append(f"partial: {done} of {total} cells")
    if value in surface.values:
        bad = int(np.count_nonzero(surface.done() & np.isnan(np.asarray(surface.values[value], dtype=float))))
        if bad:
            out.append(f"{bad} cell{'s' if bad > 1 else ''} diverged (NaN): blank")
    return "; ".join(out)


def panel_title(surface, value: str, given: Optional[str] = None) -> str:
    """The title over one panel: ``given`` (None: :func:`title`; '': none) and, on a line of its
    own, the :func:`notes`."""
    head = title(surface) if given is None else given
    return "\n".join(t for t in (head, notes(surface, value)) if t)


# spec entries that name the model rather than set one of its options
_NOT_NAMED = ("name", "label")


def describe(key: str, value) -> str:
    """One spec option in words: 'no skip connections', 'depth 56', 'batch norm', 'width 2', 'seed=1'."""
    if key == "skip":
        return "skip connections" if value else "no skip connections"
    if key == "norm":
        return "no norm" if value in (None, "none") else f"{value} norm"
    if key in ("depth", "width", "dropout") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{key} {value:g}"
    if key == "activation":
        return str(value)
    if isinstance(value, (list, tuple)):
        value = "x".join(str(v) for v in value)
    return f"{key}={value}"


def differing(specs: Sequence[Optional[dict]]) -> List[str]:
    """Spec options whose values are not all equal among ``specs`` (None entries ignored), in the
    order the first spec lists them."""
    present = [s for s in specs if s is not None]
    keys: List[str] = []
    for s in present:
        keys += [k for k in s if k not in keys and k not in _NOT_NAMED]
    return [k for k in keys if len({_key(s.get(k)) for s in present}) > 1]


def _key(value):
    return tuple(value) if isinstance(value, list) else value


def titles(surfaces: Sequence, leave_out: Sequence[str] = ()) -> List[str]:
    """Panel titles for ``surfaces`` shown side by side, told apart by what differs.

    Each starts as :func:`title`; panels whose titles collide get the spec options in which they
    differ (``resnet56 (width 2)``, ``resnet56 (seed=1)``), save ``leave_out`` (options that row or
    column labels already name); panels still alike get their file name. None entries get ''.
    """
    names = [title(s) if s is not None else "" for s in surfaces]
    specs = [spec(s) for s in surfaces]
    for group in _collisions(names):
        keys = [k for k in differing([specs[i] for i in group]) if k not in leave_out]
        for i in group:
            if specs[i] is not None and keys:
                extra = ", ".join(describe(k, specs[i].get(k)) for k in keys)
                names[i] = f"{names[i]} ({extra})"
    for group in _collisions(names):
        for i in group:
            path = getattr(surfaces[i], "path", None)
            if path:
                names[i] = f"{names[i]} [{os.path.basename(path)}]"
    return names


def _collisions(names: Sequence[str]) -> List[List[int]]:
    """Index groups of equal, non-empty names."""
    groups: Dict[str, List[int]] = {}
    for i, n in enumerate(names):
        if n:
            groups.setdefault(n, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def grid_labels(surfaces: Sequence, rows: int, cols: int) -> Tuple[Optional[List[str]], Optional[List[str]], List[str]]:
    """Row and column labels of a ``rows`` x ``cols`` grid of surfaces (row-major), from their specs.

    A spec option that is the same along every row and differs between rows labels the rows
    (``skip connections`` / ``no skip connections``); one constant down every column and differing
    between columns labels the columns (``depth 20``, ``depth 56``, ...). Returns
    ``(row_labels, col_labels, keys)``:
    labels are None where no option varies that way, and ``keys`` are the options they name.
    """
    specs = [spec(s) for s in surfaces]
    cells = [[specs[r * cols + c] for c in range(cols)] for r in range(rows)]
    keys = differing(specs)

    def along(lines) -> List[str]:  # keys constant within each line, differing between lines
        found = []
        for k in keys:
            per_line = []
            for line in lines:
                vals = {_key(s.get(k)) for s in line if s is not None}
                if len(vals) != 1:
                    break
                per_line.append(vals.pop())
            else:
                if len(set(per_line)) > 1:
                    found.append(k)
        return found

    def words(lines, ks) -> Optional[List[str]]:
        if not ks:
            return None
        out = []
        for line in lines:
            first = next((s for s in line if s is not None), None)
            out.append(", ".join(describe(k, first.get(k)) for k in ks) if first is not None else "")
        return out

    row_keys = along(cells) if rows > 1 else []
    col_lines = [[cells[r][c] for r in range(rows)] for c in range(cols)]
    col_keys = along(col_lines) if cols > 1 else []
    return words(cells, row_keys), words(col_lines, col_keys), row_keys + col_keys
