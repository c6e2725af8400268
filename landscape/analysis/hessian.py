"""Hessian-vector products of the mean loss over a whole data set, for any model.

The loss is ``L(w) = (1/N) * sum over batches of loss_sum(batch)`` (the objective from
:mod:`landscape.evaluate`), a function of the selected parameters ``w`` (:func:`landscape.params.select`;
other parameters and buffers stay fixed). The model's own tensors are never modified: every evaluation
goes through :func:`torch.func.functional_call` with the point ``w`` passed in, so a Hessian can be
taken anywhere in weight space without touching the model.

Four ways to multiply by the Hessian:

- ``method="autograd"`` (default): double backward, ``d/dw (grad L(w) . v)`` (Pearlmutter 1994).
  The first-order graphs are kept between products when they fit in ``GRAPH_CACHE_BYTES``
  (``cache_graph``), which halves the cost of every further product. On CPU this was the fastest.
- ``method="func"``: forward-over-reverse, ``torch.func.jvp(torch.func.grad(L), (w,), (v,))``.
- ``method="fd"``: a central finite difference of gradients,
  ``H v ≈ (∇L(w + εv) − ∇L(w − εv)) / 2ε`` (two first-order passes per product, no graph of a
  graph), with the model's own attention kernels: fused kernels (flash attention, memory-efficient
  attention, the CPU's flash kernel that ``scaled_dot_product_attention`` picks by default) have no
  double backward, and the math kernel ``autograd`` forces instead materializes the ``T x T``
  attention matrices. The step moves the weights by ``‖εv‖ = fd_step(dtype)`` (``H.fd_length``
  overrides it); the product is exact for a quadratic loss and otherwise off by O(ε²): on a tiny
  GPT-2 about 1e-8 relative to autograd's in float64, 2e-4 in float32 for a random vector but 1-2%
  along the sharpest direction, so eigenvalues by "fd" want a float64 model where it fits
  (tests/test_large_models.py).
- ``method="auto"``: ``autograd`` where the model's own kernels have a double backward (tried on
  the first batch), else ``fd``; ``H.method`` says which ran and ``H.method_reason`` why.

Batch norm is in eval mode by default (running statistics, so ``L`` is a fixed function of ``w``);
``bn="train"`` uses batch statistics instead (running statistics are restored afterwards). Dropout is
always off: a Hessian of a random function means nothing.

Vectors are flat tensors of length ``n`` (the number of selected parameters, concatenated in
``model.named_parameters()`` order); :func:`flatten` and :func:`unflatten` convert to and from
dicts keyed by parameter name, the form directions take everywhere else in landscape.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.func import functional_call, grad, jvp
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscape.base.errors import check_choice
from landscape.core import evaluate as _evaluate, threads
from landscape.core.params import ParamFilter, first_device, restored, select

log = logging.getLogger(__name__)

BN_MODES = ("eval", "train")
HVP_METHODS = ("autograd", "func", "fd", "auto")
# With method="autograd", the first-order graphs of all batches are kept between products when they
# fit in this many bytes (measured on the first batch): each further product is then one backward
# pass instead of forward + two backward passes (about 2x faster on CPU).
GRAPH_CACHE_BYTES = 1 << 30


def fd_step(dtype: torch.dtype) -> float:
    """Length of ``method="fd"``'s step in weight space: a quarter of the cube root of ``dtype``'s
    machine epsilon (float32: 1.2e-3, float64: 1.5e-6). The cube root balances a central
    difference's O(ε²) truncation against rounding; the quarter is for sharp directions, where the
    loss stops being quadratic sooner (measured on a tiny GPT-2 in float32: a random vector's
    product is 2e-4 off autograd's at this length, 5e-5 at 3e-3; the top eigenvector's 1.4% off at
    1e-3, 12% at 3e-3)."""
    return float(torch.finfo(dtype).eps) ** (1.0 / 3.0) / 4


def flatten(tensors: Mapping[str, torch.Tensor], names: Optional[Sequence[str]] = None) -> torch.Tensor:
    """Concatenate tensors (a dict keyed by parameter name) into one flat vector, in ``names`` order."""
    names = list(tensors) if names is None else list(names)
    return torch.cat([tensors[k].reshape(-1) for k in names])


def unflatten(vec: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Split a flat vector into a dict shaped like ``like`` (views into ``vec``; clone to keep)."""
    sizes = [t.numel() for t in like.values()]
    if vec.numel() != sum(sizes):
        raise ValueError(f"A flat vector of {vec.numel()} entries does not fit {sum(sizes)} parameters.")
    return {k: part.view(t.shape) for (k, t), part in zip(like.items(), vec.split(sizes))}


def set_bn_mode(model: nn.Module, bn: str = "eval") -> None:
    """Put ``model`` in eval mode, then batch-norm layers in train mode if ``bn == "train"``."""
    check_choice("bn", bn, BN_MODES)
    model.eval()
    if bn == "train":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()


def _measured(fn):
    """Run ``fn`` and return ``(result, bytes of the tensors autograd saved for backward meanwhile)``."""
    storages: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


class _Scored(nn.Module):
    """``forward(batch) -> loss_sum``: lets functional_call swap the weights under any objective."""

    def __init__(self, model: nn.Module, obj: _evaluate.Objective):
        super().__init__()
        self.model = model
        self.obj = obj

    def forward(self, batch: Any) -> torch.Tensor:
        return self.obj(self.model, batch)[0]


class Hessian:
    """The Hessian of the mean loss over the data w.r.t. the selected parameters, as an operator.

    Build it with :func:`operator` (which also sets the BN mode and restores the model afterwards).
    ``matvec(v)`` takes and returns flat vectors of length ``n`` in the parameters' dtype and device.
    ``n_products`` counts Hessian-vector products (the unit of cost every result reports).
    """

    def __init__(self, model: nn.Module, data_batches: List[Any], obj: _evaluate.Objective,
                 params: ParamFilter = None, method: str = "autograd", cache_graph: Optional[bool] = None):
        check_choice("method", method, HVP_METHODS)
        named = select(model, params)
        self.method_reason = "asked for"
        self.fd_length: Optional[float] = None  # method="fd": length of the step in weight space (None: fd_step)
        self.model = model
        self.names: List[str] = list(named)
        self.point: Dict[str, torch.Tensor] = {k: p.detach().clone() for k, p in named.items()}
        self.n: int = sum(t.numel() for t in self.point.values())
        first = next(iter(self.point.values()))
        self.device, self.dtype = first.device, first.dtype
        self.batches = data_batches
        self.obj = obj
        self.method = method
        self.cache_graph: Optional[bool] = None if cache_graph is None else bool(cache_graph)  # None: decide on first use
        self._scored = _Scored(model, obj)
        _evaluate.check_model_accepts(model, data_batches, obj)
        stats = _evaluate.evaluate(model, data_batches, obj)
        self.count: int = int(stats["count"])  # N: samples the mean loss is taken over
        self.n_products = 0
        self._graphs: Optional[List[Tuple[List[torch.Tensor], List[torch.Tensor]]]] = None
        if method == "auto":
            missing = self._missing_double_backward()
            self.method = "fd" if missing else "autograd"
            self.method_reason = (f"finite differences: the model's kernels have no double backward ({missing})"
                                  if missing else "autograd: the model's kernels have a double backward")
            log.info("Hessian-vector products by %s", self.method_reason)

    # --- points in weight space ----------------------------------------------------------------
    def move_to(self, point: Mapping[str, torch.Tensor]) -> None:
        """Take the Hessian at ``point`` (a dict of the selected parameters) from now on."""
        self.point = {k: point[k].detach().to(self.device, self.dtype).clone() for k in self.names}
        self._graphs = None

    def offset(self, delta: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The point ``w + delta`` (``delta`` flat) as a dict."""
        return {k: self.point[k] + d for k, d in unflatten(delta, self.point).items()}

    def flat_point(self) -> torch.Tensor:
        return flatten(self.point, self.names)

    def _call(self, point: Mapping[str, torch.Tensor], batch: Any) -> torch.Tensor:
        """``loss_sum(batch) / N`` with the selected parameters replaced by ``point``."""
        weights = {f"model.{k}": v for k, v in point.items()}
        return functional_call(self._scored, weights, (batch,)) / self.count

    # --- zeroth and first order ------------------------------------------------------------------
    @torch.no_grad()
    def loss(self, point: Optional[Mapping[str, torch.Tensor]] = None) -> float:
        """Mean loss over the data at ``point`` (default: the current point)."""
        point = self.point if point is None else point
        total = torch.zeros((), dtype=torch.float64)
        for batch in self.batches:
            total += self._call(point, batch).detach().double().cpu()
        return float(total)

    def loss_and_grad(self, point: Optional[Mapping[str, torch.Tensor]] = None) -> Tuple[float, torch.Tensor]:
        """Mean loss and its flat gradient at ``point`` (default: the current point)."""
        point = self.point if point is None else point
        leaves = [point[k].detach().requires_grad_(True) for k in self.names]
        total, g = 0.0, torch.zeros(self.n, dtype=self.dtype, device=self.device)
        for batch in self.batches:
            value = self._call(dict(zip(self.names, leaves)), batch)
            parts = torch.autograd.grad(value, leaves, allow_unused=True, materialize_grads=True)
            g += torch.cat([p.reshape(-1) for p in parts])
            total += float(value.detach())
        return total, g

    # --- second order -----------------------------------------------------------------------------
    def _missing_double_backward(self) -> Optional[str]:
        """None when a Hessian-vector product by double backward runs on the first batch; else the
        reason (the first line of autograd's error, e.g. a fused attention kernel's missing derivative)."""
        leaves = [self.point[k].detach().requires_grad_(True) for k in self.names]
        value = self._call(dict(zip(self.names, leaves)), self.batches[0])
        grads = torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True, materialize_grads=True)
        dot = sum((g * g.detach()).sum() for g in grads if g.requires_grad)
        if not isinstance(dot, torch.Tensor):
            return None
        try:
            torch.autograd.grad(dot, leaves, allow_unused=True)
        except (RuntimeError, NotImplementedError) as exc:
            return str(exc).strip().splitlines()[0][:200]
        return None

    def fd_epsilon(self, v: torch.Tensor) -> float:
        """The finite-difference step for ``v``: the weights move by ``fd_length`` (default
        :func:`fd_step` of their dtype), ``ε = fd_length / ‖v‖``."""
        length = self.fd_length if self.fd_length is not None else fd_step(self.dtype)
        return length / max(float(v.double().norm()), 1e-300)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat ``v`` of length ``n`` (any float dtype; returned in the parameters' dtype)."""
        v = v.to(self.device, self.dtype)
        out = torch.zeros(self.n, dtype=self.dtype, device=self.device)
        if self.method == "fd":
            if not bool(v.any()):
                self.n_products += 1
                return out
            eps = self.fd_epsilon(v)
            _, plus = self.loss_and_grad(self.offset(eps * v))
            _, minus = self.loss_and_grad(self.offset(-eps * v))
            self.n_products += 1
            return (plus - minus) / (2 * eps)
        if self.method == "func":
            tangent = unflatten(v, self.point)
            for batch in self.batches:
                g = lambda p, b=batch: grad(self._call)(p, b)  # noqa: E731 (b bound per batch)
                _, hv = jvp(g, (self.point,), (tangent,))
                out += flatten(hv, self.names)
        else:
            vs = list(unflatten(v, self.point).values())
            for leaves, grads in self._first_order_graphs():
                dot = sum((g * vi).sum() for g, vi in zip(grads, vs) if g.requires_grad)
                if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
                    continue  # the loss is linear in these parameters: no curvature
                hv = torch.autograd.grad(dot, leaves, retain_graph=self.cache_graph, allow_unused=True,
                                         materialize_grads=True)
                out += torch.cat([h.reshape(-1) for h in hv])
        self.n_products += 1
        return out

    def _first_order_graphs(self) -> Iterator[Tuple[List[torch.Tensor], List[torch.Tensor]]]:
        """Per batch: leaf weights and ``grad L_batch`` built with ``create_graph`` (cached if asked)."""
        if self._graphs is not None:
            yield from self._graphs
            return
        kept = []
        for i, batch in enumerate(self.batches):
            leaves = [self.point[k].detach().requires_grad_(True) for k in self.names]

            def build():
                value = self._call(dict(zip(self.names, leaves)), batch)
                return list(torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True,
                                                materialize_grads=True))

            if self.cache_graph is None and i == 0:
                # Keep every batch's graph if all of them fit in GRAPH_CACHE_BYTES (measured on the first)
                grads, nbytes = _measured(build)
                self.cache_graph = nbytes * len(self.batches) <= GRAPH_CACHE_BYTES
            else:
                grads = build()
            if self.cache_graph:
                kept.append((leaves, grads))
            yield leaves, grads
        if self.cache_graph:
            self._graphs = kept

    def dense(self) -> torch.Tensor:
        """The full ``(n, n)`` Hessian from ``n`` products: for tests and tiny models only."""
        eye = torch.eye(self.n, dtype=self.dtype, device=self.device)
        return torch.stack([self.matvec(e) for e in eye], 1)


@contextlib.contextmanager
def operator(model: nn.Module, data: Any, loss: Any = "cross_entropy", params: ParamFilter = None,
             bn: str = "eval", batch_size: Optional[int] = None, method: str = "autograd",
             cache_graph: Optional[bool] = None) -> Iterator[Hessian]:
    """Context manager yielding the :class:`Hessian` of ``model``'s mean loss over ``data``.

    ``data`` is anything :func:`landscape.evaluate.batches` accepts (moved once to the model's device);
    ``loss`` anything :func:`landscape.evaluate.objective` accepts. ``cache_graph`` (autograd only):
    keep the first-order graphs between products; None decides by their measured size
    (``GRAPH_CACHE_BYTES``). On a CPU the products run on the threads :func:`landscape.threads.auto`
    chooses (``landscape.threads.fixed`` sets them). On exit the model's weights, buffers and
    train/eval modes are exactly as before.

    >>> with operator(model, (X, Y)) as H:
    ...     hv = H.matvec(torch.randn(H.n))
    """
    check_choice("bn", bn, BN_MODES)
    check_choice("method", method, HVP_METHODS)
    if method in ("fd", "auto") and bn == "train":
        raise ValueError(f"method={method!r} evaluates gradients at shifted weights, where bn='train' would update "
                         "BatchNorm statistics; use bn='eval' or method='autograd'.")
    if method == "func" and bn == "train":
        raise ValueError("method='func' cannot use batch statistics (bn='train' updates BatchNorm buffers in place, "
                         "which torch.func transforms forbid); use method='autograd' or bn='eval'.")
    select(model, params)  # fail early, before moving data, on a model without trainable parameters
    data_batches = _evaluate.batches(data, batch_size, first_device(model))
    obj = _evaluate.objective(loss)
    # Fused attention kernels have no double backward; the math kernel does (same values). "fd" and
    # "auto" keep the model's own kernels (fused where the device has them).
    kernels = sdpa_kernel(SDPBackend.MATH) if method in ("autograd", "func") else contextlib.nullcontext()
    with restored(model), kernels, threads.using(threads.for_data(model, data_batches, obj)):
        set_bn_mode(model, bn)
        yield Hessian(model, data_batches, obj, params=params, method=method, cache_graph=cache_graph)


def hvp(model: nn.Module, data: Any, vector: Mapping[str, torch.Tensor], **kwargs: Any) -> Dict[str, torch.Tensor]:
    """One Hessian-vector product ``H v`` with ``v`` a dict keyed by parameter name (as directions are).

    Parameters missing from ``vector`` count as zero. Keyword arguments go to :func:`operator`.
    """
    with operator(model, data, **kwargs) as H:
        v = flatten({k: vector[k] if k in vector else torch.zeros_like(H.point[k]) for k in H.names}, H.names)
        return {k: t.clone() for k, t in unflatten(H.matvec(v), H.point).items()}
