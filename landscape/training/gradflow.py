"""Gradient flow: the L2 norm of each layer's weight gradient, layers in depth order.

The vanishing-gradient diagnostic: in a deep plain network the gradient reaching the first layers is
orders of magnitude smaller than at the last layer (with sigmoid each layer multiplies it by at most
1/4), and those layers barely learn. Skip connections and normalization keep the norms within a
small factor of each other. Training logs these norms averaged over every epoch's batches, plus one
measurement at initialization (epoch 0), into ``gradient_flow.json``.

A *layer* is a module owning a weight with at least two dimensions (a linear or convolution
kernel); biases and normalization scales are left out so that every entry is comparable. The order
is ``models.layer_order(model)`` when the model comes from ``models``, else the order of
``model.named_parameters()``, which is registration order and for ordinary feed-forward nets the
input-to-output order.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import nn


def layers(model: nn.Module) -> Dict[str, List[str]]:
    """Map each layer name (module path, input to output) to the weight parameter names it owns.

    Raises ValueError if the model has no weight of two or more dimensions.
    """
    named = dict(model.named_parameters())
    weights = [n for n, p in named.items() if p.dim() >= 2]
    if not weights:
        raise ValueError("The model has no weight of two or more dimensions (linear or convolution), "
                         "so there is no per-layer gradient flow to measure.")
    groups: Dict[str, List[str]] = {}
    for name in weights:
        groups.setdefault(name.rpartition(".")[0] or name, []).append(name)
    order = _registry_order(model)
    if order:
        ranked = [layer for layer in order if layer in groups]
        if len(ranked) == len(groups):  # only trust an order that names every layer we found
            return {layer: groups[layer] for layer in ranked}
    return groups


def _registry_order(model: nn.Module) -> Optional[Sequence[str]]:
    """``models.layer_order(model)`` as module names, or None where it does not apply."""
    try:
        from landscape import models
    except ImportError:
        return None
    order_fn = getattr(models, "layer_order", None)
    if order_fn is None:
        return None
    try:
        order = list(order_fn(model))
    except (ValueError, TypeError, AttributeError):
        return None
    # accept either module paths ("blocks.0.lin1") or parameter names ("blocks.0.lin1.weight")
    return [n[: -len(".weight")] if n.endswith(".weight") else n for n in order]


class GradientFlow:
    """Accumulate per-layer gradient norms over batches; ``mean()`` gives the average per layer.

    Call :meth:`accumulate` right after ``loss.backward()``. A layer whose weights got no gradient
    (unused in the forward pass) counts as 0. Norms are summed on the parameters' device and read back
    once per epoch, so logging costs one small kernel per layer per batch and no synchronization.
    """

    def __init__(self, model: nn.Module):
        self.groups = layers(model)
        named = dict(model.named_parameters())
        self._params = [named[n] for names in self.groups.values() for n in names]
        # owner[i] = layer index of self._params[i], to sum squared norms per layer in one kernel
        self._owner = torch.tensor([i for i, names in enumerate(self.groups.values()) for _ in names],
                                   device=self._params[0].device)
        self._sum: Optional[torch.Tensor] = None
        self._count = 0

    @property
    def names(self) -> List[str]:
        """Layer names, input to output."""
        return list(self.groups)

    def accumulate(self) -> None:
        """Add the current gradients' per-layer L2 norms (sqrt of the sum of squares over the layer's weights)."""
        grads = [p.grad.detach() if p.grad is not None else torch.zeros((), device=p.device) for p in self._params]
        per_tensor = torch.stack(torch._foreach_norm(grads)).double()  # (weights,), one fused kernel
        per_layer = torch.zeros(len(self.groups), dtype=torch.float64, device=per_tensor.device)
        per_layer = per_layer.index_add(0, self._owner.to(per_tensor.device), per_tensor.pow(2)).sqrt()
        self._sum = per_layer if self._sum is None else self._sum + per_layer
        self._count += 1

    def mean(self, reset: bool = True) -> List[float]:
        """Average norm per layer over the batches since the last reset (empty input: NaN)."""
        if self._sum is None:
            values = [float("nan")] * len(self.groups)
        else:
            values = (self._sum / self._count).cpu().tolist()
        if reset:
            self._sum, self._count = None, 0
        return values


def measure(model: nn.Module, batches: Sequence, loss_fn: Callable[[nn.Module, object], torch.Tensor],
            flow: Optional[GradientFlow] = None) -> List[float]:
    """Average per-layer gradient norms of ``loss_fn`` over ``batches``, changing nothing.

    The model is used in training mode (as training sees it: batch statistics, dropout on), but its
    weights, buffers (BN running averages), gradients and torch's global RNG are all put back, so a
    measurement at initialization leaves the training run it precedes exactly as it would have been.
    """
    flow = flow or GradientFlow(model)
    was_training = model.training
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    grads = {n: (p.grad.detach().clone() if p.grad is not None else None) for n, p in model.named_parameters()}
    devices = [p.device.index for p in model.parameters() if p.device.type == "cuda"]
    try:
        with torch.random.fork_rng(devices=sorted(set(devices)), enabled=True):
            model.train()
            for batch in batches:
                model.zero_grad(set_to_none=True)
                loss_fn(model, batch).backward()
                flow.accumulate()
        return flow.mean()
    finally:
        with torch.no_grad():
            for k, v in model.named_buffers():
                v.copy_(buffers[k])
        for n, p in model.named_parameters():
            p.grad = grads[n]
        model.train(was_training)
