"""Building blocks shared by every family: the norm and activation factories, seeded init, checks.

Every switch that is a string (``norm``, ``activation``) is turned into a module here and nowhere
else, so the families stay short and a new option is added in one place.

The norm slot always holds a module with a ``weight`` and a ``bias`` of shape ``(C,)``, whichever
``norm`` is chosen — ``"none"`` included (see :class:`ChannelAffine`). That is what makes the two
members of a norm pair have the same parameter names and shapes.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import nn

from landscape.base.errors import check_choice

NORMS = ("batch", "layer", "group", "none")
ACTIVATIONS = ("relu", "leaky_relu", "prelu", "sigmoid", "tanh", "gelu")

LEAKY_SLOPE = 0.01  # PyTorch's default negative slope for LeakyReLU
PRELU_INIT = 0.25  # He et al. 2015 (PReLU paper) initial slope


class ChannelAffine(nn.Module):
    """A learnable per-channel scale and shift, ``y = weight[c] * x + bias[c]``; no normalization.

    This is what ``norm="none"`` puts in the norm slot. The shift is exactly the bias a plain
    convolution or linear layer would have, and the scale (initialized to 1) folds into the
    preceding layer's weights, so the functions a ``norm="none"`` net can represent are those of the
    plain net with biases. Keeping the slot filled gives the normalized and the unnormalized member
    of a pair identical parameter names and shapes, so one set of seeded directions fits both.

    Input: ``(N, C)`` or ``(N, C, *)``; parameters ``weight``, ``bias``: ``(C,)``.
    """

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, self.num_features) + (1,) * (x.dim() - 2)  # broadcast over batch and space
        return x * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}"


def group_count(channels: int) -> int:
    """Groups used by ``norm="group"``: the most groups of at least 4 channels each, at most 32.

    Wu & He (2018, "Group Normalization") use 32 groups for ImageNet ResNets and report 8–32 all work;
    CIFAR ResNets have only 16–64 channels, where 32 groups would be nearly instance norm, so we
    keep at least 4 channels per group: 16 channels -> 4 groups, 64 -> 16, 128 and up -> 32.
    """
    for groups in range(min(32, max(1, channels // 4)), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


def norm_layer(norm: str, channels: int, dims: int) -> nn.Module:
    """The module for ``norm`` over ``channels`` features with ``dims`` spatial dimensions.

    ``dims``: 0 for flat features (N, C), 1 for signals (N, C, L), 2 for images (N, C, H, W).

    - ``"batch"``: BatchNorm (Ioffe & Szegedy 2015): each channel over the batch (and L or H, W);
      batch statistics in training, running averages in eval mode.
    - ``"layer"``: Layer norm (Ba et al. 2016) over all features of one sample. For conv features
      this is ``GroupNorm(1, C)``: mean and variance over (C, L) or (C, H, W) of each sample,
      followed by a per-channel scale and shift; for flat features ``LayerNorm(C)``. Independent of
      batch size, identical in train and eval mode.
    - ``"group"``: ``GroupNorm(G, C)`` (Wu & He 2018), statistics over (C/G, L) or (C/G, H, W) per
      sample and group, ``G = group_count(C)``.
    - ``"none"``: :class:`ChannelAffine` — no statistics, only the per-channel scale and shift.
    """
    check_choice("norm", norm, NORMS)
    if norm == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels) if dims else nn.LayerNorm(channels)
    if norm == "group":
        return nn.GroupNorm(group_count(channels), channels)
    return ChannelAffine(channels)


def conv_layer(in_channels: int, out_channels: int, dims: int, stride: int = 1) -> nn.Module:
    """Kernel-3 convolution, padding 1, no bias (a norm slot with its own shift always follows).

    ``dims=2``: ``Conv2d`` 3x3 on images; ``dims=1``: ``Conv1d`` with kernel 3 on signals. A signal is
    never treated as a height-1 image: a 3x3 kernel there has two rows that only ever see padding,
    weights the loss does not depend on (and that filter normalization would count).
    """
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    return conv(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def activation_layer(activation: str, channels: int) -> nn.Module:
    """The module for ``activation``; ``"prelu"`` learns one slope per channel (``channels``)."""
    check_choice("activation", activation, ACTIVATIONS)
    if activation == "relu":
        return nn.ReLU()
    if activation == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    if activation == "prelu":
        return nn.PReLU(channels, init=PRELU_INIT)
    if activation == "sigmoid":
        return nn.Sigmoid()
    if activation == "gelu":
        return nn.GELU()
    return nn.Tanh()


def dropout_layer(p: float) -> nn.Module:
    """``nn.Dropout(p)`` (inverted dropout: kept units scaled by 1/(1-p) in training, identity in
    eval), or ``nn.Identity`` when ``p == 0`` so printed models stay readable."""
    if p == 0:
        return nn.Identity()
    return nn.Dropout(p)


def init_weights(model: nn.Module, activation: str, last: Optional[nn.Module] = None) -> None:
    """He-style init for every conv/linear weight, gain matched to ``activation``; biases zero.

    ``std = gain / sqrt(fan_in)`` with ``gain`` from ``nn.init.calculate_gain``: sqrt(2) for ReLU
    (He et al. 2015), 1 for sigmoid (LeCun), 5/3 for tanh. Keeping the forward signal's scale
    constant through depth is what lets the comparisons isolate skips and normalization: a plain
    sigmoid net still loses its gradient (sigmoid' <= 1/4 per layer), a ReLU net does not.
    ``last`` (the classifier) gets gain 1, as nothing non-linear follows it.
    """
    nonlinearity, slope = {
        "relu": ("relu", 0.0), "leaky_relu": ("leaky_relu", LEAKY_SLOPE), "prelu": ("leaky_relu", PRELU_INIT),
        "sigmoid": ("sigmoid", 0.0), "tanh": ("tanh", 0.0),
        "gelu": ("relu", 0.0),  # GELU (Hendrycks & Gimpel 2016) is ReLU-like for |x| >> 1: ReLU's gain
    }[activation]
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)) and not module.weight.is_meta:
            # (meta tensors, used to count parameters without memory, hold no values to initialize;
            # some PyTorch versions import the compiler stack just to "fill" them)
            if module is last:
                nn.init.kaiming_normal_(module.weight, a=0.0, mode="fan_in", nonlinearity="linear")
            else:
                nn.init.kaiming_normal_(module.weight, a=slope, mode="fan_in", nonlinearity=nonlinearity)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@contextlib.contextmanager
def seeded(seed: Optional[int]) -> Iterator[None]:
    """Within the block, torch's CPU RNG starts from ``seed``; the caller's RNG state is restored.

    With ``seed=None`` nothing changes (the global RNG is used as usual). Models are built on the
    CPU (or the meta device), so CUDA generators are left alone (``fork_rng(devices=[])``).
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def check_options(*, norm: str, activation: str, dropout: float, width: float,
                  in_shape: Sequence[int], num_classes: int, seed: Optional[int]
                  ) -> Tuple[Tuple[int, ...], int, Optional[int]]:
    """Validate the options every family shares; return ``(in_shape, num_classes, seed)`` as plain ints.

    ``in_shape`` is ``(C, H, W)`` for images or ``(C, L)`` for 1D signals.
    """
    check_choice("norm", norm, NORMS)
    check_choice("activation", activation, ACTIVATIONS)
    if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise ValueError(f"The value for `dropout` must be a probability in [0, 1), but {dropout!r} was passed.")
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise ValueError(f"The value for `width` must be a positive multiplier, but {width!r} was passed.")
    shape = tuple(in_shape) if isinstance(in_shape, (list, tuple)) else None
    if shape is None or len(shape) not in (2, 3) or not all(_is_int(s) and s > 0 for s in shape):
        raise ValueError(f"The value for `in_shape` must be three positive integers (C, H, W) for images or two "
                         f"(C, L) for 1D signals, but {in_shape!r} was passed.")
    if not (_is_int(num_classes) and num_classes >= 1):
        raise ValueError(f"The value for `num_classes` must be a positive integer, but {num_classes!r} was passed.")
    if seed is not None and not _is_int(seed):
        raise ValueError(f"The value for `seed` must be an integer or None, but {seed!r} was passed.")
    # plain ints (numpy integers from a dataset's metadata would make the spec un-JSON-able)
    return tuple(int(s) for s in shape), int(num_classes), (None if seed is None else int(seed))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1 (the width multiplier of wide ResNets)."""
    return max(1, int(round(channels * width)))


def check_input(x: torch.Tensor, in_shape: Tuple[int, ...], spatial: bool, model: str) -> None:
    """Raise ValueError unless ``x`` is (N, *in_shape) (or (N, C, any size) if not ``spatial``).

    ``in_shape`` is (C, H, W) or (C, L); the input must have as many dimensions as it implies.
    """
    want = tuple(in_shape) if spatial else tuple(in_shape[:1])
    got = tuple(x.shape[1:1 + len(want)])
    if x.dim() != len(in_shape) + 1 or got != want:
        sizes = "any H, W" if len(in_shape) == 3 else "any L"
        raise ValueError(
            f"{model} was built for inputs of shape (N, {', '.join(map(str, in_shape))})"
            f"{'' if spatial else f' ({sizes})'}, but got {tuple(x.shape)}; "
            f"create it with in_shape= matching your data."
        )
