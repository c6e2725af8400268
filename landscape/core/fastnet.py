"""The engine's private copy of a model, made fast without changing its values.

channels_last memory format for convolutional models (cuDNN's and oneDNN's fast layout), 1D
convolutions run as (1, k) 2D convolutions in it on CPUs (:class:`Conv1dAs2d`), in-place
activations where a check shows they change nothing, and the runner that writes each point's
weights in place (:class:`Runner`). ``landscape.engine`` decides when each is used.
"""
from __future__ import annotations

import copy
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .bnfold import Fold, fold_structure, root_outputs, set_submodule
from .evaluate import Batch, Objective, head

log = logging.getLogger(__name__)

def to_channels_last(batch: Batch) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 and batch.is_floating_point() else batch
    if isinstance(batch, dict):
        return {k: to_channels_last(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_channels_last(v) for v in batch)
    return batch


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def has_conv1d(model: nn.Module) -> bool:
    return any(type(m) is nn.Conv1d for m in model.modules())


class Conv1dAs2d(nn.Module):
    """A ``Conv1d`` run as the 2D convolution it equals: kernel (1, k) over ``(N, C, 1, L)`` in
    channels_last memory format.

    Why: oneDNN's 1D convolution is slow for few channels. Measured on one CPU thread, batch 2048,
    kernel 3, the layers of a 1D ResNet on MNIST-1D (``python benchmarks/surface_speed.py --case
    cpu-conv1d --threads 1``, 2-core x86_64, quiet, 2026-12-05): 16 channels x length 40: 4.11 ms as
    ``conv1d``, 1.07 ms as channels_last ``conv2d``; 32 x 20: 2.48 vs 1.74 ms; 64 x 10: 6.59 vs 3.17 ms
    (NCHW ``conv2d``: as slow as ``conv1d``; under load the gap was up to 15x). The output ``(N, C_out, L')`` keeps the
    memory order (N, L', C_out), so the next layer's conversion is free and the activations in
    between keep that order.

    It holds the ``Conv1d``'s own weight and bias under the same names, so the runner's copies and
    BatchNorm folds write into what it computes with. Values equal the ``Conv1d``'s up to float
    rounding (another summation order).
    """

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.weight = conv.weight                       # (C_out, C_in / groups, k)
        self.register_parameter("bias", conv.bias)      # (C_out,) or None
        self.stride, self.dilation, self.groups = (1, conv.stride[0]), (1, conv.dilation[0]), conv.groups
        self.padding = conv.padding if isinstance(conv.padding, str) else (0, conv.padding[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # an unbatched (C, L) input, which Conv1d accepts too
            return self(x[None])[0]
        # (N, C, 1, L) with memory (N, 1, L, C), i.e. channels_last; a no-op when x already has that
        # order (written without memory_format=, which torch.func.vmap cannot query)
        x4 = x.transpose(1, 2).contiguous().transpose(1, 2).unsqueeze(2)
        out = nn.functional.conv2d(x4, self.weight.unsqueeze(2), self.bias, self.stride, self.padding,
                                   self.dilation, self.groups)
        return out.squeeze(2)                           # (N, C_out, L'), memory (N, L', C_out)


def conv1d_as_2d(module: nn.Module) -> int:
    """Replace every ``nn.Conv1d`` (zero padding) in ``module`` by :class:`Conv1dAs2d`, in place;
    returns how many were replaced."""
    names = [n for n, m in module.named_modules() if type(m) is nn.Conv1d and m.padding_mode == "zeros"]
    for name in names:
        set_submodule(module, name, Conv1dAs2d(module.get_submodule(name)))
    return len(names)


_INPLACE_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.CELU, nn.SELU, nn.SiLU, nn.Hardswish,
                        nn.Hardsigmoid, nn.Hardtanh, nn.Mish, nn.Threshold)


@torch.no_grad()
def make_activations_inplace(module: nn.Module, batch: Batch, objective: Objective) -> bool:
    """Switch ``module``'s activation modules to ``inplace=True`` if that provably changes nothing.

    In-place activations save an allocation and a pass over memory per activation (measured 8-15%
    of a ResNet-20 forward on a CPU). They are wrong when the activation's input is still needed
    (a shortcut taken before it, the input batch itself, a parameter), so the switch is kept only
    if two forward passes with it return outputs bitwise equal to one without it and leave the
    input batch unchanged; otherwise everything is switched back. Returns whether it was kept.
    """
    acts = [m for m in module.modules() if type(m) in _INPLACE_ACTIVATIONS and not m.inplace]
    if not acts:
        return False
    clone = lambda b: torch.utils._pytree.tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, b)  # noqa: E731
    before = head(batch)
    sample = clone(before)  # a copy: the probe itself may be what overwrites its input
    want = root_outputs(module, sample, objective)
    for m in acts:
        m.inplace = True
    ok = False
    try:
        got = [root_outputs(module, sample, objective) for _ in range(2)]
        same_input = all(torch.equal(a, b) for a, b in zip(torch.utils._pytree.tree_leaves(before),
                                                            torch.utils._pytree.tree_leaves(sample))
                         if isinstance(a, torch.Tensor))
        ok = bool(want) and same_input and all(len(g) == len(want) and all(torch.equal(a, b) for a, b in zip(want, g))
                                               for g in got)
    except RuntimeError:  # e.g. an in-place op on a tensor autograd or a view forbids
        ok = False
    if not ok:
        for m in acts:
            m.inplace = False
        log.debug("in-place activations not used: they change the outputs or the inputs")
    return ok


class Runner:
    """The network that runs the forward passes: the model itself, or a transformed copy (BatchNorm
    folded, channels_last, compiled) kept in sync with the model's weights after each point is set.

    ``sync()`` copies the tensors that move from the model into the copy and refolds the pairs whose
    inputs move; tensors that never move are copied (and folded) once, here.
    """

    def __init__(self, model: nn.Module, moved: Sequence[str], pairs: Sequence[Tuple[str, str]],
                 channels_last: bool, compile: bool, inplace_probe: Optional[Tuple[Batch, Objective]] = None):
        self.model = model
        self.pairs = list(pairs)
        self.channels_last = channels_last
        self.is_copy = bool(pairs) or channels_last or compile
        self.inplace = False
        if not self.is_copy:
            self.module, self.forward, self.copies, self.folds, self.varying_names = model, model, [], [], []
            return
        module = fold_structure(copy.deepcopy(model), self.pairs)
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
            conv1d_as_2d(module)
        for p in module.parameters():
            p.requires_grad_(False)  # a private copy: no autograd bookkeeping, nothing to cache
        module.eval()
        self.module = module
        src = model.state_dict(keep_vars=True)
        dst = module.state_dict(keep_vars=True)
        folded_names = {f"{layer}.{k}" for layer, _ in self.pairs for k in ("weight", "bias")}
        moved = set(moved)
        with torch.no_grad():
            for name, t in dst.items():
                if name in src and name not in folded_names:
                    t.copy_(src[name])
        self.copies = [(dst[n], src[n]) for n in dst if n in moved and n in src and n not in folded_names]
        self.folds: List[Fold] = []
        self.varying_names = [n for n in dst if n in moved and n in src and n not in folded_names]
        for layer_name, bn_name in self.pairs:
            f = Fold(model.get_submodule(layer_name), model.get_submodule(bn_name), module.get_submodule(layer_name),
                      layer_name, bn_name, moved)
            if f.varies:
                self.folds.append(f)
                self.varying_names += [f"{layer_name}.weight", f"{layer_name}.bias"]
        if inplace_probe is not None and not compile:
            self.inplace = make_activations_inplace(module, *inplace_probe)
        self.forward = torch.compile(module) if compile else module

    @torch.no_grad()
    def sync(self) -> None:
        for dst, src in self.copies:
            dst.copy_(src)
        for f in self.folds:
            f.apply()

    def varying(self, moved: Sequence[str]) -> Dict[str, torch.Tensor]:
        """The runner's tensors that change from point to point, by name (what vmap stacks)."""
        state = self.module.state_dict(keep_vars=True)
        names = moved if not self.is_copy else self.varying_names
        return {n: state[n] for n in names}


class Functional:
    """Calls ``module`` with some tensors replaced (``torch.func.functional_call``): what an objective
    sees as "the model" inside a vmapped pass."""

    def __init__(self, module: nn.Module, tensors: Dict[str, torch.Tensor]):
        self.module, self.tensors = module, tensors

    def __call__(self, *args, **kwargs):
        return torch.func.functional_call(self.module, self.tensors, args, kwargs)
