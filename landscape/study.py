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

    name, title, device, threads, precision        top level
    [data]        dataset, root, normalize, n_train, seed
    [model]       seed, and any option of the model family (width, activation, dropout, ...)
    [study]       model (a builder or family), compare, rows, cols       a grid of members ...
    [[study.variables]]  name, values              ... one table per variable
    [[pairs]]     model, vary                        ... or pairs: one table per pair
    [train]       any field of landscape.train.TrainConfig (unset ones: the dataset's recipe)
    [grid]        plane, line (each [min, max, num]), pca (points per axis, 0: none), pca_margin,
                  n_samples, data_seed, bn, batch_size
    [directions]  norm, ignore, seed
    [metrics]     n_samples, data_seed, seed, trace_probes, eig_tol, thresholds, window, batch_size, extra
    [figures]     format, style, dpi, draw, member, pair, grid, curves, extra
    [report]      intro, sections, table, [[report.claims]]
    [quick]       what ``--quick`` changes, as tables of the sections above (``train = {epochs = 5}``)

A variable's values are either values of one setting (``name = "depth"``, ``values = [20, 56]``)
or labelled bundles of settings (``values = {none = {}, dropout = {dropout = 0.2}}``). A setting
is a model option, a [train] field, or n_train/seed/normalize of [data]; a name found in more than
one (``seed``) is written with its section: ``model.seed``, ``train.seed``, ``data.seed``. Every
member is one combination of the variables' values.

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
MEMBER_FIGURES = ("contour", "surface", "pca")
PAIR_FIGURES = ("contour", "surface", "lines", "gradient_flow")
GRID_FIGURES = ("contour", "surface")
DATA_SETTINGS = ("n_train", "seed", "normalize")  # [data] fields a member may set for itself
CLAIM_KINDS = ("trend", "order")
TRENDS = ("increasing", "decreasing")


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


def _names(param: str, value: Any) -> Tuple[str, ...]:
    """A list of names -> a tuple of non-empty strings, each once."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v for v in value) or len(set(value)) != len(value):
        raise ValueError(f"The value for `{param}` must be a list of distinct names, but {value!r} was passed.")
    return tuple(value)


def _scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, str)) or (isinstance(v, float) and math.isfinite(v))


def _frozen(v: Any) -> Any:
    """Lists as tuples (hashable, comparable), mappings as sorted item tuples."""
    if isinstance(v, Mapping):
        return tuple((k, _frozen(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    return v


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
        reserved = sorted(set(opts) & {"in_shape", "num_classes", "seed", "name"})
        if reserved:
            raise ValueError(f"[model] cannot set {reserved}: the input shape and "
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
    cells around the minimum) and basin widths at each loss rise in ``thresholds``; ``extra``:
    registered measurements (``landscape.pipeline.measures.MEASURES``) taken of every member too."""

    n_samples: Optional[int] = 512
    data_seed: int = 0
    seed: int = 0
    trace_probes: int = 30
    eig_tol: Optional[float] = None
    thresholds: Tuple[float, ...] = (0.1, 0.5, 1.0)
    window: int = 2
    batch_size: Optional[int] = None
    extra: Tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "extra", _names("metrics.extra", self.extra))
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
    with ``landscape plot/compare`` from the surface files, or rerun with ``draw = true``).

    Which figures: ``member`` (per network: contour, surface, pca), ``pair`` (per compared pair:
    contour and surface on shared scales, lines, gradient_flow), ``grid`` (a study's figure grid,
    rows x cols of members on shared levels: contour, surface), ``curves`` (train and test error
    per epoch of every member, one panel per column value) and ``extra`` (registered figure makers,
    ``landscape.pipeline.figures.MAKERS``)."""

    format: str = "png"
    style: Optional[str] = None
    dpi: Optional[float] = None
    draw: bool = True
    member: Tuple[str, ...] = MEMBER_FIGURES
    pair: Tuple[str, ...] = PAIR_FIGURES
    grid: Tuple[str, ...] = GRID_FIGURES
    curves: bool = True
    extra: Tuple[str, ...] = ()

    def __post_init__(self):
        for key, allowed in (("member", MEMBER_FIGURES), ("pair", PAIR_FIGURES), ("grid", GRID_FIGURES)):
            kinds = _names(f"figures.{key}", getattr(self, key))
            for kind in kinds:
                check_choice(f"figures.{key}", kind, allowed)
            object.__setattr__(self, key, kinds)
        object.__setattr__(self, "extra", _names("figures.extra", self.extra))
        if not isinstance(self.curves, bool):
            raise ValueError(f"The value for `figures.curves` must be true or false, but {self.curves!r} was passed.")
        if not isinstance(self.draw, bool):
            raise ValueError(f"The value for `figures.draw` must be true or false, but {self.draw!r} was passed.")
        check_choice("figures.format", self.format, FIGURE_FORMATS)
        if self.style is not None:
            check_choice("figures.style", self.style, FIGURE_STYLES)
        _number("figures.dpi", self.dpi, 10.0, optional=True)


@dataclass(frozen=True)
class VariableSpec:
    """One variable of a study: its ``name`` and ``values``; every member takes one of them.

    Values of one setting: ``name = "depth"``, ``values = [20, 56, 110]`` (``settings`` is then
    filled in: ``((("depth", 20),), ...)``). Labelled bundles, for a variable that is not one
    setting ("one remedy at a time"): ``values`` are the labels and ``settings`` the settings each
    changes, ``(("none", {}), ("dropout", {"dropout": 0.2}))`` in TOML as
    ``values = {none = {}, dropout = {dropout = 0.2}}``. Which section a setting belongs to (model,
    train, data) is decided when the members are built (``landscape.members``).
    """

    name: str
    values: Tuple[Any, ...]
    settings: Tuple[Tuple[Tuple[str, Any], ...], ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ValueError(f"The value for `study.variables.name` must be a name such as \"depth\", "
                             f"but {self.name!r} was passed.")
        values = self.values
        if isinstance(values, Mapping):  # labelled bundles, as TOML gives them
            settings = tuple(_bundle(self.name, label, v) for label, v in values.items())
            values = tuple(values)
        else:
            settings = tuple(tuple((k, _frozen(x)) for k, x in dict(s).items()) for s in self.settings)
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values \
                or not all(_scalar(v) for v in values) or len(set(map(repr, values))) != len(values):
            raise ValueError(f"The values of study variable `{self.name}` must be a non-empty list of distinct "
                             f"numbers, strings or booleans (or a table of labelled settings), but {self.values!r} "
                             "was passed.")
        values = tuple(values)
        if not settings:
            settings = tuple(((self.name, v),) for v in values)
        elif len(settings) != len(values):
            raise ValueError(f"Study variable `{self.name}`: {len(values)} values but {len(settings)} settings.")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "settings", settings)

    @property
    def bundle(self) -> bool:
        """True when the values are labels of settings rather than values of the setting ``name``."""
        return self.settings != tuple(((self.name, v),) for v in self.values)

    def to_plain(self) -> Dict[str, Any]:
        if not self.bundle:
            return {"name": self.name, "values": list(self.values)}
        return {"name": self.name, "values": {label: {k: _thawed(v) for k, v in s}
                                              for label, s in zip(self.values, self.settings)}}


def _bundle(name: str, label: Any, settings: Any) -> Tuple[Tuple[str, Any], ...]:
    if not isinstance(label, str) or not isinstance(settings, Mapping):
        raise ValueError(f"Study variable `{name}`: a labelled value must be `label = {{setting = value, ...}}`, "
                         f"but {label!r} = {settings!r} was passed.")
    return tuple((k, _frozen(v)) for k, v in settings.items())


def _thawed(v: Any) -> Any:
    return list(_thawed(x) for x in v) if isinstance(v, tuple) else v


@dataclass(frozen=True)
class StudySpec:
    """A grid of members: every combination of the ``variables``' values, built from ``model`` (a
    builder such as "resnet20" or a family such as "resnet") with the config's [model] options.

    compare: the variable whose first value is the reference: each member taking another value of
    it is paired with the reference member equal in every other variable (default: the last
    variable). rows, cols: the variables along the rows and columns of the figure grid (default:
    ``compare`` and the first other variable; cols None with a single variable puts its values
    along one row).
    """

    model: str
    variables: Tuple[VariableSpec, ...]
    compare: Optional[str] = None
    rows: Optional[str] = None
    cols: Optional[str] = None

    def __post_init__(self):
        from landscape import models

        models.resolve(self.model)  # an unknown name fails here, listing close matches
        variables = tuple(self.variables)
        if not variables or not all(isinstance(v, VariableSpec) for v in variables):
            raise ValueError("[study] needs at least one [[study.variables]] table (name = \"depth\", "
                             "values = [20, 56, 110]).")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ValueError(f"Study variables must have distinct names, but {names} were given.")
        object.__setattr__(self, "variables", variables)
        compare = self.compare if self.compare is not None else names[-1]
        check_choice("study.compare", compare, names)
        rows = self.rows if self.rows is not None else compare
        check_choice("study.rows", rows, names)
        others = [n for n in names if n != rows]
        cols = self.cols if self.cols is not None else (others[0] if others else None)
        if cols is not None:
            check_choice("study.cols", cols, others)
        object.__setattr__(self, "compare", compare)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)

    def variable(self, name: str) -> VariableSpec:
        return next(v for v in self.variables if v.name == name)


@dataclass(frozen=True)
class ClaimSpec:
    """A statement the report checks against the numbers and calls confirmed, partly or not.

    kind "trend": ``measure`` (a table column, e.g. "test_error") rises ("increasing") or falls
    ("decreasing") along the variable ``along`` among the members matching ``where`` (variable ->
    value), checked separately for each combination of the remaining variables. kind "order":
    ``measure`` is higher for the members matching ``higher`` than for those matching ``lower``,
    at each combination of the remaining variables. ``text`` is the claim in words (Li et al. 2018:
    "without skip connections, test error grows with depth").
    """

    text: str
    measure: str
    kind: str = "trend"
    along: Optional[str] = None
    direction: str = "increasing"
    where: Tuple[Tuple[str, Any], ...] = ()
    higher: Tuple[Tuple[str, Any], ...] = ()
    lower: Tuple[Tuple[str, Any], ...] = ()

    def __post_init__(self):
        for key in ("text", "measure"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"The value for `report.claims.{key}` must be a non-empty string, "
                                 f"but {getattr(self, key)!r} was passed.")
        check_choice("report.claims.kind", self.kind, CLAIM_KINDS)
        check_choice("report.claims.direction", self.direction, TRENDS)
        for key in ("where", "higher", "lower"):
            value = getattr(self, key)
            object.__setattr__(self, key, tuple(value.items()) if isinstance(value, Mapping) else tuple(
                tuple(x) for x in value))
        if self.kind == "trend" and not self.along:
            raise ValueError(f"Claim {self.text!r}: a trend needs `along`, the variable it runs along.")
        if self.kind == "order" and not (self.higher and self.lower):
            raise ValueError(f"Claim {self.text!r}: an order needs `higher` and `lower` (variable = value tables).")

    def to_plain(self) -> Dict[str, Any]:
        out = {"text": self.text, "measure": self.measure, "kind": self.kind}
        if self.kind == "trend":
            out.update(along=self.along, direction=self.direction)
        for key in ("where", "higher", "lower"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        return out


@dataclass(frozen=True)
class ReportSpec:
    """What ``report.md`` holds: ``intro`` (the study's question, in words, under the title),
    ``sections`` in order (None: the default for pairs or for a grid; names in
    ``landscape.report.SECTIONS``), the columns of the members ``table`` (``landscape.report.COLUMNS``
    and the columns of extra measurements) and the ``claims`` checked against the numbers."""

    intro: str = ""
    sections: Optional[Tuple[str, ...]] = None
    table: Tuple[str, ...] = ("test_error", "train_loss", "lambda_max", "trace", "n_local_minima",
                              "residual_energy")
    claims: Tuple[ClaimSpec, ...] = ()

    def __post_init__(self):
        if not isinstance(self.intro, str):
            raise ValueError(f"The value for `report.intro` must be text, but {self.intro!r} was passed.")
        if self.sections is not None:
            object.__setattr__(self, "sections", _names("report.sections", self.sections))
        object.__setattr__(self, "table", _names("report.table", self.table))
        claims = tuple(c if isinstance(c, ClaimSpec) else _section(ClaimSpec, c, "report.claims")
                       for c in self.claims)
        object.__setattr__(self, "claims", claims)


def _default_pairs() -> Tuple[PairSpec, ...]:
    return (PairSpec("mlp20", "skip"), PairSpec("mlp20", "norm"))


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole study. Its members are a grid (``study``) or pairs (``pairs``; None: the digits
    demo's two mlp20 pairs when there is no ``study``). ``threads`` 0 keeps torch's default;
    ``device`` "auto" picks CUDA when present; ``quick``: what ``--quick`` changes (see :func:`quick`)."""

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
    study: Optional[StudySpec] = None
    report: ReportSpec = field(default_factory=ReportSpec)
    quick: Dict[str, Any] = field(default_factory=dict, hash=False)

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
        _int("threads", self.threads, 0)
        check_choice("precision", self.precision, PRECISIONS)
        _table(self.quick, "quick")
        unknown = sorted(set(self.quick) - set(_TOP) | ({"name", "quick"} & set(self.quick)))
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in [quick]; it holds tables of the settings --quick changes, "
                             f"e.g. train = {{epochs = 5}}.")

    def to_dict(self) -> Dict[str, Any]:
        """Nested plain data (what the TOML holds; None values left out); ``from_dict`` rebuilds it."""
        out: Dict[str, Any] = {"name": self.name, "title": self.title, "device": self.device,
                               "threads": self.threads, "precision": self.precision}
        out["data"] = _plain(self.data)
        out["model"] = {"seed": self.model.seed, **dict(self.model.options)}
        if self.study is not None:
            st = self.study
            out["study"] = {"model": st.model, "compare": st.compare, "rows": st.rows,
                            **({"cols": st.cols} if st.cols is not None else {}),
                            "variables": [v.to_plain() for v in st.variables]}
        else:
            out["pairs"] = [_plain(p) for p in self.pairs]
        out["train"] = self.train.to_dict()
        for key in ("grid", "directions", "metrics", "figures"):
            out[key] = _plain(getattr(self, key))
        r = self.report
        out["report"] = {"intro": r.intro, **({"sections": list(r.sections)} if r.sections is not None else {}),
                         "table": list(r.table), "claims": [c.to_plain() for c in r.claims]}
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
_TOP = ("name", "title", "device", "threads", "precision", "data", "model", "study", "pairs", "train", "grid",
        "directions", "metrics", "figures", "report", "quick")


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
    kw: Dict[str, Any] = {k: d[k] for k in ("name", "title", "device", "threads", "precision") if k in d}
    data_spec = _section(DataSpec, d.get("data", {}), "data")
    kw["data"] = data_spec
    model = _table(d.get("model", {}), "model")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in model.items() if k != "seed"}
    kw["model"] = ModelSpec(seed=model.get("seed", 0), options=tuple(options.items()))
    if "study" in d:
        st = dict(_table(d["study"], "study", StudySpec))
        st["variables"] = tuple(_section(VariableSpec, v, "study.variables") for v in _array(
            st, "variables", '[[study.variables]] name = "depth" values = [20, 56]'))
        kw["study"] = StudySpec(**st)
    if "pairs" in d:
        kw["pairs"] = tuple(_section(PairSpec, p, "pairs") for p in _array(
            d, "pairs", '[[pairs]] model = "mlp20" vary = "skip"'))
    kw["train"] = recommended(data_spec.dataset, **_table(d.get("train", {}), "train", TrainConfig))
    for key in ("grid", "directions", "metrics", "figures"):
        if key in d:
            kw[key] = _section(_SECTIONS[key], d[key], key)
    if "report" in d:
        kw["report"] = _section(ReportSpec, d["report"], "report")
    if "quick" in d:
        kw["quick"] = dict(_table(d["quick"], "quick"))
    config = ExperimentConfig(**kw)
    _check_models(config)
    _check_names(config)
    return config


def _check_models(config: ExperimentConfig) -> None:
    """Fail before any work if a member cannot be built (no such switch or option, a setting that
    belongs nowhere, a variable also fixed in [model])."""
    from landscape import members, models

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
    from landscape import report
    from landscape.pipeline import figures, load_plugins, measures

    load_plugins()
    measures.check(config.metrics.extra)
    figures.check(config.figures.extra)
    if config.report.sections is not None:
        for name in config.report.sections:
            check_choice("report.sections", name, list(report.SECTIONS))
    columns = report.columns(measures.columns(config.metrics.extra))
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
    grid = dataclasses.replace(g, plane=(g.plane[0], g.plane[1], min(g.plane[2], 21)),
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
    lines = [f"{k} = {_toml_value(d[k])}" for k in ("name", "title", "device", "threads", "precision")]
    for section in ("data", "model", "study"):
        if section in d:
            _toml_table(section, d[section], lines)
    for p in d.get("pairs", []):
        _toml_table("pairs", p, lines, "[[{}]]")
    for section in ("train", "grid", "directions", "metrics", "figures", "report", "quick"):
        if section in d:
            _toml_table(section, d[section], lines)
    return "\n".join(lines) + "\n"
