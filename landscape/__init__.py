"""landscape: see and measure why skip connections and normalization make deep nets trainable.

Submodules are imported on first use so that ``import landscape`` stays cheap:

    landscape.directions   seeded, filter-normalized directions keyed by parameter name
    landscape.surface      evaluate loss/accuracy on a 1D line or 2D plane -> Surface
    landscape.io           the HDF5 surface file format (load/save)
    landscape.sharpness    Hessian eigenvalues, trace, spectral density, SAM/ASAM sharpness
    landscape.plot         figures: line, contour, contourf, heatmap, surface3d, compare, ...
    landscape.train        training paired networks with checkpoints and gradient flow
    landscape.connect      curves between two minima (mode connectivity) and their barriers
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "checkpoint", "directions", "errors", "evaluate", "io", "params", "plot",
    "progress", "sharpness", "surface", "train", "distributed", "engine", "export",
    "geometry", "hessian", "experiment", "study", "report", "rundir", "atomic",
    "gradflow", "schedules", "trainconfig", "sharpness_results", "bnfold", "fastnet", "threads", "h5attrs", "html", "movie", "notebook", "connect", "pathfile",
    "members", "specs", "pipeline", "probes", "chapter",
    "models", "data", "cli",  # the repository's models/, data/ and cli.py (linked into landscape/)
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")
