"""The members of a study: the networks a config describes, what each trains on and with, and the
pairs the report compares.

    plans = plan(config)                                  # settings only, nothing built (validation)
    members, pairs = build_members(config, in_shape=(1, 40), num_classes=10)
    members["resnet56_noskip"].train.batch_size, members["resnet56_noskip"].coords   # {"depth": 56, "skip": False}

A grid study (``[study]``) has one member per combination of its variables' values, the first
variable outermost (depth x skip: resnet20, resnet20_noskip, resnet56, ...). A value's settings go
to the section that owns them: a model option (depth, skip, norm, activation, dropout, width, and
``model.seed``), a :class:`~landscape.train.TrainConfig` field (batch_size, weight_decay, augment,
patience, val_fraction, lr, ...), or a [data] field of :data:`~landscape.study.DATA_SETTINGS`
(n_train, seed, normalize). Everything a member does not set is the config's, so members that
differ in one variable share seed, initial weights (when their shapes agree) and data order.

Replicates (``[study] seeds``): every member once per seed, named ``<member>_s<seed>``, with
``model.seed`` and ``train.seed`` set to that seed and nothing else changed; ``group`` names the
member a replicate belongs to; the pairs pair replicates of one seed, and the figure grids show the
first seed's (see ``landscape.studies.replicates``).

Pairs: in a grid, each member whose ``compare`` value is not the first is paired with the member
equal in every other variable that takes the first value (the reference). A pairs config
(``[[pairs]]``) builds its members with ``models.pair``; a network shared by two pairs (mlp20 in
the skip and the norm pair) is one member, trained once.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import torch

from landscape.storage import rundir
from landscape.training.trainconfig import TrainConfig

from .specs import DATA_SETTINGS, DataSpec, StudySpec

if TYPE_CHECKING:  # the config module builds on this one (it checks a config by planning its members)
    from .config import ExperimentConfig

SECTIONS = ("model", "train", "data")
# variable -> short label prefix in member names (resnet20_bs32); others use the variable's name
SHORT = {"batch_size": "bs", "weight_decay": "wd", "n_train": "n", "dropout": "drop", "width": "w",
         "val_fraction": "val"}
_NOT_SETTABLE = ("in_shape", "num_classes")


@dataclass
class Member:
    """One network of the study: its name (``resnet56_noskip``), model spec, initial model, the
    training recipe and data it gets, and its value of each study variable (``coords``; empty for
    the members of a pairs config)."""

    name: str
    spec: Dict[str, Any]
    model: torch.nn.Module = field(repr=False)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataSpec = field(default_factory=DataSpec)
    coords: Dict[str, Any] = field(default_factory=dict)
    group: str = ""               # the member this is a replicate of (its own name without seeds)
    seed: Optional[int] = None    # the replicate's training seed (None: no replicates)

    def __post_init__(self):
        self.group = self.group or self.name


@dataclass(frozen=True)
class Pair:
    """Two members differing in ``vary``: ``with_`` is the reference (the feature on, or the
    variable's first value), ``without`` the other one."""

    vary: str
    with_: str
    without: str

    @property
    def name(self) -> str:
        return f"{self.with_}_vs_{self.without}"


@dataclass(frozen=True)
class Plan:
    """One member of a grid before it is built: its variable values and the settings they give."""

    coords: Tuple[Tuple[str, Any], ...]
    model: Dict[str, Any]
    train: TrainConfig
    data: DataSpec


def settable(model_options: Dict[str, Any]) -> Dict[str, List[str]]:
    """The settings a member may change, per section."""
    return {"model": [k for k in model_options if k not in _NOT_SETTABLE],
            "train": [f.name for f in dataclasses.fields(TrainConfig)],
            "data": list(DATA_SETTINGS)}


def resolve_setting(key: str, model_options: Dict[str, Any]) -> Tuple[str, str]:
    """``(section, field)`` of a member setting such as "depth", "batch_size" or "train.seed".

    Raises ValueError for a name no section has, or one several have (``seed``) without its section.
    """
    allowed = settable(model_options)
    if "." in key:
        section, name = key.split(".", 1)
        if section not in SECTIONS or name not in allowed[section]:
            raise ValueError(f"Unknown member setting {key!r}; a section's settings: "
                             + "; ".join(f"{s}: {', '.join(allowed[s])}" for s in SECTIONS) + ".")
        return section, name
    found = [s for s in SECTIONS if key in allowed[s]]
    if not found:
        raise ValueError(f"Unknown member setting {key!r}: it is no model option ({', '.join(allowed['model'])}), "
                         f"no [train] field and none of [data]'s {', '.join(DATA_SETTINGS)}.")
    if len(found) > 1:
        raise ValueError(f"Member setting {key!r} is in several sections; write "
                         f"{' or '.join(repr(f'{s}.{key}') for s in found)}.")
    return found[0], key


def plan(config: ExperimentConfig) -> List[Plan]:
    """The members of a grid study, as settings (ValueError for any setting that cannot work)."""
    from landscape import models

    study = config.study
    fixed = dict(config.model.options)
    _, options = models.resolve(study.model, **fixed)
    plans = []
    for combo in itertools.product(*(range(len(v.values)) for v in study.variables)):
        kw: Dict[str, Dict[str, Any]] = {"model": dict(fixed, seed=config.model.seed), "train": {}, "data": {}}
        coords = []
        for var, i in zip(study.variables, combo):
            coords.append((var.name, var.values[i]))
            for key, value in var.settings[i]:
                section, name = resolve_setting(key, options)
                if section == "model" and name in fixed:
                    raise ValueError(f"Study variable `{var.name}` sets {name!r}, which [model] fixes; "
                                     "leave it out of [model].")
                kw[section][name] = list(value) if isinstance(value, tuple) else value
        where = ", ".join(f"{k} = {v!r}" for k, v in coords)
        try:
            train = dataclasses.replace(config.train, **kw["train"])
            data = dataclasses.replace(config.data, **kw["data"])
            models.info(study.model, **kw["model"])  # builds on the meta device: bad values fail here
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The member with {where} cannot be built: {exc}") from None
        plans.append(Plan(tuple(coords), kw["model"], train, data))
    return plans


def build_members(config: ExperimentConfig, in_shape: Tuple[int, ...], num_classes: int
                  ) -> Tuple[Dict[str, Member], List[Pair]]:
    """The distinct networks of ``config`` (seeded) and the pairs naming them; with ``config.seeds``,
    one replicate of each per seed (member by member, in seed order) and the pairs of each seed."""
    build = _grid_members if config.study is not None else _pair_members
    if not config.seeds:
        return build(config, tuple(in_shape), int(num_classes))
    _check_seed_variables(config)
    by_seed = []
    for seed in config.seeds:
        one = dataclasses.replace(config, seeds=(), model=dataclasses.replace(config.model, seed=seed),
                                  train=dataclasses.replace(config.train, seed=seed))
        by_seed.append((seed, *build(one, tuple(in_shape), int(num_classes))))
    members: Dict[str, Member] = {}
    for name in by_seed[0][1]:
        for seed, ms, _ in by_seed:
            rep = replicate_name(name, seed)
            members[rep] = dataclasses.replace(ms[name], name=rep, group=name, seed=seed)
    pairs = [Pair(p.vary, replicate_name(p.with_, seed), replicate_name(p.without, seed))
             for seed, _, ps in by_seed for p in ps]
    return members, pairs


def replicate_name(member: str, seed: int) -> str:
    """The name of ``member``'s replicate trained with ``seed``: ``resnet56_noskip_s1``."""
    return f"{member}_s{seed}"


def _check_seed_variables(config: ExperimentConfig) -> None:
    """``seeds`` set the model and training seeds of every replicate: a variable may not set them too."""
    for var in (config.study.variables if config.study is not None else ()):
        for settings in var.settings:
            for key, _ in settings:
                if key in ("model.seed", "train.seed"):
                    raise ValueError(f"Study variable `{var.name}` sets {key!r}, which `study.seeds` sets for every "
                                     "replicate; leave one of them out.")


def groups(members: Dict[str, Member]) -> Dict[str, List[str]]:
    """Member name -> the names of its replicates in seed order (``[name]`` without seeds)."""
    out: Dict[str, List[str]] = {}
    for name, m in members.items():
        out.setdefault(m.group, []).append(name)
    return out


def shown(members: Dict[str, Member]) -> Dict[str, Member]:
    """The members the figures show: every member, or each member's first replicate."""
    seen: set = set()
    out: Dict[str, Member] = {}
    for name, m in members.items():
        if m.group not in seen:
            seen.add(m.group)
            out[name] = m
    return out


def _grid_members(config: ExperimentConfig, in_shape, num_classes) -> Tuple[Dict[str, Member], List[Pair]]:
    from landscape import models

    study = config.study
    members: Dict[str, Member] = {}
    by_coords: Dict[Tuple, str] = {}
    for p in plan(config):
        net = models.create(study.model, in_shape=in_shape, num_classes=num_classes, **p.model)
        spec = _json(models.spec(net))
        name = _unique(members, member_name(spec, net, p.coords, study), spec, p.train, p.data)
        members.setdefault(name, Member(name, spec, net, p.train, p.data, dict(p.coords)))
        by_coords[p.coords] = name
    pairs: List[Pair] = []
    reference = study.variable(study.compare).values[0]
    for coords, name in by_coords.items():
        value = dict(coords)[study.compare]
        if value == reference and type(value) is type(reference):
            continue
        ref = tuple((k, reference if k == study.compare else v) for k, v in coords)
        pair = Pair(study.compare, by_coords[ref], name)
        if pair not in pairs:
            pairs.append(pair)
    return members, pairs


def _pair_members(config: ExperimentConfig, in_shape, num_classes) -> Tuple[Dict[str, Member], List[Pair]]:
    from landscape import models

    members: Dict[str, Member] = {}
    pairs: List[Pair] = []
    build = {"in_shape": in_shape, "num_classes": num_classes, "seed": config.model.seed, **dict(config.model.options)}
    for p in config.pairs:
        names = []
        for net in models.pair(p.model, vary=p.vary, **build):
            spec = _json(models.spec(net))
            name = _unique(members, rundir.display_name(spec, net), spec, config.train, config.data)
            members.setdefault(name, Member(name, spec, net, config.train, config.data))
            names.append(name)
        pair = Pair(p.vary, names[0], names[1])
        if pair not in pairs:
            pairs.append(pair)
    return members, pairs


def _unique(members: Dict[str, Member], base: str, spec, train, data) -> str:
    """``base``, or ``base-2``, ``base-3``... when another member with other settings has that name."""
    name, k = base, 2
    while name in members and (members[name].spec, members[name].train, members[name].data) != (spec, train, data):
        name, k = f"{base}-{k}", k + 1
    return name


def member_name(spec: Dict[str, Any], net, coords, study: StudySpec) -> str:
    """``resnet56_noskip`` (what the display name shows: family, depth, no skip, no norm) plus a
    label for each variable it does not show: ``resnet20_tanh``, ``resnet20_batch_bs32``,
    ``mlp20_dropout`` (a bundle's label)."""
    parts = [rundir.display_name(spec, net)]
    for var, value in coords:
        variable = study.variable(var)
        key = var.split(".")[-1]
        shown = key in ("depth", "skip") or (key == "norm" and value == "none")
        if not variable.bundle and shown:
            continue
        parts.append(value_label(key, value, variable.bundle))
    return re.sub(r"[^A-Za-z0-9_.-]", "-", "_".join(parts))


def value_label(key: str, value: Any, bundle: bool = False) -> str:
    """A short label for one variable value: "tanh", "bs32", "noaugment", a bundle's label."""
    if bundle or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return key if value else f"no{key}"
    return f"{SHORT.get(key, key)}{value:g}"


@dataclass(frozen=True)
class Grid:
    """Members laid out as a study's figure grid: ``cells[r * len(cols) + c]`` is the member with
    the ``r``-th value of the row variable and the ``c``-th of the column variable (None: no
    such member), at the values ``fixed`` of any other variables. ``cols`` is ``(None,)`` when
    the study has no column variable. ``name``: "grid", or "grid_<labels of fixed>"."""

    name: str
    fixed: Tuple[Tuple[str, Any], ...]
    rows: Tuple[Any, ...]
    cols: Tuple[Any, ...]
    cells: Tuple[Optional[str], ...]
    row_labels: Tuple[str, ...]
    col_labels: Tuple[str, ...]


def grids(members: Dict[str, Member], study: StudySpec) -> List[Grid]:
    """The figure grids of a study: one, or one per combination of the variables that are neither
    rows nor columns. With replicates, each member's first seed fills the grid."""
    by_coords = {tuple(sorted(m.coords.items())): name for name, m in shown(members).items()}
    rows = study.variable(study.rows)
    cols = study.variable(study.cols) if study.cols else None
    others = [v for v in study.variables if v.name not in (study.rows, study.cols)]
    out = []
    for fixed in itertools.product(*([(v.name, x) for x in v.values] for v in others)):
        cells = []
        for r in rows.values:
            for c in (cols.values if cols else (None,)):
                coords = dict(fixed, **{rows.name: r}, **({cols.name: c} if cols else {}))
                cells.append(by_coords.get(tuple(sorted(coords.items()))))
        label = "_".join(value_label(k.split(".")[-1], v, study.variable(k).bundle) for k, v in fixed)
        out.append(Grid("grid" + (f"_{label}" if label else ""), tuple(fixed), rows.values,
                        cols.values if cols else (None,), tuple(cells),
                        tuple(axis_label(rows.name, r, rows.bundle) for r in rows.values),
                        tuple(axis_label(cols.name, c, cols.bundle) for c in cols.values) if cols else ("",)))
    return out


def axis_label(var: str, value: Any, bundle: bool = False) -> str:
    """Words for one value beside a grid's row or above its column: "depth 56", "no skip", "activation tanh"."""
    key = var.split(".")[-1].replace("_", " ")
    if bundle:  # a bundle's label: a word says itself ("dropout_0.1"), a bare number needs its variable's name
        return f"{key} {value}" if str(value).replace(".", "", 1).isdigit() else str(value)
    if isinstance(value, str):
        return f"{key} {value}"
    if isinstance(value, bool):
        return key if value else f"no {key}"
    return f"{key} {value:g}"


def _json(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists), so saved and new settings compare equal."""
    return json.loads(json.dumps(obj))


__all__ = ["Member", "Pair", "Plan", "Grid", "plan", "build_members", "grids", "member_name", "value_label",
           "axis_label", "resolve_setting", "replicate_name", "groups", "shown"]
