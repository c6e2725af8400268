"""What a training run is asked to do: :class:`TrainConfig` (every hyperparameter, saved as a run's
``config.json``) and the recipe per dataset (:func:`recommended`). ``landscape.train`` runs it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from landscape.base.errors import check_choice, check_int, check_number
from landscape.core.evaluate import LOSSES

from .schedules import SCHEDULES

OPTIMIZERS = ("sgd", "adam", "adamw", "gd")
TRACK_METHODS = ("lanczos", "power")
# full-batch gradient descent as Cohen et al. (2021) define it: plain steps of a constant size
GD_RECIPE: Dict[str, Any] = {"momentum": 0.0, "nesterov": False, "schedule": "constant", "warmup_epochs": 0.0,
                             "weight_decay": 0.0, "batch_size": 1024, "save_every": 0}


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run (saved as ``config.json``; resuming requires the same values).

    The defaults are the recipe for the built-in ``digits`` set (see :func:`recommended`): SGD with
    Nesterov momentum, lr 0.05, a 2-epoch linear warmup then a cosine decay, 40 epochs of batches of 64.
    Measured on digits (seeds 0-2, one CPU core, about 10 s per network): mlp20 98-99% test accuracy,
    mlp20_noskip 97-98% (but a 50x higher final training loss), mlp20_nonorm 95-97%. The warmup is
    what lets the unnormalized nets start: without it their first steps overflow to NaN even at lr 0.01.

    Attributes:
        epochs: passes over the training data (>= 1).
        batch_size: samples per optimizer step (a final batch of one sample is dropped: batch norm
            cannot train on it).
        optimizer: "sgd" | "adam" | "adamw" (AdamW: decoupled weight decay, Loshchilov & Hutter 2019) |
            "gd": full-batch gradient descent, ``w <- w - lr * grad L(w)`` with L the mean loss over the
            whole training set, one step per epoch (the edge-of-stability setting of Cohen et al. 2021).
            The gradient is summed over chunks of ``batch_size`` samples in a fixed order (memory only:
            batch norm, if any, normalizes each chunk by its own statistics); no momentum.
        lr: peak learning rate.
        momentum: SGD momentum (ignored by Adam/AdamW).
        nesterov: Nesterov momentum for SGD (needs momentum > 0).
        weight_decay: L2 penalty (SGD, Adam) or decoupled decay (AdamW), on every parameter.
        schedule: "constant" | "step" | "cosine" (see :mod:`landscape.schedules`).
        milestones: epochs after which "step" multiplies the rate by ``gamma``.
        gamma: decay factor of "step".
        warmup_epochs: linear warmup length in epochs (0: none).
        seed: seeds shuffling, augmentation, dropout and the validation split.
        val_fraction: fraction of the training data held out for validation (0: none): a seeded
            random subset (not stratified), the same for every run with this seed.
        patience: stop after this many epochs without a lower validation loss and restore the best
            weights (early stopping); None: train all epochs. Needs validation data.
        augment: apply the augmentation function each batch (``fit(augment=...)``).
        save_every: snapshot every K epochs (0: only initialization and the last epoch).
        loss: "cross_entropy" | "mse" | "nll" (see :mod:`landscape.evaluate`).
        eval_batch_size: batch size for the per-epoch evaluations (memory only; results do not depend on it).
        eval_train: evaluate the training loss/accuracy after every epoch in eval mode (the number a loss
            surface shows at its centre); False records the running average over the epoch's batches.
        track_sharpness: measure the top Hessian eigenvalue every N optimizer steps and at
            initialization (0: off); needs ``fit(..., tracker=landscape.analysis.tracking.SharpnessTracker(config))``.
        track_samples: size of the fixed seeded training subset the Hessian is taken on (all of it when smaller).
        track_top_k: eigenvalues tracked (``lambda_max``, ``lambda_2``, ...).
        track_method: "lanczos" | "power", warm-started from the previous top eigenvector.
        track_trace: Hutchinson probes for the Hessian trace at each measurement (0: no trace; else >= 2).
        track_batch: mini-batches of ``batch_size`` for the batch sharpness (Andreyev & Beneventano 2024; 0: off).
        track_preconditioned: Adam/AdamW only: also the preconditioned sharpness λmax(P⁻¹H) from the
            optimizer's second-moment state (Cohen et al. 2022), which settles near 38/lr.
    """

    epochs: int = 40
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: Tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 2.0
    seed: int = 0
    val_fraction: float = 0.0
    patience: Optional[int] = None
    augment: bool = False
    save_every: int = 1
    loss: str = "cross_entropy"
    eval_batch_size: int = 1024
    eval_train: bool = True
    track_sharpness: int = 0
    track_samples: int = 1000
    track_top_k: int = 1
    track_method: str = "lanczos"
    track_trace: int = 0
    track_batch: int = 0
    track_preconditioned: bool = False

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("loss", self.loss, LOSSES)
        check_number("lr", self.lr, 0.0, strict=True)
        check_number("momentum", self.momentum, 0.0)
        check_number("weight_decay", self.weight_decay, 0.0)
        check_number("gamma", self.gamma, 0.0, strict=True)
        check_number("warmup_epochs", self.warmup_epochs, 0.0)
        check_int("seed", self.seed, 0)
        check_int("save_every", self.save_every, 0)
        check_int("eval_batch_size", self.eval_batch_size, 1)
        if not (isinstance(self.val_fraction, (int, float)) and 0.0 <= self.val_fraction < 1.0):
            raise ValueError(f"The value for `val_fraction` must be a number in [0, 1), but {self.val_fraction!r} was passed.")
        if self.patience is not None:
            check_int("patience", self.patience, 1)
        self._check_tracking()
        if self.optimizer == "gd" and (self.momentum or self.nesterov):
            raise ValueError(f"optimizer='gd' is plain gradient descent: pass momentum=0 and nesterov=False (got "
                             f"momentum={self.momentum!r}, nesterov={self.nesterov!r}); recommended(optimizer='gd') does.")
        if self.nesterov and self.optimizer == "sgd" and self.momentum <= 0:
            raise ValueError("`nesterov=True` needs `momentum` > 0; pass momentum=0.9 or nesterov=False.")
        if self.momentum >= 1.0:
            raise ValueError(f"The value for `momentum` must be in [0, 1), but {self.momentum!r} was passed.")
        if any(m < 1 for m in self.milestones):
            raise ValueError(f"The value for `milestones` must be epochs >= 1, but {self.milestones!r} was passed.")

    def _check_tracking(self) -> None:
        check_int("track_sharpness", self.track_sharpness, 0)
        check_int("track_samples", self.track_samples, 2)
        check_int("track_top_k", self.track_top_k, 1)
        check_choice("track_method", self.track_method, TRACK_METHODS)
        check_int("track_trace", self.track_trace, 0)
        if self.track_trace == 1:
            raise ValueError("The value for `track_trace` must be 0 (no trace) or at least 2 probes, but 1 was passed.")
        check_int("track_batch", self.track_batch, 0)
        if self.track_preconditioned and self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"`track_preconditioned` needs Adam's second moments: optimizer 'adam' or 'adamw', but "
                             f"{self.optimizer!r} was passed.")

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-able dict (``TrainConfig(**d)`` rebuilds the config). Tracking settings left at their
        defaults are omitted, so an untracked run's dict is what it was before tracking existed."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name.startswith("track_")}
        return {k: v for k, v in d.items() if not (k in defaults and v == defaults[k])}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        """Rebuild from :meth:`to_dict` output; unknown keys raise ValueError naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"Unknown TrainConfig keys {unknown}; known: {sorted(known)}.")
        return cls(**d)


# Recipes per dataset. digits: measured (see docs / the issue report); cifar10: He et al. 2016 and
# Li et al. 2018 (SGD 0.1, momentum 0.9, weight decay 5e-4, batch 128, /10 at epochs 150, 225, 275).
_RECIPES: Dict[str, Dict[str, Any]] = {
    "digits": {},
    # mnist1d: measured with ResNets 20/56/110 (issue 15): 98-99% test accuracy with skips
    "mnist1d": {"epochs": 30, "batch_size": 128, "lr": 0.05},
    # majority: measured with transformer12 (issue 27): 98.3% test accuracy after 2 epochs, 100% after 3
    "majority": {"epochs": 8, "batch_size": 64, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01,
                 "warmup_epochs": 1.0},
    "mnist": {"epochs": 20, "batch_size": 128, "lr": 0.05},
    "fashion-mnist": {"epochs": 30, "batch_size": 128, "lr": 0.05},
    "cifar10": {"epochs": 300, "batch_size": 128, "lr": 0.1, "nesterov": False, "schedule": "step",
                "milestones": (150, 225, 275), "warmup_epochs": 0.0, "augment": True, "save_every": 10},
}


def recommended(dataset: Optional[str] = None, **overrides: Any) -> TrainConfig:
    """The recipe for ``dataset`` (the defaults for unknown names), with ``overrides`` applied.

    With ``optimizer="gd"`` the dataset's recipe is followed by :data:`GD_RECIPE` (no momentum, no
    weight decay, a constant step, gradients in chunks of 1024, snapshots only at the ends)."""
    base = dict(_RECIPES.get(dataset or "", {}))
    if overrides.get("optimizer") == "gd":
        base.update(GD_RECIPE)
    return TrainConfig(**{**base, **overrides})


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config`` names, over every trainable parameter (the rate is set per step)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no trainable parameters (requires_grad=True) to train.")
    if config.optimizer in ("sgd", "gd"):  # gd: the whole set's gradient, no momentum (TrainConfig checks)
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)
