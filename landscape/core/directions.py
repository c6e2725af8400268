"""Directions in weight space: the axes a loss landscape is sampled along.

A direction is a ``dict[str, Tensor]`` keyed by parameter name (one dict per axis); a set of
directions is a ``list`` of such dicts. Only the parameters chosen by ``landscape.params.select``
(default: every trainable parameter) get an entry; a parameter without an entry stays fixed when the
model is moved along the direction. With ``include_buffers=True`` the floating-point buffers
(BatchNorm running statistics) get entries too, like the reference code's ``dir_type="states"``.

Kinds of direction:

- ``random``: seeded Gaussian directions, normalized per filter (Li et al. 2018, "Visualizing the
  Loss Landscape of Neural Nets", arXiv:1712.09913, section 4), per layer, per weight, or not at all.
- ``target``: from one model to another, the 1D linear interpolation of Goodfellow et al. 2015
  ("Qualitatively characterizing neural network optimization problems", arXiv:1412.6544).
- ``plane``: the plane through three models (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity,
  and Fast Ensembling of DNNs", arXiv:1802.10026, section 3).
- ``pca``: the principal components of a training trajectory (Li et al. 2018, section 7), with the
  explained variance and the trajectory's coordinates in the plane.

Random numbers are drawn from a local ``torch.Generator`` on the CPU, in a fixed order (axes, then
parameters in ``named_parameters`` order, then buffers), and only then moved to the model's device,
so a seed gives the same directions on any device and whatever else uses the global RNG.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from landscape.base.errors import check_choice

from .params import ParamFilter, select

Direction = Dict[str, torch.Tensor]
Weights = Union[nn.Module, Mapping[str, torch.Tensor]]

NORMS = ("filter", "layer", "weight", "none")
IGNORES = ("biasbn", None)
_EPS = 1e-10  # guards the division for an all-zero random filter (as in the reference code)


# --- what moves -------------------------------------------------------------------------------------

def movable(model: nn.Module, params: ParamFilter = None, include_buffers: bool = False) -> Dict[str, torch.Tensor]:
    """The tensors a direction has entries for, in a fixed order: selected parameters
    (``named_parameters`` order), then, with ``include_buffers``, the floating-point buffers.

    A buffer is left out when the module that owns it has parameters and none of them is selected:
    the running statistics of a frozen backbone's BatchNorm stay as fixed as its weights.
    """
    chosen: Dict[str, torch.Tensor] = dict(select(model, params))
    if include_buffers:
        picked = {id(p) for p in chosen.values()}
        seen = set()  # a buffer shared by two modules gets one entry, as in named_buffers()
        for prefix, module in model.named_modules():
            own = list(module.parameters(recurse=False))
            if own and not any(id(p) in picked for p in own):
                continue
            for name, buf in module.named_buffers(prefix=prefix, recurse=False):
                if buf is not None and buf.is_floating_point() and id(buf) not in seen:
                    seen.add(id(buf))
                    chosen[name] = buf
    return chosen


def _state(obj: Weights) -> Dict[str, torch.Tensor]:
    """Parameters and buffers of a model, or a state dict as given (tensors detached)."""
    if isinstance(obj, nn.Module):
        return {k: v.detach() for k, v in obj.state_dict(keep_vars=True).items()}
    if isinstance(obj, Mapping):
        return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
    raise ValueError(f"Expected an nn.Module or a state dict of tensors, got {type(obj).__name__}.")


def _check_same_layout(names: Mapping[str, torch.Tensor], other: Mapping[str, torch.Tensor], what: str) -> None:
    missing = [n for n in names if n not in other]
    if missing:
        raise ValueError(f"{what} lacks {missing[:3]}: the models must have the same architecture.")
    wrong = [n for n in names if tuple(other[n].shape) != tuple(names[n].shape)]
    if wrong:
        n = wrong[0]
        raise ValueError(f"{what} has {n!r} of shape {tuple(other[n].shape)}, expected {tuple(names[n].shape)}: "
                         "the models must have the same architecture.")


# --- normalization ----------------------------------------------------------------------------------

def _normalize(d: torch.Tensor, w: torch.Tensor, norm: str, ignore: Optional[str]) -> torch.Tensor:
    """Scale the random tensor ``d`` to the weights ``w`` (both float64, same shape).

    ``filter``: each filter (slice along dim 0: a conv output channel, a linear output neuron) gets
    the norm of the same filter of ``w`` (Li et al. 2018, eq. 1). A 1-D (or 0-D) tensor has one
    number per output unit, so each element is its own filter: ``|d_i| = |w_i|``. (The reference code
    instead copies ``w`` into ``d`` for such tensors, i.e. the same magnitudes with all signs +.)
    ``layer``: the whole tensor gets the norm of ``w``. ``weight``: ``d * w`` elementwise.
    ``none``: ``d`` unchanged. Under ``ignore="biasbn"`` every tensor with ``dim() <= 1`` (biases,
    norm-layer scales and shifts, running statistics) is zeroed, as in the paper.
    """
    if d.dim() <= 1 and ignore == "biasbn":
        return torch.zeros_like(d)
    if norm == "filter":
        if d.dim() <= 1:
            return d.sign() * w.abs() + (d == 0) * w.abs()  # a zero draw (probability 0) keeps |w_i|
        scale = _norm(w, rows=True) / (_norm(d, rows=True) + _EPS)
        return d * scale.reshape((-1,) + (1,) * (d.dim() - 1))
    if norm == "layer":
        return d * (_norm(w) / (_norm(d) + _EPS))
    if norm == "weight":
        return d * w
    return d


def _norm(t: torch.Tensor, rows: bool = False) -> torch.Tensor:
    """Euclidean norm (per row of dim 0 with ``rows``) in float64 by numpy's pairwise summation:
    unlike torch's parallel reductions it does not depend on the thread count, so a seed gives
    bitwise the same directions on every machine (which resuming a surface file checks)."""
    a = t.detach().cpu().double().numpy()
    a = a.reshape(a.shape[0], -1) if rows else a.reshape(-1)
    return torch.from_numpy(np.asarray(np.sqrt(np.sum(a * a, axis=-1))))


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """Thread-count independent dot product of two flat float64 tensors (see :func:`_norm`)."""
    return float(np.sum(a.numpy() * b.numpy()))


def _flat(direction: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().cpu().reshape(-1).double() for t in direction.values()])


def _orthogonalize(dirs: List[Direction]) -> None:
    """Gram–Schmidt in place: each direction loses its component along the earlier ones and is
    rescaled to its own previous overall norm (so the axes keep their units)."""
    for i in range(1, len(dirs)):
        v = _flat(dirs[i])
        length = _dot(v, v) ** 0.5
        for j in range(i):
            u = _flat(dirs[j])
            uu = _dot(u, u)
            if uu > 0:
                v = v - (_dot(u, v) / uu) * u
        new = _dot(v, v) ** 0.5
        if new > 0:
            v = v * (length / new)
        dirs[i] = _unflatten(v, dirs[i])


def _unflatten(v: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Direction:
    out, i = {}, 0
    for name, t in like.items():
        out[name] = v[i:i + t.numel()].reshape(t.shape).to(t.dtype)
        i += t.numel()
    return out


class Directions(list):
    """A list of direction dicts that also remembers how it was made (``.attrs``: direction_kind,
    norm, ignore, seed, …), so ``landscape.surface.compute`` can record it in the surface file.
    It is a plain ``list`` in every other respect."""

    def __init__(self, dirs=(), attrs: Optional[dict] = None):
        super().__init__(dirs)
        self.attrs = dict(attrs or {})


def _to_model(dirs: List[Direction], targets: Mapping[str, torch.Tensor], **attrs) -> Directions:
    """Cast each entry to its tensor's dtype and move it to its device (after CPU computation)."""
    return Directions([{n: d[n].to(device=targets[n].device, dtype=targets[n].dtype) for n in d} for d in dirs], attrs)


# --- random -----------------------------------------------------------------------------------------

def random(model: nn.Module, n: int = 2, norm: str = "filter", ignore: Optional[str] = "biasbn",
           include_buffers: bool = False, orthogonal: bool = False, seed: int = 0,
           params: ParamFilter = None, store: bool = True) -> List[Direction]:
    """``n`` seeded Gaussian directions around ``model``, normalized by ``norm``.

    Args:
        model: the network; its current weights set the per-filter scales.
        n: number of directions (1 for a line, 2 for a plane).
        norm: "filter" (Li et al. 2018: each filter scaled to the norm of the matching weight
            filter; the axes are then in units of the weights' own size), "layer", "weight" or "none".
        ignore: "biasbn" zeroes every 1-D tensor (biases, norm-layer affine parameters, running
            statistics), as in the paper; None lets them move too.
        include_buffers: also give floating-point buffers (BatchNorm running mean/var) entries.
        orthogonal: make each direction exactly orthogonal to the earlier ones (Gram–Schmidt on the
            flattened vectors, each rescaled to its previous overall norm; per-filter norms then hold
            only approximately — random high-dimensional directions are nearly orthogonal anyway).
        seed: seeds a local generator; the global RNG is untouched.
        params: which parameters move (see ``landscape.params.select``; default: trainable ones).
        store: False for a model too large for copies of its weights: nothing is stored, each
            tensor's entry is drawn again from its own seed when needed and ``surface.compute`` moves
            the model in place (:mod:`landscape.core.seeded`, :mod:`landscape.core.inplace`; other numbers than
            ``store=True`` gives for the same seed; not with ``orthogonal`` or ``norm="weight"``).

    Returns:
        ``n`` dicts ``{name: Tensor}`` shaped, typed and placed like the model's tensors.
    """
    check_choice("norm", norm, NORMS)
    check_choice("ignore", ignore, IGNORES)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of directions, got {n!r}.")
    targets = movable(model, params, include_buffers)
    if not store:
        from .seeded import seeded

        if orthogonal:
            raise ValueError("orthogonal=True needs every direction at once; it cannot be used with store=False.")
        return seeded(targets, n, norm, ignore, seed, include_buffers)
    weights = {k: v.detach().to("cpu", torch.float64) for k, v in targets.items()}
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    dirs: List[Direction] = []
    for _ in range(n):
        d = {}
        for name, w in weights.items():
            # Drawn in float32 whatever the model's dtype, so a seed means the same numbers everywhere.
            raw = torch.randn(w.shape, generator=gen, dtype=torch.float32).double()
            d[name] = _normalize(raw, w, norm, ignore)
        dirs.append(d)
    if orthogonal:
        _orthogonalize(dirs)
    return _to_model(dirs, targets, direction_kind="random", norm=norm, ignore=ignore or "none", seed=int(seed),
                     include_buffers=bool(include_buffers), orthogonal=bool(orthogonal))


def normalized(direction: Mapping[str, torch.Tensor], model: nn.Module, norm: str = "filter",
               ignore: Optional[str] = "biasbn") -> Direction:
    """Scale any direction (a gradient, a difference of weights) the way :func:`random` scales its
    draws, so its steps are in the same units as random directions' (``norm="filter"``: each filter
    gets the norm of the model's filter). Entries are keyed by parameter name, as given."""
    check_choice("norm", norm, NORMS)
    check_choice("ignore", ignore, IGNORES)
    state = model.state_dict(keep_vars=True)
    out = {}
    for name, d in direction.items():
        w = state[name].detach()
        out[name] = _normalize(d.detach().to("cpu", torch.float64), w.to("cpu", torch.float64), norm, ignore).to(
            device=w.device, dtype=w.dtype)
    return out


# --- between models ---------------------------------------------------------------------------------

def target(model_a: nn.Module, model_b: Weights, params: ParamFilter = None,
           include_buffers: bool = False) -> List[Direction]:
    """One direction from ``model_a`` to ``model_b`` (a model or a state dict): ``w_b - w_a``.

    Sampling ``x`` in ``[0, 1]`` around ``model_a`` walks the straight line between the two models
    (Goodfellow et al. 2015); ``x = 1`` is ``model_b``. With ``include_buffers`` the buffers move only
    for ``x`` in ``[0, 1]`` (attrs ``buffer_range``): beyond, they stay at the nearer model's.
    """
    targets = movable(model_a, params, include_buffers)
    other = _state(model_b)
    _check_same_layout(targets, other, "the target model (model_b)")
    # tensors model_a lacks mean another architecture (e.g. a deeper net whose first layers match):
    # the line would not end at model_b
    own = model_a.state_dict()
    extra = [n for n in other if n not in own]
    if extra:
        raise ValueError(f"the target model (model_b) has {extra[:3]}, which model_a lacks: the models must have the "
                         "same architecture.")
    d = {n: other[n].to("cpu", torch.float64) - t.detach().to("cpu", torch.float64) for n, t in targets.items()}
    return _to_model([d], targets, direction_kind="target", norm="none", ignore="none",
                     include_buffers=bool(include_buffers), **_between_models(include_buffers))


def _between_models(include_buffers: bool) -> Dict[str, list]:
    """Buffers (BatchNorm running statistics) between models are not extrapolated: beyond a model
    they stay at that model's statistics (``buffer_range``, applied by the engine and recorded in the
    surface file). A straight line past the models drives running variances below zero (NaN cells)."""
    return {"buffer_range": [0.0, 1.0]} if include_buffers else {}


def plane(model_a: nn.Module, model_b: Weights, model_c: Weights, params: ParamFilter = None,
          include_buffers: bool = False) -> List[Direction]:
    """Two directions spanning the plane through three models (Garipov et al. 2018).

    ``u = w_b - w_a``; ``v`` is the part of ``w_c - w_a`` orthogonal to ``u``, rescaled to ``|u|`` so
    both axes share one unit. Around ``model_a``: a = (0, 0), b = (1, 0), and c = (u·(w_c - w_a)/|u|²,
    |v_perp|/|u|); ``coordinates`` computes these for any model.
    """
    targets = movable(model_a, params, include_buffers)
    (u,) = target(model_a, model_b, params, include_buffers)
    (v,) = target(model_a, model_c, params, include_buffers)
    fu, fv = _flat(u), _flat(v)
    uu = _dot(fu, fu)
    if uu == 0:
        raise ValueError("model_b has the same weights as model_a: there is no plane through them.")
    fv = fv - (_dot(fu, fv) / uu) * fu
    vv = _dot(fv, fv)
    if vv <= 1e-24 * uu:
        raise ValueError("model_c lies on the line through model_a and model_b: there is no plane through them.")
    fv = fv * (uu / vv) ** 0.5
    return _to_model([_unflatten(fu, u), _unflatten(fv, v)], targets, direction_kind="plane", norm="none",
                     ignore="none", include_buffers=bool(include_buffers), **_between_models(include_buffers))


def coordinates(point: Weights, origin: Weights, directions: Sequence[Direction]) -> tuple:
    """Least-squares coordinates of ``point`` in the affine subspace ``origin + span(directions)``.

    Returns ``(coords, residual)``: coords (n,) float64 such that ``origin + Σ c_k d_k`` is the point
    of the subspace nearest to ``point``, and the Euclidean distance from ``point`` to it.
    """
    p, o = _state(point), _state(origin)
    names = list(directions[0])
    diff = torch.cat([(p[k].to("cpu", torch.float64) - o[k].to("cpu", torch.float64)).reshape(-1) for k in names])
    basis = torch.stack([torch.cat([d[k].to("cpu", torch.float64).reshape(-1) for k in names]) for d in directions])
    gram = basis @ basis.T
    coords = torch.linalg.solve(gram, basis @ diff)
    residual = (diff - coords @ basis).norm()
    return coords.numpy(), float(residual)


# --- PCA of a trajectory ----------------------------------------------------------------------------

@dataclass
class PCADirections:
    """Principal directions of a training trajectory (Li et al. 2018, section 7).

    directions: ``n`` unit-norm dicts (the principal components, keyed by parameter name)
    explained:  (n,) explained-variance ratios of the components
    coords:     (m, n) each snapshot's coordinates (its offset from ``final`` projected on the axes)
    error:      (m,) distance from each snapshot to its projection (the reconstruction error)
    relative_error: (m,) ``error`` divided by the snapshot's distance to ``final`` (NaN where 0)
    epochs:     (m,) the snapshots' epochs when known (else 0..m-1)
    """

    directions: List[Direction]
    explained: np.ndarray
    coords: np.ndarray
    error: np.ndarray
    relative_error: np.ndarray
    epochs: np.ndarray

    def trajectory(self) -> Dict[str, np.ndarray]:
        """The ``Surface.trajectory`` dict: coords, epochs, explained, error."""
        return {"coords": self.coords, "epochs": self.epochs, "explained": self.explained, "error": self.error}


def pca(snapshots: Sequence[Weights], final: nn.Module, n: int = 2, params: ParamFilter = None,
        include_buffers: bool = False, epochs: Optional[Sequence[int]] = None) -> PCADirections:
    """Directions from a trajectory: PCA of the snapshots' offsets from the final weights.

    As in Li et al. 2018 (and the reference code, which uses sklearn's PCA), the rows
    ``w_i - w_final`` are centered before the decomposition, the components are unit vectors, and a
    snapshot's coordinates are the projections of its uncentered offset ``w_i - w_final``.
    Signs are fixed so that each component's largest-magnitude entry is positive.

    Args:
        snapshots: models or state dicts along training (e.g. one per epoch), at least ``n + 1``.
        final: the model the surface is centered on (usually the last snapshot).
        n: number of components.
        epochs: the snapshots' epochs, recorded with the coordinates.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of components, got {n!r}.")
    if len(snapshots) < n + 1:
        raise ValueError(f"pca needs at least n + 1 = {n + 1} snapshots, got {len(snapshots)}.")
    if epochs is not None and len(epochs) != len(snapshots):
        raise ValueError(f"epochs has {len(epochs)} entries for {len(snapshots)} snapshots.")
    targets = movable(final, params, include_buffers)
    base = torch.cat([t.detach().to("cpu", torch.float64).reshape(-1) for t in targets.values()])
    rows = []
    for i, snap in enumerate(snapshots):
        state = _state(snap)
        _check_same_layout(targets, state, f"snapshot {i}")
        rows.append(torch.cat([state[k].to("cpu", torch.float64).reshape(-1) for k in targets]) - base)
    offsets = torch.stack(rows)                                   # (m, P)
    centered = offsets - offsets.mean(0, keepdim=True)
    # The m x m Gram matrix is small even when P is millions: its eigenvectors give the components.
    gram = centered @ centered.T                                  # (m, m)
    evals, evecs = torch.linalg.eigh(gram)
    order = torch.argsort(evals, descending=True)
    evals, evecs = evals[order].clamp_min(0), evecs[:, order]
    total = evals.sum()
    if evals[n - 1] <= 1e-12 * max(float(total), 1e-300):
        raise ValueError(f"The snapshots vary along fewer than {n} directions; pass more (distinct) snapshots.")
    comps = (centered.T @ evecs[:, :n]) / evals[:n].sqrt()       # (P, n), orthonormal columns
    for k in range(n):
        if comps[comps[:, k].abs().argmax(), k] < 0:
            comps[:, k] = -comps[:, k]
    coords = offsets @ comps                                      # (m, n)
    error = (offsets - coords @ comps.T).norm(dim=1)
    dist = offsets.norm(dim=1)
    rel = torch.where(dist > 0, error / dist.clamp_min(1e-300), torch.full_like(dist, float("nan")))
    like = {k: t for k, t in targets.items()}
    dirs = [_unflatten(comps[:, k], like) for k in range(n)]
    return PCADirections(
        directions=_to_model(dirs, targets, direction_kind="pca", norm="none", ignore="none",
                             include_buffers=bool(include_buffers)),
        explained=(evals[:n] / total).numpy(),
        coords=coords.numpy(),
        error=error.numpy(),
        relative_error=rel.numpy(),
        epochs=np.asarray(epochs if epochs is not None else np.arange(len(snapshots)), dtype=np.int64),
    )


# --- utilities --------------------------------------------------------------------------------------

def as_list(directions) -> Directions:
    """Accept a list of direction dicts, one dict, or a :class:`PCADirections`; return a
    :class:`Directions` (keeping ``.attrs`` where the input had them; ``direction_kind="custom"`` else)."""
    if isinstance(directions, PCADirections):
        return directions.directions
    if isinstance(directions, Mapping):
        directions = [directions]
    attrs = getattr(directions, "attrs", None) or {"direction_kind": "custom"}
    dirs = list(directions) if isinstance(directions, (list, tuple)) else None
    if not dirs or not all(isinstance(d, Mapping) and d for d in dirs):
        raise ValueError("directions must be a non-empty list of dicts {parameter name: tensor}, one per axis "
                         "(e.g. landscape.directions.random(model, n=2)).")
    return Directions([dict(d) for d in dirs], attrs)


def cosine(d1: Direction, d2: Direction) -> float:
    """Cosine similarity of two directions as flat vectors (near 0 for random high-dim directions)."""
    a, b = _flat(d1), _flat(d2)
    return _dot(a, b) / max((_dot(a, a) * _dot(b, b)) ** 0.5, 1e-300)


_DIRECTION_ATTRS = ("direction_kind", "norm", "ignore", "seed", "include_buffers", "orthogonal", "buffer_range")


def save(path: os.PathLike, directions, attrs: Optional[dict] = None) -> None:
    """Write directions, how they were made (``.attrs``) and optional extra settings to an HDF5
    file, atomically (layout: docs/file-format.md)."""
    from landscape.storage import io

    dirs = as_list(directions)
    io.save_directions(path, dirs, {**dirs.attrs, **(attrs or {})})


def load(path: os.PathLike, device: Optional[torch.device] = None) -> Directions:
    """Read directions written by :func:`save` or stored in a surface file (``.attrs`` restored)."""
    from landscape.storage import io

    dirs, attrs = io.load_directions(path, device=device, with_attrs=True)
    return Directions(dirs, {k: attrs[k] for k in _DIRECTION_ATTRS if k in attrs})
