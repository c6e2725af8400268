"""The causal language-model objective: next-token cross-entropy and next-token accuracy.

A batch is a dict of ``(B, T)`` tensors: ``input_ids`` (token ids), optionally ``attention_mask``
(1 = a real token; padding is not predicted) and ``labels`` (the tokens to predict, ``-100`` =
ignore; default: ``input_ids``), as Hugging Face tokenizers and ``DataCollatorForLanguageModeling``
produce them; or a bare ``(B, T)`` tensor of ids. The model is any module called as
``model(input_ids=..., attention_mask=...)`` (every ``transformers`` ``PreTrainedModel`` for causal
LM) or, for a bare tensor batch, ``model(ids)``; its output is the logits ``(B, T, V)``, a tuple
whose first item they are, or an object with ``.logits``.

Position ``t`` predicts token ``t + 1``: a sequence of ``T`` tokens gives ``T - 1`` predictions. The
loss is summed over predicted tokens and the count is the number of predicted tokens, so a surface's
``train_loss`` is the mean token cross-entropy in nats (``exp`` of it is the perplexity) and
``train_acc`` the fraction of next tokens the model ranks first (ties to the lowest id, ``argmax``).
"""
from __future__ import annotations

from typing import Any, Tuple

import torch
import torch.nn.functional as F
from torch import nn

IGNORE = -100  # the label of a position that is not scored (Hugging Face's convention)


def logits_of(out: Any) -> torch.Tensor:
    """The logits in a model's output: ``.logits``, the first item of a tuple, or the tensor itself."""
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, torch.Tensor):
        return out
    raise ValueError(f"loss='causal_lm' needs the model to return logits (B, T, vocab), a tuple starting with them "
                     f"or an object with .logits; got {type(out).__name__}.")


def _next_tokens(batch: Any) -> Tuple[dict, torch.Tensor]:
    """(model inputs, targets (B, T)): targets[:, t] is the token position t predicts, IGNORE where none."""
    if isinstance(batch, torch.Tensor):
        ids, inputs, labels, mask = batch, None, None, None
    elif isinstance(batch, dict) and "input_ids" in batch:
        ids, labels, mask = batch["input_ids"], batch.get("labels"), batch.get("attention_mask")
        inputs = {k: v for k, v in batch.items() if k != "labels"}
    else:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"loss='causal_lm' needs batches of token ids: a dict with 'input_ids' (B, T) (and optional "
                         f"'attention_mask', 'labels') or a (B, T) tensor; got {keys}.")
    if ids.dim() != 2 or ids.is_floating_point():
        raise ValueError(f"loss='causal_lm' needs integer token ids of shape (B, T); got {tuple(ids.shape)} {ids.dtype}.")
    source = labels if labels is not None else ids
    if mask is not None and labels is None:
        source = source.masked_fill(mask == 0, IGNORE)
    # shift by one without slicing the (B, T, V) logits (a copy as large as the logits): the last
    # position predicts nothing
    targets = torch.full_like(source, IGNORE)
    targets[:, :-1] = source[:, 1:]
    return inputs, targets


def causal_lm(model: nn.Module, batch: Any) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss_sum, predicted tokens, correct next tokens)`` of one batch (an Objective's BatchScore)."""
    inputs, targets = _next_tokens(batch)
    out = model(batch) if inputs is None else model(**inputs)
    logits = logits_of(out)
    if logits.dim() != 3 or logits.shape[:2] != targets.shape:
        raise ValueError(f"loss='causal_lm' needs logits (B, T, vocab) for token ids {tuple(targets.shape)}; the model "
                         f"returned {tuple(logits.shape)}.")
    flat = logits.reshape(-1, logits.shape[-1])
    flat = flat if flat.dtype == torch.float64 else flat.float()
    tgt = targets.reshape(-1)
    loss = F.cross_entropy(flat, tgt, ignore_index=IGNORE, reduction="sum")
    valid = tgt != IGNORE
    correct = ((flat.argmax(-1) == tgt) & valid).sum()
    return loss, valid.sum(), correct
