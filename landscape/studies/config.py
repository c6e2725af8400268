"""The description of a landscape study: a frozen config tree, read from TOML and written back.

A study is: a dataset; its members (networks), given either as a grid of variables (depth x skip,
activation x depth, norm x batch size, one remedy at a time, ...) or as pairs that differ in one
switch; a training recipe; the grids, directions and sample counts of the surfaces; the
measurements; the figures; the report. ``landscape demo`` and ``landscape experiment CONFIG.toml``
both run :func:`landscape.experiment.run` on one of these.

    config = load_config("landscape/configs/li2018-mnist1d-resnet.toml")
    config.study.variables[0].values, config.train.epochs, config.grid.plane
    to_toml(config)                 # the exact text that rebuilds it (written beside every report)

The TOML layout (every key optional but the members; the defaults are those of the dataclasses below)::

    name, title, device, threads, precision, workers   top level
    [data]        dataset, root, normalize, n_train, seed
    [model]       seed, and any option of the model family (width, activation, dropout, ...)
    [study]       model (a builder or family), compare, rows, cols, seeds   a grid of members ...
    [[study.variables]]  name, values              ... one table per variable
    [[pairs]]     model, vary                        ... or pairs: one table per pair
    [train]       any field of landscape.train.TrainConfig (unset ones: the dataset's recipe)
    [grid]        plane, line (each [min, max, num]), pca (points per axis, 0: none), pca_margin,
                  n_samples, data_seed, bn, batch_size
    [directions]  norm, ignore, seed
    [metrics]     n_samples, data_seed, seed, trace_probes, eig_tol, thresholds, window, batch_size, extra
    [figures]     format, style, dpi, draw, member, pair, grid, curves, extra
    [report]      intro, sections, table, margin, [[report.claims]]
    [quick]       what ``--quick`` changes, as tables of the sections above (``train = {epochs = 5}``)

A variable's values are either values of one setting (``name = "depth"``, ``values = [20, 56]``)
or labelled bundles of settings (``values = {none = {}, dropout = {dropout = 0.2}}``). A setting
is a model option, a [train] field, or n_train/seed/normalize of [data]; a name found in more than
one (``seed``) is written with its section: ``model.seed``, ``train.seed``, ``data.seed``. Every
member is one combination of the variables' values.

``[study] seeds = [0, 1, 2]`` trains every member once per seed: replicates that differ only in the
training seed (initial weights and data order; ``landscape.studies.replicates``). A [[pairs]] config
takes it as a [study] table holding only ``seeds``. The report gives each number's median and
[min, max] over the seeds and judges each claim on them (``landscape.studies.verdicts``).

Unknown sections or keys raise ValueError naming them and the allowed ones, so a typo never
silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from landscape.base.errors import FileFormatError, check_choice, check_int
from landscape.training.trainconfig import TrainConfig, recommended

from . import members
from .columns import columns as table_columns
from .registry import MAKERS, MEASURES, SECTIONS, load_plugins, measure_columns
from .specs import (  # noqa: F401  (the sections are public here too)
    BN_MODES,
    CLAIM_KINDS,
    DATA_SETTINGS,
    DIRECTION_NORMS,
    FIGURE_FORMATS,
    FIGURE_STYLES,
    GRID_FIGURES,
    IGNORES,
    MEMBER_FIGURES,
    PAIR_FIGURES,
    PRECISIONS,
    TRENDS,
    VARY,
    ClaimSpec,
    DataSpec,
    DirectionSpec,
    FigureSpec,
    GridSpec,
    MetricSpec,
    ModelSpec,
    PairSpec,
    Range,
    ReportSpec,
    StudySpec,
    VariableSpec,
    read_section,
    read_table,
)

PathLike = Union[str, os.PathLike]

CONFIG_DIR = Path(__file__).parent / "configs"


def _default_pairs() -> Tuple[PairSpec, ...]:
    return (PairSpec("mlp20", "skip"), PairSpec("mlp20", "norm"))


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole study. Its members are a grid (``study``) or pairs (``pairs``; None: the digits
    demo's two mlp20 pairs when there is no ``study``). ``threads`` 0 is automatic, as for every command
    (``landscape.core.threads``: one for a small model, else the cores not busy);
    ``device`` "auto" picks CUDA when present; ``workers`` > 1 works on that many members at once, in
    processes of ``threads`` threads each (CPU; ``landscape.pipeline.workers``); ``quick``: what
    ``--quick`` changes (see :func:`quick`); ``seeds``: the training seeds every member is trained
    with (``[study] seeds``; empty: once, with the config's own seeds)."""

    name: str = "experiment"
    title: str = "Loss landscapes with and without skip connections and normalization"
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    pairs: Optional[Tuple[PairSpec, ...]] = None
    train: TrainConfig = field(default_factory=TrainConfig)
    grid: GridSpec = field(default_factory=GridSpec)
    directions: DirectionSpec = field(default_factory=DirectionSpec)
    metrics: MetricSpec = field(default_factory=MetricSpec)
    figures: FigureSpec = field(default_factory=FigureSpec)
    device: str = "auto"
    threads: int = 0
    precision: str = "fp32"
    workers: int = 1
    study: Optional[StudySpec] = None
    report: ReportSpec = field(default_factory=ReportSpec)
    quick: Dict[str, Any] = field(default_factory=dict, hash=False)
    seeds: Tuple[int, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or "/" in self.name:
            raise ValueError(f"The value for `name` must be a non-empty name without '/', "
                             f"but {self.name!r} was passed.")
        if self.pairs is None:
            object.__setattr__(self, "pairs", () if self.study is not None else _default_pairs())
        object.__setattr__(self, "pairs", tuple(self.pairs))
        if self.study is not None and self.pairs:
            raise ValueError("A config has either a [study] (a grid of variables) or [[pairs]] entries, not both.")
        if not self.pairs and self.study is None:
            raise ValueError("A study needs at least one [[pairs]] entry (model = \"mlp20\", vary = \"skip\") "
                             "or a [study] with [[study.variables]].")
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"The value for `device` must be auto, cpu, cuda or cuda:N, "
                             f"but {self.device!r} was passed.")
        check_int("threads", self.threads, 0)
        check_int("workers", self.workers, 1)
        check_choice("precision", self.precision, PRECISIONS)
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        read_table(self.quick, "quick")
        unknown = sorted(set(self.quick) - set(_TOP) | ({"name", "quick"} & set(self.quick)))
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in [quick]; it holds tables of the settings --quick changes, "
                             f"e.g. train = {{epochs = 5}}.")

    def to_dict(self) -> Dict[str, Any]:
        """Nested plain data (what the TOML holds; None values left out); ``from_dict`` rebuilds it."""
        out: Dict[str, Any] = {"name": self.name, "title": self.title, "device": self.device,
                               "threads": self.threads, "precision": self.precision, "workers": self.workers}
        out["data"] = _plain(self.data)
        out["model"] = {"seed": self.model.seed, **dict(self.model.options)}
        seeds = {"seeds": list(self.seeds)} if self.seeds else {}
        if self.study is not None:
            st = self.study
            out["study"] = {"model": st.model, "compare": st.compare, "rows": st.rows,
                            **({"cols": st.cols} if st.cols is not None else {}), **seeds,
                            "variables": [v.to_plain() for v in st.variables]}
        else:
            if seeds:
                out["study"] = seeds
            out["pairs"] = [_plain(p) for p in self.pairs]
        out["train"] = self.train.to_dict()
        for key in ("grid", "directions", "metrics", "figures"):
            out[key] = _plain(getattr(self, key))
        r = self.report
        out["report"] = {"intro": r.intro, **({"sections": list(r.sections)} if r.sections is not None else {}),
                         "table": list(r.table), "claims": [c.to_plain() for c in r.claims],
                         **({"margin": r.margin} if r.margin is not None else {})}
        if self.quick:
            out["quick"] = json.loads(json.dumps(self.quick))
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
_TOP = ("name", "title", "device", "threads", "precision", "workers", "data", "model", "study", "pairs", "train", "grid",
        "directions", "metrics", "figures", "report", "quick")


def _array(d: Mapping[str, Any], key: str, example: str) -> list:
    value = d.get(key, [])
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"`{key}` must be an array of tables: {example}.")
    return list(value)


def from_dict(d: Mapping[str, Any]) -> ExperimentConfig:
    """Build a config from nested plain data (parsed TOML); unset values take the defaults, and the
    training recipe's unset fields take the dataset's (``landscape.train.recommended``)."""
    if not isinstance(d, Mapping):
        raise ValueError(f"A config must be a table of settings, but {type(d).__name__} was given.")
    unknown = sorted(set(d) - set(_TOP))
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown}; allowed at the top level: {list(_TOP)}.")
    kw: Dict[str, Any] = {k: d[k] for k in ("name", "title", "device", "threads", "precision", "workers") if k in d}
    data_spec = read_section(DataSpec, d.get("data", {}), "data")
    kw["data"] = data_spec
    model = read_table(d.get("model", {}), "model")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in model.items() if k != "seed"}
    kw["model"] = ModelSpec(seed=model.get("seed", 0), options=tuple(options.items()))
    if "study" in d:
        st = dict(read_table(d["study"], "study", StudySpec, extra=("seeds",)))
        if "seeds" in st:
            kw["seeds"] = st.pop("seeds")
    if "study" in d and set(d["study"]) - {"seeds"}:
        st["variables"] = tuple(read_section(VariableSpec, v, "study.variables") for v in _array(
            st, "variables", '[[study.variables]] name = "depth" values = [20, 56]'))
        kw["study"] = StudySpec(**st)
    if "pairs" in d:
        kw["pairs"] = tuple(read_section(PairSpec, p, "pairs") for p in _array(
            d, "pairs", '[[pairs]] model = "mlp20" vary = "skip"'))
    kw["train"] = recommended(data_spec.dataset, **read_table(d.get("train", {}), "train", TrainConfig))
    for key in ("grid", "directions", "metrics", "figures"):
        if key in d:
            kw[key] = read_section(_SECTIONS[key], d[key], key)
    if "report" in d:
        kw["report"] = read_section(ReportSpec, d["report"], "report")
    if "quick" in d:
        kw["quick"] = dict(read_table(d["quick"], "quick"))
    config = ExperimentConfig(**kw)
    _check_models(config)
    _check_names(config)
    return config


def check_seeds(seeds: Any, param: str = "study.seeds") -> Tuple[int, ...]:
    """``seeds`` as a tuple of distinct whole numbers >= 0 (empty: no replicates); else ValueError."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple)):
        raise ValueError(f"The value for `{param}` must be a list of distinct whole numbers >= 0, such as "
                         f"[0, 1, 2], but {seeds!r} was passed.")
    for x in seeds:
        check_int(param, x, 0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"The value for `{param}` must hold distinct seeds, but {list(seeds)!r} was passed.")
    return tuple(int(x) for x in seeds)


def with_seeds(config: ExperimentConfig, n: int) -> ExperimentConfig:
    """``config`` with every member trained with the seeds 0..n-1 (``landscape experiment --seeds N``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"The value for `seeds` must be a whole number of training seeds >= 1, but {n!r} was "
                         "passed.")
    return dataclasses.replace(config, seeds=tuple(range(n)))


def _check_models(config: ExperimentConfig) -> None:
    """Fail before any work if a member cannot be built (no such switch or option, a setting that
    belongs nowhere, a variable also fixed in [model])."""
    from landscape import models

    if config.study is not None:
        members.plan(config)
        return
    reserved = sorted({"skip", "norm"} & set(dict(config.model.options)))
    if reserved:
        raise ValueError(f"[model] cannot set {reserved}: skip/norm are what a pair varies.")
    for p in config.pairs:
        family, options = models.resolve(p.model, **dict(config.model.options))
        if p.vary not in options:
            raise ValueError(f"Pair {p.model!r} cannot vary {p.vary!r}: the {family} family has no `{p.vary}` switch.")


def _check_names(config: ExperimentConfig) -> None:
    """Report sections, table columns and extra measurements/figures must be registered names."""
    load_plugins()
    MEASURES.check(config.metrics.extra)
    MAKERS.check(config.figures.extra)
    if config.report.sections is not None:
        for name in config.report.sections:
            check_choice("report.sections", name, list(SECTIONS))
    columns = table_columns(measure_columns(config.metrics.extra))
    for name in config.report.table:
        check_choice("report.table", name, list(columns))
    if config.study is not None:
        names = [v.name for v in config.study.variables]
        for claim in config.report.claims:
            check_choice("report.claims.measure", claim.measure, list(columns))
            if claim.kind == "trend":
                check_choice("report.claims.along", claim.along, names)
            for key, value in claim.where + claim.higher + claim.lower:
                check_choice("report.claims variable", key, names)
                check_choice(f"report.claims value of `{key}`", value, list(config.study.variable(key).values))
    elif config.report.claims:
        raise ValueError("[[report.claims]] refer to study variables; they need a [study], not [[pairs]].")


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
    """A path as given if it exists, else a packaged config by name (``li2018-mnist1d-resnet``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    found = packaged().get(path.stem if path.suffix == ".toml" else str(name_or_path))
    if found is not None and path.parent == Path("."):
        return found
    return path  # load_config reports it missing, listing the packaged ones


def demo_config() -> ExperimentConfig:
    """The config of ``landscape demo``: the packaged ``mnist1d-demo.toml`` (a 56-layer conv ResNet on
    MNIST-1D with and without skip connections and batch norm). ``digits-demo.toml``, the 8x8-digits
    MLP study, runs with ``landscape experiment digits-demo``."""
    return load_config(CONFIG_DIR / "mnist1d-demo.toml")


def quick(config: ExperimentConfig) -> ExperimentConfig:
    """A faster version of ``config`` for a first look or a test: first the config's own [quick]
    tables replace the settings they name (a table merges into its section: ``train = {epochs =
    5}`` changes only the epochs; ``study = {variables = [...]}`` replaces the variables); then at
    most 10 epochs (a snapshot each), 21x21 planes, 31-point lines, 15x15 PCA planes, sharpness on
    at most 256 samples with 10 trace probes. Everything else, seeds included, is unchanged."""
    if config.quick:
        d = config.to_dict()
        for section, values in d.pop("quick").items():
            current = d.get(section)
            d[section] = {**current, **values} if isinstance(current, dict) and isinstance(values, dict) else values
        config = from_dict(d)
    g, m, t = config.grid, config.metrics, config.train
    epochs = min(t.epochs, 10)
    train = dataclasses.replace(t, epochs=epochs, save_every=1,
                                milestones=tuple(e for e in t.milestones if e < epochs),
                                warmup_epochs=min(t.warmup_epochs, epochs / 5))
    n = min(g.plane[2], 21)
    adaptive = None if g.adaptive is None else max(18, round(g.adaptive * n * n / g.plane[2] ** 2))  # same share
    grid = dataclasses.replace(g, plane=(g.plane[0], g.plane[1], n), adaptive=adaptive,
                               line=(g.line[0], g.line[1], min(g.line[2], 31)), pca=min(g.pca, 15))
    metrics = dataclasses.replace(m, n_samples=min(m.n_samples or 256, 256), trace_probes=min(m.trace_probes, 10))
    return dataclasses.replace(config, name=config.name + "-quick", train=train, grid=grid, metrics=metrics)


# --- writing TOML ----------------------------------------------------------------------------------

def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


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
    if isinstance(v, Mapping):
        items = [f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items() if x is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise ValueError(f"Cannot write {v!r} ({type(v).__name__}) as a TOML value.")


def _tables(v: Any) -> bool:
    """A non-empty list of tables: written as [[name]] tables rather than inline."""
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _toml_table(name: str, d: Mapping[str, Any], lines: list, header: str = "[{}]") -> None:
    lines += ["", header.format(name)]
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d.items() if v is not None and not _tables(v)]
    for k, v in d.items():
        if _tables(v):
            for item in v:
                _toml_table(f"{name}.{k}", item, lines, "[[{}]]")


def to_toml(config: ExperimentConfig) -> str:
    """The TOML text of ``config``: ``load_config`` of it gives back an equal config."""
    d = config.to_dict()
    lines = [f"{k} = {_toml_value(d[k])}" for k in ("name", "title", "device", "threads", "precision", "workers")]
    for section in ("data", "model", "study"):
        if section in d:
            _toml_table(section, d[section], lines)
    for p in d.get("pairs", []):
        _toml_table("pairs", p, lines, "[[{}]]")
    for section in ("train", "grid", "directions", "metrics", "figures", "report", "quick"):
        if section in d:
            _toml_table(section, d[section], lines)
    return "\n".join(lines) + "\n"
