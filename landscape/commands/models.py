"""`landscape models`: list the built-in architectures, show one's options and parameter count."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

import click

DATASET_HELP = ("Count parameters for this dataset's input shape and classes (see `landscape data list`); "
                "default: CIFAR-10's 3x32x32 inputs and 10 classes.")


def _shape_overrides(dataset: Optional[str]) -> Dict[str, Any]:
    """``in_shape``/``num_classes`` for ``dataset`` (none: the models' defaults, CIFAR-10's)."""
    if dataset is None:  # every family counted for the same inputs (the transformer's own default is 1x40)
        return {"in_shape": (3, 32, 32), "num_classes": 10}
    from landscape import data

    meta = data.info(dataset, inspect=False)  # ValueError naming the datasets if unknown
    return {"in_shape": tuple(meta["input_shape"]), "num_classes": int(meta["num_classes"])}


def _count(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


@click.group()
def models():
    """List the built-in architectures and show one's options and size.

    \b
    Examples:
      landscape models list --family resnet
      landscape models info resnet56_noskip --dataset digits
    """


@models.command("list")
@click.option("--family", default=None, metavar="NAME", help="Only this family (mlp, resnet, transformer, vgg).")
@click.option("--dataset", default=None, metavar="NAME", help=DATASET_HELP)
def list_models(family: Optional[str], dataset: Optional[str]) -> None:
    """Print a table: name, family, parameter count, description.

    \b
    Examples:
      landscape models list
      landscape models list --family mlp --dataset digits
    """
    from landscape import models as registry

    shape = _shape_overrides(dataset)
    rows = []
    for name in registry.list_models(family):
        meta = registry.info(name, **shape)
        rows.append((name, meta["family"], _count(meta["parameters"]), meta["description"]))
    where = f"{dataset} " if dataset else "CIFAR-10 "
    shape_txt = "x".join(map(str, shape.get("in_shape", (3, 32, 32))))
    header = ("name", "family", "params", "description")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    for row in [header] + rows:  # params right-aligned so magnitudes line up
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3]]
        click.echo("  ".join(cells))
    click.echo(f"\nParameters for {where}inputs ({shape_txt}). Families, also usable as names: "
               f"{', '.join(registry.list_families())}. Details: landscape models info NAME.")


@models.command("info")
@click.argument("name")
@click.option("--dataset", default=None, metavar="NAME", help=DATASET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the info as JSON (the spec under \"options\").")
def info(name: str, dataset: Optional[str], as_json: bool) -> None:
    """Show NAME's family, every option (the spec a checkpoint stores) and its parameter count.

    \b
    Examples:
      landscape models info mlp20
      landscape models info resnet20 --dataset cifar10 --json
    """
    from landscape import models as registry

    meta = registry.info(name, **_shape_overrides(dataset))
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    click.echo(f"{meta['name']}: {meta['description']}")
    click.echo(f"  family      {meta['family']}")
    for key, value in meta["options"].items():
        if key != "name":
            click.echo(f"  {key:<11} {value}")
    click.echo(f"  parameters  {meta['parameters']:,} ({_count(meta['parameters'])})")
