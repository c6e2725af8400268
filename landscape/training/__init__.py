"""Training a network into a run directory: the loop, its config, schedules, gradient flow.

Belongs here: ``train`` (the resumable loop, checkpoints, snapshots for PCA, history),
``trainconfig`` (the recipe as a frozen dataclass, per-dataset defaults), ``schedules`` (learning
rates), ``gradflow`` (per-layer gradient norms logged while training), ``inputs`` (the tensors, the
validation split, the full-batch chunks and the RNG states the loop draws from); what is measured
*while* training hooks in through ``fit(..., tracker=...)`` (sharpness along training:
``analysis.tracking``, which sits above this layer because it needs the Hessian). Does not belong here: the file formats of
a run (``storage.rundir``), studies of many runs (``studies``), measures of a finished model
(``analysis``).
"""
