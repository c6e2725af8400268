"""Evaluating a model at points of weight space: ``w = w0 + a·d1 (+ b·d2)`` -> loss and accuracy.

This is the one place that knows *how* a grid point is evaluated; ``landscape.surface`` decides
*which* points, in what rounds, and where results go. :class:`PointEvaluator` evaluates one round of
points and returns plain arrays, so the engine and the loop over rounds (one process, or sharded
across ``torchrun`` ranks by ``landscape.distributed``) can change independently.

Where the time goes, and what the engine does about it (numbers in ``docs/scaling.md``):

- **Data**: resident on the device as batches, built once (no ``DataLoader`` per point).
- **Weights**: every point is written in place into preallocated tensors
  (``origin + a·d1 + b·d2``), never through ``load_state_dict`` copies.
- **BatchNorm folding** (``bn="eval"``): an eval-mode BatchNorm right after a convolution or linear
  layer is an affine map per channel, so it is folded into that layer's weights and bias at every
  point, and the forward pass runs one layer instead of two (exact up to float rounding). Which
  layers feed which BatchNorm is found by watching one forward pass; the folded network is checked
  against the original with randomized statistics before it is trusted.
- **channels_last** memory format for convolutional models (cuDNN's and oneDNN's fast layout); 1D
  convolutions run as (1, k) 2D convolutions in it (oneDNN's own 1D path is 3-20x slower for the few
  channels of a 1D ResNet; see :class:`_Conv1dAs2d`).
- **In-place activations** in the engine's copy of the model, where a check shows they change nothing.
- **Precision**: ``"fp32"`` (IEEE float32, default), ``"tf32"`` (TF32 tensor cores on Ampere+ GPUs;
  identical to fp32 on CPUs, which have no TF32), ``"bf16"`` (``torch.autocast`` to bfloat16).
- **Several points per pass** (``torch.func.vmap`` over stacked weights) for small models on GPUs,
  where one point cannot fill the device.
- **One host sync per round**: sums stay on the device until the round ends.
- optional ``torch.compile`` of the forward pass.

Every choice is per job, not per point, so a cell's value never depends on which round or which
process computed it (``landscape.distributed`` relies on that for bitwise-identical sharded grids).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .errors import check_choice
from .evaluate import Batch, Objective
from .params import first_device

log = logging.getLogger(__name__)

BN_MODES = ("eval", "recompute")
PRECISIONS = ("fp32", "tf32", "bf16")
_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_GPU_VMAP_MAX_PARAMS = 2_000_000   # "small model" for the automatic vmap choice on GPUs (a heuristic)
_GPU_VMAP_SAMPLES = 65_536         # aim for points_per_pass x batch samples of about this many per pass


@dataclass(frozen=True)
class EngineOptions:
    """How grid points are evaluated: speed choices that do not change values beyond float rounding.

    Attributes:
        fold_bn: fold eval-mode BatchNorm into the preceding convolution/linear layer (``bn="eval"``
            only; a no-op for models without such pairs).
        channels_last: run convolutional models in channels_last memory format, 1D convolutions as
            2D ones over (N, C, 1, L) in that format; None: automatic (on for models with 2D
            convolutions: cuDNN's fast layout on GPUs, and oneDNN's on CPUs, where with folded
            BatchNorm it measured 1.25x (fp32) and 2.2x (bf16) faster than NCHW for ResNet-20, see
            docs/scaling.md; and on CPUs for models with 1D convolutions, see :class:`_Conv1dAs2d`).
        points_per_pass: grid points evaluated together in one ``vmap``-ed forward pass; None:
            automatic (1 on CPUs, where vmap measured 0.2x for ResNet-20 and 0.7x for a digits MLP;
            on GPUs, several for non-convolutional models under 2M parameters, unmeasured). Must not change between resumed runs if bitwise-equal values matter.
        compile: ``torch.compile`` the forward pass (one-time compile cost; worth it on long jobs).
        threads: intra-op CPU threads during the job (None: leave torch's setting alone).
    """

    fold_bn: bool = True
    channels_last: Optional[bool] = None
    points_per_pass: Optional[int] = None
    compile: bool = False
    threads: Optional[int] = None

    def __post_init__(self):
        if self.points_per_pass is not None and (not isinstance(self.points_per_pass, int) or self.points_per_pass < 1):
            raise ValueError(f"points_per_pass must be a positive whole number or None (automatic), "
                             f"got {self.points_per_pass!r}.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive whole number or None, got {self.threads!r}.")


# --- precision ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def _matmul_settings(tf32: bool, matmul_precision: str) -> Iterator[None]:
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision(matmul_precision)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[0], saved[1]
        torch.set_float32_matmul_precision(saved[2])


def exact_fp32() -> contextlib.AbstractContextManager:
    """Disable TF32 inside the block (cuDNN convolutions use it by default on Ampere+ GPUs), so
    ``precision="fp32"`` means IEEE float32 on every device. Restores the previous settings."""
    return _matmul_settings(False, "highest")


@contextlib.contextmanager
def precision_context(precision: str, device_type: str) -> Iterator[None]:
    """The numerics of one point's forward passes.

    - ``"fp32"``: IEEE float32 (TF32 off).
    - ``"tf32"``: TF32 tensor cores for float32 matmuls and convolutions on CUDA (10-bit mantissa
      products, float32 accumulation); on a CPU this is plain fp32 ("high" matmul precision keeps
      IEEE float32 there).
    - ``"bf16"``: ``torch.autocast`` to bfloat16 (convolutions and matmuls in bfloat16, reductions
      and the loss in float32). The autocast weight cache is disabled: weights change in place
      between points and a cached bfloat16 copy would be stale.
    """
    check_choice("precision", precision, PRECISIONS)
    if precision == "fp32":
        with exact_fp32():
            yield
    elif precision == "tf32":
        with _matmul_settings(True, "high"):
            yield
    else:
        with exact_fp32(), torch.autocast(device_type, dtype=torch.bfloat16, cache_enabled=False):
            yield


# --- BatchNorm ----------------------------------------------------------------------------------------

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


def _head(batch: Batch, n: int = 8) -> Batch:
    """The first ``n`` samples of an ``(inputs, targets)`` batch (other batch kinds: the whole batch)."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch) \
            and batch[0].dim() > 0 and batch[0].shape[0] == batch[1].shape[0]:
        return type(batch)(t[:n] for t in batch)
    return batch


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
        objective(model, _head(batch))
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


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def fold_structure(model: nn.Module, pairs: Sequence[Tuple[str, str]]) -> nn.Module:
    """Change ``model`` in place: each BatchNorm of ``pairs`` becomes ``nn.Identity`` and its layer
    gets a bias (zeros until :class:`_Fold` writes the folded values). Returns ``model``."""
    for layer_name, bn_name in pairs:
        layer = model.get_submodule(layer_name)
        if layer.bias is None:
            out = layer.weight.shape[0]
            layer.bias = nn.Parameter(torch.zeros(out, dtype=layer.weight.dtype, device=layer.weight.device))
        _set_submodule(model, bn_name, nn.Identity())
    return model


class _Fold:
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


def _root_outputs(model: nn.Module, batch: Batch, objective: Objective) -> List[torch.Tensor]:
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
        _Fold(probe.get_submodule(layer_name), probe.get_submodule(bn_name), folded.get_submodule(layer_name))
    head = _head(batch)
    want, got = _root_outputs(probe, head, objective), _root_outputs(folded, head, objective)
    if not want or len(want) != len(got):
        return False
    for a, b in zip(want, got):
        if a.shape != b.shape or not a.is_floating_point():
            if not torch.equal(a, b):
                return False
            continue
        scale = a.double().abs().max().item() if a.numel() else 0.0
        if not torch.allclose(b.double(), a.double(), rtol=1e-3, atol=1e-3 * max(scale, 1e-6)):
            return False
    return True


# --- batch size ---------------------------------------------------------------------------------------

CPU_BATCH_BYTES = 8 * 2 ** 20     # largest activation of a batch on a CPU: about what stays in L2 + L3
GPU_BATCH_BYTES = 256 * 2 ** 20   # on a GPU: large enough to keep it busy, small against its memory


@torch.no_grad()
def auto_batch_size(model: nn.Module, inputs: torch.Tensor, device: torch.device) -> Optional[int]:
    """An evaluation batch size for ``model`` on ``device``, from its largest activation per sample.

    A forward pass on two samples of ``inputs`` (hooks on every module) measures the largest
    module output per sample; the batch is the power of two that makes that output about
    ``CPU_BATCH_BYTES`` (a CPU's caches: ResNet-20 on CIFAR gets 128, measured 1.8x faster per
    sample than 1024 on the 2-core machine of docs/scaling.md; a 64-wide MLP gets 4096, 3.9x faster
    than 128, where small batches pay per-layer overheads) or ``GPU_BATCH_BYTES`` on CUDA (a
    heuristic, unmeasured). None if the probe fails.
    """
    largest = 0

    def hook(module, args, out):
        nonlocal largest
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor):
                largest = max(largest, t.numel() * t.element_size())

    x = inputs[:2].to(device)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        model(x)
    except Exception:  # any model the probe cannot call gets the library default
        return None
    finally:
        for h in handles:
            h.remove()
    per_sample = max(1, largest // max(1, len(x)))
    cuda = torch.device(device).type == "cuda"
    budget, lo, hi = (GPU_BATCH_BYTES, 256, 16384) if cuda else (CPU_BATCH_BYTES, 32, 4096)
    return int(min(hi, max(lo, 2 ** math.floor(math.log2(max(1, budget // per_sample))))))


# --- the network that runs the forward passes ---------------------------------------------------------

def _channels_last(batch: Batch) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 and batch.is_floating_point() else batch
    if isinstance(batch, dict):
        return {k: _channels_last(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_channels_last(v) for v in batch)
    return batch


def _has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _has_conv1d(model: nn.Module) -> bool:
    return any(type(m) is nn.Conv1d for m in model.modules())


class _Conv1dAs2d(nn.Module):
    """A ``Conv1d`` run as the 2D convolution it equals: kernel (1, k) over ``(N, C, 1, L)`` in
    channels_last memory format.

    Why: oneDNN's 1D convolution is slow for few channels. Measured on one CPU thread, batch 2048,
    kernel 3, the layers of a 1D ResNet on MNIST-1D (``python benchmarks/surface_speed.py --case
    cpu-conv1d --threads 1`` on a shared 2-core Xeon, load average 15): 16 channels x length 40:
    20.8 ms as ``conv1d``, 1.4 ms as channels_last ``conv2d``; 32 x 20: 3.0 vs 2.1 ms; 64 x 10: 8.7
    vs 5.9 ms (NCHW ``conv2d``: as slow as ``conv1d``). The output ``(N, C_out, L')`` keeps the
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
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (N, C, 1, L), memory (N, 1, L, C)
        out = nn.functional.conv2d(x4, self.weight.unsqueeze(2), self.bias, self.stride, self.padding,
                                   self.dilation, self.groups)
        return out.squeeze(2)                           # (N, C_out, L'), memory (N, L', C_out)


def conv1d_as_2d(module: nn.Module) -> int:
    """Replace every ``nn.Conv1d`` (zero padding) in ``module`` by :class:`_Conv1dAs2d`, in place;
    returns how many were replaced."""
    names = [n for n, m in module.named_modules() if type(m) is nn.Conv1d and m.padding_mode == "zeros"]
    for name in names:
        _set_submodule(module, name, _Conv1dAs2d(module.get_submodule(name)))
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
    before = _head(batch)
    head = clone(before)  # a copy: the probe itself may be what overwrites its input
    want = _root_outputs(module, head, objective)
    for m in acts:
        m.inplace = True
    ok = False
    try:
        got = [_root_outputs(module, head, objective) for _ in range(2)]
        same_input = all(torch.equal(a, b) for a, b in zip(torch.utils._pytree.tree_leaves(before),
                                                            torch.utils._pytree.tree_leaves(head))
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


class _Runner:
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
        self.folds: List[_Fold] = []
        self.varying_names = [n for n in dst if n in moved and n in src and n not in folded_names]
        for layer_name, bn_name in self.pairs:
            f = _Fold(model.get_submodule(layer_name), model.get_submodule(bn_name), module.get_submodule(layer_name),
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


class _Functional:
    """Calls ``module`` with some tensors replaced (``torch.func.functional_call``): what an objective
    sees as "the model" inside a vmapped pass."""

    def __init__(self, module: nn.Module, tensors: Dict[str, torch.Tensor]):
        self.module, self.tensors = module, tensors

    def __call__(self, *args, **kwargs):
        return torch.func.functional_call(self.module, self.tensors, args, kwargs)


# --- the evaluator ------------------------------------------------------------------------------------

class PointEvaluator:
    """Evaluates a model at points ``origin + Σ_k c_k · directions[k]``.

    Args:
        model: the network (left at the origin weights when a round ends; the caller restores
            buffers and modes, e.g. with ``landscape.params.restored``). Must be in eval mode.
        directions: one dict per axis, keyed by names from ``model.state_dict()`` (parameters and,
            optionally, floating-point buffers), tensors on the model's device.
        data: name -> resident batches, e.g. ``{"train": [...], "test": [...]}``; values are named
            ``f"{name}_loss"`` and ``f"{name}_acc"``.
        objective: scores a batch (``landscape.evaluate.objective``).
        metrics: which of ``("loss", "acc")`` to report (accuracy only where the objective has it).
        bn: "eval" (BatchNorm uses the stored running statistics) or "recompute" (re-estimated at
            every point from ``bn_batches``, see :func:`recompute_batchnorm`).
        bn_batches: batches for "recompute" (the training data).
        precision: "fp32" | "tf32" | "bf16" (:func:`precision_context`).
        options: speed choices (:class:`EngineOptions`); the defaults are chosen per device.
    """

    def __init__(self, model: nn.Module, directions: Sequence[Mapping[str, torch.Tensor]],
                 data: Mapping[str, Sequence[Batch]], objective: Objective, metrics: Sequence[str] = ("loss", "acc"),
                 bn: str = "eval", bn_batches: Optional[Sequence[Batch]] = None, precision: str = "fp32",
                 options: Optional[EngineOptions] = None):
        check_choice("bn", bn, BN_MODES)
        check_choice("precision", precision, PRECISIONS)
        for m in metrics:
            check_choice("metrics", m, ("loss", "acc"))
        if bn == "recompute" and not bn_batches:
            raise ValueError("bn='recompute' needs training batches to re-estimate BatchNorm statistics.")
        self.model, self.objective, self.bn, self.precision = model, objective, bn, precision
        self.metrics = [m for m in metrics if m != "acc" or objective.has_accuracy]
        state = model.state_dict(keep_vars=True)
        # Entries that are zero in every direction (biases and norm parameters under ignore="biasbn")
        # leave their tensors as they are: they are not written at all, and a BatchNorm whose
        # parameters stay put is folded with a scale computed once.
        self.targets: Dict[str, torch.Tensor] = {name: state[name] for name in directions[0]
                                                 if any(bool(d[name].any()) for d in directions)}
        # Preallocated origin: every point is origin + offsets, written in place into the model's tensors.
        self.origin = {name: t.detach().clone() for name, t in self.targets.items()}
        self.directions = [{name: d[name].to(device=t.device, dtype=t.dtype) for name, t in self.targets.items()}
                           for d in directions]
        self._target_list = list(self.targets.values())
        self._origin_list = [self.origin[n] for n in self.targets]
        self._direction_lists = [[d[n] for n in self.targets] for d in self.directions]
        self.device = first_device(model)
        self.options = self._resolve(options or EngineOptions(), model, data)
        first = next(b for batches in data.values() for b in batches)
        pairs: List[Tuple[str, str]] = []
        if self.options.fold_bn and bn == "eval":
            pairs = find_foldable(model, first, objective)
            if pairs and not fold_is_exact(model, pairs, first, objective):
                log.warning("BatchNorm folding skipped: the folded network's outputs differ from the model's "
                            "(a layer's output is probably used beyond its BatchNorm).")
                pairs = []
        probe = (first, objective) if self.options.points_per_pass == 1 else None
        self.runner = _Runner(model, list(self.targets), pairs, self.options.channels_last, self.options.compile,
                              inplace_probe=probe)
        convert = _channels_last if self.options.channels_last else (lambda b: b)
        self.data = {split: [convert(b) for b in batches] for split, batches in data.items()}
        self.bn_batches = [convert(b) for b in bn_batches] if bn_batches else None
        self.counts: Dict[str, int] = {}
        log.debug("engine: %s, %d BatchNorm layer(s) folded", self.options, len(pairs))

    def _resolve(self, opts: EngineOptions, model: nn.Module, data) -> EngineOptions:
        cuda = self.device.type == "cuda"
        channels_last = opts.channels_last
        if channels_last is None:  # 1D: measured on CPUs only (see _Conv1dAs2d)
            channels_last = _has_conv2d(model) or (not cuda and _has_conv1d(model))
        ppp = opts.points_per_pass
        if ppp is None:
            ppp = 1
            n_params = sum(t.numel() for t in model.state_dict().values())
            if cuda and not opts.compile and n_params <= _GPU_VMAP_MAX_PARAMS and not _has_conv2d(model):
                largest = max((_batch_len(b) for batches in data.values() for b in batches), default=1)
                ppp = int(min(32, max(1, 2 ** math.floor(math.log2(max(1, _GPU_VMAP_SAMPLES // max(1, largest)))))))
        if self.bn == "recompute" and ppp > 1:
            ppp = 1  # statistics are re-estimated per point by a pass in training mode: not vmappable
        return replace(opts, channels_last=bool(channels_last), points_per_pass=ppp,
                       compile=opts.compile and ppp == 1)

    @property
    def value_names(self) -> List[str]:
        return [f"{split}_{m}" for split in self.data for m in self.metrics]

    @torch.no_grad()
    def set_point(self, coords: Sequence[float]) -> None:
        """Write ``origin + Σ c_k d_k`` into the model's tensors (``(origin + c_1 d_1) + c_2 d_2``).

        Multi-tensor (``_foreach``) kernels: a handful of launches per point on a GPU instead of three
        per tensor; on a CPU the same per-tensor arithmetic."""
        torch._foreach_copy_(self._target_list, self._origin_list)
        for c, d in zip(coords, self._direction_lists):
            torch._foreach_add_(self._target_list, d, alpha=float(c))

    @torch.no_grad()
    def reset(self) -> None:
        torch._foreach_copy_(self._target_list, self._origin_list)
        self.runner.sync()

    def _prepare_point(self, coords: Sequence[float]) -> None:
        self.set_point(coords)
        self.runner.sync()
        if self.bn == "recompute":  # on the network that runs (the model, or its copy: then at its weights)
            recompute_batchnorm(self.runner.module, self.bn_batches, self.objective)

    def _sums(self, model: Callable, row: torch.Tensor) -> None:
        """Add one point's sums into ``row`` ``(2 · splits,)`` float64 on the device: loss sum and
        correct count per split (one pass over the data)."""
        for j, (split, batches) in enumerate(self.data.items()):
            loss, correct = row[2 * j], row[2 * j + 1]
            count = 0
            for batch in batches:
                l, n, c = self.objective(model, batch)
                loss += l.detach().double()
                count += int(n)
                if c is not None:
                    correct += c.double()
            self.counts[split] = count

    def _group_sums(self, group: np.ndarray) -> torch.Tensor:
        """``(G, 2 · splits)`` sums for a group of points evaluated in one vmapped pass per batch.

        The group always has ``points_per_pass`` points (the caller pads it), so a point's value does
        not depend on how many points its round had.
        """
        G = len(group)
        varying = self.runner.varying(list(self.targets))
        stacked = {n: torch.empty((G,) + t.shape, dtype=t.dtype, device=t.device) for n, t in varying.items()}
        for g, c in enumerate(group):
            self._prepare_point(c)
            for n, t in varying.items():
                stacked[n][g].copy_(t)
        counted: Dict[str, int] = {}

        def one(tensors, batch):
            l, n, c = self.objective(_Functional(self.runner.module, tensors), batch)
            counted["n"] = int(n)
            return l.double(), (c.double() if c is not None else torch.zeros((), dtype=torch.float64, device=l.device))

        f = torch.func.vmap(one, in_dims=(0, None))
        out = []
        for split, batches in self.data.items():
            loss = torch.zeros(G, dtype=torch.float64, device=self.device)
            correct = torch.zeros(G, dtype=torch.float64, device=self.device)
            count = 0
            for batch in batches:
                l, c = f(stacked, batch)
                loss += l
                correct += c
                count += counted["n"]
            self.counts[split] = count
            out += [loss, correct]
        return torch.stack(out, dim=1)

    def sums(self, coords: np.ndarray) -> torch.Tensor:
        """Raw sums for a round, ``(k, 2 · splits)`` float64 on the device (no host sync).

        Results go straight into one buffer allocated per round: nothing small outlives a point,
        which keeps glibc's heap from fragmenting into one activation-sized hole per point.
        """
        coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
        G = self.options.points_per_pass
        out = torch.zeros((len(coords), 2 * len(self.data)), dtype=torch.float64, device=self.device)
        with self._context():
            if G == 1:
                for i, c in enumerate(coords):
                    self._prepare_point(c)
                    self._sums(self.runner.forward, out[i])
                return out
            for start in range(0, len(coords), G):
                group = coords[start:start + G]
                k = len(group)
                if k < G:  # pad with copies of the last point: same group shape, same kernels
                    group = np.concatenate([group, np.repeat(group[-1:], G - k, axis=0)])
                out[start:start + k] = self._group_sums(group)[:k]
            return out

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        saved_threads = torch.get_num_threads()
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        try:
            with torch.inference_mode(), precision_context(self.precision, self.device.type):
                yield
        finally:
            if self.options.threads:
                torch.set_num_threads(saved_threads)

    def __call__(self, coords: np.ndarray) -> Dict[str, np.ndarray]:
        """Evaluate one round: ``coords`` (k, ndim) -> ``{value name: (k,) float64}``."""
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim == 1:
            coords = coords[None, :]
        try:
            raw = self.sums(coords).cpu().numpy() if len(coords) else np.zeros((0, 2 * len(self.data)))
        finally:
            self.reset()
        out = {}
        for j, split in enumerate(self.data):
            n = self.counts.get(split, 1)
            if "loss" in self.metrics:
                out[f"{split}_loss"] = raw[:, 2 * j] / n
            if "acc" in self.metrics:
                out[f"{split}_acc"] = raw[:, 2 * j + 1] / n
        return {name: out[name] for name in self.value_names}


def _batch_len(batch: Batch) -> int:
    from .evaluate import batch_size_of

    try:
        return batch_size_of(batch)
    except ValueError:
        return 1
