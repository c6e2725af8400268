"""The sections of a study config: one frozen, validated dataclass per TOML table.

``landscape.study`` assembles them into an :class:`~landscape.study.ExperimentConfig` and reads and
writes the TOML; this module only knows what each section may hold. Every check raises a
one-line ValueError naming the setting, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from landscape.base.errors import check_choice, check_int, check_number

Range = Tuple[float, float, int]

VARY = ("skip", "norm")
DIRECTION_NORMS = ("filter", "layer", "weight", "none")
IGNORES = ("biasbn", "none")
BN_MODES = ("eval", "recompute")
PRECISIONS = ("fp32",)
FIGURE_FORMATS = ("png", "pdf", "svg")
FIGURE_STYLES = ("paper", "slides")
SURFACE_KINDS = ("plane", "line", "pca")
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
        check_int("data.n_train", self.n_train, 2, optional=True)
        check_int("data.seed", self.seed, 0)
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
        check_int("model.seed", self.seed, 0)
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
    each split (None: all of it); bn: "eval" or "recompute" (``landscape.surface.compute``);
    test_on: the surfaces that are also evaluated on the test split (the others on the training
    data only, for half the time: Li et al.'s contours are of the training loss); planes: direction
    sets per plane and line (seeds ``directions.seed``, +1, ...), passed to
    ``landscape.core.surface.compute(planes=)``, so grid metrics come with their spread over planes;
    adaptive: sample
    the random plane with a budget of this many evaluations instead of every cell, the rest
    interpolated (``landscape.core.adaptive``; None: the whole grid).
    """

    plane: Range = (-1.0, 1.0, 31)
    line: Range = (-1.0, 1.0, 51)
    pca: int = 21
    pca_margin: float = 0.2
    n_samples: Optional[int] = None
    data_seed: int = 0
    bn: str = "eval"
    batch_size: Optional[int] = None
    test_on: Tuple[str, ...] = SURFACE_KINDS
    planes: int = 1
    adaptive: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "test_on", _names("grid.test_on", self.test_on))
        for kind in self.test_on:
            check_choice("grid.test_on", kind, SURFACE_KINDS)
        object.__setattr__(self, "plane", _range("grid.plane", self.plane))
        object.__setattr__(self, "line", _range("grid.line", self.line))
        if self.pca != 0:
            check_int("grid.pca", self.pca, 2)
        check_number("grid.pca_margin", self.pca_margin, 0.0)
        check_int("grid.n_samples", self.n_samples, 1, optional=True)
        check_int("grid.data_seed", self.data_seed, 0)
        check_choice("grid.bn", self.bn, BN_MODES)
        check_int("grid.batch_size", self.batch_size, 1, optional=True)
        check_int("grid.planes", self.planes, 1)
        if self.planes > 1:
            import inspect

            from landscape.core.surface import compute

            if "planes" not in inspect.signature(compute).parameters:
                raise ValueError(f"grid.planes = {self.planes} needs landscape.core.surface.compute(planes=...), "
                                 "which this version lacks; set grid.planes = 1.")
        if self.adaptive is not None:
            from landscape.core.adaptive import check

            check(self.adaptive, (self.plane[2], self.plane[2]), "grid.adaptive")


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
        check_int("directions.seed", self.seed, 0)


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
        check_int("metrics.n_samples", self.n_samples, 1, optional=True)
        check_int("metrics.data_seed", self.data_seed, 0)
        check_int("metrics.seed", self.seed, 0)
        check_int("metrics.trace_probes", self.trace_probes, 2)
        check_number("metrics.eig_tol", self.eig_tol, 0.0, strict=True, optional=True)
        th = self.thresholds
        if not isinstance(th, (list, tuple)) or not th:
            raise ValueError(f"The value for `metrics.thresholds` must be a list of loss rises such as [0.1, 0.5], "
                             f"but {th!r} was passed.")
        for t in th:
            check_number("metrics.thresholds", t, 0.0, strict=True)
        object.__setattr__(self, "thresholds", tuple(float(t) for t in th))
        check_int("metrics.window", self.window, 1)
        check_int("metrics.batch_size", self.batch_size, 1, optional=True)


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
        check_number("figures.dpi", self.dpi, 10.0, optional=True)


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
    and the columns of extra measurements) and the ``claims`` checked against the numbers.
    ``margin``: when set, a claim's difference votes only when larger than the noise: accuracies by
    two binomial standard errors, other numbers by this fraction of the larger one
    (:func:`landscape.studies.claims.noise`); None: every difference votes (basin widths: beyond one cell)."""

    intro: str = ""
    sections: Optional[Tuple[str, ...]] = None
    table: Tuple[str, ...] = ("test_error", "train_loss", "lambda_max", "trace", "n_local_minima",
                              "residual_energy")
    claims: Tuple[ClaimSpec, ...] = ()
    margin: Optional[float] = None

    def __post_init__(self):
        if not isinstance(self.intro, str):
            raise ValueError(f"The value for `report.intro` must be text, but {self.intro!r} was passed.")
        if self.margin is not None and not (isinstance(self.margin, (int, float)) and not isinstance(self.margin, bool)
                                            and 0 <= self.margin < 1):
            raise ValueError(f"The value for `report.margin` must be a number in [0, 1), e.g. 0.2, but "
                             f"{self.margin!r} was passed.")
        if self.sections is not None:
            object.__setattr__(self, "sections", _names("report.sections", self.sections))
        object.__setattr__(self, "table", _names("report.table", self.table))
        claims = tuple(c if isinstance(c, ClaimSpec) else read_section(ClaimSpec, c, "report.claims")
                       for c in self.claims)
        object.__setattr__(self, "claims", claims)


def read_table(values: Any, where: str, cls=None, extra: Tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``values`` if it is a table (of ``cls``'s fields and the ``extra`` keys only, when given); else a
    one-line ValueError."""
    if not isinstance(values, Mapping):
        raise ValueError(f"[{where}] must be a table of settings, but {values!r} was given.")
    if cls is not None:
        known = [f.name for f in dataclasses.fields(cls)] + list(extra)
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in [{where}]; allowed: {known}.")
    return values


def read_section(cls, values: Any, where: str):
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in read_table(values, where, cls).items()})
