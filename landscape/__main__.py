"""``python -m landscape``: the ``landscape`` command, also as a module so that launchers that run
modules can start it, e.g. ``torchrun --standalone --nproc-per-node 2 -m landscape surface ...``."""
from landscape import cli

if __name__ == "__main__":
    cli.main(prog_name="landscape")
