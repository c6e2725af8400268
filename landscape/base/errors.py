"""Errors the library raises for bad input.

Bad input raises ``ValueError`` (or a subclass) whose message names the parameter, the value received
and what is allowed. The command line turns ``ValueError`` into exit status 2 and ``OSError`` into
exit status 1, one line each.
"""
import difflib
import math
from typing import Any, Iterable


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


def check_int(param: str, value: Any, minimum: int, optional: bool = False) -> None:
    """Raise ValueError unless ``value`` is a whole number >= ``minimum`` (or None, if ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"The value for `{param}` must be a whole number >= {minimum}"
                         f"{' (or left out)' if optional else ''}, but {value!r} was passed.")


def check_number(param: str, value: Any, minimum: float, strict: bool = False, optional: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number >= ``minimum`` (> if ``strict``; None
    allowed if ``optional``)."""
    if optional and value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"The value for `{param}` must be a finite number {bound}, but {value!r} was passed.")
