"""The whole study as one resumable pipeline: train -> surfaces -> sharpness -> figures -> report.

    config = landscape.study.load_config("li2018-mnist1d-resnet.toml")   # or demo_config(), quick(config)
    result = landscape.experiment.run(config, "runs/depth")
    result.timings, result.reused, result.summary["members"]["resnet56_noskip"]["lambda_max"]

A study's members are a grid of variables (depth x skip, activation x depth, ...) or pairs that
differ in one switch (``landscape.members``); a network shared by two pairs is trained and
measured once. Each stage is a module of :mod:`landscape.pipeline`:

1. **train** — ``landscape.train.fit`` into ``OUT/runs/<member>/`` (members differing in one
   variable share seed, initial weights and data order). Finished runs with the same settings are
   reused, interrupted ones resumed.
2. **surfaces** — planes, lines and PCA-trajectory planes into ``OUT/surfaces/``, along directions
   drawn with one seed for every member (Li et al. 2018, sec. 4 and 7); resumable.
3. **sharpness** — Hessian λmax and trace (``OUT/sharpness/<member>.json``), grid curvature, basin
   widths and roughness (the surface file's ``metrics/``), registered extra measures.
4. **figures** — per member, per pair, the study's figure grid (Li et al. Fig. 5) and training
   curves, into ``OUT/figures/``; a figure whose inputs have not changed is not redrawn.
5. **report** — ``OUT/report.md`` (``landscape.report``), ``OUT/summary.json`` (every number, for
   programs and tests) and ``OUT/config.toml`` (the exact config, to rerun with ``landscape experiment``).

With ``workers = N`` (N > 1) on a CPU, N processes first do stages 1-3 for whole members at once
(``landscape.pipeline.workers``); the stages then find that work finished. ``fresh=True`` redoes everything. Each stage's time is in ``Result.timings``. The library does not
print: pass ``echo`` (e.g. ``click.echo``) to hear about stages; progress bars go to stderr.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from landscape.base import atomic
from landscape.storage import rundir

from .config import ExperimentConfig, PathLike, to_toml
from .members import Member, Pair, build_members
from .pipeline import figures, load_plugins, measures, surfaces, training, workers
from .pipeline.context import STAGES, Context
from .pipeline.summary import SHARPNESS_MEASURES, compare_members, summarize
from .pipeline.surfaces import pca_axes

_STAGE_RUNNERS = {"train": training.run, "surfaces": surfaces.run, "sharpness": measures.run,
                  "figures": figures.run, "report": lambda ctx: ctx.computed["report"].extend(
                      ["report.md", "summary.json", "config.toml"])}


@dataclass
class Result:
    """What :func:`run` returns.

    out: the output directory; summary: the content of ``summary.json``; timings: seconds per stage
    (and "total"); reused / computed: per stage, the items (runs, surface files, figures …) that were
    found finished / were made in this run; report: path of ``report.md``.
    """

    out: Path
    summary: Dict[str, Any]
    timings: Dict[str, float]
    reused: Dict[str, List[str]]
    computed: Dict[str, List[str]]
    report: Path


def run(config: ExperimentConfig, out: PathLike, fresh: bool = False, progress_bars: bool = True,
        echo: Optional[Callable[[str], None]] = None) -> Result:
    """Run (or finish) the study ``config`` in ``out``; see the module docstring for the stages.

    Args:
        config: the study (``landscape.study.load_config`` / ``demo_config`` / ``quick``).
        out: output directory (created). Finished work found there is reused.
        fresh: redo every stage, replacing what ``out`` holds.
        progress_bars: progress bars on stderr during training, surfaces and measurements.
        echo: called with one line per stage event (None: silent; logging still gets them).

    Returns:
        A :class:`Result` (timings, what was reused or computed, the summary, the report's path).

    Raises:
        ValueError: a setting that cannot work (dataset, model option, device), or files in ``out``
            that are not what the pipeline wrote there.
    """
    load_plugins()
    out = Path(out)
    start = time.perf_counter()
    ctx = Context(config, out, fresh, progress_bars, echo)  # fails on bad settings before writing
    if not fresh:
        check_same_study(out, config.name)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"Cannot create the output directory {str(out)!r}: {exc.strerror}.") from None
    # the study's name goes in first, so an interrupted run's directory already says whose it is
    atomic.write_text(out / "config.toml", to_toml(config))
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    ctx.threads = torch.get_num_threads()  # what the numbers were computed with (for the report)
    try:
        t0 = time.perf_counter()
        if workers.run(ctx):
            ctx.timings["members"] = time.perf_counter() - t0
            ctx.fresh = False  # the workers redid what --fresh asks; the stages now find it done
        for stage in STAGES:
            t0 = time.perf_counter()
            _STAGE_RUNNERS[stage](ctx)
            if stage == "report":
                _write_outputs(ctx)
            ctx.timings[stage] = time.perf_counter() - t0
            done, kept = len(ctx.computed[stage]), len(ctx.reused[stage])
            ctx.say(f"[{stage}] {ctx.timings[stage]:.1f}s ({done} made, {kept} reused)")
    finally:
        torch.set_num_threads(threads)
    ctx.timings["total"] = time.perf_counter() - start
    summary = _write_outputs(ctx)  # again, now with the report's time and the total
    return Result(out, summary, dict(ctx.timings), ctx.reused, ctx.computed, out / "report.md")


def check_same_study(out: Path, name: str) -> None:
    """ValueError if ``out`` holds another study (its ``config.toml`` names another study, or the
    same study with or without ``--quick``, whose config is named NAME-quick): running there would
    replace that study's report, config and figures and mix two studies' runs under one report."""
    path = Path(out) / "config.toml"
    if not path.is_file():
        return
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    try:
        held = tomllib.loads(path.read_text(encoding="utf-8")).get("name")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        held = None
    if held is None:
        raise ValueError(f"{str(out)!r} has a config.toml that names no study; choose another --out, or pass --fresh "
                         f"(fresh=True) to run {name!r} there, replacing its report.")
    if held == name:
        return
    base = name.removesuffix("-quick")
    if held.removesuffix("-quick") == base:
        what = (f"a --quick run of {base!r}, and this is the full run" if held.endswith("-quick")
                else f"the full run of {base!r}, and this is a --quick run")
    else:
        what = f"the study {held!r}, and this is {name!r}"
    raise ValueError(f"{str(out)!r} holds {what}: running here would replace its report and mix the two. "
                     "Choose another --out, or pass --fresh (fresh=True) to replace it.")


def _write_outputs(ctx: Context) -> Dict[str, Any]:
    from . import report

    summary = summarize(ctx)
    rundir.write_json(summary, ctx.out / "summary.json")
    atomic.write_text(ctx.out / "config.toml", to_toml(ctx.config))
    atomic.write_text(ctx.out / "report.md", report.render(summary))
    return summary


__all__ = ["run", "Result", "Member", "Pair", "build_members", "compare_members", "pca_axes", "summarize",
           "STAGES", "SHARPNESS_MEASURES"]
