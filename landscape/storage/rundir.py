"""The training run directory: its files, their atomic writes, and reading a run back.

Layout (written by :func:`landscape.train.fit`, read by plots, surfaces and the demo)::

    final.pt, best.pt            landscape.checkpoint files
    snapshots/epoch_NNNN.pt      epoch 0 = initialization
    history.json, history.csv    per-epoch metrics, columns ``COLUMNS`` (missing values null / empty);
                                 with tracking, history.json also holds "sharpness" (rows) and
                                 "sharpness_settings"
    sharpness.csv                the tracked rows (``landscape train --track-sharpness N``)
    gradient_flow.json           {"layers": [...], "epochs": [...], "norms": [[...] per epoch]}
    config.json                  the exact settings
    last_state.pt                the resumable training state (format ``STATE_FORMAT``)

Every file is written to a temporary name and renamed into place, so a run killed at any moment
leaves each file either complete or absent.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from torch import nn

from landscape.base import atomic
from landscape.base.errors import FileFormatError

from .checkpoint import STATE_FORMAT, STATE_VERSION, load as checkpoint_load, safe_torch_load

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds")
ARTIFACTS = ("final.pt", "best.pt", "last_state.pt", "history.json", "history.csv", "gradient_flow.json",
             "config.json", "sharpness.csv")
# sharpness.csv (``landscape train --track-sharpness N``): one row per measurement; more columns
# (lambda_2..., trace, batch_sharpness, preconditioned) when asked for
TRACKED_COLUMNS = ("step", "epoch", "lr", "threshold", "lambda_max", "converged", "loss", "products", "seconds")


def write_json(obj: Any, path: Path) -> None:
    """Write JSON atomically (temporary file + rename): a killed run never leaves half a file."""
    atomic.write_text(path, json.dumps(obj, indent=1, allow_nan=True))


def write_csv(rows: Sequence[Dict[str, Any]], path: Path, columns: Sequence[str] = COLUMNS) -> None:
    """Write ``rows`` as CSV with ``columns`` (default ``COLUMNS``; None as an empty cell), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    atomic.write_text(path, buf.getvalue())


def tracked_columns(rows: Sequence[Dict[str, Any]]) -> list:
    """The columns of ``sharpness.csv``: every key of the tracked rows, in first-seen order."""
    return list(dict.fromkeys(k for row in rows for k in row)) or list(TRACKED_COLUMNS)


def prepare(run_dir: Path, resume: bool, overwrite: bool) -> Optional[Dict[str, Any]]:
    """Create ``run_dir`` (ValueError if impossible) and return the saved state when resuming."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "snapshots").mkdir(exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"Cannot write the run directory {str(run_dir)!r}: {reason}. "
                         "Pass an output directory you can write to.") from None
    state_path = run_dir / "last_state.pt"
    if resume:
        if state_path.is_file():
            return load_state(state_path)
        if (run_dir / "final.pt").is_file():
            raise ValueError(f"Cannot resume {str(run_dir)!r}: it holds a final.pt but no last_state.pt to continue "
                             "from. Pass overwrite to train it again.")
        log.info("nothing to resume in %s; starting from scratch", run_dir)
        return None
    if overwrite:
        for name in ARTIFACTS:
            (run_dir / name).unlink(missing_ok=True)
        for snap in (run_dir / "snapshots").glob("epoch_*.pt"):
            snap.unlink()
        return None
    check_run_dir(run_dir, resume, overwrite)
    return None


def check_run_dir(run_dir: PathLike, resume: bool = False, overwrite: bool = False) -> None:
    """ValueError if ``run_dir`` already holds a run and neither ``resume`` nor ``overwrite`` is set.

    Touches nothing, so a command training several runs can check every directory before starting.
    """
    run_dir = Path(run_dir)
    if resume or overwrite:
        return
    if (run_dir / "final.pt").is_file() or (run_dir / "last_state.pt").is_file():
        what = "a finished run (final.pt)" if (run_dir / "final.pt").is_file() else "an interrupted run (last_state.pt)"
        raise ValueError(f"{str(run_dir)!r} already holds {what}; pass --resume to continue it or --overwrite "
                         "to replace it, or choose another --out.")


def load_state(path: Path) -> Dict[str, Any]:
    """Read ``last_state.pt`` with ``weights_only=True``; FileFormatError if it is not a training state."""

    state = safe_torch_load(path, "training state")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise FileFormatError(f"{str(path)!r} is not a landscape training state (format {STATE_FORMAT!r}).")
    if int(state.get("version", 0)) > STATE_VERSION:
        raise FileFormatError(f"{str(path)!r} was written by a newer landscape (state version {state['version']}); "
                              "upgrade landscape to resume it.")
    return state


def display_name(spec: Optional[dict], model: Optional[nn.Module] = None) -> str:
    """A short name for a built-in spec (``mlp20_noskip``), else the model's class name."""
    if spec and "name" in spec:
        name = f"{spec['name']}{spec.get('depth', '')}"
        if spec.get("skip") is False:
            name += "_noskip"
        if spec.get("norm") == "none":
            name += "_nonorm"
        return name
    return type(model).__name__.lower() if model is not None else "model"


def load_history(run_dir: PathLike) -> Dict[str, Any]:
    """``history.json`` of a run merged with ``{"gradient_flow": ..., "name": ...}``.

    ``gradient_flow`` is the content of ``gradient_flow.json`` (None if absent); ``name`` is the model's
    display name (e.g. ``"mlp20_noskip"``). Raises FileFormatError if ``run_dir`` holds no history.
    """
    run_dir = Path(run_dir)
    path = run_dir / "history.json"
    if not path.is_file():
        raise FileFormatError(f"{str(run_dir)!r} holds no history.json; pass a directory written by `landscape train`.")
    try:
        history = json.loads(path.read_text())
        flow_path = run_dir / "gradient_flow.json"
        flow = json.loads(flow_path.read_text()) if flow_path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(history, dict) or "epochs" not in history:
        raise FileFormatError(f"{str(path)!r} is not a landscape training history (no 'epochs').")
    name = history.get("name")
    if not name:
        cfg_path = run_dir / "config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        name = cfg.get("name") or display_name(cfg.get("model"))
    return {**history, "gradient_flow": flow, "name": name}


def load_snapshots(run_dir: PathLike) -> tuple:
    """State dicts and epochs of a run's ``snapshots/epoch_NNNN.pt``, in epoch order: ``(states, epochs)``.

    The points of a PCA trajectory (``landscape.directions.pca(states, model, epochs=epochs)``).
    Raises ValueError if the run has no snapshots or one is misnamed.
    """
    run_dir = Path(run_dir)
    files = sorted((run_dir / "snapshots").glob("epoch_*.pt"))
    if not files:
        raise ValueError(f"{str(run_dir)!r} has no snapshots/epoch_*.pt; train with snapshots "
                         "(landscape train --save-every K) and pass the run directory.")
    states, epochs = [], []
    for f in files:
        try:
            epochs.append(int(f.stem.split("_")[1]))
        except (IndexError, ValueError):
            raise ValueError(f"Unexpected snapshot name {f.name!r}; expected epoch_NNNN.pt.") from None
        states.append(checkpoint_load(f)["state_dict"])
    return states, epochs
