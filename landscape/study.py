"""The description of a landscape study: a frozen config tree, read from TOML and written back.

A study is: a dataset; pairs of networks that differ in one switch (skip connections, or
normalization); one training recipe for every network; the grids, directions and sample counts of
the surfaces; the sharpness measurements; the figures; and where to compute. ``landscape demo`` and
``landscape experiment CONFIG.toml`` both run :func:`landscape.experiment.run` on one of these.

    config = load_config("landscape/configs/digits-demo.toml")
    config.pairs[0].vary, config.train.epochs, config.grid.plane
    to_toml(config)                 # the exact text that rebuilds it (written beside every report)

The TOML layout (every key optional; the defaults are those of the dataclasses below)::

    name, title, device, threads, precision        top level
    [data]        dataset, root, normalize, n_train, seed
    [model]       seed, and any option of the model family (width, activation, dropout, ...)
    [[pairs]]     model, vary                        one table per pair
    [train]       any field of landscape.train.TrainConfig (unset ones: the dataset's recipe)
    [grid]        plane, line (each [min, max, num]), pca (points per axis, 0: none), pca_margin,
                  n_samples, data_seed, bn, batch_size
    [directions]  norm, ignore, seed
    [metrics]     n_samples, data_seed, seed, trace_probes, eig_tol, thresholds, window, batch_size
    [figures]     format, style, dpi, draw

Unknown sections or keys raise ValueError naming them and the allowed ones, so a typo never
silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .errors import FileFormatError, check_choice
from .train import TrainConfig, recommended

Range = Tuple[float, float, int]
PathLike = Union[str, os.PathLike]

VARY = ("skip", "norm")
DIRECTION_NORMS = ("filter", "layer", "weight", "none")
IGNORES = ("biasbn", "none")
BN_MODES = ("eval", "recompute")
PRECISIONS = ("fp32",)
FIGURE_FORMATS = ("png", "pdf", "svg")
FIGURE_STYLES = ("paper", "slides")
CONFIG_DIR = Path(__file__).parent / "configs"


def _range(param: str, value: Any) -> Range:
    """``[min, max, num]`` -> ``(float, float, int)``: finite, min < max, 2 <= num <= 10001."""
    ok = isinstance(value, (list, tuple)) and len(value) == 3
    if ok:
        lo, hi, num = value
        ok = (all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi))
              and isinstance(num, int) and not isinstance(num, bool)
              and math.isfinite(lo) and math.isfinite(hi) and lo < hi and 2 <= num <= 10001)
    if not ok:
        raise ValueError(f"The value for `{param}` must be [min, max, num] with min < max and 2 <= num <= 10001 "
                         f"(for example [-1.0, 1.0, 31]), but {value!r} was passed.")
    return (float(value[0]), float(value[1]), int(value[2]))


def _int(param: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"The value for `{param}` must be a whole number >= {minimum}"
                         f"{' (or left out)' if optional else ''}, but {value!r} was passed.")


def _number(param: str, value: Any, minimum: float, strict: bool = False, optional: bool = False) -> None:
    if optional and value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"The value for `{param}` must be a finite number {bound}, but {value!r} was passed.")


@dataclass(frozen=True)
class DataSpec:
    """The dataset (``data.load``): name, data root (None: the default), input standardization, and
    a seeded training subset of ``n_train`` examples (None: the whole train split)."""

    dataset: str = "digits"
    root: Optional[str] = None
    normalize: bool = True
    n_train: Optional[int] = None
    seed: int = 0

    def __post_init__(self):
        from landscape import data

        check_choice("data.dataset", self.dataset, data.list_datasets())
        _int("data.n_train", self.n_train, 2, optional=True)
        _int("data.seed", self.seed, 0)
        if not isinstance(self.normalize, bool):
            raise ValueError(f"The value for `data.normalize` must be true or false, "
                             f"but {self.normalize!r} was passed.")


@dataclass(frozen=True)
class ModelSpec:
    """What every network shares: the init ``seed`` (both members of a pair start from the same
    weights) and family options such as ``width`` or ``activation`` (as ``(key, value)`` pairs)."""

    seed: int = 0
    options: Tuple[Tuple[str, Any], ...] = ()

    def __post_init__(self):
        _int("model.seed", self.seed, 0)
        opts = dict(self.options)
        reserved = sorted(set(opts) & {"skip", "norm", "in_shape", "num_classes", "seed", "name"})
        if reserved:
            raise ValueError(f"[model] cannot set {reserved}: skip/norm are what a pair varies, the input shape and "
                             "classes come from the dataset, and the seed is `model.seed`.")
        object.__setattr__(self, "options", tuple(sorted(opts.items())))


@dataclass(frozen=True)
class PairSpec:
    """A pair: the builder ``model`` (the member with the feature, e.g. "mlp20") and the switch it
    differs in, ``vary``: "skip" (skip connections on/off) or "norm" (normalization on/off)."""

    model: str
    vary: str = "skip"

    def __post_init__(self):
        from landscape import models

        check_choice("pairs.vary", self.vary, VARY)
        models.resolve(self.model)  # an unknown name fails here, listing close matches


@dataclass(frozen=True)
class GridSpec:
    """Where the surfaces are sampled (Li et al. 2018 use 51x51 on [-1, 1]).

    plane: x and y axes of the 2D surfaces; line: the 1D axis (both in filter-normalized units);
    pca: points per axis of the PCA-trajectory plane (0: no PCA surface), whose extent is the
    trajectory's plus ``pca_margin`` of it on every side; n_samples: evaluate on a seeded subset of
    each split (None: all of it); bn: "eval" or "recompute" (``landscape.surface.compute``).
    """

    plane: Range = (-1.0, 1.0, 31)
    line: Range = (-1.0, 1.0, 51)
    pca: int = 21
    pca_margin: float = 0.2
    n_samples: Optional[int] = None
    data_seed: int = 0
    bn: str = "eval"
    batch_size: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "plane", _range("grid.plane", self.plane))
        object.__setattr__(self, "line", _range("grid.line", self.line))
        if self.pca != 0:
            _int("grid.pca", self.pca, 2)
        _number("grid.pca_margin", self.pca_margin, 0.0)
        _int("grid.n_samples", self.n_samples, 1, optional=True)
        _int("grid.data_seed", self.data_seed, 0)
        check_choice("grid.bn", self.bn, BN_MODES)
        _int("grid.batch_size", self.batch_size, 1, optional=True)


@dataclass(frozen=True)
class DirectionSpec:
    """The random directions (``landscape.directions.random``): normalization, what stays fixed,
    and the seed. Both members of a pair get directions drawn with this one seed."""

    norm: str = "filter"
    ignore: str = "biasbn"
    seed: int = 0

    def __post_init__(self):
        check_choice("directions.norm", self.norm, DIRECTION_NORMS)
        check_choice("directions.ignore", self.ignore, IGNORES)
        _int("directions.seed", self.seed, 0)


@dataclass(frozen=True)
class MetricSpec:
    """Sharpness settings: Hessian top eigenvalue (Lanczos, relative tolerance ``eig_tol``; None: the
    library default) and Hutchinson trace (``trace_probes`` probes) on a seeded subset of
    ``n_samples`` training examples (None: all); grid curvature (quadratic fit over ``window``
    cells around the minimum) and basin widths at each loss rise in ``thresholds``."""

    n_samples: Optional[int] = 512
    data_seed: int = 0
    seed: int = 0
    trace_probes: int = 30
    eig_tol: Optional[float] = None
    thresholds: Tuple[float, ...] = (0.1, 0.5, 1.0)
    window: int = 2
    batch_size: Optional[int] = None

    def __post_init__(self):
        _int("metrics.n_samples", self.n_samples, 1, optional=True)
        _int("metrics.data_seed", self.data_seed, 0)
        _int("metrics.seed", self.seed, 0)
        _int("metrics.trace_probes", self.trace_probes, 2)
        _number("metrics.eig_tol", self.eig_tol, 0.0, strict=True, optional=True)
        th = self.thresholds
        if not isinstance(th, (list, tuple)) or not th:
            raise ValueError(f"The value for `metrics.thresholds` must be a list of loss rises such as [0.1, 0.5], "
                             f"but {th!r} was passed.")
        for t in th:
            _number("metrics.thresholds", t, 0.0, strict=True)
        object.__setattr__(self, "thresholds", tuple(float(t) for t in th))
        _int("metrics.window", self.window, 1)
        _int("metrics.batch_size", self.batch_size, 1, optional=True)


@dataclass(frozen=True)
class FigureSpec:
    """Figure files: ``format`` png/pdf/svg, ``style`` None/"paper"/"slides" (``landscape.plot.style``),
    ``dpi``; ``draw = false`` skips the figures (e.g. on a headless cluster node; draw them later
    with ``landscape plot/compare`` from the surface files, or rerun with ``draw = true``)."""

    format: str = "png"
    style: Optional[str] = None
    dpi: Optional[float] = None
    draw: bool = True

    def __post_init__(self):
        if not isinstance(self.draw, bool):
            raise ValueError(f"The value for `figures.draw` must be true or false, but {self.draw!r} was passed.")
        check_choice("figures.format", self.format, FIGURE_FORMATS)
        if self.style is not None:
            check_choice("figures.style", self.style, FIGURE_STYLES)
        _number("figures.dpi", self.dpi, 10.0, optional=True)


def _default_pairs() -> Tuple[PairSpec, ...]:
    return (PairSpec("mlp20", "skip"), PairSpec("mlp20", "norm"))


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole study. ``threads`` 0 keeps torch's default; ``device`` "auto" picks CUDA when present."""

    name: str = "experiment"
    title: str = "Loss landscapes with and without skip connections and normalization"
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    pairs: Tuple[PairSpec, ...] = field(default_factory=_default_pairs)
    train: TrainConfig = field(default_factory=TrainConfig)
    grid: GridSpec = field(default_factory=GridSpec)
    directions: DirectionSpec = field(default_factory=DirectionSpec)
    metrics: MetricSpec = field(default_factory=MetricSpec)
    figures: FigureSpec = field(default_factory=FigureSpec)
    device: str = "auto"
    threads: int = 0
    precision: str = "fp32"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or "/" in self.name:
            raise ValueError(f"The value for `name` must be a non-empty name without '/', "
                             f"but {self.name!r} was passed.")
        object.__setattr__(self, "pairs", tuple(self.pairs))
        if not self.pairs:
            raise ValueError("A study needs at least one [[pairs]] entry (model = \"mlp20\", vary = \"skip\").")
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"The value for `device` must be auto, cpu, cuda or cuda:N, "
                             f"but {self.device!r} was passed.")
        _int("threads", self.threads, 0)
        check_choice("precision", self.precision, PRECISIONS)

    def to_dict(self) -> Dict[str, Any]:
        """Nested plain data (what the TOML holds; None values left out); ``from_dict`` rebuilds it."""
        out: Dict[str, Any] = {"name": self.name, "title": self.title, "device": self.device,
                               "threads": self.threads, "precision": self.precision}
        out["data"] = _plain(self.data)
        out["model"] = {"seed": self.model.seed, **dict(self.model.options)}
        out["pairs"] = [_plain(p) for p in self.pairs]
        out["train"] = self.train.to_dict()
        for key in ("grid", "directions", "metrics", "figures"):
            out[key] = _plain(getattr(self, key))
        return out


def _plain(spec: Any) -> Dict[str, Any]:
    out = {}
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        if v is not None:
            out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


_SECTIONS = {"data": DataSpec, "pairs": PairSpec, "grid": GridSpec, "directions": DirectionSpec,
             "metrics": MetricSpec, "figures": FigureSpec}
_TOP = ("name", "title", "device", "threads", "precision", "data", "model", "pairs", "train", "grid", "directions",
        "metrics", "figures")


def _table(values: Any, where: str, cls=None) -> Mapping[str, Any]:
    """``values`` if it is a table (of ``cls``'s fields only, when given); else a one-line ValueError."""
    if not isinstance(values, Mapping):
        raise ValueError(f"[{where}] must be a table of settings, but {values!r} was given.")
    if cls is not None:
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in [{where}]; allowed: {known}.")
    return values


def _section(cls, values: Any, where: str):
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in _table(values, where, cls).items()})


def from_dict(d: Mapping[str, Any]) -> ExperimentConfig:
    """Build a config from nested plain data (parsed TOML); unset values take the defaults, and the
    training recipe's unset fields take the dataset's (``landscape.train.recommended``)."""
    if not isinstance(d, Mapping):
        raise ValueError(f"A config must be a table of settings, but {type(d).__name__} was given.")
    unknown = sorted(set(d) - set(_TOP))
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown}; allowed at the top level: {list(_TOP)}.")
    kw: Dict[str, Any] = {k: d[k] for k in ("name", "title", "device", "threads", "precision") if k in d}
    data_spec = _section(DataSpec, d.get("data", {}), "data")
    kw["data"] = data_spec
    model = _table(d.get("model", {}), "model")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in model.items() if k != "seed"}
    kw["model"] = ModelSpec(seed=model.get("seed", 0), options=tuple(options.items()))
    if "pairs" in d:
        pairs = d["pairs"]
        if not isinstance(pairs, (list, tuple)):
            raise ValueError("`pairs` must be an array of tables: [[pairs]] model = \"mlp20\" vary = \"skip\".")
        kw["pairs"] = tuple(_section(PairSpec, p, "pairs") for p in pairs)
    kw["train"] = recommended(data_spec.dataset, **_table(d.get("train", {}), "train", TrainConfig))
    for key in ("grid", "directions", "metrics", "figures"):
        if key in d:
            kw[key] = _section(_SECTIONS[key], d[key], key)
    config = ExperimentConfig(**kw)
    _check_models(config)
    return config


def _check_models(config: ExperimentConfig) -> None:
    """Fail before any work if a pair cannot be built (no such switch, or an unknown model option)."""
    from landscape import models

    for p in config.pairs:
        family, options = models.resolve(p.model, **dict(config.model.options))
        if p.vary not in options:
            raise ValueError(f"Pair {p.model!r} cannot vary {p.vary!r}: the {family} family has no `{p.vary}` switch.")


def load_config(path: PathLike) -> ExperimentConfig:
    """Read a TOML study config (see the module docstring); FileFormatError if it is not valid TOML."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"Config file {str(path)!r} does not exist. Packaged configs: {', '.join(packaged())}.")
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{str(path)!r} is not valid TOML: {exc}") from exc
    try:
        return from_dict(d)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc


def packaged() -> Dict[str, Path]:
    """The configs shipped with landscape: name (file stem) -> path."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.toml"))}


def resolve_config(name_or_path: PathLike) -> Path:
    """A path as given if it exists, else a packaged config by name (``digits-demo``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    found = packaged().get(path.stem if path.suffix == ".toml" else str(name_or_path))
    if found is not None and path.parent == Path("."):
        return found
    return path  # load_config reports it missing, listing the packaged ones


def demo_config() -> ExperimentConfig:
    """The config of ``landscape demo``: the packaged ``digits-demo.toml``."""
    return load_config(CONFIG_DIR / "digits-demo.toml")


def quick(config: ExperimentConfig) -> ExperimentConfig:
    """A faster version of ``config`` for a first look or a test: at most 10 epochs (a snapshot
    each), 21x21 planes, 31-point lines, 15x15 PCA planes, sharpness on at most 256 samples with
    10 trace probes. Everything else, seeds included, is unchanged."""
    g, m, t = config.grid, config.metrics, config.train
    epochs = min(t.epochs, 10)
    train = dataclasses.replace(t, epochs=epochs, save_every=1,
                                milestones=tuple(e for e in t.milestones if e < epochs),
                                warmup_epochs=min(t.warmup_epochs, epochs / 5))
    grid = dataclasses.replace(g, plane=(g.plane[0], g.plane[1], min(g.plane[2], 21)),
                               line=(g.line[0], g.line[1], min(g.line[2], 31)), pca=min(g.pca, 15))
    metrics = dataclasses.replace(m, n_samples=min(m.n_samples or 256, 256), trace_probes=min(m.trace_probes, 10))
    return dataclasses.replace(config, name=config.name + "-quick", train=train, grid=grid, metrics=metrics)


# --- writing TOML ----------------------------------------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ValueError(f"Cannot write {v!r} ({type(v).__name__}) as a TOML value.")


def to_toml(config: ExperimentConfig) -> str:
    """The TOML text of ``config``: ``load_config`` of it gives back an equal config."""
    d = config.to_dict()
    lines = [f"{k} = {_toml_value(d[k])}" for k in ("name", "title", "device", "threads", "precision")]
    for section in ("data", "model"):
        lines += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in d[section].items()]
    for p in d["pairs"]:
        lines += ["", "[[pairs]]"] + [f"{k} = {_toml_value(v)}" for k, v in p.items()]
    for section in ("train", "grid", "directions", "metrics", "figures"):
        items = [(k, v) for k, v in d[section].items() if v is not None]
        lines += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in items]
    return "\n".join(lines) + "\n"
