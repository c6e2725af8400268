"""A deep MLP with the same switches as the ResNet: the workhorse for fast CPU experiments.

Layout (``depth`` linear layers in all, ``depth = 2 + 2k``)::

    flatten -> linear1 -> norm1 -> act1                       (input -> hidden)
            -> k blocks: act2(norm2(lin2(drop(act1(norm1(lin1(h)))))) [+ h])
            -> fc                                             (hidden -> classes)

i.e. ResNet's basic block with the convolutions replaced by ``hidden x hidden`` linear layers, so
``skip``/``norm``/``activation`` mean exactly what they mean there. Hidden width is ``64 * width``.
On digits (1x8x8 = 64 inputs) ``mlp20`` has about 81k parameters and trains in seconds on a CPU.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from ._registry import register_builder, register_family
from .layers import activation_layer, check_options, dropout_layer, init_weights, norm_layer, scaled, seeded

HIDDEN = 64


class MLPBlock(nn.Module):
    """Two hidden linear layers with an optional identity shortcut around them (a residual block)."""

    def __init__(self, features: int, *, skip: bool, norm: str, activation: str, dropout: float):
        super().__init__()
        self.skip = skip
        self.lin1 = nn.Linear(features, features, bias=False)  # the norm slot supplies the shift
        self.norm1 = norm_layer(norm, features, dims=0)
        self.act1 = activation_layer(activation, features)
        self.drop = dropout_layer(dropout)
        self.lin2 = nn.Linear(features, features, bias=False)
        self.norm2 = norm_layer(norm, features, dims=0)
        self.act2 = activation_layer(activation, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, F) -> (N, F)
        out = self.drop(self.act1(self.norm1(self.lin1(x))))
        out = self.norm2(self.lin2(out))
        if self.skip:
            out = out + x
        return self.act2(out)


@register_family("mlp")
class MLP(nn.Module):
    """Deep MLP of ``depth`` linear layers with switches (see the module docstring for the layout).

    Args:
        depth: number of linear layers, even and >= 2 (2 + 2 per residual block).
        skip: identity shortcut around every block of two hidden layers.
        norm: "batch" | "layer" | "group" | "none" (see :func:`models.layers.norm_layer`); "layer"
            is ``LayerNorm(hidden)``, over the features of one sample.
        activation: "relu" | "leaky_relu" | "prelu" | "sigmoid" | "tanh".
        dropout: drop probability between the two layers of every block (0: none).
        width: hidden width multiplier (hidden = 64 * width).
        in_shape: input ``(C, H, W)`` or ``(C, L)`` (1D signals); inputs are flattened, so
            ``(N, C, H, W)`` and ``(N, C*H*W)`` both work.
        num_classes: outputs (logits).
        seed: if given, initial weights depend only on it (global RNG untouched).

    Output logits ``(N, num_classes)``.
    """

    def __init__(self, *, depth: int = 20, skip: bool = True, norm: str = "batch", activation: str = "relu",
                 dropout: float = 0.0, width: float = 1.0, in_shape: Sequence[int] = (3, 32, 32),
                 num_classes: int = 10, seed: Optional[int] = None):
        super().__init__()
        in_shape, num_classes, seed = check_options(norm=norm, activation=activation, dropout=dropout, width=width,
                                 in_shape=in_shape, num_classes=num_classes, seed=seed)
        if not (isinstance(depth, int) and depth >= 2 and depth % 2 == 0):
            raise ValueError(f"The value for `depth` must be an even number of layers >= 2 (8, 20, 32, ...), "
                             f"but {depth!r} was passed.")
        if not isinstance(skip, bool):
            raise ValueError(f"The value for `skip` must be True or False, but {skip!r} was passed.")
        self.in_shape = in_shape
        self.in_features = math.prod(in_shape)
        self.spec = {"name": "mlp", "depth": depth, "skip": skip, "norm": norm, "activation": activation,
                     "dropout": dropout, "width": width, "in_shape": list(in_shape),
                     "num_classes": num_classes, "seed": seed}
        hidden = scaled(HIDDEN, width)
        with seeded(seed):
            self.linear1 = nn.Linear(self.in_features, hidden, bias=False)
            self.norm1 = norm_layer(norm, hidden, dims=0)
            self.act1 = activation_layer(activation, hidden)
            self.blocks = nn.Sequential(*[
                MLPBlock(hidden, skip=skip, norm=norm, activation=activation, dropout=dropout)
                for _ in range((depth - 2) // 2)
            ])
            self.fc = nn.Linear(hidden, num_classes)
            init_weights(self, activation, last=self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.in_features:
            raise ValueError(f"mlp{self.spec['depth']} was built for inputs of shape (N, "
                             f"{', '.join(map(str, self.in_shape))}) ({self.in_features} features), but got "
                             f"{tuple(x.shape)}; create it with in_shape= matching your data.")
        h = self.act1(self.norm1(self.linear1(x.flatten(1))))  # (N, hidden)
        return self.fc(self.blocks(h))  # (N, num_classes)


register_builder("mlp8", "mlp", "8-layer residual MLP, width 64, BN (quick smoke runs)", depth=8)
register_builder("mlp8_noskip", "mlp", "8-layer MLP without skips", depth=8, skip=False)
register_builder("mlp20", "mlp", "20-layer residual MLP, width 64, BN, ReLU", depth=20)
register_builder("mlp20_noskip", "mlp", "mlp20 with the shortcuts removed", depth=20, skip=False)
register_builder("mlp20_nonorm", "mlp", "mlp20 without normalization", depth=20, norm="none")
register_builder("mlp20_plain", "mlp", "mlp20 without skips or normalization", depth=20, skip=False, norm="none")
register_builder("mlp20_plain_sigmoid", "mlp", "plain 20-layer sigmoid MLP: the vanishing-gradient net",
                 depth=20, skip=False, norm="none", activation="sigmoid")
register_builder("mlp32", "mlp", "32-layer residual MLP, width 64, BN, ReLU", depth=32)
register_builder("mlp32_noskip", "mlp", "mlp32 with the shortcuts removed", depth=32, skip=False)
