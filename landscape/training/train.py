"""Training with everything a landscape study needs afterwards: checkpoints, trajectory, gradient flow.

    config = TrainConfig(epochs=40, lr=0.05, optimizer="sgd", schedule="cosine", seed=0)  # landscape.trainconfig
    run = fit(model, (X, Y), test_data=(Xt, Yt), config=config, run_dir="runs/mlp20")
    run.final["test_acc"], run.best_epoch, run.gradient_flow["norms"]

A run directory holds (the contract shared with surfaces, plots and the demo):

    final.pt, best.pt            landscape.checkpoint files (state dict + model spec + data info)
    snapshots/epoch_NNNN.pt      epoch 0 = initialization, every ``save_every`` epochs and the last one:
                                 the points of a PCA trajectory (Li et al. 2018, section 7)
    history.json, history.csv    per epoch: train/val/test loss and accuracy, learning rate, seconds
    gradient_flow.json           per-layer gradient norms per epoch, layers input to output (epoch 0 =
                                 at initialization): the vanishing-gradient diagnostic
    config.json                  the exact TrainConfig, model spec, data description and versions
    last_state.pt                everything ``resume=True`` needs to continue bitwise-identically

(:mod:`landscape.rundir` owns these files; ``load_history`` reads a run back.)

Determinism: shuffling and augmentation draw from one ``torch.Generator`` seeded with
``config.seed``; dropout draws from torch's global RNG, which ``fit`` seeds with ``config.seed``
inside ``torch.random.fork_rng`` so the caller's RNG is left alone. On a CPU, with the same thread
count, the same inputs and seed give bitwise-identical weights, and a run killed at any moment and
resumed ends with the same weights as one never interrupted (all RNG states, the optimizer state and
the history are saved atomically after every epoch; under full-batch descent, ``optimizer="gd"``,
where an epoch is one step, after every ``GD_WRITE_EVERY``-th).

With ``config.track_sharpness = N`` and a tracker (``landscape.analysis.tracking``), the Hessian is
measured every N optimizer steps: rows in ``history.json`` ("sharpness") and ``sharpness.csv``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

import landscape
from landscape.base import progress
from landscape.base.joblock import output_lock
from landscape.base.words import plural
from landscape.core import distributed, evaluate
from landscape.core.params import restored
from landscape.storage import checkpoint, rundir
from landscape.storage.rundir import COLUMNS, check_run_dir, display_name, load_history  # noqa: F401  (public here too)

from . import gradflow
from .inputs import as_tensors, default_augment, full_batch_chunks, rng_state, set_rng_state, split_validation  # noqa: F401
from .schedules import lr_at
from .trainconfig import OPTIMIZERS, TrainConfig, make_optimizer, recommended  # noqa: F401  (public here too)

log = logging.getLogger(__name__)

# under optimizer="gd" an epoch is one step: logs and the resumable state are written every this many
# (an fsync'd write per file per step cost 40% of a 4,000-sample MLP's step; measured)
GD_WRITE_EVERY = 10
INIT_FLOW_BATCHES = 32  # batches used to measure gradient flow at initialization (the whole of digits)

PathLike = Union[str, os.PathLike]
Data = Union[Tuple[torch.Tensor, torch.Tensor], torch.utils.data.Dataset]


@dataclass
class Run:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (the best weights if early stopping restored them), in eval mode.
        history: one dict per epoch with keys ``COLUMNS``, epoch 0 = initialization (None where not measured).
        best_epoch: the epoch with the lowest validation loss (training loss without validation data).
        stopped_early: True if patience ran out before ``config.epochs``.
        diverged: True if the training loss became NaN or infinite (training stopped there).
        gradient_flow: ``{"layers": [...], "epochs": [...], "norms": [[...] per epoch]}``.
        final: metrics of the returned weights (a row of ``history``).
        config, run_dir, name: what was asked for.
        sharpness: the tracker's rows (``config.track_sharpness``; see :mod:`landscape.analysis.tracking`).
    """

    model: nn.Module
    history: List[Dict[str, Any]]
    best_epoch: Optional[int]
    stopped_early: bool
    diverged: bool
    gradient_flow: Dict[str, Any]
    final: Dict[str, Any]
    config: TrainConfig
    run_dir: Optional[Path] = None
    name: str = ""
    seconds: float = field(default=0.0)
    sharpness: List[Dict[str, Any]] = field(default_factory=list)


def _check_resumable(state: Dict[str, Any], model: nn.Module, spec: Optional[dict], config: TrainConfig,
                     path: Path) -> None:
    """ValueError unless the saved run used this architecture and this config."""
    if state.get("spec") != spec:
        def short(s):
            return "an unknown architecture" if not s else ", ".join(f"{k}={v}" for k, v in s.items() if k != "seed")
        raise ValueError(f"Cannot resume {str(path.parent)!r}: it was trained with {short(state.get('spec'))}, "
                         f"but this run asks for {short(spec)}. Use another --out, or --overwrite.")
    checkpoint.check_compatible(model, state["model"], str(path))
    saved = state.get("config", {})
    mine = config.to_dict()
    differ = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
    if differ:
        detail = ", ".join(f"{k}: saved {saved.get(k)!r}, now {mine.get(k)!r}" for k in differ[:4])
        raise ValueError(f"Cannot resume {str(path.parent)!r} with different settings ({detail}); rerun the "
                         "original command with --resume, or use --overwrite.")


# ------------------------------------------------------------------------------------- training

def _spec_of(model: nn.Module) -> Optional[dict]:
    try:
        from landscape import models

        return models.spec(model)
    except (ImportError, ValueError):
        found = getattr(model, "spec", None)
        return found if isinstance(found, dict) else None


def _record(epoch: int, metrics: Dict[str, Dict[str, Any]], lr: Optional[float], seconds: float) -> Dict[str, Any]:
    row: Dict[str, Any] = {"epoch": epoch}
    for split in ("train", "val", "test"):
        m = metrics.get(split)
        row[f"{split}_loss"] = m["loss"] if m else None
        row[f"{split}_acc"] = m["acc"] if m else None
    row["lr"] = lr
    row["seconds"] = round(seconds, 4)
    return row


def _evaluate_all(model: nn.Module, sets: Dict[str, Optional[List]], obj: evaluate.Objective) -> Dict[str, Dict]:
    was_training = model.training
    model.eval()
    try:
        return {k: evaluate.evaluate(model, b, obj) for k, b in sets.items() if b is not None}
    finally:
        model.train(was_training)


def fit(model: nn.Module, train_data: Data, val_data: Optional[Data] = None, test_data: Optional[Data] = None,
        config: Optional[TrainConfig] = None, *, run_dir: Optional[PathLike] = None, resume: bool = False,
        overwrite: bool = False, name: Optional[str] = None, spec: Optional[dict] = None,
        data_meta: Optional[dict] = None, augment: Optional[Callable[..., torch.Tensor]] = None,
        progress_bar: bool = True, desc: Optional[str] = None, tracker: Optional[Any] = None) -> Run:
    """Train ``model`` in place on ``train_data`` and return a :class:`Run`.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to outputs the loss accepts; it trains on
            the device its parameters are on.
        train_data, val_data, test_data: ``(X, Y)`` tensors (X (N, ...) inputs, Y (N,) class indices for
            cross entropy) or map-style Datasets of ``(x, y)``. They are made resident on the model's
            device once. ``val_data`` drives best-epoch selection and early stopping; with
            ``config.val_fraction > 0`` it is split off ``train_data`` instead.
        config: hyperparameters (default ``TrainConfig()``, the digits recipe).
        run_dir: where to write checkpoints, snapshots, history and gradient flow (None: nothing written).
        resume: continue the interrupted run in ``run_dir`` (its ``last_state.pt``); a finished run is
            returned as it is; an empty directory starts from scratch.
        overwrite: replace an existing run in ``run_dir`` (otherwise that is a ValueError).
        name: display name recorded with the run (default from the spec, e.g. ``"mlp20_noskip"``).
        spec: the model spec stored in checkpoints (default ``models.spec(model)`` for built-in models).
        data_meta: what the data was (dataset, root, normalize, n_train, seed, ...), stored in checkpoints
            so ``landscape surface final.pt`` can reload it.
        augment: ``f(X_batch, generator=torch.Generator) -> X_batch`` used when ``config.augment``
            (default ``data.augment`` with ``data.default_augmentation(data_meta["dataset"])``).
        progress_bar: show a progress bar (TTY-aware, see :mod:`landscape.progress`).
        tracker: measures the Hessian every ``config.track_sharpness`` steps (required then):
            ``landscape.analysis.tracking.SharpnessTracker(config)``. Anything with ``config``, ``every``,
            ``start(model, X, Y)``, ``measure(model, optimizer, step, epoch, lr) -> row``, ``describe()``,
            ``state_dict()`` and ``load_state_dict(state)`` will do; it must draw from no RNG the
            training uses. Its rows go to ``history.json`` (``"sharpness"``), ``sharpness.csv`` and
            :attr:`Run.sharpness`, its state into ``last_state.pt``.

    Raises:
        ValueError: bad data, a run directory that cannot be written or already holds a run, or a
        resume against a different architecture or config.
    """
    config = config or TrainConfig()
    if (resume or overwrite) and run_dir is None:
        raise ValueError("`resume` and `overwrite` refer to a run directory; pass `run_dir` as well.")
    if resume and overwrite:
        raise ValueError("Pass `resume` (continue the run) or `overwrite` (replace it), not both.")
    params = list(model.parameters())
    if not params:
        raise ValueError("The model has no parameters to train.")
    device = params[0].device
    ctx = distributed.init(device) if distributed.from_env().active else distributed.Context()
    if ctx.active and device.type == "cuda" and device != distributed.device_for(torch.device("cuda"), ctx):
        device = distributed.device_for(torch.device("cuda"), ctx)  # one GPU per local rank
        log.info("rank %d trains on %s", ctx.rank, device)
        model.to(device)
    X, Y = as_tensors(train_data, "train_data")
    if config.val_fraction > 0:
        if val_data is not None:
            raise ValueError("Pass either `val_data` or `config.val_fraction` > 0, not both.")
        (X, Y), val_data = split_validation(X, Y, config.val_fraction, config.seed)
    if config.patience is not None and val_data is None:
        raise ValueError("`patience` (early stopping) needs validation data: pass `val_data` or set `val_fraction` > 0.")
    if config.augment and augment is None:
        augment = default_augment((data_meta or {}).get("dataset"))
    X, Y = X.to(device), Y.to(device)
    obj = evaluate.objective(config.loss)
    _check_one_process(config, tracker, ctx)

    def resident(data, param):
        if data is None:
            return None
        return evaluate.batches(as_tensors(data, param), config.eval_batch_size, device)

    eval_sets = {"train": resident((X, Y), "train_data") if config.eval_train else None,
                 "val": resident(val_data, "val_data"), "test": resident(test_data, "test_data")}
    was_training = model.training
    model.eval()  # a shape check must not move batch-norm running averages
    try:
        evaluate.check_model_accepts(model, [(X[:2], Y[:2])], obj)
    finally:
        model.train(was_training)
    spec = spec if spec is not None else _spec_of(model)
    name = name or rundir.display_name(spec, model)
    run_dir = Path(run_dir) if run_dir is not None else None
    with contextlib.ExitStack() as job:
        state = None
        if run_dir is not None:
            # under torchrun, rank 0 alone touches the run directory and hands the resume state to every rank
            distributed.on_main(lambda: job.enter_context(output_lock(run_dir)), ctx)  # one live job per run
            state = distributed.on_main(lambda: rundir.prepare(run_dir, resume, overwrite), ctx)
        if state is not None:
            _check_resumable(state, model, spec, config, run_dir / "last_state.pt")
        data_meta = dict(data_meta or {})
        devices = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(config.seed)
            return _Loop(model, X, Y, eval_sets, obj, config, run_dir, name, spec, data_meta, augment,
                         progress_bar and ctx.is_main, desc or name, ctx, tracker).run(state)


def _check_one_process(config: TrainConfig, tracker: Optional[Any], ctx: distributed.Context) -> None:
    """ValueError for tracking without a tracker (or with another config's), and for tracking or full-batch
    descent under torchrun."""
    if config.track_sharpness and tracker is None:
        raise ValueError(f"config.track_sharpness={config.track_sharpness} measures the Hessian during training: pass "
                         "tracker=landscape.analysis.tracking.SharpnessTracker(config) (`landscape train "
                         "--track-sharpness N` does).")
    if tracker is not None and getattr(tracker, "config", None) != config:
        raise ValueError("The tracker was built for another TrainConfig; build it from this run's: SharpnessTracker(config).")
    if ctx.active and (tracker is not None or config.optimizer == "gd"):
        raise ValueError("Sharpness tracking and optimizer='gd' run in one process; train without torchrun.")


class _Loop:
    """One training run's mutable state; :meth:`run` is the epoch loop."""

    def __init__(self, model, X, Y, eval_sets, obj, config: TrainConfig, run_dir, name, spec, data_meta, augment,
                 progress_bar, desc, ctx: Optional[distributed.Context] = None, tracker: Optional[Any] = None):
        self.model, self.X, self.Y, self.eval_sets, self.obj, self.config = model, X, Y, eval_sets, obj, config
        self.ctx = ctx or distributed.Context()
        # every rank reads run_dir (a finished run's final.pt); only rank 0 writes into it
        self.run_dir, self.name, self.spec, self.data_meta, self.augment = run_dir, name, spec, data_meta, augment
        self.writes = run_dir is not None and self.ctx.is_main
        self.progress_bar, self.desc = progress_bar, desc
        self.optimizer = make_optimizer(model, config)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.flow = gradflow.GradientFlow(model)
        # Under torchrun: DistributedDataParallel averages gradients across ranks, each rank taking
        # its share of every batch (see _train_epoch); weights stay identical on every rank.
        self.ddp = None
        if self.ctx.active:
            if config.batch_size < 2 * self.ctx.world_size:
                raise ValueError(f"batch_size={config.batch_size} is too small for {self.ctx.world_size} processes: "
                                 f"each needs at least 2 samples of every batch; use batch_size >= {2 * self.ctx.world_size}.")
            from torch.nn.parallel import DistributedDataParallel

            dev = X.device
            self.ddp = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        n = X.shape[0]
        # a batch needs 2 samples per rank (batch norm cannot train on one): a smaller last batch is dropped
        smallest = 2 * self.ctx.world_size
        self.batches_per_epoch = n // config.batch_size + (1 if n % config.batch_size >= max(2, smallest) else 0)
        self.chunks = full_batch_chunks(n, config.batch_size)
        if config.optimizer == "gd":
            self.batches_per_epoch = 1  # one step per pass over the whole set
        if self.batches_per_epoch == 0:
            raise ValueError(f"{plural(n, 'training sample')} with batch_size={config.batch_size} leave no batch of 2 or more; "
                             "use a smaller batch_size or more data.")
        self.step = 0
        self.history: List[Dict[str, Any]] = []
        self.flow_epochs: List[int] = []
        self.flow_norms: List[List[float]] = []
        self.best_epoch: Optional[int] = None
        self.best_value = math.inf
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.diverged = False
        self.finished = False
        self.best_written: Optional[int] = None  # the epoch whose weights best.pt holds
        self.tracker = tracker
        self.tracked: List[Dict[str, Any]] = []
        if tracker is not None:
            tracker.start(model, X, Y)

    # -- pieces ------------------------------------------------------------------------------
    def _lr(self) -> float:
        c = self.config
        return lr_at(self.step, self.batches_per_epoch, lr=c.lr, epochs=c.epochs, schedule=c.schedule,
                     milestones=c.milestones, gamma=c.gamma, warmup_epochs=c.warmup_epochs)

    def _batch_loss(self, model: nn.Module, batch) -> torch.Tensor:
        loss_sum, count, _ = self.obj(model, batch)
        return loss_sum / count

    def _train_epoch(self, bar) -> Tuple[float, Optional[float], float]:
        """One pass in shuffled order; returns (running mean loss, running accuracy, last lr)."""
        model, c = self.model, self.config
        if c.optimizer == "gd":
            return self._gd_step()
        model.train()
        n = self.X.shape[0]
        perm = torch.randperm(n, generator=self.gen).to(self.X.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.X.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.X.device)
        seen, lr = 0, float("nan")
        world, rank = self.ctx.world_size, self.ctx.rank
        for i in range(self.batches_per_epoch):
            idx = perm[i * c.batch_size:(i + 1) * c.batch_size]
            x, y = self.X[idx], self.Y[idx]
            if c.augment:  # the whole batch on every rank: the generator advances alike everywhere
                x = self.augment(x, generator=self.gen)
            lr = self._lr()
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.zero_grad(set_to_none=True)
            if self.ddp is None:
                batch_loss, count, batch_correct = self.obj(model, (x, y))
                (batch_loss / count).backward()
            else:
                # rank k takes samples k, k + world, ...; DDP averages gradients over ranks, so scaling
                # each rank's loss sum by world / batch gives the gradient of the batch's mean loss
                batch_loss, count, batch_correct = self.obj(self.ddp, (x[rank::world], y[rank::world]))
                (batch_loss * (world / len(idx))).backward()
            self.flow.accumulate()
            self.optimizer.step()
            self._stepped(lr)
            loss_sum += batch_loss.detach().double()
            if batch_correct is not None:
                correct += batch_correct.double()
            seen += count
            if i < self.batches_per_epoch - 1:
                bar.update(1)  # the epoch's last tick comes after evaluation, with its metrics shown
        if self.ddp is not None:  # the epoch's running loss over all ranks' samples
            totals = torch.stack([loss_sum, correct, torch.tensor(float(seen), dtype=torch.float64, device=loss_sum.device)])
            torch.distributed.all_reduce(totals)
            loss_sum, correct, seen = totals[0], totals[1], float(totals[2])
        acc = float(correct / seen) if self.obj.has_accuracy else None
        return float(loss_sum / seen), acc, lr

    def _gd_step(self) -> Tuple[float, Optional[float], float]:
        """One full-batch gradient-descent step: the mean loss's gradient over every sample, summed over
        chunks in a fixed order; returns (loss, accuracy, lr) at the weights before the step."""
        model, c = self.model, self.config
        model.train()
        n = self.X.shape[0]
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.X.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.X.device)
        for start, stop in self.chunks:
            x, y = self.X[start:stop], self.Y[start:stop]
            if c.augment:
                x = self.augment(x, generator=self.gen)
            chunk_loss, _, chunk_correct = self.obj(model, (x, y))
            (chunk_loss / n).backward()
            loss_sum += chunk_loss.detach().double()
            if chunk_correct is not None:
                correct += chunk_correct.double()
        self.flow.accumulate()
        self.optimizer.step()
        self._stepped(lr)
        return float(loss_sum / n), float(correct / n) if self.obj.has_accuracy else None, lr

    def _stepped(self, lr: float) -> None:
        """After each optimizer step: count it, and measure the Hessian when the tracker is due."""
        self.step += 1
        if self.tracker is not None and self.step % self.tracker.every == 0:
            self._track(lr)

    def _track(self, lr: float) -> None:
        epoch = self.step / self.batches_per_epoch
        self.tracked.append(self.tracker.measure(self.model, self.optimizer, self.step, epoch, lr))

    def _snapshot_path(self, epoch: int) -> Path:
        return self.run_dir / "snapshots" / f"epoch_{epoch:04d}.pt"

    def _save_checkpoint(self, path: Path, epoch: int, metrics: Dict[str, Any]) -> None:
        checkpoint.save(path, self.model, spec=self.spec, data=self.data_meta, epoch=epoch, metrics=metrics,
                        config=self.config.to_dict(), extra={"name": self.name})

    def _gradient_flow(self) -> Dict[str, Any]:
        return {"layers": self.flow.names, "epochs": list(self.flow_epochs), "norms": [list(r) for r in self.flow_norms]}

    def _history_doc(self) -> Dict[str, Any]:
        doc = {"name": self.name, "epochs": self.history, "best_epoch": self.best_epoch,
               "stopped_early": self.stopped_early, "diverged": self.diverged}
        if self.tracker is not None:
            doc.update(sharpness=self.tracked, sharpness_settings=self.tracker.describe())
        return doc

    def _write_logs(self) -> None:
        rundir.write_json(self._history_doc(), self.run_dir / "history.json")
        rundir.write_csv(self.history, self.run_dir / "history.csv")
        rundir.write_json(self._gradient_flow(), self.run_dir / "gradient_flow.json")
        if self.tracker is not None:
            rundir.write_csv(self.tracked, self.run_dir / "sharpness.csv", rundir.tracked_columns(self.tracked))

    def _write_config(self) -> None:
        rundir.write_json({"name": self.name, "train": self.config.to_dict(), "model": self.spec, "data": self.data_meta,
                    "device": str(self.X.device), "threads": torch.get_num_threads(),
                    "landscape_version": landscape.__version__, "torch_version": torch.__version__},
                   self.run_dir / "config.json")

    def _save_state(self, epoch: int) -> None:
        state = {
            "format": rundir.STATE_FORMAT, "version": rundir.STATE_VERSION, "epoch": epoch, "step": self.step,
            "spec": self.spec, "config": self.config.to_dict(),
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(), "rng": rng_state(self.gen),
            # JSON text, not nested lists of floats: one string pickles ~50x faster than thousands of floats
            "history": json.dumps(self.history), "flow": json.dumps([self.flow_epochs, self.flow_norms]),
            "best_epoch": self.best_epoch, "best_value": self.best_value,
            # the best weights are usually this epoch's: then they are not stored twice
            "best_state": None if self.best_epoch == epoch else self.best_state,
            "bad_epochs": self.bad_epochs, "stopped_early": self.stopped_early, "diverged": self.diverged,
            "finished": self.finished,
            "tracked": json.dumps(self.tracked), "tracker": None if self.tracker is None else self.tracker.state_dict(),
        }
        checkpoint.atomic_torch_save(state, self.run_dir / "last_state.pt")

    def _restore(self, state: Dict[str, Any]) -> int:
        """Load a saved state; returns the next epoch to train."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(self.gen, state["rng"])
        self.step = int(state["step"])
        self.history = json.loads(state["history"])
        self.flow_epochs, self.flow_norms = json.loads(state["flow"])
        self.best_epoch, self.best_value = state["best_epoch"], float(state["best_value"])
        self.best_state = state["best_state"]
        if self.best_state is None and self.best_epoch == state["epoch"]:
            self.best_state = {k: v.clone() for k, v in state["model"].items()}
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped_early, self.diverged = bool(state["stopped_early"]), bool(state["diverged"])
        self.finished = bool(state["finished"])
        self.tracked = json.loads(state.get("tracked") or "[]")
        if self.tracker is not None and state.get("tracker") is not None:
            self.tracker.load_state_dict(state["tracker"])
        log.info("%s: resuming after epoch %d", self.name, state["epoch"])
        return int(state["epoch"]) + 1

    # -- the loop ----------------------------------------------------------------------------
    def run(self, state: Optional[Dict[str, Any]]) -> Run:
        c = self.config
        start = time.perf_counter()
        if state is not None:
            next_epoch = self._restore(state)
        else:
            next_epoch = 1
            self._initial_epoch()
        if not self.finished:
            with progress.bar(total=c.epochs * self.batches_per_epoch, desc=self.desc, enabled=self.progress_bar,
                              initial=(next_epoch - 1) * self.batches_per_epoch) as bar:
                for epoch in range(next_epoch, c.epochs + 1):
                    if self._epoch(epoch, bar):
                        break
            self._finish()
        elif self.run_dir is not None:
            final = checkpoint.load(self.run_dir / "final.pt")
            self.model.load_state_dict(final["state_dict"])
        self.model.eval()
        final_epoch = self._final_epoch()
        final_row = next(r for r in self.history if r["epoch"] == final_epoch)
        return Run(model=self.model, history=self.history, best_epoch=self.best_epoch,
                   stopped_early=self.stopped_early, diverged=self.diverged, gradient_flow=self._gradient_flow(),
                   final=dict(final_row), config=c, run_dir=self.run_dir, name=self.name,
                   seconds=time.perf_counter() - start, sharpness=list(self.tracked))

    def _initial_epoch(self) -> None:
        """Epoch 0: metrics and gradient flow at initialization, snapshot, config."""
        c = self.config
        t0 = time.perf_counter()
        metrics = _evaluate_all(self.model, self.eval_sets, self.obj)
        n_flow = min(self.batches_per_epoch, INIT_FLOW_BATCHES) * c.batch_size
        flow_batches = [(self.X[i:i + c.batch_size], self.Y[i:i + c.batch_size])
                        for i in range(0, min(n_flow, self.X.shape[0]), c.batch_size)]
        flow_batches = [b for b in flow_batches if b[0].shape[0] > 1]
        self.flow_epochs.append(0)
        self.flow_norms.append(gradflow.measure(self.model, flow_batches, self._batch_loss, self.flow))
        self.history.append(_record(0, metrics, None, time.perf_counter() - t0))
        if self.tracker is not None:
            self._track(self._lr())  # at initialization, with the step size of the first step
        if self.writes:
            self._write_config()
            self._save_checkpoint(self._snapshot_path(0), 0, self.history[-1])
            self._write_logs()
            self._save_state(0)

    def _epoch(self, epoch: int, bar) -> bool:
        """Train and evaluate one epoch, write its files; True when training should stop."""
        c = self.config
        t0 = time.perf_counter()
        run_loss, run_acc, lr = self._train_epoch(bar)
        self.flow_epochs.append(epoch)
        self.flow_norms.append(self.flow.mean())
        metrics = _evaluate_all(self.model, self.eval_sets, self.obj)
        if "train" not in metrics:
            metrics["train"] = {"loss": run_loss, "acc": run_acc}
        row = _record(epoch, metrics, lr, time.perf_counter() - t0)
        self.history.append(row)
        stop = False
        if not math.isfinite(run_loss):
            self.diverged, stop = True, True
            log.warning("%s: the training loss is %s at epoch %d; stopping (try a smaller learning rate).",
                        self.name, run_loss, epoch)
        watched = row["val_loss"] if row["val_loss"] is not None else row["train_loss"]
        if math.isfinite(watched) and watched < self.best_value:
            self.best_value, self.best_epoch, self.bad_epochs = watched, epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            if self.writes and self._due(epoch):
                self._save_checkpoint(self.run_dir / "best.pt", epoch, row)
                self.best_written = epoch
        else:
            self.bad_epochs += 1
            if c.patience is not None and self.bad_epochs >= c.patience and epoch < c.epochs:
                self.stopped_early, stop = True, True
                log.info("%s: no better validation loss for %d epochs; stopping at epoch %d (best %d)",
                         self.name, self.bad_epochs, epoch, self.best_epoch)
        bar.set_postfix_str(_postfix(row, epoch, c.epochs), refresh=False)
        bar.update(1)
        if self.writes:
            last = stop or epoch == c.epochs
            if last or (c.save_every and epoch % c.save_every == 0):
                self._save_checkpoint(self._snapshot_path(epoch), epoch, row)
            if last or self._due(epoch):
                if self.best_epoch is not None and self.best_written != self.best_epoch:
                    self._save_best()
                self._write_logs()
                self._save_state(epoch)  # last: everything above is redone identically if killed before this
        return stop

    def _due(self, epoch: int) -> bool:
        """Whether this epoch's logs and state are written: every epoch, but every ``GD_WRITE_EVERY``-th
        under full-batch descent, where an epoch is one step (a kill then redoes at most that many)."""
        return self.config.optimizer != "gd" or epoch % GD_WRITE_EVERY == 0

    def _save_best(self) -> None:
        row = next(r for r in self.history if r["epoch"] == self.best_epoch)
        with restored(self.model):
            self.model.load_state_dict(self.best_state)
            self._save_checkpoint(self.run_dir / "best.pt", self.best_epoch, row)
        self.best_written = self.best_epoch

    def _final_epoch(self) -> int:
        if self.config.patience is not None and self.best_epoch is not None:
            return self.best_epoch
        return self.history[-1]["epoch"]

    def _finish(self) -> None:
        """Restore the best weights under early stopping, write final.pt, mark the state finished."""
        if self.config.patience is not None and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.finished = True
        if self.writes:
            epoch = self._final_epoch()
            row = next(r for r in self.history if r["epoch"] == epoch)
            self._save_checkpoint(self.run_dir / "final.pt", epoch, row)
            self._write_logs()
            self._save_state(self.history[-1]["epoch"])


def _postfix(row: Dict[str, Any], epoch: int, epochs: int) -> str:
    parts = [f"epoch {epoch}/{epochs}", f"loss {row['train_loss']:.4g}"]
    for key in ("train_acc", "val_acc", "test_acc"):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:.1%}")
    return ", ".join(parts)
