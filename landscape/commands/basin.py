"""`landscape basin`: how wide the basin is along random directions and along the worst-case one.

Loads a checkpoint and the data it was trained on (or, with ``--hf DIR --text FILE``, a local Hugging
Face causal LM and token sequences from the text), and calls :func:`landscape.analysis.basin.profile`:
the loss (and accuracy) along ``--k`` random filter-normalized directions and along the worst-case
direction of normalized gradient ascent, the basin radius at ``--threshold`` with its interval, a
figure (``--out``) and the numbers as JSON (``--json``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np

from ._common import RANGE, data_root_option, device_option, progress_option, setup_compute, threads_option


def _radius_line(name: str, r: dict) -> str:
    hi = "inf (never reached in the grid)" if r["hi"] == math.inf else f"{r['hi']:.4g}"
    return f"  {name}: radius {r['radius']:.4g}, interval [{r['lo']:.4g}, {hi}]"


@click.command()
@click.argument("checkpoint_path", metavar="[CHECKPOINT]", type=click.Path(dir_okay=False), required=False)
@click.option("--hf", type=click.Path(file_okay=False), default=None,
              help="A local Hugging Face causal-LM directory instead of CHECKPOINT (with --text). "
                   "Example: landscape basin --hf ./gpt2 --text book.txt --out basin.png")
@click.option("--text", type=click.Path(dir_okay=False), default=None, help="With --hf: the UTF-8 text to score on.")
@click.option("--seq-len", type=click.IntRange(min=2), default=None, help="With --hf: tokens per sequence [default: 128].")
@click.option("--n-seqs", type=click.IntRange(min=1), default=None, help="With --hf: sequences from --text [default: 8].")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="With --hf: the weights' dtype in memory [default: fp32].")
@click.option("--k", "k", type=click.IntRange(min=1), default=8, show_default=True,
              help="Random directions (seeds --seed, --seed + 1, ...). Example: --k 16")
@click.option("--steps", type=RANGE, default="0:1:21", show_default=True,
              help="Step lengths MIN:MAX:NUM along each direction (filter-normalized units; MIN must be 0). "
                   "Example: --steps 0:0.4:21")
@click.option("--threshold", type=click.FloatRange(min=0.0, min_open=True), default=0.1, show_default=True,
              help="Loss rise that ends the basin (in the loss's units). Example: --threshold 0.5")
@click.option("--ascent-steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Normalized gradient-ascent steps (within the first grid step) that find the worst-case direction.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first random direction.")
@click.option("--dataset", default=None, help="Dataset to evaluate on [default: the checkpoint's].")
@data_root_option()
@click.option("--n-samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="A seeded random subset of N training samples (checkpoints).")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the samples or text sequences.")
@click.option("--low-memory/--no-low-memory", default=None,
              help="Random directions drawn per tensor from their seeds, not stored [default: on with --hf].")
@device_option
@threads_option
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="basin.png", show_default=True,
              help="The figure (PNG, PDF or SVG): loss and accuracy against the step, band over the k directions.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write radii, intervals and curves as JSON. Example: --json basin.json")
@progress_option()
def basin(checkpoint_path, hf, text, seq_len, n_seqs, dtype, k, steps, threshold, ascent_steps, seed, dataset, root,
          n_samples, data_seed, low_memory, device, threads, out, json_out, progress):
    """Loss along K random directions and the worst-case one around CHECKPOINT (or --hf DIR); basin radius.

    \b
    Examples:
      landscape basin landscape-demo/runs/resnet56/final.pt --steps 0:0.4:21 --json basin.json
      landscape basin --hf ./my-gpt2 --text book.txt --seq-len 128 --k 8 --out lm_basin.png
    """
    from landscape.analysis import basin as basin_mod
    from landscape.base import atomic
    from landscape.plot import basin as basin_plot, save

    from ._hf import check_choice_of_model

    check_choice_of_model(checkpoint_path, hf, text=text, seq_len=seq_len, n_seqs=n_seqs, dtype=dtype)
    if steps.start != 0:
        raise click.BadParameter(f"{steps.start:g}:{steps.stop:g}:{steps.num}: steps start at 0 (the weights "
                                 "themselves), e.g. 0:1:21.", param_hint="--steps")
    for path in (out, json_out):  # every output is checked before anything is computed
        if path:
            atomic.check_writable(path)
    dev = setup_compute(device, threads)
    if hf:
        from landscape.storage import hfdir

        transformers = hfdir.require_transformers()
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        model = hfdir.load_model(hf, dtype or "fp32", dev)
        tokenizer = hfdir.load_tokenizer(hf)
        seqs = hfdir.text_sequences(text, seq_len or 128, n_seqs or 8, data_seed, tokenizer,
                                    getattr(model.config, "vocab_size", None))
        data, loss, name = seqs.data(), "causal_lm", Path(hf).name
        store = not (True if low_memory is None else low_memory)
        click.echo(f"tokens: {'the model tokenizer' if tokenizer is not None else 'UTF-8 bytes (the directory has no tokenizer)'}",
                   err=True)
    else:
        from landscape import data as data_mod
        from landscape.storage import checkpoint

        from ._common import trained_on

        model, ckpt = checkpoint.load_model(checkpoint_path, dev)
        on = trained_on(ckpt, checkpoint_path, dataset, root)
        data = data_mod.load_at_most(on.dataset, "train", n_samples, data_seed, on.root, on.normalize)
        loss, name = on.loss, ckpt.get("name") or Path(checkpoint_path).parent.name
        store = not low_memory
    grid = np.linspace(steps.start, steps.stop, steps.num)
    result = basin_mod.profile(model, data, loss=loss, k=k, steps=grid, threshold=threshold, seed=seed,
                               ascent_steps=ascent_steps, store=store, progress=progress)
    result.attrs["model_name"] = name
    fig = basin_plot.figure(result, title=name)
    save(fig, out)
    click.echo(f"Wrote {out}")
    click.echo(f"{name}: loss at the weights {result.base_loss:.4g}; basin radius at +{threshold:g} loss, "
               f"in filter-normalized units (grid step {grid[1]:.3g}):")
    click.echo(_radius_line(f"random (median over k = {k}; interval over directions and grid)", result.random_radius()))
    click.echo(_radius_line("worst case (normalized gradient ascent; interval: grid)", result.worst_radius()))
    if json_out:
        atomic.write_text(json_out, json.dumps(result.to_json(), indent=2, allow_nan=False, default=str) + "\n")
        click.echo(f"Wrote {json_out}")
