"""Training a network into a run directory: the loop, its config, schedules, gradient flow.

Belongs here: ``train`` (the resumable loop, checkpoints, snapshots for PCA, history),
``trainconfig`` (the recipe as a frozen dataclass, per-dataset defaults), ``schedules`` (learning
rates), ``gradflow`` (per-layer gradient norms logged while training); what is measured *while*
training (e.g. sharpness along training) hooks in here. Does not belong here: the file formats of
a run (``storage.rundir``), studies of many runs (``studies``), measures of a finished model
(``analysis``).
"""
