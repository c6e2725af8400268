"""`landscape data`: placeholder group, filled in by the data work (issue 2)."""
import click


@click.group()
def data():
    """List the built-in datasets and show their shapes and splits."""
