"""Convolution + ReLU fused into one oneDNN kernel, for the engine's private copy on CPUs.

In an eager forward pass every ``ReLU`` after a convolution is one more pass over the activation
(16% of a ResNet-20 point on the 2-core CPU of docs/scaling.md, even in place). oneDNN applies it
inside the convolution for free (``torch.ops.mkldnn._convolution_pointwise`` with the "relu" post-op,
the kernel ``torch.compile`` uses on CPUs). Bitwise the same: the post-op clamps the same accumulator.

Which convolutions qualify is found, not assumed: one forward pass with hooks pairs every
``nn.Conv2d`` call whose output tensor goes straight into an ``nn.ReLU`` call (a folded BatchNorm,
``nn.Identity``, between them passes the same tensor on). That the convolution's output is not *also*
used elsewhere cannot be seen from hooks, so, as for BatchNorm folding, the fused copy must return
outputs equal to the unfused one on a probe batch or everything is undone. The ReLU modules stay:
ReLU is idempotent, and one given a fused output returns it untouched.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List

import torch
from torch import nn

log = logging.getLogger(__name__)

_RECTIFIED = "_landscape_rectified"  # set on a fused convolution's output: a ReLU need not touch it


def available() -> bool:
    """Whether this torch build has the fused oneDNN convolution (CPU builds with mkldnn do)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class ConvReLU(nn.Module):
    """``relu(conv(x))`` in one oneDNN call. Holds the original layer's weight and bias Parameters
    (the same objects: writes into them, as the engine makes at every point, apply here too)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding, self.dilation, self.groups = (list(conv.stride), list(conv.padding),
                                                                 list(conv.dilation), conv.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight, self.bias
        if torch.is_autocast_enabled("cpu"):  # autocast does not reach this op: cast as it would for conv2d
            dtype = torch.get_autocast_dtype("cpu")
            x, w, b = x.to(dtype), w.to(dtype), b.to(dtype) if b is not None else None
        out = torch.ops.mkldnn._convolution_pointwise(x, w, b, self.padding, self.stride, self.dilation, self.groups,
                                                      "relu", [], "")
        setattr(out, _RECTIFIED, True)
        return out


class SkipRectified(nn.Module):
    """A ReLU that passes a fused convolution's (already rectified) output through untouched."""

    def __init__(self, relu: nn.ReLU):
        super().__init__()
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if getattr(x, _RECTIFIED, False) else self.relu(x)


def _fusable(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and conv.weight.device.type == "cpu" and conv.weight.dtype == torch.float32)


@torch.no_grad()
def find_conv_relu(module: nn.Module, forward: Callable[[nn.Module], Any]) -> List[str]:
    """Names of the ``nn.Conv2d`` layers each of whose calls (in ``forward(module)``) feeds its output
    straight into an ``nn.ReLU`` call."""
    convs = {name: m for name, m in module.named_modules() if _fusable(m)}
    relus = [m for m in module.modules() if type(m) is nn.ReLU]
    if not convs or not relus:
        return []
    outputs: Dict[int, str] = {}  # id of a convolution output not yet consumed -> the layer's name
    calls: Dict[str, int] = {name: 0 for name in convs}
    rectified: Dict[str, int] = {name: 0 for name in convs}
    keep: List[torch.Tensor] = []  # keeps outputs alive so their ids stay unique during the pass

    def conv_hook(name):
        def hook(mod, args, out):
            calls[name] += 1
            outputs[id(out)] = name
            keep.append(out)
        return hook

    def relu_hook(mod, args):
        name = outputs.pop(id(args[0]), None) if args and isinstance(args[0], torch.Tensor) else None
        if name is not None:
            rectified[name] += 1

    handles = [m.register_forward_hook(conv_hook(n)) for n, m in convs.items()]
    handles += [m.register_forward_pre_hook(relu_hook) for m in relus]
    try:
        forward(module)
    finally:
        for h in handles:
            h.remove()
    return [n for n in convs if calls[n] > 0 and rectified[n] == calls[n]]


def _set(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


@torch.no_grad()
def fuse_conv_relu(module: nn.Module, outputs: Callable[[nn.Module], List[torch.Tensor]]) -> int:
    """Fuse every qualifying convolution of ``module`` (changed in place) with its ReLU, if the
    outputs ``outputs(module)`` stay equal (to 1e-6 relative); returns how many were fused (0: left
    as it was)."""
    if not available():
        return 0
    want = outputs(module)
    names = find_conv_relu(module, outputs)
    if not want or not names:
        return 0
    convs = {n: module.get_submodule(n) for n in names}
    relus = {n: m for n, m in module.named_modules() if type(m) is nn.ReLU}
    for n, conv in convs.items():
        _set(module, n, ConvReLU(conv))
    for n, relu in relus.items():
        _set(module, n, SkipRectified(relu))
    try:
        got = outputs(module)
        ok = len(got) == len(want) and all(
            a.shape == b.shape and torch.allclose(a, b, rtol=1e-6, atol=1e-6 * float(a.abs().max()))
            for a, b in zip(want, got))
    except RuntimeError as exc:  # an input layout or dtype this kernel does not take
        log.debug("conv+ReLU fusion not used: %s", exc)
        ok = False
    if not ok:
        for n, conv in convs.items():
            _set(module, n, conv)
        for n, relu in relus.items():
            _set(module, n, relu)
        log.debug("conv+ReLU fusion not used: the fused network's outputs differ")
        return 0
    return len(names)
