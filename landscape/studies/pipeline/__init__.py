"""The stages of a study (:func:`landscape.experiment.run`), one module each, sharing a :class:`Context`.

    context.py    the run's state: config, output directory, members, data, what was made or reused
    training.py   1. train every member (``landscape.train.fit``), reusing finished runs
    surfaces.py   2. planes, lines and PCA planes (``landscape.surface.compute``), resumable
    measures.py   3. Hessian λmax and trace, grid curvature/basins/roughness, registered extra measures
    figures.py    4. per-member, per-pair and grid figures, training curves, registered extra figures
    summary.py    5. ``summary.json``: every number the report states
    workers.py    stages 1-3 as tasks in N processes (``workers = N``), before the stages run
    curves.py     the training-curves figure (train and test error per epoch)

Extending a study without a new class: a config names registered items; the registries
(measures, figure makers and drawers, report sections) and the plug-in list are in
:mod:`landscape.studies.registry`.
"""
from __future__ import annotations

from ..registry import PLUGINS, load_plugins  # noqa: F401  (their old home; plug-ins may import them here)
