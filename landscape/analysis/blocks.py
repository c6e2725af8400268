"""Per-block probes of a stack of residual blocks (a transformer's): rank collapse and gradient norms.

- :func:`rank_collapse` — how far the token representations after each block are from rank one.
  For one input, the tokens form a matrix ``X`` (T, d); its distance to the nearest matrix with
  identical rows ``1 x^T`` (in the Frobenius norm the best ``x`` is the mean token) relative to its
  own size is ``r(X) = ||X - 1 mean(X)||_F / ||X||_F``: 0 when every token is the same vector
  (rank collapse), about 1 when the tokens share no common part. Dong, Cordonnier & Loukas 2021
  ("Attention is not all you need: pure attention loses rank doubly exponentially with depth",
  arXiv:2103.03404) show that without residual connections self-attention drives this residual to
  zero with depth, and that the skip connections prevent it.
- :func:`block_gradients` — the gradient norm of each block's parameters (all of them, attention,
  MLP and norms): at initialization, Post-LN transformers have their largest gradients near the
  output and Pre-LN ones do not (Xiong et al. 2020, "On Layer Normalization in the Transformer
  Architecture", arXiv:2002.04745, Fig. 3), which is why Post-LN needs learning-rate warm-up.

The blocks are ``model.blocks`` (the built-in transformer's) unless a list of modules is given, in
input-to-output order; any module that maps ``(N, T, d)`` to ``(N, T, d)`` will do. Both probes
leave the model's weights, gradients, buffers, mode and torch's RNG as they were.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch
from torch import nn

from landscape.core import evaluate


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode within the block (no dropout; these probes need no batch statistics), torch's RNG
    untouched; the previous mode afterwards. Eval mode changes no buffer."""
    was_training = model.training
    try:
        with torch.random.fork_rng(devices=[]):
            model.eval()
            yield
    finally:
        model.train(was_training)


def _blocks(model: nn.Module, blocks: Optional[Sequence[nn.Module]]) -> List[nn.Module]:
    if blocks is not None:
        return list(blocks)
    found = getattr(model, "blocks", None)
    if not isinstance(found, (nn.Sequential, nn.ModuleList)) or len(found) == 0:
        raise ValueError(f"{type(model).__name__} has no `blocks` (a Sequential or ModuleList of blocks); pass "
                         "blocks=[...] (the modules whose token outputs to probe, input to output).")
    return list(found)


def token_residual(x: torch.Tensor) -> torch.Tensor:
    """``||X - 1 mean(X)||_F / ||X||_F`` per input: tokens ``(N, T, d)`` -> ``(N,)`` in [0, 1]."""
    x = x.detach().double()
    res = x - x.mean(dim=1, keepdim=True)
    return res.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1).clamp_min(1e-30)


def rank_collapse(model: nn.Module, x: torch.Tensor, blocks: Optional[Sequence[nn.Module]] = None,
                  embedded: Optional[nn.Module] = None) -> Dict[str, Any]:
    """The relative token residual ``r`` (module docstring) after each block, in eval mode.

    Args:
        model: the network; ``model(x)`` must run every block.
        x: a batch of inputs.
        blocks: the blocks to probe (default ``model.blocks``).
        embedded: a module whose output is the tokens entering the first block (default: the
            first block's input, captured by a pre-hook).

    Returns:
        ``{"residual": [r after block 1, ..., block L] (means over the batch), "input": r of the
        tokens entering block 1, "std": per-block standard deviations over the batch, "ratio":
        r after the last block / r of the input, "n": batch size}``.
    """
    mods = _blocks(model, blocks)
    outs: List[torch.Tensor] = []
    inputs: List[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _a, out: outs.append(token_residual(out))) for m in mods]
    handles.append(mods[0].register_forward_pre_hook(lambda _m, args: inputs.append(token_residual(args[0]))))
    try:
        with _eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if len(outs) != len(mods) or not inputs:
        raise ValueError(f"model(x) ran {len(outs)} of the {len(mods)} blocks; rank_collapse needs them all.")
    res = [float(o.mean()) for o in outs]
    start = float(inputs[0].mean())
    return {"residual": res, "std": [float(o.std()) if len(o) > 1 else 0.0 for o in outs], "input": start,
            "ratio": res[-1] / start if start > 0 else None, "n": int(x.shape[0])}


def block_gradients(model: nn.Module, data: Any, loss: Any = "cross_entropy", batch_size: Optional[int] = 256,
                    blocks: Optional[Sequence[nn.Module]] = None) -> Dict[str, Any]:
    """Gradient norm of each block's parameters, of the mean loss over ``data``, in eval mode.

    Returns ``{"norms": [||grad|| of block 1, ..., block L], "ratio": last / first, "peak": the
    position of the largest, 0 (first block) .. 1 (last block)}``. The model's ``.grad`` fields are
    restored afterwards.
    """
    mods = _blocks(model, blocks)
    obj = evaluate.objective(loss)
    device = next(model.parameters()).device
    data_batches = evaluate.batches(data, batch_size, device)
    n = sum(evaluate.batch_len(b) for b in data_batches)
    params = [[p for p in m.parameters() if p.requires_grad] for m in mods]
    flat = [p for ps in params for p in ps]
    saved = [None if p.grad is None else p.grad.detach().clone() for p in flat]
    sums = [torch.zeros((), dtype=torch.float64) for _ in mods]
    try:
        with _eval_mode(model):
            for p in flat:
                p.grad = None
            grads = [torch.zeros_like(p, dtype=torch.float64) for p in flat]
            for batch in data_batches:
                total = obj(model, batch)[0]
                for g, gb in zip(grads, torch.autograd.grad(total / n, flat, allow_unused=True)):
                    if gb is not None:
                        g += gb.double()
            i = 0
            for k, ps in enumerate(params):
                for _ in ps:
                    sums[k] += grads[i].pow(2).sum().cpu()
                    i += 1
    finally:
        for p, g in zip(flat, saved):
            p.grad = g
    norms = [float(s.sqrt()) for s in sums]
    peak = max(range(len(norms)), key=norms.__getitem__)
    return {"norms": norms, "ratio": norms[-1] / norms[0] if norms[0] > 0 else None,
            "peak": peak / (len(norms) - 1) if len(norms) > 1 else 0.0}
