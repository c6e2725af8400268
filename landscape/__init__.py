"""landscape: see and measure why skip connections and normalization make deep nets trainable.

The library is laid out in layers, bottom up in the direction the data flows; a layer imports only
from the layers below it (``tests/test_layers.py`` checks it):

    base/       errors, atomic writes, file locks, progress bars, optional extras
    models/     architectures with switches (skip, norm, activation, ...) + registry  (repo's models/)
    data/       dataset loaders + registry                                          (repo's data/)
    plot/       figures, pages (.html), movies, exports: draws what it is handed
    storage/    the files landscape writes and reads: HDF5 surfaces, path files, checkpoints, runs
    core/       a model evaluated at points of weight space: directions, the engine, surfaces
    training/   training runs (checkpoints, history, gradient flow), schedules
    analysis/   numbers about minima: sharpness, Hessian, grid geometry, probes, mode connectivity
    studies/    a study as data: configs, members, the pipeline, reports, the packaged configs
    commands/   the ``landscape`` command's subcommands (cli.py wires them)

Submodules are imported on first use so that ``import landscape`` stays cheap. The short names of
the flat layout stay as the public façade and are the *same module objects* as their new homes:

    landscape.directions   seeded, filter-normalized directions keyed by parameter name
    landscape.surface      evaluate loss/accuracy on a 1D line or 2D plane -> Surface
    landscape.io           the HDF5 surface file format (load/save)
    landscape.sharpness    Hessian eigenvalues, trace, spectral density, SAM/ASAM sharpness
    landscape.plot         figures: line, contour, contourf, heatmap, surface3d, compare, ...
    landscape.train        training paired networks with checkpoints and gradient flow
    landscape.connect      curves between two minima (mode connectivity) and their barriers
    landscape.checkpoint   saving and loading checkpoints (``load_model``)
"""
import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# the flat layout's module names -> their homes (``import landscape.io`` gives landscape.storage.io)
ALIASES = {
    **{m: f"base.{m}" for m in ("errors", "atomic", "flock", "joblock", "progress", "extras")},
    **{m: f"plot.{m}" for m in ("html", "movie", "export", "notebook")},
    **{m: f"storage.{m}" for m in ("h5attrs", "io", "pathfile", "checkpoint", "rundir")},
    **{m: f"core.{m}" for m in ("evaluate", "params", "bnfold", "fastnet", "engine", "threads",
                                "distributed", "directions", "surface")},
    **{m: f"training.{m}" for m in ("train", "trainconfig", "schedules", "gradflow")},
    **{m: f"analysis.{m}" for m in ("sharpness", "sharpness_results", "hessian", "geometry", "probes",
                                    "connect")},
    **{m: f"studies.{m}" for m in ("specs", "members", "report", "experiment", "pipeline", "chapter")},
    "study": "studies.config",
}
_PACKAGES = {"base", "plot", "storage", "core", "training", "analysis", "studies", "commands",
             "models", "data", "cli"}  # models, data and cli are the repository's, linked into landscape/


def _home(fullname: str):
    """``landscape.io.x`` -> ``landscape.storage.io.x``; None for a name that did not move."""
    parts = fullname.split(".")
    if len(parts) < 2 or parts[0] != __name__ or parts[1] not in ALIASES:
        return None
    return ".".join([__name__, ALIASES[parts[1]], *parts[2:]])


class _AliasLoader(importlib.abc.Loader):
    """Gives back the module at its new home; nothing is executed twice."""

    def __init__(self, home: str):
        self.home = home

    def create_module(self, spec):
        module = importlib.import_module(self.home)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module):
        # the import system stamped the alias's spec on the module: give it back its own
        module.__spec__ = self.own_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        home = _home(fullname)
        if home is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(home))


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())


def __getattr__(name):
    if name in ALIASES or name in _PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")
