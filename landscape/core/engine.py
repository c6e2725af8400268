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
  against the original with randomized statistics before it is trusted (``landscape.bnfold``).
- **channels_last** memory format for convolutional models (cuDNN's and oneDNN's fast layout); 1D
  convolutions run as (1, k) 2D convolutions in it (oneDNN's own 1D path is 1.4-3.8x slower for the few
  channels of a 1D ResNet; see :class:`landscape.fastnet.Conv1dAs2d`).
- **In-place activations** in the engine's copy of the model, where a check shows they change nothing
  (the copy and its transformations: ``landscape.fastnet``).
- **Precision**: ``"fp32"`` (IEEE float32, default), ``"tf32"`` (TF32 tensor cores on Ampere+ GPUs;
  identical to fp32 on CPUs, which have no TF32), ``"bf16"`` (``torch.autocast`` to bfloat16).
- **Several points per pass** (``torch.func.vmap`` over stacked weights) for small models on GPUs,
  where one point cannot fill the device.
- **One host sync per round**: sums stay on the device until the round ends (with ``tol``, one per
  block of samples: a cell stops when it is known well enough, :mod:`landscape.core.cells`).
- **Standard errors for free**: with the built-in losses each sample's loss is scored, so its square
  is summed beside it in the same pass: every cell's value comes with its standard error.
- optional ``torch.compile`` of the forward pass.

Every choice is per job, not per point, so a cell's value never depends on which round or which
process computed it (``landscape.distributed`` relies on that for bitwise-identical sharded grids).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from landscape.base.errors import check_choice

from . import threads
from .bnfold import find_foldable, fold_is_exact, recompute_batchnorm
from .cells import SUMS, Tolerance, cell_values
from .evaluate import Batch, Objective, batch_len
from .fastnet import Functional, Runner, has_conv1d, has_conv2d, to_channels_last
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
            docs/scaling.md; and on CPUs for models with 1D convolutions, see :class:`landscape.fastnet.Conv1dAs2d`).
        points_per_pass: grid points evaluated together in one ``vmap``-ed forward pass; None:
            automatic (1 on CPUs, where vmap measured 0.2x for ResNet-20 and 0.7x for a digits MLP;
            on GPUs, several for non-convolutional models under 2M parameters, unmeasured). Must not change between resumed runs if bitwise-equal values matter.
        compile: ``torch.compile`` the forward pass (one-time compile cost; worth it on long jobs).
        threads: intra-op CPU threads during the job; None: on CPUs chosen from the model's size and
            the cores free (:func:`landscape.threads.auto`), on GPUs torch's setting.
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


@functools.lru_cache(maxsize=None)
def cpu_bf16_hardware() -> Optional[bool]:
    """Whether this CPU computes bfloat16 in hardware: AVX512-BF16 or AMX on x86 (``avx512_bf16`` /
    ``amx_bf16`` in /proc/cpuinfo), the BF16 extension on Arm (``bf16``); None when it cannot be told.

    Without it torch emulates bfloat16 and ``precision="bf16"`` is much *slower* than fp32: on a
    2-core AMD EPYC with AVX2 only, ``benchmarks/surface_speed.py --case cpu-resnet56-mnist1d``
    measured fp32 0.59 s/point and bf16 6.23 s/point (issue 30). bf16 is therefore never chosen
    automatically; asking for it on such a CPU logs a warning (:func:`bf16_cpu_warning`)."""
    try:
        if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
            return True
    except AttributeError:  # another torch: the CPU's flags tell
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            flags = {f for line in fh if line.lower().startswith(("flags", "features")) and ":" in line
                     for f in line.split(":", 1)[1].split()}
    except OSError:  # not Linux
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"}) if flags else None


def bf16_cpu_warning(precision: str, device) -> Optional[str]:
    """The warning for bf16 on a CPU without bfloat16 hardware (None when there is nothing to say)."""
    if precision != "bf16" or torch.device(device).type != "cpu" or cpu_bf16_hardware() is not False:
        return None
    return ("precision bf16 on a CPU without bfloat16 hardware (no AVX512-BF16 or AMX): torch emulates it, about 10x "
            "slower than fp32 (6.23 vs 0.59 s/point measured on an AVX2 CPU); use fp32 here.")


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
        buffer_range: ``(lo, hi)``: buffers move by each coordinate clipped to this range (directions
            between models: statistics are not extrapolated past them); None: like the parameters.
            Either way a BatchNorm running variance that would fall below zero is held at zero.
        population: split -> size of the set its samples were drawn from without replacement (the
            standard errors' finite-population correction); missing or None: no correction.
        tol: evaluate each point on growing blocks of samples until its loss is known well enough
            (:class:`landscape.core.cells.Tolerance`); ``blocks`` then gives, per split, the number of
            batches up to the end of each block (``landscape.core.cells.blocked`` builds both).

    ``__call__`` returns the values and, by their file paths, ``se/<value>`` (standard errors, with the
    built-in losses) and with ``tol`` ``samples/<split>`` (samples each point used).

    A point whose loss is not finite gets NaN in every value of its split (an accuracy computed from
    NaN logits is not a measurement).
    """

    def __init__(self, model: nn.Module, directions: Sequence[Mapping[str, torch.Tensor]],
                 data: Mapping[str, Sequence[Batch]], objective: Objective, metrics: Sequence[str] = ("loss", "acc"),
                 bn: str = "eval", bn_batches: Optional[Sequence[Batch]] = None, precision: str = "fp32",
                 options: Optional[EngineOptions] = None, buffer_range: Optional[Tuple[float, float]] = None,
                 population: Optional[Mapping[str, Optional[int]]] = None, tol: Optional[Tolerance] = None,
                 blocks: Optional[Mapping[str, Sequence[int]]] = None, tol_batch: int = 1024):
        check_choice("bn", bn, BN_MODES)
        check_choice("precision", precision, PRECISIONS)
        for m in metrics:
            check_choice("metrics", m, ("loss", "acc"))
        if bn == "recompute" and not bn_batches:
            raise ValueError("bn='recompute' needs training batches to re-estimate BatchNorm statistics.")
        self.model, self.objective, self.bn, self.precision = model, objective, bn, precision
        self.population = dict(population or {})
        self.tol = tol
        if tol is not None and blocks is None:
            raise ValueError("tol= needs blocks= (landscape.core.cells.blocked cuts the data into them).")
        self.blocks = {split: set(int(e) for e in ends) for split, ends in (blocks or {}).items()}
        self._tol_batch = int(tol_batch)
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
        buffers = {n for n, _ in model.named_buffers()}
        # buffers apart when their coordinates are clipped: (tensors, one direction list per axis)
        split = buffer_range is not None and any(n in buffers for n in self.targets)
        self._buffer_range = tuple(buffer_range) if split else None
        groups = [[n for n in self.targets if (n in buffers) == is_buffer] for is_buffer in (False, True)] if split \
            else [list(self.targets), []]
        self._moving = [([self.targets[n] for n in names], [[d[n] for n in names] for d in self.directions])
                        for names in groups if names]
        self._running_vars = [self.targets[n] for n in self.targets if n.endswith("running_var")]
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
        self.runner = Runner(model, list(self.targets), pairs, self.options.channels_last, self.options.compile,
                              inplace_probe=probe)
        convert = to_channels_last if self.options.channels_last else (lambda b: b)
        self.data = {split: [convert(b) for b in batches] for split, batches in data.items()}
        self.bn_batches = [convert(b) for b in bn_batches] if bn_batches else None
        self.counts: Dict[str, int] = {}
        self._cum = {split: np.cumsum([len(b[0]) for b in batches]).tolist() for split, batches in self.data.items()} \
            if tol is not None else {}
        log.debug("engine: %s, %d BatchNorm layer(s) folded", self.options, len(pairs))

    def _resolve(self, opts: EngineOptions, model: nn.Module, data) -> EngineOptions:
        cuda = self.device.type == "cuda"
        channels_last = opts.channels_last
        if channels_last is None:  # 1D: measured on CPUs only (see fastnet.Conv1dAs2d)
            channels_last = has_conv2d(model) or (not cuda and has_conv1d(model))
        ppp = opts.points_per_pass
        if ppp is None:
            ppp = 1
            n_params = sum(t.numel() for t in model.state_dict().values())
            if cuda and not opts.compile and n_params <= _GPU_VMAP_MAX_PARAMS and not has_conv2d(model):
                largest = max((batch_len(b) for batches in data.values() for b in batches), default=1)
                ppp = int(min(32, max(1, 2 ** math.floor(math.log2(max(1, _GPU_VMAP_SAMPLES // max(1, largest)))))))
        if (self.bn == "recompute" or self.tol is not None) and ppp > 1:
            ppp = 1  # statistics re-estimated per point by a pass in training mode, or a per-point stop: not vmappable
        n_threads = opts.threads
        if n_threads is None:
            n_threads = threads.for_data(model, [b for batches in data.values() for b in batches][:1], self.objective)
        return replace(opts, channels_last=bool(channels_last), points_per_pass=ppp,
                       compile=opts.compile and ppp == 1, threads=n_threads)

    @property
    def value_names(self) -> List[str]:
        return [f"{split}_{m}" for split in self.data for m in self.metrics]

    @property
    def se_names(self) -> List[str]:
        """Values that come with a standard error (all of them with a per-sample loss, else none)."""
        return self.value_names if self.objective.samples is not None else []

    @property
    def sample_splits(self) -> List[str]:
        """Splits whose per-point sample counts are reported (with ``tol``)."""
        return list(self.data) if self.tol is not None else []

    @torch.no_grad()
    def set_point(self, coords: Sequence[float]) -> None:
        """Write ``origin + Σ c_k d_k`` into the model's tensors (``(origin + c_1 d_1) + c_2 d_2``).

        Multi-tensor (``_foreach``) kernels: a handful of launches per point on a GPU instead of three
        per tensor; on a CPU the same per-tensor arithmetic."""
        torch._foreach_copy_(self._target_list, self._origin_list)
        for i, (tensors, dirs) in enumerate(self._moving):
            clip = self._buffer_range if i == 1 else None
            for c, d in zip(coords, dirs):
                torch._foreach_add_(tensors, d, alpha=float(c) if clip is None else min(max(float(c), clip[0]), clip[1]))
        for var in self._running_vars:  # a variance below zero is no variance (BatchNorm would give NaN)
            var.clamp_(min=0)

    @torch.no_grad()
    def reset(self) -> None:
        torch._foreach_copy_(self._target_list, self._origin_list)
        self.runner.sync()

    def _prepare_point(self, coords: Sequence[float]) -> None:
        self.set_point(coords)
        self.runner.sync()
        if self.bn == "recompute":  # on the network that runs (the model, or its copy: then at its weights)
            recompute_batchnorm(self.runner.module, self.bn_batches, self.objective)

    def _score(self, model: Callable, batch: Batch, sums: torch.Tensor) -> int:
        """Add one batch into ``sums`` (loss, correct, loss², -) in place; return its sample count."""
        if self.objective.samples is not None:
            l, c = self.objective.samples(model, batch)
            l = l.detach().double()
            sums[0] += l.sum()
            sums[2] += (l * l).sum()
            if c is not None:
                sums[1] += c.sum()
            return int(l.shape[0])
        l, n, c = self.objective(model, batch)
        sums[0] += l.detach().double()
        sums[2] = float("nan")  # no per-sample losses: no standard error
        if c is not None:
            sums[1] += c.double()
        return int(n)

    def _sums(self, model: Callable, row: torch.Tensor) -> None:
        """Add one point's sums into ``row`` ``(4 · splits,)`` float64 on the device: loss sum, correct
        count, loss² sum and samples per split (one pass over the data; with ``tol``, over the blocks
        it needs)."""
        for j, (split, batches) in enumerate(self.data.items()):
            sums = row[SUMS * j:SUMS * (j + 1)]
            if self.tol is not None:
                count = self._blocked_sums(model, split, batches, sums)
            else:
                count = sum(self._score(model, batch, sums) for batch in batches)
            sums[3] = count
            self.counts[split] = count

    def _blocked_sums(self, model: Callable, split: str, batches: Sequence[Batch], sums: torch.Tensor) -> int:
        """``tol``: add blocks of samples into ``sums`` until the point's loss is known well enough
        (:class:`landscape.core.cells.Tolerance`); after each check, run straight to the block end
        where it should settle, merging the blocks in between into batches of up to ``tol_batch``."""
        ends, cum = self.blocks[split], self._cum[split]
        pop = self.population.get(split)
        count, target, i, n = 0, 0, 0, len(batches)
        while i < n:
            j = i + 1
            while j < n and not (j in ends and cum[j - 1] >= target):
                j += 1
            chunk: List[Batch] = []
            for k in range(i, j):
                chunk.append(batches[k])
                if sum(len(b[0]) for b in chunk) >= self._tol_batch or k == j - 1:
                    merged = chunk[0] if len(chunk) == 1 else tuple(torch.cat([b[t] for b in chunk]) for t in range(2))
                    count += self._score(model, merged, sums)
                    chunk = []
            i = j
            if i >= n:
                break
            loss, _, squares, _ = sums.tolist()
            if self.tol.settled(loss, squares, count, pop):
                break
            target = int(self.tol.needed(loss, squares, count, pop))  # where it should settle
        return count

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
            fm = Functional(self.runner.module, tensors)
            if self.objective.samples is not None:
                l, c = self.objective.samples(fm, batch)
                counted["n"] = int(l.shape[0])
                l = l.double()
                sq, l = (l * l).sum(), l.sum()
            else:
                l, n, c = self.objective(fm, batch)
                counted["n"] = int(n)
                l, sq = l.double(), torch.full((), float("nan"), dtype=torch.float64, device=l.device)
            c = c.sum().double() if c is not None and c.dim() else (
                c.double() if c is not None else torch.zeros((), dtype=torch.float64, device=l.device))
            return l, c, sq

        f = torch.func.vmap(one, in_dims=(0, None))
        out = []
        for split, batches in self.data.items():
            loss, correct, squares = (torch.zeros(G, dtype=torch.float64, device=self.device) for _ in range(3))
            count = 0
            for batch in batches:
                l, c, sq = f(stacked, batch)
                loss += l
                correct += c
                squares += sq
                count += counted["n"]
            self.counts[split] = count
            out += [loss, correct, squares, torch.full((G,), float(count), dtype=torch.float64, device=self.device)]
        return torch.stack(out, dim=1)

    def sums(self, coords: np.ndarray) -> torch.Tensor:
        """Raw sums for a round, ``(k, 4 · splits)`` float64 on the device (no host sync).

        Results go straight into one buffer allocated per round: nothing small outlives a point,
        which keeps glibc's heap from fragmenting into one activation-sized hole per point.
        """
        coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
        G = self.options.points_per_pass
        out = torch.zeros((len(coords), SUMS * len(self.data)), dtype=torch.float64, device=self.device)
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
        with threads.using(self.options.threads), torch.inference_mode(), \
                precision_context(self.precision, self.device.type):
            yield

    def __call__(self, coords: np.ndarray) -> Dict[str, np.ndarray]:
        """Evaluate one round: ``coords`` (k, ndim) -> ``{value name: (k,) float64}``, then the
        standard errors ``se/<value>`` (where known) and with ``tol`` the counts ``samples/<split>``."""
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim == 1:
            coords = coords[None, :]
        try:
            raw = self.sums(coords).cpu().numpy() if len(coords) else np.zeros((0, SUMS * len(self.data)))
        finally:
            self.reset()
        out = cell_values(raw, list(self.data), self.metrics, self.population, self.tol is not None)
        keep = self.value_names + [f"se/{n}" for n in self.se_names] + [f"samples/{s}" for s in self.sample_splits]
        return {name: out[name] for name in keep}
