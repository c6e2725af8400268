"""A user's Hugging Face model directory and a text file, as a model and token sequences.

Nothing is downloaded: models and tokenizers load with ``local_files_only=True`` from a directory
written by ``save_pretrained`` (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).
``transformers`` is optional (extra ``hf``: ``pip install -e ".[hf]"``).

Sequences: the whole text is tokenized once, cut into consecutive non-overlapping windows of
``seq_len`` tokens, and ``n`` windows are drawn without replacement by a seeded generator
(``numpy.random.default_rng(seed)``), kept in text order. The model's own tokenizer is used when
the directory has one; otherwise the UTF-8 bytes are the tokens (ids 0-255, which needs a
vocabulary of at least 256), and the result says so (``tokenizer="bytes"``).
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from landscape.base.extras import MissingExtra

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model")


def require_transformers():
    """Import ``transformers`` or raise :class:`MissingExtra` in one line saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise MissingExtra("--hf needs transformers, which is not installed: pip install -e \".[hf]\" "
                           "(from a clone; else pip install 'landscape[hf]')") from None
    return transformers


def _check_dir(directory: os.PathLike) -> Path:
    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"--hf {str(directory)!r} is not a directory; pass a local model directory written by "
                         "save_pretrained (config.json and the weights).")
    if not (path / "config.json").is_file():
        raise ValueError(f"--hf {str(directory)!r} has no config.json; pass a directory written by "
                         "model.save_pretrained(DIR) (nothing is downloaded).")
    return path


def load_model(directory: os.PathLike, dtype: str = "fp32", device: Optional[torch.device] = None,
               attention: Optional[str] = None):
    """The causal-LM model in ``directory`` (``AutoModelForCausalLM``, local files only), in eval mode.

    ``dtype``: "fp32", "bf16" (half the memory; values then carry bf16 rounding) or "fp16".
    ``attention``: the ``attn_implementation`` ("eager", "sdpa", ...; default: transformers' choice).
    """
    transformers = require_transformers()
    path = _check_dir(directory)
    if dtype not in DTYPES:
        raise ValueError(f"The value for `dtype` must be one of {list(DTYPES)}, but {dtype!r} was passed.")
    # transformers 5 calls it dtype; 4.x torch_dtype
    key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs: Dict[str, Any] = {"local_files_only": True, key: DTYPES[dtype]}
    if attention:
        kwargs["attn_implementation"] = attention
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"--hf {str(directory)!r} could not be loaded as a causal language model: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    if device is not None:
        model.to(device)
    return model.eval()


def load_tokenizer(directory: os.PathLike):
    """The tokenizer saved in ``directory``, or None when it has none (or transformers cannot read it)."""
    transformers = require_transformers()
    path = Path(directory)
    if not any((path / f).is_file() for f in _TOKENIZER_FILES):
        return None
    try:
        return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("the tokenizer in %s could not be loaded (%s): using UTF-8 bytes as tokens", path, exc)
        return None


@dataclass
class TextSequences:
    """Token sequences drawn from a text file.

    ids:        (n, seq_len) int64 token ids
    tokenizer:  "bytes" (UTF-8 bytes as ids) or the tokenizer's class and name
    attrs:      what to record: text path and sha256, tokens in the text, windows, seed, tokenizer
    """

    ids: torch.Tensor
    tokenizer: str
    attrs: Dict[str, Any]

    def data(self) -> Dict[str, torch.Tensor]:
        """``{"input_ids": ids}``: a dict of tensors that ``landscape.evaluate.batches`` cuts into dict batches."""
        return {"input_ids": self.ids}


def text_sequences(path: os.PathLike, seq_len: int, n: int, seed: int = 0, tokenizer: Any = None,
                   vocab_size: Optional[int] = None) -> TextSequences:
    """``n`` seeded windows of ``seq_len`` tokens from the text file at ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--text {str(path)!r} is not a file; pass a local UTF-8 text file.")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
        raise ValueError(f"--seq-len must be a whole number of tokens >= 2 (one prediction needs two), got {seq_len!r}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--n-seqs must be a positive number of sequences, got {n!r}.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"--text {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    if tokenizer is None:
        if vocab_size is not None and vocab_size < 256:
            raise ValueError(f"the model directory has no tokenizer and the model's vocabulary ({vocab_size} tokens) is "
                             "too small for UTF-8 bytes as tokens (256 needed); save the tokenizer into the directory "
                             "(tokenizer.save_pretrained(DIR)).")
        tokens = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
        name = "bytes"
    else:
        tokens = np.asarray(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
        name = f"{type(tokenizer).__name__}({getattr(tokenizer, 'name_or_path', '') or 'local'})"
    windows = len(tokens) // seq_len
    if windows < n:
        raise ValueError(f"--text {str(path)!r} holds {len(tokens):,} tokens ({name}): {windows} window(s) of --seq-len "
                         f"{seq_len}, fewer than --n-seqs {n}; pass a longer text, a shorter --seq-len or fewer --n-seqs.")
    if vocab_size is not None and tokens.size and int(tokens.max()) >= vocab_size:
        raise ValueError(f"the text's token ids reach {int(tokens.max())}, beyond the model's vocabulary of {vocab_size}; "
                         "the tokenizer in the directory does not belong to this model.")
    pick = np.sort(np.random.default_rng(int(seed)).choice(windows, size=n, replace=False))
    ids = torch.from_numpy(tokens[:windows * seq_len].reshape(windows, seq_len)[pick].copy())
    attrs = {"text": str(path.resolve()), "text_sha256": hashlib.sha256(raw).hexdigest(), "text_tokens": int(len(tokens)),
             "seq_len": int(seq_len), "n_seqs": int(n), "text_seed": int(seed), "tokenizer": name}
    return TextSequences(ids=ids, tokenizer=name, attrs=attrs)


def describe_model(model) -> Dict[str, Any]:
    """What to record about a Hugging Face model: class, config's model_type, parameters, dtype, attention."""
    cfg = getattr(model, "config", None)
    return {"model_name": type(model).__name__,
            "hf_model_type": str(getattr(cfg, "model_type", "")),
            "hf_attention": str(getattr(cfg, "_attn_implementation", "") or ""),
            "hf_dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
            "n_parameters": int(sum(p.numel() for p in model.parameters()))}


def directory_sha256(directory: os.PathLike) -> str:
    """SHA-256 over the directory's weight and config files (names and bytes), streamed."""
    path = Path(directory)
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".safetensors", ".bin")):
        h.update(f.name.encode() + b"|")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
