"""`landscape surface --hf DIR --text FILE`: a user's Hugging Face causal language model.

The model loads from a local directory (``save_pretrained``; nothing is downloaded), the text file
becomes ``--n-seqs`` seeded sequences of ``--seq-len`` tokens (the directory's tokenizer, or UTF-8
bytes when it has none: said in the output and the file), the loss is the next-token cross-entropy
(``loss="causal_lm"``; accuracy = next-token accuracy). By default the directions are not stored
and the model is moved in place (``--low-memory``): peak memory about one copy of the weights plus
one forward pass (docs/guide.md, "Large models").
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
import numpy as np

HF_OPTIONS = ("text", "seq_len", "n_seqs", "dtype")


def check_choice_of_model(checkpoint_path: Optional[str], hf: Optional[str], **given) -> None:
    """Exactly one of CHECKPOINT and --hf; the --hf options only with --hf."""
    if checkpoint_path and hf:
        raise click.UsageError("Give either CHECKPOINT or --hf DIR, not both.")
    if not checkpoint_path and not hf:
        raise click.UsageError("Missing CHECKPOINT (a landscape checkpoint) or --hf DIR (a Hugging Face model "
                               "directory, with --text FILE).")
    if hf and not given.get("text"):
        raise click.UsageError("--hf DIR needs --text FILE: the text to score the model on (a local UTF-8 file).")
    if not hf:
        used = [f"--{k.replace('_', '-')}" for k in HF_OPTIONS if given.get(k) not in (None, False)]
        if used:
            raise click.UsageError(f"{', '.join(used)} only apply with --hf DIR.")


def surface_hf(hf: str, text: str, seq_len: int, n_seqs: int, data_seed: int, dtype: Optional[str], x_range, y_range,
               kind: str, norm: str, ignore: str, seed: int, batch_size: Optional[int], precision: str,
               low_memory: Optional[bool], device: str, threads: int, overwrite: bool, out: str, progress: bool,
               round_seconds: float) -> None:
    """The --hf branch of `landscape surface` (options as there)."""
    from landscape.core import directions, surface as surface_mod
    from landscape.core.engine import EngineOptions
    from landscape.storage import hfdir

    from ._common import setup_compute

    if kind != "random":
        raise click.UsageError(f"--hf takes random directions (--dir random); --dir {kind} is for checkpoints.")
    dev = setup_compute(device, threads)
    transformers = hfdir.require_transformers()
    transformers.utils.logging.disable_progress_bar()  # the command has its own progress bar and messages
    transformers.utils.logging.set_verbosity_error()
    model = hfdir.load_model(hf, dtype or "fp32", dev)
    tokenizer = hfdir.load_tokenizer(hf)
    seqs = hfdir.text_sequences(text, seq_len, n_seqs, data_seed, tokenizer,
                                getattr(model.config, "vocab_size", None))
    low_memory = True if low_memory is None else low_memory
    ndim = 1 if y_range is None else 2
    dirs = directions.random(model, n=ndim, norm=norm, ignore=None if ignore == "none" else "biasbn", seed=seed,
                             store=not low_memory)
    said = ("the model's own tokenizer" if tokenizer is not None
            else "UTF-8 bytes as tokens (the directory has no tokenizer)")
    click.echo(f"{Path(hf).name}: {hfdir.describe_model(model)['n_parameters']:,} parameters; {n_seqs} sequences of "
               f"{seq_len} tokens from {Path(text).name}, tokenized with {said}; "
               f"{'low-memory (directions drawn per tensor, model moved in place)' if low_memory else 'stored directions'}.",
               err=True)
    attrs = {**hfdir.describe_model(model), "hf_dir": str(Path(hf).resolve()), "hf_sha256": hfdir.directory_sha256(hf),
             "dataset": "text", **seqs.attrs, "splits": "train", "low_memory": bool(low_memory)}
    result = surface_mod.compute(
        model, dirs, x=x_range, y=y_range, data={"train": seqs.data()}, loss="causal_lm", precision=precision,
        batch_size=batch_size or n_seqs, path=out, resume=True, overwrite=overwrite, progress=progress, attrs=attrs,
        round_seconds=round_seconds, engine=EngineOptions(fold_bn=False))
    done = int(result.done().sum())
    click.echo(f"Wrote {out}: {'x'.join(str(n) for n in reversed(result.shape))} grid, {done}/{result.done().size} "
               f"cells done; tokens: {seqs.tokenizer}.")
    loss = result.values["train_loss"]
    centre = tuple(int(np.argmin(np.abs(a))) for a in ([result.y] if result.y is not None else []) + [result.x])
    if np.isfinite(loss[centre]):
        click.echo(f"  at the model's weights: token cross-entropy {loss[centre]:.4g} nats (perplexity "
                   f"{np.exp(loss[centre]):.4g}), next-token accuracy {result.values['train_acc'][centre]:.2%}")
    for value in result.values:
        ext = result.extremes(value)
        if ext["argmin"] is not None:
            where = ", ".join(f"{c:.4g}" for c in ext["argmin_coords"])
            click.echo(f"  {value}: min {ext['min']:.6g} at ({where}), max {ext['max']:.6g}")
