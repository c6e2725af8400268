"""The ``edge-of-stability`` study: sharpness made by training (``landscape experiment edge-of-stability``).

Cohen et al. 2021 (ICLR, "Gradient Descent on Neural Networks Typically Occurs at the Edge of
Stability"): under full-batch gradient descent with step size η, λmax rises during training
(progressive sharpening) until it reaches 2/η, then hovers there while the training loss keeps
falling, not monotonically. With Adam the preconditioned sharpness settles near 38/η (Cohen et al.
2022). The study trains its members with ``[train] track_sharpness = N`` and adds what the
pipeline needs to judge those claims from the tracked rows:

- measure ``edge_of_stability`` (:mod:`.measures`): the numbers of
  :func:`landscape.analysis.tracking.edge_of_stability` per member;
- figure ``sharpening`` (:mod:`.figures`): sharpness against step with its threshold beside the
  training loss, one panel per member, one figure per group of members that differ only in the
  step size or only in skip connections (:func:`landscape.plot.sharpening`);
- report section ``edge_of_stability`` (:mod:`.sections`): each claim with its numbers and rule.

Importing this package registers them (it is listed in ``landscape.studies.registry.PLUGINS``).
"""
from . import figures, measures, sections  # noqa: F401  (importing registers them)
