"""Progress bars that read well both on a terminal and in a log file.

On a TTY this is a tqdm bar with rate and ETA; in a Jupyter notebook, tqdm's notebook widget
(``tqdm.auto`` picks it where ipywidgets is installed). Elsewhere (CI logs, `nohup`, SLURM output)
tqdm's carriage returns would pile up into one unreadable line, so we print a plain line at most
every ``log_every`` seconds instead: ``surface: 120/2601 (4.6%) 1.3 it/s, ETA 31m40s``.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class _NoBar:
    """The bar of ``enabled=False``: it counts and does nothing else. Not ``tqdm(disable=True)``: that
    still makes tqdm's multiprocessing lock, a named semaphore that a study worker ended by
    ``os._exit`` leaves behind for Python's resource tracker to warn about."""

    def __init__(self, total: Optional[int] = None, initial: int = 0):
        self.total, self.n = total, initial

    def update(self, k: int = 1) -> None:
        self.n += k

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def set_postfix(self, **kw) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _LogBar(_NoBar):
    """A tqdm-like object that writes one line per interval to a non-TTY stream."""

    def __init__(self, total: Optional[int], desc: str, stream, log_every: float, initial: int = 0):
        super().__init__(total, initial)
        self.desc, self.stream, self.log_every = desc, stream, log_every
        self._start_n = initial
        self._start = self._last = time.monotonic()
        self._postfix = ""

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now - self._last >= self.log_every or (self.total is not None and self.n >= self.total):
            self._last = now
            self._write(now)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self._postfix = text

    def set_postfix(self, **kw) -> None:
        self._postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items())

    def _write(self, now: float) -> None:
        done = self.n - self._start_n
        rate = done / max(now - self._start, 1e-9)
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total} ({100 * self.n / self.total:.1f}%)" if self.total else "")]
        parts.append(f"{rate:.3g} it/s")
        if self.total and rate > 0:
            parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        if self._postfix:
            parts.append(self._postfix)
        print(", ".join(parts), file=self.stream, flush=True)


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython running under IPKernelApp), as tqdm.auto decides."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def bar(total: Optional[int] = None, desc: str = "", enabled: bool = True, initial: int = 0,
        stream=None, log_every: float = 10.0):
    """Return a progress bar with ``update(k)``, ``set_postfix_str``, ``close`` (a context manager).

    ``enabled=False`` gives a bar that does nothing, so callers need no branches. Without a
    ``stream``, a Jupyter kernel gets a notebook widget.
    """
    if not enabled:
        return _NoBar(total, initial)
    if stream is None and in_notebook():
        return tqdm(total=total, desc=desc, initial=initial, leave=True)
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(total=total, desc=desc, initial=initial, file=stream, dynamic_ncols=True, leave=True)
    return _LogBar(total, desc, stream, log_every, initial)


def track(items: Iterable[T], total: Optional[int] = None, desc: str = "", enabled: bool = True) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    with bar(total, desc, enabled) as b:
        for item in items:
            yield item
            b.update(1)
