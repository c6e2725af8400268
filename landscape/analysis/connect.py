"""Between two minima: the straight line, a trained low-loss curve, and the barrier of each.

Garipov et al. 2018 ("Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs", NeurIPS,
arXiv:1802.10026) and Draxler et al. 2018 ("Essentially No Barriers in Neural Network Energy
Landscape", ICML) showed that two independently trained minima, separated by a high barrier along
the straight line between them, are joined by a simple curve along which the loss stays low.

    paths = landscape.connect.connect(model_a, model_b, (X, Y), test_data=(Xt, Yt),
                                      config=ConnectConfig(curve="bezier", epochs=20), path="ab.h5")
    paths.barrier("line"), paths.barrier("curve")      # train loss; "test_loss" for the test split

The curves, with ends A and B fixed and one bend θ trained (Garipov et al. 2018, section 3.1):

    bezier      w(t) = (1 − t)² A + 2t(1 − t) θ + t² B
    polychain   w(t) = (1 − 2t) A + 2t θ            for t ≤ ½
                w(t) = (2 − 2t) θ + (2t − 1) B      for t > ½

Both are exactly A at t = 0 and B at t = 1, and with θ = (A + B)/2 both are the straight line,
which is where training starts. Each minibatch draws t ~ U(0, 1) and takes a step on the loss at
w(t) plus ½·weight_decay·|w(t)|², BatchNorm in train mode (their ``train.py`` with
``l2_regularizer``). Every evaluated point of a path gets its BatchNorm statistics re-estimated on
the training data first (their ``update_bn``; :func:`landscape.bnfold.recompute_batchnorm`): the
running statistics of A describe no other point.

Both curves lie in the plane through A, B and θ, so the plane of Garipov et al.'s Fig. 1 (axes
B − A and θ − A, orthogonalized by Gram–Schmidt: :func:`landscape.directions.plane`) shows the
whole curve on the loss contours; its grid is computed by :func:`landscape.surface.compute`.

With ``path=`` everything goes to one HDF5 path file (``landscape.pathfile``) written as it goes:
the curve's training saves its state after every epoch in ``.<name>.state.pt`` beside the file, and
each evaluated point is stored at once, so a killed job resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from landscape.base import progress
from landscape.base.errors import FileFormatError, check_choice, check_int, check_number
from landscape.base.joblock import output_lock
from landscape.base.words import plural
from landscape.core import directions, evaluate, surface as surface_mod, threads
from landscape.core.bnfold import recompute_batchnorm
from landscape.core.fastnet import Functional
from landscape.core.params import ParamFilter, first_device, restored, select
from landscape.storage import checkpoint, h5attrs, pathfile
from landscape.storage.pathfile import Paths, barrier  # noqa: F401  (public here too)
from landscape.training.schedules import SCHEDULES, lr_at
from landscape.training.train import as_tensors, rng_state, set_rng_state

log = logging.getLogger(__name__)

CURVES = ("bezier", "polychain")
STATE_FORMAT = "landscape-connect-state"
# The plane grid reaches PLANE_MARGIN (in units of |B − A|) beyond A and B along B − A, and across
# it as far beyond the line and the bend as the bend is from the line (at least PLANE_MARGIN_ACROSS):
# the low-loss tunnel a curve follows can be thin, and it is that strip the figure has to resolve.
PLANE_MARGIN = 0.25
PLANE_MARGIN_ACROSS = 0.1


@dataclass(frozen=True)
class ConnectConfig:
    """Every setting of a connect job (recorded in the path file; resuming requires the same values).

    The defaults train the bend like the digits recipe trains a network (``landscape.train``): SGD
    with momentum 0.9, lr 0.05 with a cosine decay, weight decay 5e-4, batches of 64, 20 epochs.

    Attributes:
        curve: "bezier" | "polychain" (module docstring).
        epochs: passes over the training data to train the bend (>= 1).
        batch_size: samples per step; each step draws its own t.
        lr, momentum, schedule: SGD on the bend; schedule "constant" | "step" | "cosine".
        weight_decay: ½·weight_decay·|w(t)|² is added to the loss at the sampled point.
        seed: seeds the data order, the sampled t and dropout.
        points: points along each path, t = linspace(0, 1, points) (Garipov et al. use 61).
        plane: grid points per axis of the plane figure's grid (0: no plane): ``plane²`` points
            evaluated, about as many as the two paths' points for plane=11.
    """

    curve: str = "bezier"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    seed: int = 0
    points: int = 61
    plane: int = 21

    def __post_init__(self):
        check_choice("curve", self.curve, CURVES)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 2)
        check_number("lr", self.lr, 0.0, strict=True)
        check_number("weight_decay", self.weight_decay, 0.0)
        check_int("seed", self.seed, 0)
        check_int("points", self.points, 3)
        check_int("plane", self.plane, 0)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"The value for `momentum` must be in [0, 1), but {self.momentum!r} was passed.")
        if 0 < self.plane < 5:
            raise ValueError(f"The value for `plane` must be 0 (no plane) or at least 5 grid points, but "
                             f"{self.plane!r} was passed.")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# --- the curve ----------------------------------------------------------------------------------------

def coefficients(kind: str, t: float) -> Tuple[float, float, float]:
    """The weights of (A, θ, B) in w(t): they sum to 1 for every t in [0, 1]."""
    check_choice("curve", kind, CURVES)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t!r}.")
    if kind == "bezier":
        return (1 - t) ** 2, 2 * t * (1 - t), t * t
    if t <= 0.5:
        return 1 - 2 * t, 2 * t, 0.0
    return 0.0, 2 - 2 * t, 2 * t - 1


class Curve:
    """A curve from ``model_a``'s weights to ``model_b``'s with one bend (the module docstring).

    It moves the tensors ``params`` selects (default: every trainable parameter, see
    ``landscape.params.select``); the rest stay as in ``model_a``. ``bend`` holds θ as leaf tensors
    (``requires_grad``), starting at the midpoint (A + B)/2 unless given.

    Raises ValueError when the models differ in architecture (names or shapes of the moved tensors).
    """

    def __init__(self, model_a: nn.Module, model_b: nn.Module, kind: str = "bezier", params: ParamFilter = None,
                 bend: Optional[Mapping[str, torch.Tensor]] = None):
        check_choice("curve", kind, CURVES)
        if not isinstance(model_b, nn.Module):
            raise ValueError(f"model_b must be a torch.nn.Module, got {type(model_b).__name__}.")
        self.kind = kind
        chosen = {n: p for n, p in select(model_a, params).items() if p.is_floating_point()}
        other = dict(model_b.state_dict())
        directions._check_same_layout(chosen, other, "model_b")
        extra = [n for n in other if n not in model_a.state_dict()]
        if extra:
            raise ValueError(f"model_b has {extra[:3]}, which model_a lacks: the models must have the same architecture.")
        self.a = {n: p.detach().clone() for n, p in chosen.items()}
        self.b = {n: other[n].detach().to(device=p.device, dtype=p.dtype).clone() for n, p in chosen.items()}
        if bend is None:
            bend = {n: (0.5 * (self.a[n].double() + self.b[n].double())).to(self.a[n].dtype) for n in self.a}
        directions._check_same_layout(self.a, bend, "bend")
        self.bend = {n: bend[n].detach().to(device=self.a[n].device, dtype=self.a[n].dtype).clone().requires_grad_(True)
                     for n in self.a}

    def weights(self, t: float) -> Dict[str, torch.Tensor]:
        """The moved tensors at ``t``: exactly A's at t = 0 and B's at t = 1 (the ends are fixed), a
        combination differentiable in the bend elsewhere."""
        if t == 0:
            return dict(self.a)
        if t == 1:
            return dict(self.b)
        return self.combination(t)

    def combination(self, t: float) -> Dict[str, torch.Tensor]:
        """``ca·A + cθ·θ + cb·B`` at ``t``, differentiable in the bend for every t (training uses it:
        a draw of exactly t = 0 must still give the bend a gradient, of zero)."""
        ca, cm, cb = coefficients(self.kind, float(t))
        return {n: ca * self.a[n] + cm * self.bend[n] + cb * self.b[n] for n in self.a}

    def line(self, t: float) -> Dict[str, torch.Tensor]:
        """The straight line's tensors at ``t``: (1 − t) A + t B, exactly A and B at the ends."""
        if t == 0:
            return dict(self.a)
        if t == 1:
            return dict(self.b)
        return {n: (1 - t) * self.a[n] + t * self.b[n] for n in self.a}

    def plane_coords(self, t: float, bend_xy: Sequence[float]) -> np.ndarray:
        """Coordinates of w(t) in the plane where A = (0, 0), B = (1, 0) and the bend is ``bend_xy``:
        the curve is the same combination of these three points."""
        ca, cm, cb = coefficients(self.kind, float(t))
        return cm * np.asarray(bend_xy, dtype=np.float64) + cb * np.array([1.0, 0.0])

    def num_params(self) -> int:
        return sum(t.numel() for t in self.a.values())


# --- training the bend --------------------------------------------------------------------------------

def _epoch_batches(data, batch_size: int, gen: torch.Generator) -> List[Any]:
    """One epoch's minibatches in a fresh seeded order: reshuffled samples for (X, Y) tensors, the
    given batches in shuffled order for anything else (a DataLoader, dict batches ...). A last batch
    of one sample is dropped: BatchNorm cannot train on it."""
    if isinstance(data, tuple):
        X, Y = data
        perm = torch.randperm(X.shape[0], generator=gen).to(X.device)
        cuts = [perm[i:i + batch_size] for i in range(0, X.shape[0], batch_size)]
        return [(X[i], Y[i]) for i in cuts if len(i) >= 2]
    order = torch.randperm(len(data), generator=gen).tolist()
    return [data[i] for i in order]


def _l2(weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return sum(w.float().pow(2).sum() for w in weights.values())


class _Trainer:
    """Trains a curve's bend; ``state_path`` (optional) makes it resumable after every epoch."""

    def __init__(self, curve: Curve, model: nn.Module, data, obj: evaluate.Objective, config: ConnectConfig,
                 settings_json: str, state_path: Optional[Path], show: bool):
        self.curve, self.model, self.data, self.obj, self.config = curve, model, data, obj, config
        self.settings_json, self.state_path, self.show = settings_json, state_path, show
        self.gen = torch.Generator().manual_seed(config.seed)
        self.optimizer = torch.optim.SGD(list(curve.bend.values()), lr=config.lr, momentum=config.momentum)
        n = data[0].shape[0] if isinstance(data, tuple) else len(data)
        self.steps_per_epoch = (n // config.batch_size + (1 if n % config.batch_size >= 2 else 0)
                                if isinstance(data, tuple) else n)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{plural(n, 'training sample')} with batch_size={config.batch_size} leave no batch of 2 or more; "
                             "use a smaller batch size or more data.")
        self.step, self.epoch = 0, 0
        self.history: Dict[str, List[float]] = {"epoch": [], "loss": [], "lr": []}

    def _save(self) -> None:
        state = {"format": STATE_FORMAT, "settings": self.settings_json, "epoch": self.epoch, "step": self.step,
                 "bend": {n: t.detach().cpu().clone() for n, t in self.curve.bend.items()},
                 "optimizer": self.optimizer.state_dict(), "rng": rng_state(self.gen),
                 "history": json.dumps(self.history)}
        checkpoint.atomic_torch_save(state, self.state_path)

    def _restore(self) -> None:
        state = checkpoint.safe_torch_load(self.state_path, "connect training state")
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"{str(self.state_path)!r} is not a connect training state; delete it, or pass "
                             "--overwrite / overwrite=True.")
        if state["settings"] != self.settings_json:
            raise ValueError(f"{str(self.state_path)!r} holds an interrupted connect job with other settings or "
                             "models; rerun that job, or pass --overwrite / overwrite=True to start this one.")
        with torch.no_grad():
            for n, t in self.curve.bend.items():
                t.copy_(state["bend"][n])
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(self.gen, state["rng"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.history = json.loads(state["history"])
        log.info("connect: resuming the curve's training after epoch %d", self.epoch)

    def run(self) -> Dict[str, np.ndarray]:
        c = self.config
        if self.state_path is not None and self.state_path.is_file():
            self._restore()
        # BatchNorm on batch statistics as the curve trains (dropout on); the caller restores the
        # model's modes and running statistics (connect runs this under params.restored)
        self.model.train()
        with progress.bar(total=c.epochs * self.steps_per_epoch, desc="connect: train curve", enabled=self.show,
                          initial=self.epoch * self.steps_per_epoch) as bar:
            while self.epoch < c.epochs:
                self._epoch(bar)
        return {k: np.asarray(v) for k, v in self.history.items()}

    def _epoch(self, bar) -> None:
        c = self.config
        total, count = 0.0, 0
        for batch in _epoch_batches(self.data, c.batch_size, self.gen):
            t = float(torch.rand((), generator=self.gen))
            lr = lr_at(self.step, self.steps_per_epoch, lr=c.lr, epochs=c.epochs, schedule=c.schedule)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            weights = self.curve.combination(t)
            loss_sum, n, _ = self.obj(Functional(self.model, weights), batch)
            loss = loss_sum / n + 0.5 * c.weight_decay * _l2(weights)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            total += float(loss_sum.detach())
            count += int(n)
            bar.update(1)
        self.epoch += 1
        mean = total / max(count, 1)
        self.history["epoch"].append(self.epoch)
        self.history["loss"].append(mean)
        self.history["lr"].append(lr)
        bar.set_postfix_str(f"epoch {self.epoch}/{c.epochs}, loss on the curve {mean:.4g}", refresh=False)
        if not np.isfinite(mean):
            raise ValueError(f"The loss along the curve became {mean} in epoch {self.epoch}; use a smaller lr "
                             f"(now {c.lr}).")
        if self.state_path is not None:
            self._save()


# --- evaluating points --------------------------------------------------------------------------------

@torch.no_grad()
def set_weights(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy ``weights`` into the model's own tensors (by name)."""
    state = model.state_dict(keep_vars=True)
    for name, w in weights.items():
        state[name].copy_(w)


@torch.no_grad()
def evaluate_at(model: nn.Module, weights: Mapping[str, torch.Tensor], splits: Mapping[str, Sequence[Any]],
                obj: evaluate.Objective, bn_batches: Sequence[Any]) -> Dict[str, float]:
    """Loss (and accuracy) of ``model`` with ``weights`` written into it, BatchNorm statistics first
    re-estimated on ``bn_batches``; values named ``<split>_loss``, ``<split>_acc``. The model is left
    at these weights (callers restore it, e.g. with ``landscape.params.restored``)."""
    set_weights(model, weights)
    model.eval()
    recompute_batchnorm(model, bn_batches, obj)
    out: Dict[str, float] = {}
    for split, batches in splits.items():
        result = evaluate.evaluate(model, batches, obj)
        out[f"{split}_loss"] = result["loss"]
        if result["acc"] is not None:
            out[f"{split}_acc"] = result["acc"]
    return out


def plane_grid(bend_xy: Sequence[float], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """The plane figure's ``n`` x ``n`` grid around A = (0, 0), B = (1, 0), the bend and the curve
    (margins: PLANE_MARGIN, PLANE_MARGIN_ACROSS). The two axes have one unit, |B − A|, but not one scale: across the line
    the grid spans about 3 bend heights, so the strip the curve runs in gets n / 3 rows."""
    bx, by = (float(v) for v in bend_xy)
    my = max(abs(by), PLANE_MARGIN_ACROSS)
    x_lo, x_hi = min(0.0, bx) - PLANE_MARGIN, max(1.0, bx) + PLANE_MARGIN
    y_lo, y_hi = min(0.0, by) - my, max(0.0, by) + my
    return np.linspace(x_lo, x_hi, n), np.linspace(y_lo, y_hi, n)


# --- the job ------------------------------------------------------------------------------------------

def state_path_for(path: os.PathLike) -> Path:
    """Where a job writing ``path`` keeps the curve's training state until the path file exists."""
    path = Path(path)
    return path.with_name(f".{path.name}.state.pt")


def connect(model_a: nn.Module, model_b: nn.Module, data: Any, test_data: Any = None, *,
            config: Optional[ConnectConfig] = None, loss: Any = "cross_entropy", params: ParamFilter = None,
            batch_size: Optional[int] = None, path: Optional[os.PathLike] = None, overwrite: bool = False,
            progress: bool = True, attrs: Optional[Mapping[str, Any]] = None) -> Paths:
    """Train a curve between two models and measure the loss along it and along the straight line.

    Args:
        model_a, model_b: two networks of one architecture (e.g. trained from two seeds). Neither is
            changed: ``model_a`` is used to evaluate points and restored bitwise afterwards.
        data: the training data — the bend is trained on it, BatchNorm statistics are re-estimated
            on it, and its loss is the ``train_*`` value: ``(X, Y)`` tensors, a Dataset, a
            DataLoader or an iterable of batches (``landscape.evaluate.batches``).
        test_data: optional second data set -> ``test_*`` values.
        config: the curve, its training and the evaluation grid (:class:`ConnectConfig`).
        loss: "cross_entropy", "mse", "nll", a loss module or ``f(model, batch)``.
        params: which tensors move along the curve (default: every trainable parameter); the rest
            stay as in ``model_a``.
        batch_size: evaluation batch size (default 1024); only float rounding depends on it.
        path: the HDF5 path file to write as the job goes (resumable); None keeps everything in memory.
        overwrite: start again even if ``path`` (or an interrupted job's state) holds another job.
        progress: progress bars with ETA on stderr.
        attrs: more settings to record (the CLI passes the checkpoints and the dataset).

    Returns:
        :class:`landscape.pathfile.Paths` (read back from ``path`` when given): values along both
        paths, the bend, the training history, the plane grid; ``.barrier("line")``, ``.barrier("curve")``.

    Raises:
        ValueError: models of different architectures, bad settings or data, a ``path`` holding
            another job (pass ``overwrite=True``), or one another live job is writing.
    """
    config = config or ConnectConfig()
    if not isinstance(model_a, nn.Module):
        raise ValueError(f"model_a must be a torch.nn.Module, got {type(model_a).__name__}.")
    if data is None:
        raise ValueError("connect needs data=: the training data, as (X, Y) tensors, a Dataset, a DataLoader "
                         "or an iterable of batches.")
    curve = Curve(model_a, model_b, config.curve, params)
    if all(torch.equal(curve.a[n], curve.b[n]) for n in curve.a):
        raise ValueError("model_a and model_b have the same weights: there is nothing to connect; pass two "
                         "different minima (e.g. trained from two seeds).")
    device = first_device(model_a)
    obj = evaluate.objective(loss)
    eval_size = batch_size or evaluate.DEFAULT_BATCH_SIZE
    splits = {"train": evaluate.batches(data, eval_size, device)}
    if test_data is not None:
        splits["test"] = evaluate.batches(test_data, eval_size, device)
    train_data = _training_data(data, config.batch_size, device)
    with restored(model_a):
        model_a.eval()
        for batches in splits.values():
            evaluate.check_model_accepts(model_a, batches[:1], obj)
    names = [f"{s}_{m}" for s in splits for m in ("loss", "acc") if m == "loss" or obj.has_accuracy]
    settings = _settings(model_a, model_b, curve, config, obj, eval_size, splits, names, attrs)
    # threads as every job chooses them (landscape.threads): one for a small model, else the free cores
    n_threads = threads.for_data(model_a, splits["train"][:1], obj)
    with _seeded(config.seed, device), threads.using(n_threads), contextlib.ExitStack() as job:
        if path is not None:
            path = Path(path)
            job.enter_context(output_lock(path))
        return _run(curve, model_a, train_data, splits, obj, config, settings, names, path, progress, overwrite)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """torch's global RNG (dropout) seeded for the block and put back afterwards."""
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _training_data(data: Any, batch_size: int, device: torch.device):
    """(X, Y) on the device for tensors or a map-style Dataset of pairs (samples reshuffled every
    epoch); else the data's own batches (a DataLoader, dict batches ...; their order shuffled)."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return (data[0].to(device), data[1].to(device))
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset) \
            and hasattr(data, "__len__"):
        X, Y = as_tensors(data, "data")
        return (X.to(device), Y.to(device))
    return evaluate.batches(data, batch_size, device)


def _settings(model_a, model_b, curve: Curve, config: ConnectConfig, obj, eval_size: int, splits, names,
              attrs) -> Dict[str, Any]:
    """Every setting that determines the file's numbers, for its root attributes."""
    spec = surface_mod._model_spec(model_a)
    counts = {s: sum(evaluate.batch_size_of(b) for b in batches) for s, batches in splits.items()}
    out: Dict[str, Any] = {
        "model_name": str(spec.get("name")) if spec and spec.get("name") else type(model_a).__name__,
        "model_spec": spec,
        "weights_sha256_a": surface_mod.weights_fingerprint(model_a),
        "weights_sha256_b": surface_mod.weights_fingerprint(model_b),
        **config.to_dict(),
        "loss": obj.name, "bn": "recompute", "batch_size_eval": int(eval_size),
        "n_samples": counts["train"], **{f"n_{s}_samples": n for s, n in counts.items() if s != "train"},
        "moved_tensors": len(curve.a), "moved_numel": curve.num_params(),
        "values": list(names),
    }
    out.update(dict(attrs or {}))
    return out


def _run(curve: Curve, model: nn.Module, train_data, splits, obj, config: ConnectConfig, settings, names,
         path: Optional[Path], show: bool, overwrite: bool = False) -> Paths:
    state_path = state_path_for(path) if path is not None else None
    settings_json = json.dumps(h5attrs.jsonable(settings), sort_keys=True)
    if path is not None and overwrite:
        with contextlib.suppress(FileNotFoundError):
            state_path.unlink()
    with restored(model):
        if path is not None and path.exists() and not overwrite:
            try:
                why = pathfile.job_mismatch(path, settings)
            except FileFormatError as exc:
                raise ValueError(str(exc)) from None
            if why is not None:
                raise ValueError(f"{str(path)!r} holds another connect job ({why}); use --overwrite "
                                 "(overwrite=True) to replace it, or choose another output path.")
            stored = pathfile.load(path)
            with torch.no_grad():
                for n, t in curve.bend.items():
                    t.copy_(stored.bend[n])
            history = stored.training
            stored_grid = (stored.plane.x, stored.plane.y) if stored.plane is not None else None
        else:
            stored_grid = None
            history = _Trainer(curve, model, train_data, obj, config, settings_json, state_path, show).run()
        bend_xy = bend_coordinates(curve)
        plane_dirs = _plane_directions(model, curve) if config.plane else None
        ts = np.linspace(0.0, 1.0, config.points)
        coords = np.stack([curve.plane_coords(t, bend_xy) for t in ts])
        # a resumed file keeps its grid (the cells done so far are on it)
        grid = stored_grid or (plane_grid(bend_xy, config.plane) if config.plane else None)
        sink = _Sink(path, ts, names, coords, grid, bend_xy, curve, history, settings, overwrite)
        if state_path is not None:
            with contextlib.suppress(FileNotFoundError):
                state_path.unlink()  # the path file holds the bend and the history now
        _evaluate_paths(curve, model, ts, splits, obj, sink, show)
        if grid is not None:
            set_weights(model, curve.a)  # the plane's grid is laid around A
            _evaluate_plane(model, plane_dirs, grid, splits, obj, sink, show)
    return sink.result()


def _plane_directions(model: nn.Module, curve: Curve):
    """The plane through A, B and the bend: axes B − A and the bend's offset orthogonal to it, of one
    length (``directions.plane``, Gram–Schmidt), laid around the model's weights (A)."""
    bend = {n: t.detach() for n, t in curve.bend.items()}
    try:
        return directions.plane(model, curve.b, bend, params=list(curve.a))
    except ValueError as exc:
        raise ValueError(f"No plane figure: {exc} (model_c is the bend: it has not moved off the line; train "
                         "longer or pass plane=0).") from None


def bend_coordinates(curve: Curve) -> np.ndarray:
    """The bend's coordinates (2,) in the plane where A = (0, 0) and B = (1, 0), the second axis
    orthogonal to B − A in the same unit (the frame of ``directions.plane``)."""
    u = directions._flat({n: curve.b[n].double() - curve.a[n].double() for n in curve.a})
    v = directions._flat({n: curve.bend[n].detach().double() - curve.a[n].double() for n in curve.a})
    uu = directions._dot(u, u)
    if uu == 0:
        raise ValueError("model_b has the same weights as model_a: there is nothing to connect.")
    x = directions._dot(u, v) / uu
    rest = v - x * u
    return np.array([x, directions._dot(rest, rest) ** 0.5 / uu ** 0.5])


class _Sink:
    """Where evaluated points go: the path file (created here if new) or arrays in memory."""

    def __init__(self, path, ts, names, coords, grid, bend_xy, curve: Curve, history, settings, overwrite):
        self.path, self.ts, self.names, self.coords, self.grid = path, ts, names, coords, grid
        self.bend = {n: t.detach().cpu().clone() for n, t in curve.bend.items()}
        self.history, self.settings = history, settings
        self.points = np.array([[0.0, 0.0], [1.0, 0.0], list(bend_xy)])
        plane = None if grid is None else {"x": grid[0], "y": grid[1], "points": self.points}
        if path is not None:
            if overwrite or not path.exists():
                pathfile.create(path, ts, names, settings, self.bend, history, coords, plane)
            self.done = pathfile.read_done(path)
            self.arrays = None
        else:
            shapes = {"line": ts.shape, "curve": ts.shape}
            if grid is not None:
                shapes["plane"] = (len(grid[1]), len(grid[0]))
            self.done = {g: np.zeros(s, dtype=bool) for g, s in shapes.items()}
            self.arrays = {g: {n: np.full(s, np.nan) for n in names} for g, s in shapes.items()}

    def pending(self, group: str) -> np.ndarray:
        return np.flatnonzero(~self.done[group].reshape(-1))

    def put(self, group: str, index: Sequence[int], values: Mapping[str, Sequence[float]]) -> None:
        if self.path is not None:
            pathfile.write(self.path, group, index, values)
        else:
            for n, v in values.items():
                self.arrays[group][n].reshape(-1)[np.asarray(index)] = v
        self.done[group].reshape(-1)[np.asarray(index)] = True

    def result(self) -> Paths:
        if self.path is not None:
            return pathfile.load(self.path)
        plane = None
        if self.grid is not None:
            plane = pathfile.plane_surface(self.grid[0], self.grid[1], self.arrays["plane"], self.done["plane"],
                                           self.settings)
        return Paths(t=self.ts, line=self.arrays["line"], curve=self.arrays["curve"], coords=self.coords,
                     bend=self.bend, training=self.history, plane=plane,
                     points=self.points if self.grid is not None else None, attrs=dict(self.settings))


def _evaluate_paths(curve: Curve, model: nn.Module, ts: np.ndarray, splits, obj, sink: _Sink, show: bool) -> None:
    todo = [(g, int(i)) for g in ("line", "curve") for i in sink.pending(g)]
    bn_batches = splits["train"]
    with progress.bar(total=2 * len(ts), desc="connect: paths", enabled=show, initial=2 * len(ts) - len(todo)) as bar:
        for group, i in todo:
            with torch.no_grad():
                weights = curve.line(ts[i]) if group == "line" else curve.weights(ts[i])
            values = evaluate_at(model, weights, splits, obj, bn_batches)
            sink.put(group, [i], {n: [values[n]] for n in sink.names})
            bar.update(1)
            bar.set_postfix_str(f"{group} t={ts[i]:.3f} train_loss={values['train_loss']:.4g}", refresh=False)


def _evaluate_plane(model: nn.Module, plane_dirs, grid, splits, obj, sink: _Sink, show: bool) -> None:
    """The plane grid, one row of cells per ``surface.compute`` call, each row stored when done."""
    xs, ys = grid
    done = sink.done["plane"]
    rows = [j for j in range(len(ys)) if not done[j].all()]
    with progress.bar(total=done.size, desc="connect: plane", enabled=show, initial=int(done.sum())) as bar:
        for j in rows:
            row = surface_mod.compute(model, plane_dirs, x=xs, y=np.array([ys[j]]), data=dict(splits), loss=obj,
                                      bn="recompute", progress=False, batch_size=None)
            new = len(xs) - int(done[j].sum())
            sink.put("plane", j * len(xs) + np.arange(len(xs)), {n: row.values[n][0] for n in sink.names})
            bar.update(new)
