"""A model evaluated at points of weight space: directions, the evaluation engine, lines and planes.

Belongs here: parameter selection and restoring (``params``), evaluating a model on batches
(``evaluate``), BatchNorm folding and the fast functional copy of a model (``bnfold``,
``fastnet``), the engine that evaluates many grid points at once (``engine``, ``threads``),
torchrun sharding (``distributed``), seeded filter-normalized directions (``directions``) and the
surface computation that samples a line or a plane into a file (``surface``); new samplers of
weight space (adaptive grids, direction ensembles) go here too. Does not belong here: numbers
*about* a minimum (``analysis``), training (``training``), figures (``plot``).
"""
