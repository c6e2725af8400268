"""A transformer encoder classifier with switches: residual connections on/off, Pre-/Post-LN/no norm.

Layout (``depth`` blocks, width ``d = 64 * width``, ``heads`` heads, MLP hidden ``4 d``)::

    input -> tokens (N, T, d) = embed(x) + pos                     (patches of a signal, or token ids)
          -> depth x block                                          (below)
          -> norm_f -> mean over the T tokens -> fc                 (N, num_classes) logits

A block is the Transformer's (Vaswani et al. 2017) pair of sub-layers, attention then MLP, each
``f`` wrapped according to ``norm`` and ``skip``::

    norm="pre"  (Xiong et al. 2020's Pre-LN, GPT-2): x = x + f(LN(x))     skip=False: x = f(LN(x))
    norm="post" (the original Post-LN):              x = LN(x + f(x))     skip=False: x = LN(f(x))
    norm="none":                                     x = x + f(A(x))      skip=False: x = f(A(x))

where ``A`` is a per-feature scale and shift (:class:`Affine`, initialized to the identity) that
takes the LayerNorm's place, so all three ``norm`` values and both ``skip`` values have *identical
parameter names and shapes*, and one seed gives identical initial weights: one set of seeded
directions fits every member of a pair, as with the ResNet pairs. The final ``norm_f`` is a
LayerNorm for pre and post (for Post-LN, whose last block already ends in a LayerNorm, it adds
only a learned scale and shift) and :class:`Affine` for none.

**Non-causal**: every token attends to every token (an encoder, as in BERT/ViT); the class is
read from the mean of the final tokens. Attention is written out (``softmax(q k^T / sqrt(d_h)) v``)
rather than calling ``F.scaled_dot_product_attention``: PyTorch's fused attention kernels have no
double backward, and the explicit form gives exact Hessian-vector products through attention
(``landscape.analysis.hessian``; tested against finite differences). At these sizes (T <= 64
tokens) it costs nothing measurable on a CPU.

Inputs:

- **signals** (``vocab=0``, the default): ``in_shape=(C, L)``, input ``(N, C, L)``. The signal is
  cut into ``T = L / patch`` non-overlapping patches of ``patch`` positions; each patch's ``C *
  patch`` values are one token, embedded by a linear layer (ViT's patch embedding, in 1D).
  ``patch=0`` picks it from the input: 4 for a scalar signal (C = 1, e.g. MNIST-1D: 10 tokens of 4
  values; scalar tokens are a poor fit, see docs) and 1 when each position already carries a
  feature vector (C > 1, e.g. one-hot tokens: a linear embedding of a one-hot vector *is* a token
  embedding table, plus a shared bias).
- **images** ``(C, H, W)`` are read row by row as signals of length ``H * W`` (so every built-in
  dataset runs; this is not a ViT with 2D patches).
- **token ids** (``vocab=V > 0``): ``in_shape=(1, L)``, input ``(N, 1, L)`` or ``(N, L)`` integer
  ids in ``0..V-1`` (int or whole-valued float), embedded by ``nn.Embedding(V, d)``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from landscape.base.errors import check_choice

from ._registry import register_builder, register_family
from .layers import activation_layer, check_options, dropout_layer, scaled, seeded

WIDTH = 64          # d = 64 * width
MLP_RATIO = 4       # MLP hidden = 4 d (Vaswani et al. 2017)
POS_STD = 0.02      # position embeddings ~ N(0, 0.02^2), as in GPT-2 and ViT
LN_EPS = 1e-5
NORMS = ("pre", "post", "none")


class Affine(nn.Module):
    """``y = x * weight + bias`` over the last dimension (features): the ``norm="none"`` slot.

    Same parameter names and shapes as ``nn.LayerNorm(features)``, initialized to the identity; no
    statistics. Input ``(..., features)``.
    """

    def __init__(self, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


def _norm(norm: str, features: int) -> nn.Module:
    return Affine(features) if norm == "none" else nn.LayerNorm(features, eps=LN_EPS)


class PositionEmbedding(nn.Module):
    """A learned vector per token position, added to the tokens: ``weight`` is ``(T, d)``."""

    def __init__(self, tokens: int, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(tokens, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, d) -> (N, T, d)
        return x + self.weight


class SelfAttention(nn.Module):
    """Multi-head self-attention, non-causal, written out so that it has a double backward.

    ``qkv``: one ``Linear(d, 3 d)`` for queries, keys and values (rows 0..d-1, d..2d-1, 2d..3d-1);
    ``proj``: ``Linear(d, d)`` back to the residual stream. ``last_attention`` keeps the
    attention probabilities of the latest forward pass when ``keep_attention`` is set (for probes).
    """

    def __init__(self, features: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(features, 3 * features)
        self.proj = nn.Linear(features, features)
        self.attn_drop = dropout_layer(dropout)
        self.keep_attention = False
        self.last_attention: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 x (N, T, d)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))  # (N, h, T, d_h)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))  # (N, h, T, T)
        att = scores.softmax(dim=-1)
        if self.keep_attention:
            self.last_attention = att.detach()
        out = self.attn_drop(att) @ v  # (N, h, T, d_h)
        return self.proj(out.transpose(1, 2).reshape(n, t, d))  # (N, T, d)


class MLP(nn.Module):
    """``fc2(act(fc1(x)))``, hidden width ``4 d``."""

    def __init__(self, features: int, activation: str):
        super().__init__()
        hidden = MLP_RATIO * features
        self.fc1 = nn.Linear(features, hidden)
        self.act = activation_layer(activation, hidden)
        self.fc2 = nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, d) -> (N, T, d)
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Attention then MLP, each wrapped by ``norm`` (pre/post/none) and ``skip`` (module docstring)."""

    def __init__(self, features: int, heads: int, *, skip: bool, norm: str, activation: str, dropout: float):
        super().__init__()
        self.skip, self.norm = skip, norm
        # registered in the order forward uses them (pre-norm order), so registration = depth order
        self.norm1 = _norm(norm, features)
        self.attn = SelfAttention(features, heads, dropout)
        self.drop1 = dropout_layer(dropout)
        self.norm2 = _norm(norm, features)
        self.mlp = MLP(features, activation)
        self.drop2 = dropout_layer(dropout)

    def _sublayer(self, x: torch.Tensor, f: nn.Module, norm: nn.Module, drop: nn.Module) -> torch.Tensor:
        if self.norm == "post":
            y = drop(f(x))
            return norm(x + y if self.skip else y)
        y = drop(f(norm(x)))
        return x + y if self.skip else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, d) -> (N, T, d)
        x = self._sublayer(x, self.attn, self.norm1, self.drop1)
        return self._sublayer(x, self.mlp, self.norm2, self.drop2)


@register_family("transformer")
class Transformer(nn.Module):
    """Transformer encoder classifier with switches (see the module docstring for the layout).

    Args:
        depth: number of blocks (attention + MLP each), >= 1.
        skip: residual connections around both sub-layers of every block.
        norm: "pre" (Pre-LN) | "post" (Post-LN) | "none" (a per-feature scale and shift only).
        activation: the MLP's, "gelu" (default) | "relu" | "leaky_relu" | "prelu" | "sigmoid" | "tanh".
        dropout: on the attention probabilities and on each sub-layer's output (0: none).
        width: multiplier of the model width ``d = 64 * width``.
        heads: attention heads; must divide ``d``.
        vocab: 0 for signal input (patches, linear embedding), V > 0 for token ids in ``0..V-1``.
        patch: positions per token for signals; 0 picks 4 when ``C == 1`` (and 4 divides L) else 1.
        in_shape: ``(C, L)``: channels and length of the signal (``(1, L)`` for token ids); an image
            ``(C, H, W)`` is read as the signal ``(C, H*W)``, row by row (no 2D patches).
        num_classes: outputs (logits).
        seed: if given, initial weights depend only on it (global RNG untouched).

    Initialization: every linear layer LeCun-normal (std ``1/sqrt(fan_in)``, the variance-preserving
    choice for a linear map; Xiong et al. 2020 analyse Xavier, its symmetric form), biases zero,
    position (and token-id) embeddings N(0, 0.02^2), LayerNorm/Affine scale 1, shift 0.

    Input ``(N, C, L)`` (or ``(N, L)`` ids); output logits ``(N, num_classes)``.
    """

    def __init__(self, *, depth: int = 12, skip: bool = True, norm: str = "pre", activation: str = "gelu",
                 dropout: float = 0.0, width: float = 1.0, heads: int = 4, vocab: int = 0, patch: int = 0,
                 in_shape: Sequence[int] = (1, 40), num_classes: int = 10, seed: Optional[int] = None):
        super().__init__()
        check_choice("norm", norm, NORMS)
        # the shared checks (norm is this family's own, checked just above)
        in_shape, num_classes, seed = check_options(norm="none", activation=activation, dropout=dropout, width=width,
                                                    in_shape=in_shape, num_classes=num_classes, seed=seed)
        _check_int("depth", depth, 1, "blocks")
        if not isinstance(skip, bool):
            raise ValueError(f"The value for `skip` must be True or False, but {skip!r} was passed.")
        features = scaled(WIDTH, width)
        _check_int("heads", heads, 1, "heads")
        if features % heads:
            raise ValueError(f"The value for `heads` must divide the width d = {features}, but {heads!r} was passed.")
        _check_int("vocab", vocab, 0, "token ids (0: signal input)")
        _check_int("patch", patch, 0, "positions per token (0: automatic)")
        channels, length = in_shape[0], math.prod(in_shape[1:])  # an image (C, H, W) is read row by row
        if vocab:
            if len(in_shape) != 2 or channels != 1:
                raise ValueError(f"Token ids come as in_shape (1, L); with vocab={vocab} the value for `in_shape` must "
                                 f"have C = 1, but {in_shape!r} was passed.")
            patch = 1
        elif patch == 0:
            patch = 4 if channels == 1 and length % 4 == 0 else 1
        if length % patch:
            raise ValueError(f"The value for `patch` must divide the signal length {length}, but {patch!r} was passed.")
        self.in_shape, self.patch, self.tokens = in_shape, patch, length // patch
        self.spec = {"name": "transformer", "depth": depth, "skip": skip, "norm": norm, "activation": activation,
                     "dropout": dropout, "width": width, "heads": heads, "vocab": vocab, "patch": patch,
                     "in_shape": list(in_shape), "num_classes": num_classes, "seed": seed}
        with seeded(seed):
            # (an Embedding given its tensor skips its own init, which on the meta device is slow; _init fills it)
            self.embed = (nn.Embedding(vocab, features, _weight=torch.empty(vocab, features)) if vocab
                          else nn.Linear(channels * patch, features))
            self.pos = PositionEmbedding(self.tokens, features)
            self.emb_drop = dropout_layer(dropout)
            self.blocks = nn.Sequential(*[
                Block(features, heads, skip=skip, norm=norm, activation=activation, dropout=dropout)
                for _ in range(depth)])
            self.norm_f = _norm(norm, features)
            self.fc = nn.Linear(features, num_classes)  # `fc`, the classifier's name in every family
            self._init()

    def _init(self) -> None:
        for module in self.modules():
            weight = getattr(module, "weight", None)
            if weight is None or weight.is_meta:  # meta tensors (parameter counts) hold nothing to fill
                continue
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=1.0 / math.sqrt(module.in_features))
                nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.Embedding, PositionEmbedding)):
                nn.init.normal_(module.weight, std=POS_STD)

    def tokens_of(self, x: torch.Tensor) -> torch.Tensor:
        """The input as embedded tokens ``(N, T, d)`` (embedding plus positions), before the blocks."""
        name = f"transformer{self.spec['depth']}"
        if self.spec["vocab"]:
            ids = x.reshape(x.shape[0], -1) if x.dim() == 3 and x.shape[1] == 1 else x
            if ids.dim() != 2 or ids.shape[1] != self.tokens:
                raise ValueError(f"{name} was built for token ids of shape (N, {self.tokens}) or (N, 1, {self.tokens}), "
                                 f"but got {tuple(x.shape)}; create it with in_shape= matching your data.")
            h = self.embed(ids.round().long() if ids.is_floating_point() else ids)
        else:
            if x.dim() != len(self.in_shape) + 1 or tuple(x.shape[1:]) != self.in_shape:
                raise ValueError(f"{name} was built for inputs of shape (N, {', '.join(map(str, self.in_shape))}), but "
                                 f"got {tuple(x.shape)}; create it with in_shape= matching your data.")
            x = x.flatten(2)  # (N, C, L); images (N, C, H, W) -> (N, C, H*W), row by row
            n, c, _ = x.shape
            patches = x.reshape(n, c, self.tokens, self.patch).permute(0, 2, 1, 3)  # (N, T, C, patch)
            h = self.embed(patches.reshape(n, self.tokens, c * self.patch))  # (N, T, d)
        return self.emb_drop(self.pos(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.tokens_of(x))  # (N, T, d)
        return self.fc(self.norm_f(h).mean(dim=1))  # (N, num_classes)


def _check_int(param: str, value, low: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"The value for `{param}` must be a whole number >= {low} ({what}), but {value!r} was passed.")


# Named builders: each depth with its no-residual, Post-LN and no-norm twins (same names and shapes).
for _depth in (2, 4, 6, 12, 24):
    register_builder(f"transformer{_depth}", "transformer",
                     f"{_depth}-block Pre-LN transformer encoder, width 64, 4 heads, GELU (non-causal)", depth=_depth)
    register_builder(f"transformer{_depth}_noskip", "transformer",
                     f"transformer{_depth} without residual connections", depth=_depth, skip=False)
    register_builder(f"transformer{_depth}_postnorm", "transformer",
                     f"transformer{_depth} with Post-LN (LayerNorm after each residual sum)", depth=_depth, norm="post")
    register_builder(f"transformer{_depth}_nonorm", "transformer",
                     f"transformer{_depth} without LayerNorm (scale and shift only)", depth=_depth, norm="none")
