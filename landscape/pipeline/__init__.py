"""The stages of a study (:func:`landscape.experiment.run`), one module each, sharing a :class:`Context`.

    context.py    the run's state: config, output directory, members, data, what was made or reused
    training.py   1. train every member (``landscape.train.fit``), reusing finished runs
    surfaces.py   2. planes, lines and PCA planes (``landscape.surface.compute``), resumable
    measures.py   3. Hessian λmax and trace, grid curvature/basins/roughness, registered extra measures
    figures.py    4. per-member, per-pair and grid figures, training curves, registered extra figures
    summary.py    5. ``summary.json``: every number the report states
    workers.py    stages 1-3 as tasks in N processes (``workers = N``), before the stages run
    curves.py     the training-curves figure (train and test error per epoch)

Extending a study without a new class: a config names registered items, and these modules hold
the registries: ``measures.register`` (numbers per member, with their table columns),
``figures.register_maker`` / ``figures.register_drawer`` (figures), and
``landscape.report.register_section`` (report sections). Modules that register items are listed
in :data:`PLUGINS` and imported by :func:`load_plugins` before a config is checked.
"""
from __future__ import annotations

import importlib
from typing import Tuple

# modules whose import registers measures, figures or report sections (imported once, on demand)
PLUGINS: Tuple[str, ...] = ("landscape.chapter",)


def load_plugins() -> None:
    for name in PLUGINS:
        importlib.import_module(name)
