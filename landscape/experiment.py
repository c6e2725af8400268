"""The whole study as one resumable pipeline: train -> surfaces -> sharpness -> figures -> report.

    config = landscape.study.demo_config()          # or load_config("my.toml"), quick(config)
    result = landscape.experiment.run(config, "landscape-demo")
    result.timings, result.reused, result.summary["members"]["mlp20"]["lambda_max"]

What each stage does, per network ("member") of the config's pairs (a network shared by two pairs,
e.g. mlp20 in both the skip and the norm pair, is trained and measured once):

1. **train** — ``landscape.train.fit`` into ``OUT/runs/<member>/`` (same seed, initial weights and
   data order for both members of a pair). A run with ``final.pt`` and the same settings in its
   ``config.json`` is reused; an interrupted one is resumed; one with other settings is redone.
2. **surfaces** — ``landscape.surface.compute`` into ``OUT/surfaces/``: a 2D plane and a 1D line along
   filter-normalized random directions drawn with one seed (so both members of a pair are cut along
   the same directions: same draws, each scaled to its own filters; Li et al. 2018, sec. 4), train
   and test values; and a plane through the PCA directions of the training trajectory with the path
   (sec. 7). A file holding the same job with every cell done is reused; a partial one is resumed.
3. **sharpness** — Hessian top eigenvalue and Hutchinson trace on a seeded training subset
   (``landscape.sharpness``), into ``OUT/sharpness/<member>.json``; grid curvature and basin widths of
   the 2D train loss (``landscape.geometry.grid_metrics``), stored in the surface file's ``metrics/``.
4. **figures** — ``landscape.plot`` into ``OUT/figures/``: per member a contour, a 3D surface and the
   PCA plane with its path; per pair the 2D comparison (contours and 3D, on shared scales), the 1D
   curves and the gradient flow. A figure whose inputs have not changed is not redrawn.
5. **report** — ``OUT/report.md`` (``landscape.report``), ``OUT/summary.json`` (every number, for
   programs and tests) and ``OUT/config.toml`` (the exact config, to rerun with ``landscape experiment``).

``fresh=True`` redoes everything. Each stage's time is in ``Result.timings``. The library does not
print: pass ``echo`` (e.g. ``click.echo``) to hear about stages; progress bars go to stderr.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from . import atomic, checkpoint, io, progress, rundir
from .study import ExperimentConfig, PathLike, to_toml

log = logging.getLogger(__name__)

STAGES = ("train", "surfaces", "sharpness", "figures", "report")
SURFACE_KINDS = ("plane", "line", "pca")
SUMMARY_VERSION = 1


# --------------------------------------------------------------------------------------------------
# members and pairs


@dataclass
class Member:
    """One network of the study: its display name (``mlp20_noskip``), model spec and initial model."""

    name: str
    spec: Dict[str, Any]
    model: torch.nn.Module = field(repr=False)


@dataclass(frozen=True)
class Pair:
    """Two members differing in ``vary``: ``with_`` has the feature, ``without`` lacks it."""

    vary: str
    with_: str
    without: str

    @property
    def name(self) -> str:
        return f"{self.with_}_vs_{self.without}"


def build_members(config: ExperimentConfig, in_shape: Tuple[int, ...], num_classes: int
                  ) -> Tuple[Dict[str, Member], List[Pair]]:
    """The distinct networks of ``config.pairs`` (built with ``models.pair``, seeded) and the pairs
    naming them. Members with equal specs are one member (trained once)."""
    from landscape import models

    members: Dict[str, Member] = {}
    pairs: List[Pair] = []
    build = {"in_shape": tuple(in_shape), "num_classes": int(num_classes), "seed": config.model.seed,
             **dict(config.model.options)}
    for p in config.pairs:
        names = []
        for net in models.pair(p.model, vary=p.vary, **build):
            spec = _json(models.spec(net))
            name = base = rundir.display_name(spec, net)
            k = 2
            while name in members and members[name].spec != spec:
                name, k = f"{base}-{k}", k + 1  # same display name, other options: keep both apart
            members.setdefault(name, Member(name, spec, net))
            names.append(name)
        pair = Pair(p.vary, names[0], names[1])
        if pair not in pairs:
            pairs.append(pair)
    return members, pairs


def _json(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists), so saved and new settings compare equal."""
    return json.loads(json.dumps(obj))


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(_json(obj), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FigureJob:
    """One figure: who it belongs to (member or pair), its kind, file, inputs (surface files, or run
    directories for gradient flow) and how to draw it (``how["fn"]``: a ``landscape.plot`` function,
    the rest its keyword arguments; JSON-able, so a changed recipe is noticed)."""

    owner: str
    kind: str
    path: Path
    inputs: Tuple[Path, ...]
    how: Dict[str, Any]

    def stamped(self) -> List[Path]:
        """The files whose change makes the figure stale."""
        if self.how["fn"] == "gradient_flow":
            return [p / name for p in self.inputs for name in ("gradient_flow.json", "history.json")]
        return list(self.inputs)

    def draw(self, plot) -> Any:
        kw = {k: v for k, v in self.how.items() if k != "fn"}
        if self.how["fn"] == "draw":
            kind = kw.pop("kind")
            return plot.draw(io.load(self.inputs[0]), kind, "train_loss", **kw)
        if self.how["fn"] == "compare":
            return plot.compare([io.load(p) for p in self.inputs], **kw)
        return plot.gradient_flow([rundir.load_history(p) for p in self.inputs])


# --------------------------------------------------------------------------------------------------
# result


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


# --------------------------------------------------------------------------------------------------
# the pipeline


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
    pipeline = _Pipeline(config, Path(out), fresh, progress_bars, echo)
    return pipeline.run()


class _Pipeline:
    def __init__(self, config: ExperimentConfig, out: Path, fresh: bool, progress_bars: bool,
                 echo: Optional[Callable[[str], None]]):
        self.config, self.out, self.fresh, self.bars = config, out, fresh, progress_bars
        self._echo = echo
        self.timings: Dict[str, float] = {}
        self.reused: Dict[str, List[str]] = {s: [] for s in STAGES}
        self.computed: Dict[str, List[str]] = {s: [] for s in STAGES}
        self.runs: Dict[str, Dict[str, Any]] = {}        # member -> training outcome
        self.surfaces: Dict[str, Dict[str, Path]] = {}   # member -> kind -> file
        self.sharp: Dict[str, Dict[str, Any]] = {}       # member -> measurements
        self.notes: Dict[str, List[str]] = {}            # member -> things the report must say
        self.figures: Dict[str, Dict[str, Path]] = {}    # member or pair name -> figure kind -> file
        self._data: Dict[tuple, Tuple[torch.Tensor, torch.Tensor]] = {}

    def say(self, msg: str) -> None:
        log.info(msg)
        if self._echo is not None:
            self._echo(msg)

    # -- setup ------------------------------------------------------------------------------------
    def run(self) -> Result:
        from landscape import data

        c = self.config
        start = time.perf_counter()
        # everything that can fail on a setting fails before anything is written
        self.device = _device(c.device)
        self.info = data.info(c.data.dataset, c.data.root)
        self.members, self.pairs = build_members(c, self.info["input_shape"], self.info["num_classes"])
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"Cannot create the output directory {str(self.out)!r}: {exc.strerror}.") from None
        threads = torch.get_num_threads()
        if c.threads:
            torch.set_num_threads(c.threads)
        self.threads = torch.get_num_threads()  # what the numbers were computed with (for the report)
        try:
            for stage in STAGES:
                t0 = time.perf_counter()
                getattr(self, f"stage_{stage}")()
                self.timings[stage] = time.perf_counter() - t0
                done, kept = len(self.computed[stage]), len(self.reused[stage])
                self.say(f"[{stage}] {self.timings[stage]:.1f}s ({done} made, {kept} reused)")
        finally:
            torch.set_num_threads(threads)
        self.timings["total"] = time.perf_counter() - start
        self._write_outputs()  # again, now with the total time
        return Result(self.out, self.summary, dict(self.timings), self.reused, self.computed,
                      self.out / "report.md")

    def load(self, split: str, n: Optional[int] = None, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
        """Data of the study, standardized as for training: ``"train"`` is the training data (the
        ``data.n_train`` subset when set), ``"test"`` the test split; ``n`` takes a seeded subset of
        it (all of it when ``n`` is None or not smaller). Cached."""
        from landscape import data

        d = self.config.data
        key = (split, n, seed)
        if key not in self._data:
            if split == "train" and d.n_train is not None:
                full = data.load_at_most(d.dataset, "train", n=d.n_train,
                                 seed=d.seed, root=d.root, normalize=d.normalize)
                self._data[key] = _subset(full, n, seed)
            else:
                # data.load draws the same subset _subset would (a seeded permutation), without
                # standardizing the rows it then drops
                self._data[key] = data.load_at_most(d.dataset, split, n=n, seed=seed, root=d.root,
                                                    normalize=d.normalize)
        return self._data[key]

    def path(self, *parts: str) -> Path:
        p = self.out.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # -- 1. train ---------------------------------------------------------------------------------
    def data_meta(self) -> Dict[str, Any]:
        """What the checkpoints record about the data (as ``landscape train`` does), so the CLI
        commands (surface, sharpness) find the same data and normalization from a checkpoint."""
        d, t = self.config.data, self.config.train
        return {"dataset": d.dataset, "root": d.root, "normalize": d.normalize, "n_train": d.n_train, "seed": d.seed,
                "val_fraction": t.val_fraction, "augment": t.augment, "mean": self.info.get("mean"),
                "std": self.info.get("std")}

    def stage_train(self) -> None:
        from .train import fit

        c = self.config
        train_xy = self.load("train")
        test_xy = self.load("test")
        meta = _json(self.data_meta())
        self.say(f"[train] {len(self.members)} networks on {c.data.dataset} ({len(train_xy[1])} train / "
                 f"{len(test_xy[1])} test samples), {c.train.epochs} epochs each")
        for name, m in self.members.items():
            run_dir = self.out / "runs" / name
            saved = _read_json(run_dir / "config.json")
            same = (saved is not None and saved.get("train") == _json(c.train.to_dict())
                    and saved.get("model") == m.spec and saved.get("data") == meta)
            if same and (run_dir / "final.pt").is_file() and not self.fresh:
                self.reused["train"].append(name)
                self.say(f"  {name}: reusing the finished run in {run_dir}")
            else:
                resume = same and (run_dir / "last_state.pt").is_file() and not self.fresh
                self.say(f"  {name}: {'resuming' if resume else 'training'} into {run_dir}")
                fit(m.model.to(self.device), train_xy, test_data=test_xy, config=c.train, run_dir=run_dir,
                    resume=resume, overwrite=not resume, name=name, spec=m.spec, data_meta=meta,
                    progress_bar=self.bars, desc=name)
                self.computed["train"].append(name)
            history = rundir.load_history(run_dir)
            final = checkpoint.load(run_dir / "final.pt")
            self.runs[name] = {"run_dir": run_dir, "history": history, "final": final.get("metrics") or {},
                               "epoch": final.get("epoch"), "diverged": bool(history.get("diverged")),
                               "sha256": checkpoint.sha256(run_dir / "final.pt")}
            if self.runs[name]["diverged"]:
                at = history["epochs"][-1]["epoch"]
                self.note(name, f"{name} diverged: its training loss became NaN or infinite at epoch {at}, so it has "
                                "no landscape and no sharpness numbers.")

    def note(self, member: str, text: str) -> None:
        self.notes.setdefault(member, []).append(text)
        log.warning(text)

    def live(self) -> List[str]:
        """Members that trained to finite weights (a diverged one has nothing to measure)."""
        return [n for n in self.members if not self.runs[n]["diverged"]]

    def model(self, name: str) -> torch.nn.Module:
        model, _ = checkpoint.load_model(self.runs[name]["run_dir"] / "final.pt", self.device)
        return model

    # -- 2. surfaces ------------------------------------------------------------------------------
    def stage_surfaces(self) -> None:
        from . import directions
        from .surface import compute

        c, g = self.config, self.config.grid
        splits = {split: self.load(split, g.n_samples, g.data_seed) for split in ("train", "test")}
        loss = c.train.loss
        n_planes = len(self.live()) * (2 + (g.pca > 0))
        self.say(f"[surfaces] {n_planes} surfaces: {g.plane[2]}x{g.plane[2]} planes and {g.line[2]}-point lines "
                 f"on [{g.plane[0]:g}, {g.plane[1]:g}]" + (f", {g.pca}x{g.pca} PCA planes" if g.pca else ""))
        for name in self.live():
            files = self.surfaces.setdefault(name, {})
            model = None
            for kind in SURFACE_KINDS:
                if kind == "pca" and not g.pca:
                    continue
                path = self.path("surfaces", f"{name}_{kind}.h5")
                job = self._surface_job(name, kind)
                state = _surface_state(path, job)
                if state == "done" and not self.fresh:
                    self.reused["surfaces"].append(path.name)
                    files[kind] = path
                    continue
                model = model if model is not None else self.model(name)
                if state == "partial" and kind == "pca" and not self.fresh:
                    dirs, grid, extra = _stored_pca(path, self.device, directions)
                else:
                    dirs, grid, extra = self._directions(model, name, kind, directions)
                if dirs is None:
                    continue
                attrs = {**self._surface_attrs(name), **extra, "experiment_job": _key(job)}
                verb = "resuming" if state == "partial" and not self.fresh else "computing"
                self.say(f"  {name} {kind}: {verb} {path}")
                compute(model, dirs, x=grid[0], y=grid[1], data=splits, loss=loss, bn=g.bn, precision=c.precision,
                        batch_size=g.batch_size, path=str(path), resume=True,
                        overwrite=self.fresh or state == "other", progress=self.bars, attrs=attrs)
                self.computed["surfaces"].append(path.name)
                files[kind] = path

    def _surface_job(self, name: str, kind: str) -> Dict[str, Any]:
        """Everything a surface file's numbers depend on: equal jobs mean the file can be reused."""
        c, g, d = self.config, self.config.grid, self.config.directions
        job = {"kind": kind, "checkpoint_sha256": self.runs[name]["sha256"], "n_samples": g.n_samples,
               "data_seed": g.data_seed, "bn": g.bn, "batch_size": g.batch_size, "precision": c.precision,
               "loss": c.train.loss, "data": _json(self.data_meta())}
        if kind == "pca":
            job.update(points=g.pca, margin=g.pca_margin,
                       snapshots=len(list((self.runs[name]["run_dir"] / "snapshots").glob("epoch_*.pt"))))
        else:
            job.update(grid=list(g.plane if kind == "plane" else g.line), norm=d.norm, ignore=d.ignore, seed=d.seed)
        return job

    def _surface_attrs(self, name: str) -> Dict[str, Any]:
        """The settings ``landscape surface`` records, so ``landscape info/plot/sharpness`` read our files alike."""
        r, g, d = self.runs[name], self.config.grid, self.config.data
        ckpt = r["run_dir"] / "final.pt"
        return {"model_name": name, "model_spec": self.members[name].spec, "checkpoint": str(ckpt.resolve()),
                "checkpoint_sha256": r["sha256"], "checkpoint_epoch": r["epoch"] if r["epoch"] is not None else -1,
                "dataset": d.dataset, "normalize": d.normalize, "data_seed": g.data_seed,
                "n_samples_requested": g.n_samples or 0, "splits": "train,test", "experiment": self.config.name}

    def _directions(self, model, name: str, kind: str, directions):
        """(directions, (x, y), extra attrs) of one surface; (None, ...) when it cannot be made."""
        g, d = self.config.grid, self.config.directions
        ignore = None if d.ignore == "none" else d.ignore
        if kind == "plane":
            return directions.random(model, n=2, norm=d.norm, ignore=ignore, seed=d.seed), (g.plane, g.plane), {}
        if kind == "line":
            return directions.random(model, n=1, norm=d.norm, ignore=ignore, seed=d.seed), (g.line, None), {}
        run_dir = self.runs[name]["run_dir"]
        states, epochs = rundir.load_snapshots(run_dir)
        if len(states) < 3:
            self.note(name, f"{name}: no PCA surface: its run has {len(states)} snapshots and a plane needs 3 "
                            "(train more epochs, or set train.save_every lower).")
            return None, None, None
        try:
            pca = directions.pca(states, model, n=2, epochs=epochs)
        except ValueError as exc:
            self.note(name, f"{name}: no PCA surface: {exc}")
            return None, None, None
        x, y = pca_axes(pca.coords, g.pca, g.pca_margin)
        extra = {"trajectory_dir": str(run_dir.resolve()), "n_snapshots": len(states),
                 "explained_variance": [float(v) for v in pca.explained]}
        return pca, (x, y), extra

    # -- 3. sharpness -----------------------------------------------------------------------------
    def stage_sharpness(self) -> None:
        from . import geometry
        from . import sharpness as S

        c, m = self.config, self.config.metrics
        live = self.live()
        sub = self.load("train", m.n_samples, m.data_seed)
        self.say(f"[sharpness] Hessian λmax and trace ({m.trace_probes} probes) on {len(sub[1])} training samples, "
                 f"grid curvature and basin widths, for {len(live)} networks")
        for name in live:
            path = self.path("sharpness", f"{name}.json")
            job = {"checkpoint_sha256": self.runs[name]["sha256"], "n_samples": len(sub[1]), "data_seed": m.data_seed,
                   "seed": m.seed, "trace_probes": m.trace_probes, "eig_tol": m.eig_tol, "batch_size": m.batch_size,
                   "loss": c.train.loss, "data": _json(self.data_meta())}
            saved = _read_json(path)
            if saved is not None and saved.get("job") == _json(job) and not self.fresh:
                self.reused["sharpness"].append(path.name)
                result = saved
            else:
                model = self.model(name)
                common = dict(loss=c.train.loss, seed=m.seed, batch_size=m.batch_size, progress=self.bars)
                eig = S.hessian_eigs(model, sub, k=1, which="LA", tol=m.eig_tol, **common)
                trace = S.hessian_trace(model, sub, n_probes=m.trace_probes, **common)
                result = {"job": _json(job), "eigenvalues": eig.to_dict(), "trace": trace.to_dict()}
                rundir.write_json(result, path)
                self.computed["sharpness"].append(path.name)
            self.sharp[name] = {"lambda_max": result["eigenvalues"]["values"][0],
                                "lambda_max_residual": result["eigenvalues"]["residuals"][0],
                                "hvp_products": result["eigenvalues"]["iterations"],
                                "trace": result["trace"]["trace"], "trace_stderr": result["trace"]["stderr"],
                                "n_samples": result["eigenvalues"]["n_samples"]}
            plane = self.surfaces.get(name, {}).get("plane")
            if plane is not None:
                self.sharp[name].update(self._grid_metrics(plane, geometry))

    def _grid_metrics(self, path: Path, geometry) -> Dict[str, Any]:
        """Quadratic-fit curvature and basin widths of the plane's train loss; stored in the file's
        ``metrics/train_loss`` (as ``landscape sharpness SURFACE.h5`` does) unless already there."""
        m = self.config.metrics
        surf = io.load(path)
        metrics = geometry.grid_metrics(surf, "train_loss", m.thresholds, m.window)
        metrics["thresholds_are"] = "loss rise above the grid minimum"
        stored = surf.metrics.get("train_loss") if isinstance(surf.metrics, dict) else None
        if not _same_metrics(stored, metrics):
            io.save_metrics(path, metrics, group="metrics/train_loss")
        i = 0  # the report's basin width is at the first threshold
        return {"curvature_x": float(metrics["curvature_x"]), "curvature_y": float(metrics["curvature_y"]),
                "fit_r2": float(metrics["fit_r2"]), "grid_min": float(metrics["min"]),
                "basin_delta": float(metrics["basin_thresholds"][i]),
                "basin_width_x": float(metrics["basin_width_x"][i]),
                "basin_width_y": float(metrics["basin_width_y"][i]),
                "basin_area": float(metrics["basin_area"][i]), "basin_clipped": bool(metrics["basin_clipped"][i]),
                "n_local_minima": int(metrics["n_local_minima"]),
                "residual_energy": _finite(metrics["residual_energy"])}

    # -- 4. figures -------------------------------------------------------------------------------
    def stage_figures(self) -> None:
        if not self.config.figures.draw:
            self.say("[figures] not drawn (figures.draw = false)")
            return
        import matplotlib

        matplotlib.use("Agg")  # files only; never a window
        import matplotlib.pyplot as plt

        from . import plot

        jobs = self._figure_jobs()
        self.say(f"[figures] {len(jobs)} figures into {self.out / 'figures'}")
        manifest_path = self.path("figures", "manifest.json")
        manifest = {} if self.fresh else (_read_json(manifest_path) or {})
        f = self.config.figures
        with plot.style(f.style) if f.style else contextlib.nullcontext():
            for job in progress.track(jobs, desc="figures", enabled=self.bars):
                # redrawn when an input file, the recipe or the figure settings change
                key = _key({"inputs": [_stamp(p) for p in job.stamped()], "how": job.how,
                            "format": f.format, "style": f.style, "dpi": f.dpi})
                rel = str(job.path.relative_to(self.out))
                self.figures.setdefault(job.owner, {})[job.kind] = job.path
                if manifest.get(rel) == key and job.path.is_file():
                    self.reused["figures"].append(rel)
                    continue
                fig = job.draw(plot)
                try:
                    plot.save(fig, job.path, dpi=f.dpi)
                finally:
                    plt.close(fig)
                manifest[rel] = key
                self.computed["figures"].append(rel)
        rundir.write_json(manifest, manifest_path)

    def _figure_jobs(self) -> List["FigureJob"]:
        """Every figure of the study: per member contour, 3D surface and PCA plane with its path;
        per pair the shared-scale comparisons, the 1D curves and the gradient flow."""
        ext = self.config.figures.format
        jobs: List[FigureJob] = []

        def add(owner: str, label: str, stem: str, inputs: List[Path], **how: Any) -> None:
            jobs.append(FigureJob(owner, label, self.path("figures", f"{stem}.{ext}"), tuple(inputs), how))

        # No log/linear choice here: the plots pick log for a loss spanning 2 decades or more (as
        # cross-entropy on these planes does: 1e-4 at the minimum, 1e3 at the edges), and compare
        # decides once for both members of a pair.
        for name in self.live():
            files = self.surfaces.get(name, {})
            if "plane" in files:
                add(name, "contour", f"{name}_contour", [files["plane"]], fn="draw", kind="contour")
                add(name, "surface", f"{name}_surface", [files["plane"]], fn="draw", kind="surface")
            if "pca" in files:
                add(name, "pca", f"{name}_pca", [files["pca"]], fn="draw", kind="contour",
                    trajectory=True)
        for pair in self.pairs:
            fa, fb = self.surfaces.get(pair.with_, {}), self.surfaces.get(pair.without, {})
            if "plane" in fa and "plane" in fb:
                for kind in ("contour", "surface"):
                    add(pair.name, f"compare_{kind}", f"{pair.name}_{kind}", [fa["plane"], fb["plane"]],
                        fn="compare", kind=kind)
            if "line" in fa and "line" in fb:
                add(pair.name, "lines", f"{pair.name}_lines", [fa["line"], fb["line"]], fn="compare", kind="line")
            runs = [self.runs[pair.with_]["run_dir"], self.runs[pair.without]["run_dir"]]
            add(pair.name, "gradient_flow", f"{pair.name}_gradient_flow", runs, fn="gradient_flow")
        return jobs

    # -- 5. report --------------------------------------------------------------------------------
    def stage_report(self) -> None:
        self.computed["report"] += ["report.md", "summary.json", "config.toml"]
        self._write_outputs()

    def _write_outputs(self) -> None:
        from . import report

        self.summary = summarize(self)
        rundir.write_json(self.summary, self.out / "summary.json")
        _write_text(self.out / "config.toml", to_toml(self.config))
        _write_text(self.out / "report.md", report.render(self.summary))


# --------------------------------------------------------------------------------------------------
# the summary: every number the report states


def summarize(p: "_Pipeline") -> Dict[str, Any]:
    """The ``summary.json`` document: config, members (accuracy, losses, sharpness, files), pairs
    (which member is sharper by which measure), notes, timings. Numbers only come from the stages."""
    c = p.config
    members: Dict[str, Any] = {}
    for name, m in p.members.items():
        r = p.runs.get(name, {})
        final = r.get("final", {})
        hist = r.get("history", {}).get("epochs", [])
        entry = {"spec": m.spec, "run_dir": _rel(r.get("run_dir"), p.out), "diverged": r.get("diverged", False),
                 "epochs_trained": hist[-1]["epoch"] if hist else None, "weights_epoch": r.get("epoch"),
                 "n_params": int(sum(t.numel() for t in m.model.parameters())),
                 "train_seconds": float(sum(h.get("seconds") or 0 for h in hist)) if hist else None}
        for k in ("test_acc", "test_loss", "train_acc", "train_loss"):
            entry[k] = _finite(final.get(k))
        entry.update({k: (_finite(v) if isinstance(v, float) else v) for k, v in p.sharp.get(name, {}).items()})
        entry["surfaces"] = {k: _rel(v, p.out) for k, v in p.surfaces.get(name, {}).items()}
        entry["figures"] = {k: _rel(v, p.out) for k, v in p.figures.get(name, {}).items()}
        entry["notes"] = p.notes.get(name, [])
        members[name] = entry
    pairs = []
    for pair in p.pairs:
        pairs.append({"name": pair.name, "vary": pair.vary, "with": pair.with_, "without": pair.without,
                      "comparison": compare_members(members[pair.with_], members[pair.without]),
                      "figures": {k: _rel(v, p.out) for k, v in p.figures.get(pair.name, {}).items()}})
    return {
        "format": "landscape-experiment-summary", "version": SUMMARY_VERSION,
        "name": c.name, "title": c.title, "config": c.to_dict(),
        "data": {"dataset": c.data.dataset, "train_samples": int(len(p.load("train")[1])),
                 "test_samples": int(len(p.load("test")[1])), "input_shape": list(p.info["input_shape"]),
                 "num_classes": int(p.info["num_classes"]), "source": p.info.get("source")},
        "grid_samples": {"train": int(len(p.load("train", c.grid.n_samples, c.grid.data_seed)[1])),
                         "test": int(len(p.load("test", c.grid.n_samples, c.grid.data_seed)[1]))},
        "environment": {"device": str(p.device), "threads": p.threads, **io.library_versions()},
        "members": members, "pairs": pairs,
        "timings": dict(p.timings), "reused": p.reused, "computed": p.computed,
    }


# measure -> True when a larger value means a sharper minimum
SHARPNESS_MEASURES = {"lambda_max": True, "trace": True, "curvature": True, "basin_width": False}


def compare_members(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """How member ``b`` (without the feature) compares with ``a`` (with it), measure by measure.

    For each measure: both values, ``ratio`` b / a (None unless both are positive and finite) and
    ``b_sharper`` (None when either is missing). Curvature and basin width are the means over the
    plane's two directions. Also the test-accuracy gap in points and ``sharper_count``.
    """
    out: Dict[str, Any] = {}
    for measure, larger_is_sharper in SHARPNESS_MEASURES.items():
        va, vb = _measure(a, measure), _measure(b, measure)
        entry: Dict[str, Any] = {"a": va, "b": vb, "ratio": None, "b_sharper": None}
        if va is not None and vb is not None:
            entry["b_sharper"] = bool(vb > va) if larger_is_sharper else bool(vb < va)
            if va > 0 and vb > 0:
                entry["ratio"] = vb / va
        out[measure] = entry
    known = [e["b_sharper"] for e in out.values() if e["b_sharper"] is not None]
    acc_a, acc_b = a.get("test_acc"), b.get("test_acc")
    return {"measures": out, "sharper_count": int(sum(known)), "measured": len(known),
            "test_acc_gap_points": None if acc_a is None or acc_b is None else 100.0 * (acc_a - acc_b)}


def _measure(m: Dict[str, Any], measure: str) -> Optional[float]:
    if measure in ("curvature", "basin_width"):
        xs = [m.get(f"{measure}_x"), m.get(f"{measure}_y")]
        if any(v is None for v in xs):
            return None
        return float(np.mean(xs))
    return m.get(measure)


# --------------------------------------------------------------------------------------------------
# helpers


def pca_axes(coords: np.ndarray, n: int, margin: float) -> Tuple[Tuple[float, float, int], Tuple[float, float, int]]:
    """Grid axes framing a PCA trajectory: the span of its coordinates (n, 2) and of the origin
    (the final model), widened by ``margin`` of that span on each side. PCA coordinates are in
    parameter units, so the extent can only be known from the trajectory itself."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    lo = np.minimum(coords.min(axis=0), 0.0)
    hi = np.maximum(coords.max(axis=0), 0.0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0]), n), (float(lo[1]), float(hi[1]), n)


def _surface_state(path: Path, job: Dict[str, Any]) -> str:
    """"missing", "done" (this job, every cell computed), "partial" (this job, cells missing) or
    "other" (another job, or not a surface file we can read)."""
    if not path.exists():
        return "missing"
    try:
        surf = io.load(path)
    except (ValueError, OSError):
        return "other"
    if surf.attrs.get("experiment_job") != _key(job):
        return "other"
    return "done" if bool(surf.done().all()) else "partial"


def _subset(xy: Tuple[torch.Tensor, torch.Tensor], n: Optional[int], seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of ``n`` rows in their original order, drawn like ``data.load(n=, seed=)``."""
    X, Y = xy
    if n is None or n >= len(Y):
        return xy
    keep = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(Y))[:n]))
    return X[keep], Y[keep]


def _stored_pca(path: Path, device: torch.device, directions):
    """Directions, grid and settings of an unfinished PCA surface, to resume it exactly: the PCA of
    the snapshots need not come out bitwise equal on another thread count, and the file's job
    check compares directions bitwise (the same reason ``landscape surface`` reuses them)."""
    surf = io.load(path)
    a = surf.attrs
    keys = ("direction_kind", "norm", "ignore", "seed", "include_buffers", "orthogonal")
    dirs = directions.Directions([{k: v.to(device) for k, v in d.items()} for d in surf.directions],
                                 {k: a[k] for k in keys if k in a})
    extra = {k: a[k] for k in ("trajectory_dir", "n_snapshots", "explained_variance") if k in a}
    return dirs, (surf.x, surf.y), extra


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"The config asks for device {name!r}, but no CUDA device is available; set device = \"cpu\" "
                         "or \"auto\".")
    return dev


def _write_text(path: Path, text: str) -> None:
    """Write atomically (temporary file + rename, removed on any error), like every other file of the pipeline."""
    atomic.write_text(path, text)


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _stamp(path: Path) -> List[Any]:
    """Identity of an input file for the figure manifest: name, size, modification time."""
    try:
        st = path.stat()
    except OSError:
        return [str(path), None, None]
    return [path.name, st.st_size, st.st_mtime_ns]


def _same_metrics(stored: Optional[Dict[str, Any]], new: Dict[str, Any]) -> bool:
    if not isinstance(stored, dict):
        return False
    for k, v in new.items():
        if k not in stored:
            return False
        try:
            if not np.array_equal(np.asarray(stored[k]), np.asarray(v), equal_nan=np.asarray(v).dtype.kind == "f"):
                return False
        except TypeError:
            if stored[k] != v:
                return False
    return True


def _finite(v: Any) -> Optional[float]:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _rel(path: Optional[Path], out: Path) -> Optional[str]:
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return str(path)


__all__ = ["run", "Result", "Member", "Pair", "build_members", "compare_members", "pca_axes", "summarize", "STAGES"]
