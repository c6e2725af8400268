"""BatchNorm in evaluation: recomputing its statistics at a point, and folding it into the layer before.

An eval-mode BatchNorm right after a convolution or linear layer is an affine map per channel, so
the engine (``landscape.engine``) folds it into that layer's weights and bias at every grid point
and runs one layer instead of two (exact up to float rounding). Which layers feed which BatchNorm is
found by watching one forward pass (:func:`find_foldable`); the folded network is checked against
the original with randomized statistics (:func:`fold_is_exact`) before it is trusted.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from .evaluate import Batch, Objective, head

log = logging.getLogger(__name__)

_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

def batchnorm_modules(model: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, batches: Sequence[Batch], objective: Objective) -> None:
    """Re-estimate every BatchNorm layer's running mean and variance at the current weights.

    The running statistics are reset, and one pass over ``batches`` with only the BatchNorm layers
    in training mode (dropout and the rest stay in eval mode) accumulates them as an equal-weight
    average over batches (``momentum=None``, as ``torch.optim.swa_utils.update_bn`` does). Without
    this, a point far from the trained weights is evaluated with statistics of other weights.
    Momenta and modes are put back here; the statistics stay re-estimated (callers restore them,
    e.g. with ``landscape.params.restored``).
    """
    bns = batchnorm_modules(model)
    if not bns:
        return
    saved = [(m, m.momentum, m.training) for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        for batch in batches:
            objective(model, batch)
    finally:
        for m, momentum, training in saved:
            m.momentum = momentum
            m.train(training)


def _foldable_bn(m: nn.Module) -> bool:
    return (isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.training and m.track_running_stats
            and m.running_mean is not None and m.running_var is not None)


@torch.no_grad()
def find_foldable(model: nn.Module, batch: Batch, objective: Objective) -> List[Tuple[str, str]]:
    """``(layer, batchnorm)`` module-name pairs where an eval-mode BatchNorm directly consumes the
    output of a convolution or linear layer, found by watching one forward pass on ``batch``.

    A pair is kept only if both modules run exactly once per forward pass, the layer feeds no other
    BatchNorm, the channel counts agree and (for linear layers) the output is ``(N, features)``.
    Whether the layer's output is *also* used elsewhere cannot be seen from hooks; :func:`fold_is_exact`
    checks that.
    """
    bns = {n: m for n, m in model.named_modules() if _foldable_bn(m)}
    if not bns:
        return []
    layers = {n: m for n, m in model.named_modules() if type(m) in _FOLDABLE}
    calls: Dict[str, int] = {}
    produced: Dict[int, Tuple[str, torch.Tensor]] = {}
    feeds: Dict[str, str] = {}
    out_dims: Dict[str, int] = {}

    def layer_hook(name):
        def hook(module, args, out):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(out, torch.Tensor):
                produced[id(out)] = (name, out)  # the tensor is kept alive, so its id stays unique
                out_dims[name] = out.dim()
        return hook

    def bn_hook(name):
        def hook(module, args):
            calls[name] = calls.get(name, 0) + 1
            x = args[0] if args else None
            hit = produced.get(id(x))
            if hit is not None and hit[1] is x:
                feeds[name] = hit[0]
        return hook

    handles = [m.register_forward_hook(layer_hook(n)) for n, m in layers.items()]
    handles += [m.register_forward_pre_hook(bn_hook(n)) for n, m in bns.items()]
    try:
        objective(model, head(batch))
    finally:
        for h in handles:
            h.remove()
    fed = list(feeds.values())
    pairs = []
    for bn_name, layer_name in feeds.items():
        layer, bn = layers[layer_name], bns[bn_name]
        out_features = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
        if calls.get(layer_name) != 1 or calls.get(bn_name) != 1 or fed.count(layer_name) != 1:
            continue
        if out_features != bn.num_features or (isinstance(layer, nn.Linear) and out_dims.get(layer_name) != 2):
            continue
        pairs.append((layer_name, bn_name))
    return pairs


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def fold_structure(model: nn.Module, pairs: Sequence[Tuple[str, str]]) -> nn.Module:
    """Change ``model`` in place: each BatchNorm of ``pairs`` becomes ``nn.Identity`` and its layer
    gets a bias (zeros until :class:`Fold` writes the folded values). Returns ``model``."""
    for layer_name, bn_name in pairs:
        layer = model.get_submodule(layer_name)
        if layer.bias is None:
            out = layer.weight.shape[0]
            layer.bias = nn.Parameter(torch.zeros(out, dtype=layer.weight.dtype, device=layer.weight.device))
        set_submodule(model, bn_name, nn.Identity())
    return model


class Fold:
    """Folds one eval-mode BatchNorm ``y = γ (x - μ) / sqrt(σ² + ε) + β`` into the layer before it:
    ``W' = W · s`` and ``b' = (b - μ) · s + β`` per output channel, ``s = γ / sqrt(σ² + ε)``.

    ``s`` is formed in float64. When the BatchNorm's tensors do not move (the usual
    ``ignore="biasbn"``), ``s`` and the shift are computed once and a point costs one multiply,
    ``W' = W · s`` in the weights' dtype (one more rounding of ``s``: within an ulp of the float64 path).
    """

    def __init__(self, src_layer: nn.Module, src_bn: nn.modules.batchnorm._BatchNorm, dst_layer: nn.Module,
                 layer_name: str = "", bn_name: str = "", moved: Sequence[str] = ()):
        self.w, self.b = src_layer.weight, src_layer.bias
        self.bn = src_bn
        self.dst_w, self.dst_b = dst_layer.weight, dst_layer.bias
        moved = set(moved)
        self.bn_moves = any(f"{bn_name}.{k}" in moved for k in ("weight", "bias", "running_mean", "running_var"))
        self.w_moves = f"{layer_name}.weight" in moved
        self.b_moves = self.b is not None and f"{layer_name}.bias" in moved
        self.varies = self.bn_moves or self.w_moves or self.b_moves
        self._full()

    @torch.no_grad()
    def _scale(self) -> None:
        bn = self.bn
        var, self.mean = bn.running_var.double(), bn.running_mean.double()
        gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
        self.beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
        self.s = gamma / torch.sqrt(var + bn.eps)                                # (C,) float64
        self.s_w = self.s.to(self.w.dtype).view((-1,) + (1,) * (self.w.dim() - 1))  # broadcasts over W

    @torch.no_grad()
    def _bias(self) -> None:
        b = self.b.double() if self.b is not None else torch.zeros_like(self.mean)
        self.dst_b.copy_((b - self.mean) * self.s + self.beta)                   # (C,)

    @torch.no_grad()
    def _full(self) -> None:
        self._scale()
        self.dst_w.copy_(self.w.double() * self.s.view((-1,) + (1,) * (self.w.dim() - 1)))
        self._bias()

    @torch.no_grad()
    def apply(self) -> None:
        """Refold after the source tensors changed (only what moves is recomputed)."""
        if self.bn_moves:
            self._full()
            return
        if self.w_moves:
            torch.mul(self.w, self.s_w, out=self.dst_w)
        if self.b_moves:
            self._bias()


def root_outputs(model: nn.Module, batch: Batch, objective: Objective) -> List[torch.Tensor]:
    """Every tensor the model's forward returns on ``batch`` (through the objective)."""
    captured: List[torch.Tensor] = []

    def hook(module, args, out):
        captured.extend(t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor))

    h = model.register_forward_hook(hook)
    try:
        objective(model, batch)
    finally:
        h.remove()
    return captured


@torch.no_grad()
def fold_is_exact(model: nn.Module, pairs: Sequence[Tuple[str, str]], batch: Batch, objective: Objective,
                  seed: int = 0) -> bool:
    """Whether folding ``pairs`` leaves the model's outputs unchanged (to 1e-3 relative), checked on
    a copy whose BatchNorm statistics and affine parameters are randomized — with trained or fresh
    statistics a wrong fold (say, a layer output also used by a shortcut) could go unnoticed."""
    probe = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    for m in batchnorm_modules(probe):
        if m.running_mean is not None:
            m.running_mean.copy_(0.5 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
        if m.weight is not None:
            m.weight.copy_(1 + 0.5 * torch.randn(m.weight.shape, generator=g))
            m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=g))
    folded = fold_structure(copy.deepcopy(probe), pairs)
    for layer_name, bn_name in pairs:
        Fold(probe.get_submodule(layer_name), probe.get_submodule(bn_name), folded.get_submodule(layer_name))
    sample = head(batch)
    want, got = root_outputs(probe, sample, objective), root_outputs(folded, sample, objective)
    if not want or len(want) != len(got):
        return False
    for a, b in zip(want, got):
        if a.shape != b.shape or not a.is_floating_point():
            if not torch.equal(a, b):
                return False
            continue
        scale = a.double().abs().max().item() if a.numel() else 0.0
        if not math.isfinite(scale):  # the probe overflowed (a very deep plain net): nothing to compare, so no folding
            return False
        if not torch.allclose(b.double(), a.double(), rtol=1e-3, atol=1e-3 * max(scale, 1e-6)):
            return False
    return True
