"""The `landscape` subcommands, one module each; ``cli.py`` at the repository root lists them.

Belongs here: click options and arguments, turning them into spec objects and API calls, and turning
library exceptions into one-line usage errors (exit status 2). Does not belong here: anything a
Python user of the library would need — that lives in the layers below, which never parse strings
meant for the command line and never print.
"""
