"""CIFAR-style ResNets (He et al. 2016, "Deep Residual Learning", §4.2) with a skip switch.

Depth ``6n + 2``: a 3x3 conv stem, three stages of ``n`` basic blocks at 16, 32 and 64 channels
(times ``width``) and strides 1, 2, 2, global average pooling and a linear classifier. Shortcuts are
He et al.'s *option A*: identity, or when a block halves the resolution and doubles the channels,
subsampling plus zero-padded channels — no parameters. So ``skip=False`` (Li et al. 2018's
``resnet56_noshort``) is the very same set of layers with the shortcut path removed, and both
members of a pair have identical parameter names and shapes.

1D signals (``in_shape=(C, L)``, e.g. MNIST-1D) get the same network in one dimension: ``Conv1d``
with kernel 3, 1D norms and an option-A shortcut that subsamples along L — natively, not as
height-1 images (a 3x3 kernel there has rows that only see padding).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._registry import register_builder, register_family
from .layers import (activation_layer, check_input, check_options, conv_layer, dropout_layer, init_weights, norm_layer,
                     scaled, seeded)

STAGE_CHANNELS = (16, 32, 64)
STAGE_STRIDES = (1, 2, 2)


class ShortcutA(nn.Module):
    """He et al.'s option-A shortcut: take every ``stride``-th pixel, zero-pad the new channels.

    ``(N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride))`` (signals: ``(N, C_in, L) ->
    (N, C_out, ceil(L/stride))``), matching the output size of a kernel-3 conv with padding 1 and the
    same stride, for even and odd sizes alike.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"option-A shortcut cannot drop channels ({in_channels} -> {out_channels})")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = x.dim() - 2  # 1 for signals, 2 for images
        x = x[(slice(None), slice(None)) + (slice(None, None, self.stride),) * spatial]
        extra = self.out_channels - self.in_channels
        return F.pad(x, (0, 0) * spatial + (extra // 2, extra - extra // 2))  # pad order: last dim first, C last

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two kernel-3 convs: ``act2(norm2(conv2(drop(act1(norm1(conv1(x)))))) + shortcut(x))``.

    With ``skip=False`` the ``+ shortcut(x)`` term is dropped and nothing else changes. Dropout sits
    between the two convolutions, as in wide ResNets (Zagoruyko & Komodakis 2016). ``dims``: 2 for
    images (3x3 convs), 1 for signals (kernel-3 ``Conv1d``).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, *, skip: bool, norm: str,
                 activation: str, dropout: float, dims: int = 2):
        super().__init__()
        self.skip = skip
        self.conv1 = conv_layer(in_channels, out_channels, dims, stride)
        self.norm1 = norm_layer(norm, out_channels, dims)
        self.act1 = activation_layer(activation, out_channels)
        self.drop = dropout_layer(dropout)
        self.conv2 = conv_layer(out_channels, out_channels, dims)
        self.norm2 = norm_layer(norm, out_channels, dims)
        self.act2 = activation_layer(activation, out_channels)
        if skip:
            needs_projection = stride != 1 or in_channels != out_channels
            self.shortcut = ShortcutA(in_channels, out_channels, stride) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(self.act1(self.norm1(self.conv1(x))))
        out = self.norm2(self.conv2(out))
        if self.skip:
            out = out + self.shortcut(x)
        return self.act2(out)


@register_family("resnet")
class ResNet(nn.Module):
    """CIFAR ResNet of ``depth = 6n + 2`` layers with switches.

    Args:
        depth: 20, 32, 44, 56, 110, ... (any ``6n + 2`` with ``n >= 1``).
        skip: keep the residual shortcuts (False: same layers, shortcut path removed).
        norm: "batch" | "layer" | "group" | "none" — see :func:`models.layers.norm_layer`; "layer"
            is ``GroupNorm(1, C)``, statistics over (C, H, W) of each sample.
        activation: "relu" | "leaky_relu" | "prelu" | "sigmoid" | "tanh".
        dropout: drop probability between the two convs of every block (0: none).
        width: channel multiplier (16, 32, 64 channels times ``width``; 2, 4, 8 give wide ResNets).
        in_shape: input ``(C, H, W)``; any H, W work (global average pooling), e.g. (1, 8, 8)
            digits, (1, 28, 28) MNIST, (3, 32, 32) CIFAR. ``(C, L)`` builds the 1D network
            (``Conv1d``, 1D norms and shortcuts) for signals, e.g. (1, 40) MNIST-1D.
        num_classes: outputs (logits).
        seed: if given, initial weights depend only on it (the global RNG is left untouched), so
            both members of a pair built with one seed start from equal weights.

    Input ``(N, C, H, W)`` (or ``(N, C, L)``); output logits ``(N, num_classes)``.
    """

    def __init__(self, *, depth: int = 56, skip: bool = True, norm: str = "batch", activation: str = "relu",
                 dropout: float = 0.0, width: float = 1.0, in_shape: Sequence[int] = (3, 32, 32),
                 num_classes: int = 10, seed: Optional[int] = None):
        super().__init__()
        in_shape, num_classes, seed = check_options(norm=norm, activation=activation, dropout=dropout, width=width,
                                 in_shape=in_shape, num_classes=num_classes, seed=seed)
        if not (isinstance(depth, int) and depth >= 8 and (depth - 2) % 6 == 0):
            raise ValueError(f"The value for `depth` must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...), "
                             f"but {depth!r} was passed.")
        if not isinstance(skip, bool):
            raise ValueError(f"The value for `skip` must be True or False, but {skip!r} was passed.")
        self.in_shape = in_shape
        self.spec = {"name": "resnet", "depth": depth, "skip": skip, "norm": norm, "activation": activation,
                     "dropout": dropout, "width": width, "in_shape": list(in_shape),
                     "num_classes": num_classes, "seed": seed}
        blocks_per_stage = (depth - 2) // 6
        channels = [scaled(c, width) for c in STAGE_CHANNELS]
        dims = len(in_shape) - 1  # 2: images, 1: signals
        opts = dict(skip=skip, norm=norm, activation=activation, dropout=dropout, dims=dims)
        with seeded(seed):
            self.conv1 = conv_layer(in_shape[0], channels[0], dims)
            self.norm1 = norm_layer(norm, channels[0], dims)
            self.act1 = activation_layer(activation, channels[0])
            in_ch = channels[0]
            for i, (out_ch, stride) in enumerate(zip(channels, STAGE_STRIDES), start=1):
                blocks = []
                for j in range(blocks_per_stage):
                    blocks.append(BasicBlock(in_ch, out_ch, stride if j == 0 else 1, **opts))
                    in_ch = out_ch
                setattr(self, f"layer{i}", nn.Sequential(*blocks))
            self.fc = nn.Linear(in_ch, num_classes)
            init_weights(self, activation, last=self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_shape, spatial=False, model=f"resnet{self.spec['depth']}")
        out = self.act1(self.norm1(self.conv1(x)))  # (N, 16w, H, W) or (N, 16w, L)
        out = self.layer3(self.layer2(self.layer1(out)))  # (N, 64w, ceil(H/4), ceil(W/4)) or (N, 64w, ceil(L/4))
        pool = F.adaptive_avg_pool2d if out.dim() == 4 else F.adaptive_avg_pool1d
        out = pool(out, 1).flatten(1)  # (N, 64w)
        return self.fc(out)


# Named builders: He et al.'s CIFAR depths, each with its no-skip twin (Li et al.'s *_noshort).
_PARAMS = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M"}
for _depth, _count in _PARAMS.items():
    register_builder(f"resnet{_depth}", "resnet", f"ResNet-{_depth} (He et al. 2016), {_count} params on CIFAR-10",
                     depth=_depth)
    register_builder(f"resnet{_depth}_noskip", "resnet", f"ResNet-{_depth} with the shortcuts removed "
                     f"(Li et al. 2018 resnet{_depth}_noshort)", depth=_depth, skip=False)
for _depth in (20, 56):
    register_builder(f"resnet{_depth}_nonorm", "resnet", f"ResNet-{_depth} without normalization "
                     "(per-channel scale and shift only)", depth=_depth, norm="none")
register_builder("wrn56_2", "resnet", "ResNet-56, twice as wide (Li et al. 2018 WRN56-2)", depth=56, width=2)
register_builder("wrn56_2_noskip", "resnet", "ResNet-56, twice as wide, shortcuts removed", depth=56, width=2,
                 skip=False)
