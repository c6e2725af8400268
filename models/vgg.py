"""Plain VGG-style CNNs (Simonyan & Zisserman 2015) with a norm switch; VGG-9 as in Li et al. 2018.

VGG-9 is Li et al.'s CIFAR net: seven 3x3 convs ``64 64 M 128 128 M 256 256 256 M`` (M: 2x2 max
pool), one hidden fully connected layer of 256 units and the classifier — 9 weight layers. Depths
16 and 19 use Simonyan & Zisserman's configurations D and E with two hidden FC layers as wide as
the last conv. There are no shortcuts, so the only pair is ``vary="norm"`` (``vgg9`` / ``vgg9_nonorm``).

Inputs of any size work: the FC layer is sized from ``in_shape``, pooling rounds up (``ceil_mode``)
and stops once the feature map is 1x1 (1x8x8 digits: 8 -> 4 -> 2 -> 1; 28x28 MNIST: 28 -> 14 -> 7 -> 4).
1D signals (``in_shape=(C, L)``) get ``Conv1d`` with kernel 3, 1D norms and ``MaxPool1d``
(MNIST-1D's length 40: 40 -> 20 -> 10 -> 5).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
from torch import nn

from ._registry import register_builder, register_family
from .layers import (activation_layer, check_input, check_options, conv_layer, dropout_layer, init_weights, norm_layer,
                     scaled, seeded)

# depth -> (conv channels with "M" for max pooling, number of hidden FC layers)
CONFIGS = {
    9: ([64, 64, "M", 128, 128, "M", 256, 256, 256, "M"], 1),
    16: ([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"], 2),
    19: ([64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"], 2),
}


class ConvUnit(nn.Module):
    """``act(norm(conv(x)))`` with a kernel-3 conv (3x3 on images, 3 on signals), resolution kept."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, activation: str, dims: int = 2):
        super().__init__()
        self.conv = conv_layer(in_channels, out_channels, dims)
        self.norm = norm_layer(norm, out_channels, dims)
        self.act = activation_layer(activation, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class LinearUnit(nn.Module):
    """``drop(act(norm(linear(x))))``: a hidden fully connected layer."""

    def __init__(self, in_features: int, out_features: int, norm: str, activation: str, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.norm = norm_layer(norm, out_features, dims=0)
        self.act = activation_layer(activation, out_features)
        self.drop = dropout_layer(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.norm(self.linear(x))))


@register_family("vgg")
class VGG(nn.Module):
    """VGG-style plain CNN with switches.

    Args:
        depth: 9 (Li et al. 2018), 16 or 19.
        norm: "batch" | "layer" | "group" | "none" (see :func:`models.layers.norm_layer`); for conv
            features "layer" is ``GroupNorm(1, C)``, statistics over (C, H, W) of each sample.
        activation: "relu" | "leaky_relu" | "prelu" | "sigmoid" | "tanh".
        dropout: drop probability after every hidden FC layer (0: none).
        width: channel multiplier for every conv and hidden FC layer.
        in_shape: input ``(C, H, W)``, or ``(C, L)`` for 1D signals; the first FC layer is sized for it.
        num_classes: outputs (logits).
        seed: if given, initial weights depend only on it (global RNG untouched).

    Input ``(N, *in_shape)``; output logits ``(N, num_classes)``.
    """

    def __init__(self, *, depth: int = 9, norm: str = "batch", activation: str = "relu", dropout: float = 0.0,
                 width: float = 1.0, in_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
                 seed: Optional[int] = None):
        super().__init__()
        in_shape, num_classes, seed = check_options(norm=norm, activation=activation, dropout=dropout, width=width,
                                 in_shape=in_shape, num_classes=num_classes, seed=seed)
        if depth not in CONFIGS:
            raise ValueError(f"The value for `depth` must be one of {sorted(CONFIGS)}, but {depth!r} was passed.")
        self.in_shape = in_shape
        self.spec = {"name": "vgg", "depth": depth, "norm": norm, "activation": activation, "dropout": dropout,
                     "width": width, "in_shape": list(in_shape), "num_classes": num_classes, "seed": seed}
        config, n_hidden = CONFIGS[depth]
        channels, sizes = in_shape[0], list(in_shape[1:])  # sizes: [H, W] or [L]
        dims = len(sizes)
        with seeded(seed):
            layers: List[nn.Module] = []
            for item in config:
                if item == "M":
                    if all(size == 1 for size in sizes):
                        continue  # nothing left to pool (small inputs such as 8x8 digits)
                    kernel = tuple(2 if size > 1 else 1 for size in sizes)
                    pool = nn.MaxPool2d if dims == 2 else nn.MaxPool1d
                    layers.append(pool(kernel, stride=kernel, ceil_mode=True))
                    sizes = [-(-size // k) for size, k in zip(sizes, kernel)]
                else:
                    layers.append(ConvUnit(channels, scaled(item, width), norm, activation, dims))
                    channels = scaled(item, width)
            self.features = nn.Sequential(*layers)
            hidden, features = [], channels * math.prod(sizes)  # FC width = last conv's channels
            for _ in range(n_hidden):
                hidden.append(LinearUnit(features, channels, norm, activation, dropout))
                features = channels
            self.hidden = nn.Sequential(*hidden)
            self.fc = nn.Linear(features, num_classes)
            init_weights(self, activation, last=self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_shape, spatial=True, model=f"vgg{self.spec['depth']}")
        out = self.features(x).flatten(1)  # (N, C_last * h * w) or (N, C_last * l)
        return self.fc(self.hidden(out))


register_builder("vgg9", "vgg", "VGG-9 with batch norm (Li et al. 2018)", depth=9)
register_builder("vgg9_nonorm", "vgg", "VGG-9 without normalization (Li et al. 2018)", depth=9, norm="none")
