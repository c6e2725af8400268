"""Learning-rate schedules as a pure function of the optimizer step.

The rate at a step depends on the step number and the config alone, never on hidden scheduler
state, so a resumed run sees exactly the rates an uninterrupted run would have seen and nothing
besides the step counter has to be saved.

Schedules (``epochs`` counted from 0, ``t`` = steps done / steps per epoch):

    constant   lr
    step       lr * gamma ** (number of milestones m with epoch >= m), like ``torch.optim.lr_scheduler.MultiStepLR``:
               milestones (150, 225) with gamma 0.1 is He et al. (2016) / Li et al. (2018)'s CIFAR recipe
               (0.1 for 150 epochs, 0.01 for 75, then 0.001)
    cosine     min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2, progress from 0 after warmup to 1 at the
               end (Loshchilov & Hutter 2017, SGDR, without restarts)

A linear warmup over ``warmup_epochs`` (Goyal et al. 2017) multiplies any of them by
``(step + 1) / warmup_steps`` until it reaches 1, so the first step is small but never zero.
"""
from __future__ import annotations

import math
from typing import Sequence

from landscape.base.errors import check_choice

SCHEDULES = ("constant", "step", "cosine")


def lr_at(step: int, steps_per_epoch: int, *, lr: float, epochs: int, schedule: str = "constant",
          milestones: Sequence[int] = (), gamma: float = 0.1, warmup_epochs: float = 0.0,
          min_lr: float = 0.0) -> float:
    """The learning rate for optimizer step ``step`` (0-based) of a run of ``epochs`` epochs.

    Raises ValueError for an unknown ``schedule`` or a non-positive ``steps_per_epoch``.
    """
    check_choice("schedule", schedule, SCHEDULES)
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be a positive number of steps, got {steps_per_epoch}.")
    epoch = step // steps_per_epoch
    t = step / steps_per_epoch
    if schedule == "constant":
        rate = lr
    elif schedule == "step":
        rate = lr * gamma ** sum(1 for m in milestones if epoch >= m)
    else:
        span = max(epochs - warmup_epochs, 1e-12)
        progress = min(max((t - warmup_epochs) / span, 0.0), 1.0)
        rate = min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
    warmup_steps = warmup_epochs * steps_per_epoch
    if warmup_steps > 0 and step < warmup_steps:
        rate *= min(1.0, (step + 1) / warmup_steps)
    return rate
