"""`landscape data`: list the built-in datasets, show one in detail, fetch the on-disk ones.

A thin layer over the ``data`` package: ``data.info`` does the work; missing or malformed files
raise ``FileFormatError`` (a ValueError), which the top-level group prints as one line, exit 2.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Sequence

import click

from ._common import data_root_option


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def _table(header: Sequence[str], rows: List[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    numeric = [all(str(r[i]).replace(",", "").isdigit() for r in rows) for i in range(len(header))]

    def line(row):
        cells = [str(c).rjust(w) if num else str(c).ljust(w) for c, w, num in zip(row, widths, numeric)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *map(line, rows)])


@click.group()
def data():
    """List the built-in datasets and show their shapes and splits.

    \b
    Examples:
      landscape data list
      landscape data info digits
      landscape data download cifar10 --root ~/data
    """


@data.command("list")
def list_cmd():
    """List the datasets: name, input shape, classes, sizes, source.

    Sizes are the standard ones; `landscape data info NAME` reads the files actually present.

    Example: landscape data list
    """
    from landscape import data as datasets

    rows = []
    for name in datasets.list_datasets():
        meta = datasets.info(name, inspect=False)
        rows.append((name, _shape(meta["input_shape"]), meta["num_classes"], f"{meta['sizes']['train']:,}",
                     f"{meta['sizes']['test']:,}", meta["source"]))
    click.echo(_table(("name", "input", "classes", "train", "test", "source"), rows))


@data.command("info")
@click.argument("name")
@data_root_option(path_type=Path)
@click.option("--json", "as_json", is_flag=True, help="Print the full description as JSON.")
def info_cmd(name, root, as_json):
    """Show one dataset: shape, classes, split sizes, normalization.

    Also the default augmentation and, for on-disk datasets (mnist, fashion-mnist, cifar10), where
    the files were found: they are read from the data root, so this checks that they are complete
    and well formed.

    \b
    Examples:
      landscape data info digits
      landscape data info cifar10 --root ~/data --json
    """
    from landscape import data as datasets

    meta = datasets.info(name, root=root)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    classes = meta["classes"]
    shown = ", ".join(classes) if len(classes) <= 10 else ", ".join(classes[:10]) + ", ..."
    aug = meta["augmentation"]
    signal = len(meta["input_shape"]) == 2
    augmentation = (", ".join(part for part in (
        (f"random shift by up to {aug['crop_padding']} samples" if signal else
         f"random crop with {aug['crop_padding']}-pixel padding") if aug["crop_padding"] else "",
        "horizontal flips" if aug["flip"] else "no flips",
        f"Gaussian noise (std {aug['noise']:g})" if aug.get("noise") else "") if part)
        if aug["crop_padding"] or aug["flip"] or aug.get("noise") else "none")
    rows = [
        ("name", meta["name"]),
        ("description", meta["description"]),
        ("input shape", f"{_shape(meta['input_shape'])} "
         f"({'channels x length' if signal else 'channels x height x width'})"),
        ("classes", f"{meta['num_classes']}: {shown}"),
        ("train size", f"{meta['sizes']['train']:,}"),
        ("test size", f"{meta['sizes']['test']:,}"),
        ("source", meta["source"]),
        ("normalization", "none: standardized by its generator" if datasets.spec(name).standardized else
         "per channel, from the train split: mean " + ", ".join(f"{v:.4f}" for v in meta["mean"])
         + "; std " + ", ".join(f"{v:.4f}" for v in meta["std"])),
        ("augmentation", augmentation),
    ]
    if meta["location"]:
        rows.append(("files", meta["location"]))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key + ':':<{width + 2}}{value}")


@data.command("download")
@click.argument("name")
@data_root_option(path_type=Path)
def download_cmd(name, root):
    """Fetch mnist, fashion-mnist or cifar10 (needs a network).

    Files go under the data root and are checked against the published MD5 sums.

    Example: landscape data download mnist --root ~/data
    """
    from landscape import data as datasets

    click.echo(f"{name}: files in {datasets.download(name, root=root)}")
