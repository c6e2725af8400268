"""The state one study run shares among its stages: settings, members, data, results so far.

Each stage (``training``, ``surfaces``, ``measures``, ``figures``) reads what earlier stages put
here and adds its own; ``summary.summarize`` turns the whole into ``summary.json``. Every item a
stage makes is listed in ``computed[stage]``, every finished one it found in ``reused[stage]``.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from landscape.storage import checkpoint
from landscape.studies.config import DataSpec, ExperimentConfig
from landscape.studies.members import Member, Pair, build_members

log = logging.getLogger("landscape.studies.experiment")

STAGES = ("train", "surfaces", "sharpness", "figures", "report")


class Context:
    """One run of a study in ``out`` (see :func:`landscape.experiment.run` for the arguments)."""

    def __init__(self, config: ExperimentConfig, out: Path, fresh: bool, progress_bars: bool,
                 echo: Optional[Callable[[str], None]], only: Optional[Sequence[str]] = None):
        from landscape import data

        self.config, self.out, self.fresh, self.bars = config, out, fresh, progress_bars
        self._echo = echo
        self.timings: Dict[str, float] = {}
        self.reused: Dict[str, List[str]] = {s: [] for s in STAGES}
        self.computed: Dict[str, List[str]] = {s: [] for s in STAGES}
        self.runs: Dict[str, Dict[str, Any]] = {}        # member -> training outcome
        self.surfaces: Dict[str, Dict[str, Path]] = {}   # member -> kind -> file
        self.sharp: Dict[str, Dict[str, Any]] = {}       # member -> measurements
        self.notes: Dict[str, List[str]] = {}            # member -> things the report must say
        self.figures: Dict[str, Dict[str, Path]] = {}    # member, pair or grid name -> figure kind -> file
        self._data: Dict[tuple, Tuple[torch.Tensor, torch.Tensor]] = {}
        # everything that can fail on a setting fails here, before anything is written
        self.device = device(config.device)
        self.info = data.info(config.data.dataset, config.data.root)
        self.members: Dict[str, Member]
        self.pairs: List[Pair]
        self.members, self.pairs = build_members(config, self.info["input_shape"], self.info["num_classes"])
        self.threads = torch.get_num_threads()
        # the members this process works on (a worker process gets one; see ``workers``)
        self.todo: List[str] = [n for n in self.members if only is None or n in only]
        self.worker = only is not None
        # the kinds of surface this process makes (None: all; a worker gets one)
        self.kinds: Optional[set] = None
        # items another process made in this run: found finished, they count as made, not reused
        self.premade: Dict[str, set] = {s: set() for s in STAGES}

    def say(self, msg: str) -> None:
        log.info(msg)
        if self._echo is not None:
            self._echo(msg)

    def found(self, stage: str, item: str) -> None:
        """``item`` of ``stage`` was found finished: reused, or made by a worker process of this run."""
        (self.computed if item in self.premade[stage] else self.reused)[stage].append(item)

    def note(self, member: str, text: str) -> None:
        """Something the report must say about ``member`` (said once, however often it is found;
        only by the main process: a worker's context, ``only`` set, records it without a warning)."""
        if text not in self.notes.setdefault(member, []):
            self.notes[member].append(text)
            if not self.worker:
                log.warning(text)

    def live(self) -> List[str]:
        """Members that trained to finite weights (a diverged one has nothing to measure)."""
        return [n for n in self.todo if not self.runs[n]["diverged"]]

    def model(self, name: str) -> torch.nn.Module:
        model, _ = checkpoint.load_model(self.runs[name]["run_dir"] / "final.pt", self.device)
        return model

    def path(self, *parts: str) -> Path:
        p = self.out.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def load(self, member: str, split: str, n: Optional[int] = None, seed: int = 0
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Data of ``member``, standardized as for training: ``"train"`` is its training data (the
        ``n_train`` subset when set), ``"test"`` the test split; ``n`` takes a seeded subset of it
        (all of it when ``n`` is None or not smaller). Cached."""
        return self.load_spec(self.members[member].data, split, n, seed)

    def load_spec(self, d: DataSpec, split: str, n: Optional[int] = None, seed: int = 0
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        from landscape import data

        key = (d, split, n, seed)
        if key not in self._data:
            if split == "train" and d.n_train is not None:
                full = data.load_at_most(d.dataset, "train", n=d.n_train, seed=d.seed, root=d.root,
                                         normalize=d.normalize)
                self._data[key] = subset(full, n, seed)
            else:
                # data.load draws the same subset `subset` would (a seeded permutation), without
                # standardizing the rows it then drops
                self._data[key] = data.load_at_most(d.dataset, split, n=n, seed=seed, root=d.root,
                                                    normalize=d.normalize)
        return self._data[key]

    def data_meta(self, member: str) -> Dict[str, Any]:
        """What the checkpoints record about the data (as ``landscape train`` does), so the CLI
        commands (surface, sharpness) find the same data and normalization from a checkpoint."""
        m = self.members[member]
        d, t = m.data, m.train
        return as_json({"dataset": d.dataset, "root": d.root, "normalize": d.normalize, "n_train": d.n_train,
                        "seed": d.seed, "val_fraction": t.val_fraction, "augment": t.augment,
                        "mean": self.info.get("mean"), "std": self.info.get("std")})


def subset(xy: Tuple[torch.Tensor, torch.Tensor], n: Optional[int], seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of ``n`` rows in their original order, drawn like ``data.load(n=, seed=)``."""
    import numpy as np

    X, Y = xy
    if n is None or n >= len(Y):
        return xy
    keep = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(Y))[:n]))
    return X[keep], Y[keep]


def device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"The config asks for device {name!r}, but no CUDA device is available; set device = \"cpu\" "
                         "or \"auto\".")
    return dev


def as_json(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists), so saved and new settings compare equal."""
    return json.loads(json.dumps(obj))


def key(obj: Any) -> str:
    """A short hash of JSON-able settings: equal settings, equal keys."""
    return hashlib.sha256(json.dumps(as_json(obj), sort_keys=True).encode()).hexdigest()[:16]


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def rel(path: Optional[Path], out: Path) -> Optional[str]:
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return str(path)
