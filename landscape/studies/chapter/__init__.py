"""The rest of the chapter as studies: vanishing gradients, normalization and batch size, overfitting.

The study notes behind landscape (DESIGN.md, "Why it exists") make claims beyond skip connections;
each is a packaged study config run by the ordinary pipeline (``landscape experiment NAME``):

- ``vanishing-gradients`` (depth x activation, plain nets): sigmoid's slope is at most 1/4, so
  the gradient shrinks toward the input and those layers barely learn; ReLU keeps it; Leaky ReLU
  and PReLU keep the negative side alive (no dead units).
- ``normalization`` (norm x batch size, one net): BatchNorm's batch statistics in training and
  running averages at test time part ways with small batches; LayerNorm does not depend on them.
- ``overfitting`` (one remedy at a time on a small training set): smaller model, early stopping,
  augmentation, dropout, weight decay: the train/test gap, and how flat a minimum each reaches.

This package only adds what those configs name: measurements per member (:mod:`.measures`,
built on :mod:`landscape.probes`), figures (:mod:`.figures`, drawn by
:mod:`landscape.plot.studies`) and report sections (:mod:`.sections`) whose every sentence is
generated from the measured numbers. Importing it registers them with the pipeline.
"""
from . import figures, measures, sections  # noqa: F401  (importing registers them)
