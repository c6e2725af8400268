"""The ``transformer-depth`` study's own measures: rank collapse and gradient norms per block at
initialization (:mod:`.measures`, built on :mod:`landscape.analysis.blocks`) their figure
(:mod:`.figures`) and report section (:mod:`.sections`). Importing the package
registers them with the pipeline (``landscape.studies.registry.PLUGINS`` lists it)."""
from . import figures, measures, sections  # noqa: F401  (importing registers them)
