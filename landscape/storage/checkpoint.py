"""Checkpoint files: a state dict plus everything needed to rebuild and evaluate the model.

A checkpoint is a ``torch.save``d dict of plain data (no pickled classes), so it loads with
``torch.load(..., weights_only=True)`` and a crafted file cannot run code:

    format        "landscape-checkpoint"
    version       1
    model         the JSON-able spec from ``models.spec`` (``models.create(**spec)`` rebuilds it)
    state_dict    parameter and buffer tensors (CPU)
    data          dataset name, normalization, sample counts, seed … (whatever training used)
    epoch, metrics, config

Writes are atomic (temporary file + rename): a killed process never leaves half a checkpoint.
A bare state dict saved by someone else loads too (``model`` is then None).
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from landscape.base import atomic
from landscape.base.errors import FileFormatError

FORMAT = "landscape-checkpoint"
VERSION = 1
# the resumable training state of a run directory (landscape.rundir writes and reads it)
STATE_FORMAT = "landscape-train-state"
STATE_VERSION = 1


def atomic_torch_save(obj: Any, path: os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it (``landscape.atomic``)."""
    with atomic.open_atomic(path, "wb") as f:
        torch.save(obj, f)


def save(path: os.PathLike, model: nn.Module, *, spec: Optional[dict] = None, data: Optional[dict] = None,
         epoch: Optional[int] = None, metrics: Optional[dict] = None, config: Optional[dict] = None,
         extra: Optional[dict] = None) -> None:
    """Write ``model``'s weights and its spec (default: ``model.spec`` if the model has one)."""
    from landscape import __version__

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "landscape_version": __version__,
        "model": spec if spec is not None else getattr(model, "spec", None),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "data": data or {},
        "epoch": epoch,
        "metrics": metrics or {},
        "config": config or {},
    }
    payload.update(extra or {})
    atomic_torch_save(payload, path)


def safe_torch_load(path: os.PathLike, what: str = "PyTorch file") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure a one-line FileFormatError.

    A file holding pickled objects other than tensors and plain data is refused (loading it could
    run code); garbage, truncated or foreign bytes say the file is not a readable ``what``.
    """
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise FileFormatError(f"{str(path)!r} is not a readable {what}: the file is empty (0 bytes).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refusals name the offending global ("Unsupported global: GLOBAL os.system");
        # other unpickling errors are bytes that are not a pickle at all
        if "global" not in str(exc).lower():
            raise FileFormatError(f"{str(path)!r} is not a readable {what} (corrupted or another format).") from exc
        raise FileFormatError(
            f"Refused to load {str(path)!r}: it holds pickled objects other than tensors and plain data "
            f"(loading it could run code). Only weights and plain data are accepted."
        ) from exc
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise FileFormatError(f"{str(path)!r} is not a readable {what}: {reason}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # garbage can fail anywhere in the unpickler (KeyError: 101, IndexError, ...)
        raise FileFormatError(f"{str(path)!r} is not a readable {what} (corrupted or another format).") from exc


def load(path: os.PathLike) -> Dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); raise FileFormatError if it isn't one."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"Checkpoint {str(path)!r} does not exist (expected a .pt file written by `landscape train`).")
    obj = safe_torch_load(path, "PyTorch checkpoint")
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if int(obj.get("version", 0)) > VERSION:
            raise FileFormatError(
                f"{str(path)!r} is a checkpoint of format version {obj['version']}, newer than this landscape "
                f"reads ({VERSION}); upgrade landscape (pip install -U landscape)."
            )
        return obj
    if isinstance(obj, dict) and obj.get("format") == STATE_FORMAT:
        final = path.parent / "final.pt"
        where = f"{str(final)!r}" if final.is_file() else "final.pt or best.pt of the run (or a snapshot)"
        raise FileFormatError(f"{str(path)!r} is a training state (what `landscape train --resume` continues from), "
                              f"not a checkpoint; use {where}.")
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {"format": FORMAT, "version": VERSION, "model": None, "state_dict": obj, "data": {}, "epoch": None,
                "metrics": {}, "config": {}}
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return {"model": None, "data": {}, "epoch": None, "metrics": {}, "config": {}, **obj}
    raise FileFormatError(f"{str(path)!r} is not a landscape checkpoint or a state dict of tensors.")


def load_model(path: os.PathLike, device: Optional[torch.device] = None,
               allow_nonfinite: bool = False) -> Tuple[nn.Module, Dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights. Returns ``(model, checkpoint)``.

    Weights holding NaN or inf (a diverged training run) are refused with FileFormatError unless
    ``allow_nonfinite``: every loss around such a point is NaN, so a surface or a sharpness number
    computed from it would be silently meaningless.
    """
    from landscape import models

    ckpt = load(path)
    if not allow_nonfinite:
        check_finite(ckpt["state_dict"], str(path))
    if not ckpt.get("model"):
        raise FileFormatError(
            f"{str(path)!r} holds weights but no model spec; build the model yourself and use "
            "model.load_state_dict(landscape.checkpoint.load(path)['state_dict'])."
        )
    model = models.create(**ckpt["model"])
    check_compatible(model, ckpt["state_dict"], str(path))
    model.load_state_dict(ckpt["state_dict"])
    if device is not None:
        model.to(device)
    model.eval()
    return model, ckpt


def check_compatible(model: nn.Module, state_dict: Dict[str, torch.Tensor], source: str) -> None:
    """Raise FileFormatError unless ``state_dict`` has exactly the model's names and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or wrong:
        detail = (f"missing {missing[:2]}" if missing else f"unexpected {unexpected[:2]}" if unexpected
                  else f"shape of {wrong[0]!r} is {tuple(state_dict[wrong[0]].shape)}, model has {tuple(own[wrong[0]].shape)}")
        raise FileFormatError(f"{source} does not fit the model's architecture: {detail}.")


def check_finite(state_dict: Dict[str, torch.Tensor], source: str) -> None:
    """Raise FileFormatError if a floating-point tensor of ``state_dict`` holds NaN or inf."""
    bad = [k for k, v in state_dict.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise FileFormatError(f"{source} holds NaN or inf weights (in {bad[0]!r}{more}): the training diverged. "
                              "Use an earlier snapshot or best.pt.")


def architecture_differences(spec_a: Optional[dict], spec_b: Optional[dict]) -> Dict[str, Tuple[Any, Any]]:
    """Options in which two model specs (``checkpoint["model"]``) differ, ``{option: (a, b)}``,
    leaving out the initialization ``seed`` (two runs of one architecture differ in it). Same tensor
    shapes do not mean the same function: ``mlp20`` and ``mlp20_noskip`` share every name and shape.
    Empty when either spec is unknown (a bare state dict)."""
    if not spec_a or not spec_b:
        return {}
    keys = (set(spec_a) | set(spec_b)) - {"seed"}
    return {k: (spec_a.get(k), spec_b.get(k)) for k in sorted(keys) if spec_a.get(k) != spec_b.get(k)}


def sha256(path: os.PathLike) -> str:
    """Hex SHA-256 of a file (recorded in surface files so results trace back to exact weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
