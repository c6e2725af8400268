"""Checks on a command's output path, made before anything is written.

Three ways a command could destroy what it did not make, each refused with one line (a
``ValueError``: the command line reports it with exit status 2):

* the output *is* one of the inputs (the same path, a link to it, another spelling of it):
  ``landscape export p.h5 --to html --out p.h5`` would replace the surface with a page;
* the output's extension names another format: ``--to mp4 --out x.gif`` would write an MP4 under a
  .gif name, ``--to html --out q.h5`` a page under a surface file's name;
* the output exists and holds what this command does not write (a checkpoint, another kind of
  landscape file, a file of another program): no ``--overwrite`` replaces it, and no message
  suggests one. A command replaces only files of the format it writes (``replaces``).

Every command that writes a file calls :func:`check_output` with its inputs, the extensions of the
format it writes and the file formats it may replace.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]

# What a file name's extension says the file holds (lower case, with the dot).
EXTENSIONS = {
    ".h5": "an HDF5 file", ".hdf5": "an HDF5 file", ".hdf": "an HDF5 file", ".he5": "an HDF5 file",
    ".png": "a PNG image", ".pdf": "a PDF document", ".svg": "an SVG image", ".jpg": "a JPEG image",
    ".jpeg": "a JPEG image", ".eps": "an EPS image", ".html": "a web page", ".htm": "a web page",
    ".vtp": "a ParaView file", ".obj": "a mesh", ".gif": "a GIF animation", ".mp4": "an MP4 movie",
    ".pt": "a PyTorch file", ".pth": "a PyTorch file", ".ckpt": "a checkpoint", ".json": "a JSON file",
    ".toml": "a TOML file", ".md": "a Markdown file", ".csv": "a CSV table", ".npz": "a NumPy file",
    ".npy": "a NumPy file", ".txt": "a text file", ".py": "a Python file", ".ipynb": "a notebook",
}

HDF5 = (".h5", ".hdf5", ".hdf", ".he5")

# The first bytes of some formats a file may hold whatever its name says.
MAGIC = ((b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF document"), (b"GIF8", "a GIF image"),
         (b"<?xml", "an XML file"), (b"<!DOCTYPE html", "a web page"), (b"<html", "a web page"))


def format_names() -> dict:
    """The formats landscape stamps into its HDF5 files (the ``format`` attribute), in words."""
    from landscape.storage import io, pathfile

    return {io.FORMAT: "a landscape surface file", pathfile.FORMAT: "a landscape path file (`landscape connect`)",
            io.DIRECTIONS_FORMAT: "a landscape direction file"}


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode when both exist (links, ``./x``,
    another mount of it), else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def file_format(path: PathLike) -> Tuple[Optional[str], str]:
    """``(format, words)`` of an existing file: its landscape format name (the HDF5 ``format``
    attribute) or None, and what it is in words ("a PyTorch file", "an HDF5 file", ...)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                fmt = f.attrs.get("format")
        except OSError:
            return None, "a damaged HDF5 file (it cannot be opened)"
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt is None:
            return None, "an HDF5 file that is not a landscape file"
        fmt = str(fmt)
        return fmt, format_names().get(fmt, f"an HDF5 file of format {fmt!r}")
    if head.startswith(b"PK") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(n.endswith("data.pkl") for n in z.namelist()):
                return None, "a PyTorch file (a checkpoint?)"
        return None, "a zip archive"
    if head[:1] == b"\x80":  # a pickle (torch.save's legacy format)
        return None, "a pickle (a PyTorch checkpoint?)"
    for magic, words in MAGIC:
        if head.startswith(magic):
            return None, words
    if path.suffix.lower() in HDF5:  # named as HDF5 but not: empty, truncated, renamed
        return None, "a file that is not readable HDF5" + (" (empty)" if not head else "")
    return None, EXTENSIONS.get(path.suffix.lower(), "a file")


def check_output(out: PathLike, inputs: Iterable[Tuple[str, PathLike]] = (), *,
                 extensions: Optional[Sequence[str]] = None, writes: str = "",
                 replaces: Optional[Sequence[str]] = None, option: str = "--out") -> None:
    """Refuse (ValueError) an output path that would destroy something.

    Args:
        out: the output path.
        inputs: ``(what, path)`` of each input, e.g. ``("surface", "p.h5")``.
        extensions: the extensions of the format written (``(".gif",)``); an extension that
            EXTENSIONS lists for anything else is refused; none (or an unknown one) is accepted.
        writes: the format in words, for the message ("an MP4 movie").
        replaces: the landscape format names this command may replace (``("landscape-surface",)``):
            an existing file of any other content is refused. None: any existing file may be
            replaced except a landscape data file, an HDF5 file or a PyTorch file (a figure
            replaces a figure).
        option: the option's name, for the message.
    """
    from landscape.base import atomic

    atomic.check_writable(out)  # a directory in the way, a parent that is a file, no write permission
    for what, path in inputs:
        if path is not None and same_file(out, path):
            raise ValueError(f"{option} {str(out)!r} is the input {what} {str(path)!r}: writing there would destroy "
                             f"it. Choose another {option}.")
    ext = Path(out).suffix.lower()
    if extensions is not None and ext in EXTENSIONS and ext not in extensions:
        raise ValueError(f"{option} {str(out)!r} ends in {ext}, the extension of {EXTENSIONS[ext]}, but this writes "
                         f"{writes or 'another format'}; use a name ending in {' or '.join(extensions[:2])}.")
    if not os.path.isfile(out):
        return
    fmt, words = file_format(out)
    if replaces is not None:
        foreign = fmt not in replaces
    else:
        foreign = fmt is not None or words.startswith(("an HDF5", "a PyTorch", "a pickle"))
    if foreign:
        raise ValueError(f"{option} {str(out)!r} already exists and is {words}, which this command does not write; "
                         f"it is left as it is. Choose another {option}, or move that file away first.")
