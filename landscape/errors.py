"""Errors the library raises for bad input.

Bad input raises ``ValueError`` (or a subclass) whose message names the parameter, the value received
and what is allowed. The command line turns ``ValueError`` into exit status 2 and ``OSError`` into
exit status 1, one line each.
"""
import difflib
from typing import Iterable


class FileFormatError(ValueError):
    """A file is missing, unreadable as the expected format, or of an unsupported version."""


def check_choice(param: str, value, choices: Iterable) -> None:
    """Raise ValueError unless ``value`` is one of ``choices`` (suggesting close matches)."""
    choices = list(choices)
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"The value for `{param}` must be one of {choices}, but {value!r} was passed.{hint}"
    )
