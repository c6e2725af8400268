"""The ``transformer-depth`` study's own measures: rank collapse and gradient norms per block at
initialization (:mod:`.measures`, built on :mod:`landscape.analysis.blocks`). Importing the package
registers them with the pipeline (``landscape.studies.registry.PLUGINS`` lists it)."""
from . import measures  # noqa: F401  (importing registers them)
