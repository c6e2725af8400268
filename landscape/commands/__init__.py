"""The `landscape` subcommands, one module each; ``cli.py`` at the repository root lists them."""
