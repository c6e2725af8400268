"""Make the figure gallery (docs/gallery/*.png and docs/gallery.md): every plot kind, one command.

    python docs/make_gallery.py --out docs/gallery

By default this runs the real pipeline on the embedded default dataset (digits): it trains the
skip / no-skip pair of a deep MLP with ``landscape pair``, samples 1D and 2D filter-normalized
surfaces and a PCA-trajectory surface with ``landscape surface``, then draws every kind. For the
grid figure (Li et al. 2018, Fig. 5: rows skip / no skip, columns depth) it trains the pairs of
MLPs of depth 8, 20 and 32; for the clipped 3D surfaces of a chaotic and a smooth net it trains
ResNet-56 with and without skip connections for a few epochs and samples 21x21 and 51x51 planes
(the slow step: about an hour on a busy 2-core machine). Finished steps are reused (``--work``
keeps the runs and surface files), so a rerun only redraws.

    python docs/make_gallery.py --out docs/gallery --surfaces with.h5 without.h5 \\
        [--lines with_1d.h5 without_1d.h5] [--pca pca.h5] [--runs RUN_WITH RUN_WITHOUT]

draws from surface files (and training runs) you already have.

    python docs/make_gallery.py --out /tmp/gallery --synthetic

draws made-up surfaces (a smooth bowl and a rough, partly diverged one) without training anything:
for developing the plots; the gallery page then says the pictures are synthetic.
"""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import subprocess
import sys
from typing import List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from landscape import plot  # noqa: E402
from landscape.storage.io import Surface  # noqa: E402

# The pipeline run by default. Kept small so the whole gallery takes minutes on a laptop CPU.
MODEL = "mlp20"
DATASET = "digits"
GRID_2D = "-1:1:51"
GRID_1D = "-1:1:101"
SEED = "0"
# the depth study drawn as a grid: pairs of MLPs of these depths, planes of GRID_STUDY
STUDY_DEPTHS = (8, 20, 32)
GRID_STUDY = "-1:1:31"
# a chaotic net (a deep ResNet without skip connections) and its smooth twin, for clipped 3D
# surfaces: a few epochs are enough to make the plain one's landscape chaotic
DEEP = "resnet56"
DEEP_EPOCHS = "12"
DEEP_GRIDS = (21, 51)
DEEP_SAMPLES = "512"


# ---------------------------------------------------------------------------------------------
# Inputs: the real pipeline, given files, or synthetic surfaces
# ---------------------------------------------------------------------------------------------

def _landscape(*args: str) -> None:
    cmd = [sys.executable, "-m", "cli", *args]
    print("+ landscape " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def _member_order(run_dir: str) -> tuple:
    # the member without the architectural feature goes second (right-hand panel)
    name = os.path.basename(run_dir.rstrip("/"))
    return (any(w in name for w in ("noskip", "nonorm", "without")), name)


def run_pipeline(work: str) -> dict:
    """Train the pair and compute its surfaces under ``work`` (finished files are reused)."""
    from landscape import cli

    missing = [c for c in ("pair", "surface") if c not in cli.COMMANDS]
    if missing:
        sys.exit(f"make_gallery: `landscape {' / '.join(missing)}` is not available in this checkout yet; "
                 "use --synthetic, or --surfaces with files you have.")
    pair_dir = os.path.join(work, "pair")
    runs = _pair_runs(pair_dir, MODEL, "--save-every", "1")
    if len(runs) != 2:
        sys.exit(f"make_gallery: expected two members under {pair_dir}, found {runs}.")
    files = {"surfaces": [], "lines": [], "runs": runs}
    common = ["--dataset", DATASET, "--split", "train,test", "--threads", "1", "--no-progress"]
    for run in runs:
        member = os.path.basename(run)
        ckpt = os.path.join(run, "final.pt")
        out2 = os.path.join(work, f"{member}_2d.h5")
        out1 = os.path.join(work, f"{member}_1d.h5")
        # the same seed gives both members the same (filter-normalized) directions; a finished
        # file is left as is by `landscape surface` (it resumes, finding nothing to do)
        _landscape("surface", ckpt, "--x", GRID_2D, "--y", GRID_2D, "--seed", SEED, *common, "--out", out2)
        _landscape("surface", ckpt, "--x", GRID_1D, "--seed", SEED, *common, "--out", out1)
        files["surfaces"].append(out2)
        files["lines"].append(out1)
    files["pca"] = _pca_surface(work, runs[0], common)
    files["study"] = _depth_study(work, common)
    files["deep"] = _deep_pair(work)
    return files


def _pair_runs(pair_dir: str, model: str, *extra: str) -> list:
    """Train ``model``'s skip / no-skip pair into ``pair_dir`` (unless done): [with, without] runs."""
    if len(glob.glob(os.path.join(pair_dir, "*", "final.pt"))) < 2:
        _landscape("pair", model, "--vary", "skip", "--dataset", DATASET, "--seed", SEED, *extra,
                   "--quiet", "--overwrite", "--out", pair_dir)
    return sorted((os.path.dirname(p) for p in glob.glob(os.path.join(pair_dir, "*", "final.pt"))), key=_member_order)


def _depth_study(work: str, common: list) -> list:
    """Planes of the MLP pairs of STUDY_DEPTHS, row by row: [with skip by depth] + [without by depth]."""
    rows: List[List[str]] = [[], []]
    for depth in STUDY_DEPTHS:
        runs = _pair_runs(os.path.join(work, f"study_mlp{depth}"), f"mlp{depth}", "--save-every", "0")
        for row, run in zip(rows, runs):
            out = os.path.join(work, f"study_{os.path.basename(run)}.h5")
            _landscape("surface", os.path.join(run, "final.pt"), "--x", GRID_STUDY, "--y", GRID_STUDY,
                       "--seed", SEED, *common, "--out", out)
            row.append(out)
    return rows[0] + rows[1]


def _deep_pair(work: str) -> dict:
    """ResNet-56 with and without skip connections, planes of each size in DEEP_GRIDS:
    {n: [with.h5, without.h5]}."""
    runs = _pair_runs(os.path.join(work, "deep"), DEEP, "--epochs", DEEP_EPOCHS, "--save-every", "0")
    out: dict = {}
    for n in DEEP_GRIDS:
        for run in runs:
            path = os.path.join(work, f"deep_{os.path.basename(run)}_{n}.h5")
            _landscape("surface", os.path.join(run, "final.pt"), "--x", f"-1:1:{n}", "--y", f"-1:1:{n}",
                       "--seed", SEED, "--dataset", DATASET, "--split", "train", "--n-samples", DEEP_SAMPLES,
                       "--threads", "1", "--no-progress", "--out", path)
            out.setdefault(n, []).append(path)
    return out


def _pca_surface(work: str, run: str, common: list) -> str:
    """A PCA-plane surface framing the training path. PCA coordinates are in parameter units, so
    the grid's extent is unknown up front: a 3x3 probe gives the path, then the real grid covers it
    with a 15% margin, and at least a third of its span around the final model."""
    from landscape.storage import io

    member = os.path.basename(run)
    ckpt = os.path.join(run, "final.pt")
    probe = os.path.join(work, f"{member}_pca_probe.h5")
    _landscape("surface", ckpt, "--dir", "pca", "--trajectory", run, "--x", "-1:1:3", "--y", "-1:1:3",
               *common, "--out", probe)
    coords = np.asarray(io.load(probe).trajectory["coords"], dtype=float)
    lo = np.minimum(coords.min(axis=0), 0.0)  # the final model (the origin) is always in view
    hi = np.maximum(coords.max(axis=0), 0.0)
    span = hi - lo
    pad = 0.15 * span + 1e-3
    # the path ends at the origin; where training was still descending, the valley goes on past it,
    # so a third of the span is shown beyond the final model on every side
    lo, hi = np.minimum(lo - pad, -span / 3), np.maximum(hi + pad, span / 3)
    n = GRID_2D.split(":")[2]
    out = os.path.join(work, f"{member}_pca.h5")
    _landscape("surface", ckpt, "--dir", "pca", "--trajectory", run,
               "--x", f"{lo[0]:.4g}:{hi[0]:.4g}:{n}", "--y", f"{lo[1]:.4g}:{hi[1]:.4g}:{n}",
               *common, "--out", out)
    return out


def load_inputs(files: dict) -> dict:
    """Surfaces (and histories) from files."""
    from landscape.storage import io

    out = {
        "surfaces": [io.load(p) for p in files["surfaces"]],
        "lines": [io.load(p) for p in files.get("lines") or []],
        "pca": io.load(files["pca"]) if files.get("pca") else None,
        "study": [io.load(p) for p in files.get("study") or []],
        "deep": {n: [io.load(p) for p in paths] for n, paths in (files.get("deep") or {}).items()},
        "histories": [],
    }
    if files.get("runs"):
        from landscape.training.train import load_history

        out["histories"] = [load_history(r) for r in files["runs"]]
    return out


def synthetic_inputs(n: int = 51, seed: int = 0) -> dict:
    """Made-up surfaces shaped like the paper's: a smooth convex bowl ('with skip') and a rough,
    non-convex one with a diverged corner ('without skip'), plus 1D lines, a PCA plane with a
    trajectory and two gradient-flow logs. Nothing here is a measurement."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    attrs = {"direction_kind": "random", "norm": "filter", "ignore": "biasbn", "dataset": "digits (synthetic)"}

    smooth = 0.03 + 1.4 * (X ** 2 + 0.7 * Y ** 2) + 0.12 * X * Y + 0.04 * np.sin(3 * X) ** 2
    rough = 0.05 + 3.0 * (X ** 2 + Y ** 2)
    for _ in range(45):  # bumps and pits away from the centre: the chaotic landscape of a deep plain net
        r, phi = rng.uniform(0.5, 1.4), rng.uniform(0, 2 * np.pi)
        w = rng.uniform(0.07, 0.18)
        rough = rough + rng.uniform(-1.0, 2.5) * np.exp(-((X - r * np.cos(phi)) ** 2 + (Y - r * np.sin(phi)) ** 2) / (2 * w ** 2))
    rough = np.maximum(rough, 0.04)  # pits bottom out: a loss stays positive
    corner = (X > 0.75) & (Y > 0.75)
    rough[corner] = 10.0 ** (2 + 6 * (X[corner] + Y[corner] - 1.5))  # diverging: 1e2 .. 1e5
    rough[(X > 0.9) & (Y > 0.9)] = np.inf  # diverged
    def acc(loss):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(np.isnan(loss), np.nan, 1.0 / (1.0 + np.nan_to_num(loss, posinf=1e9) ** 1.3))

    def surf(loss, name, y=True):
        test = loss * 1.15 + 0.05
        values = {"train_loss": loss, "train_acc": acc(loss), "test_loss": test, "test_acc": acc(test)}
        if not y:
            return Surface(x=x, y=None, values=values, attrs={**attrs, "model_name": name})
        return Surface(x=x.copy(), y=x.copy(), values=values, attrs={**attrs, "model_name": name})

    with_skip = surf(smooth, "mlp20 (synthetic)")
    without = surf(rough, "mlp20_noskip (synthetic)")
    line_with = surf(smooth[n // 2], "mlp20 (synthetic)", y=False)
    line_without = surf(rough[n // 2], "mlp20_noskip (synthetic)", y=False)

    # PCA plane: the path spirals into the minimum at the origin
    t = np.linspace(0, 1, 31)
    coords = np.stack([0.9 * (1 - t) ** 1.5 * np.cos(5 * t), 0.6 * (1 - t) ** 1.5 * np.sin(5 * t)], axis=1)
    pca_loss = 0.12 + 1.2 * X ** 2 + 3.0 * Y ** 2 + 0.1 * np.sin(4 * X + 2 * Y)
    pca = Surface(x=x.copy(), y=x.copy(), values={"train_loss": pca_loss, "test_loss": pca_loss + 0.07},
                  attrs={**attrs, "direction_kind": "pca", "model_name": "mlp20 (synthetic)"},
                  trajectory={"coords": coords, "epochs": np.arange(31), "explained": np.array([0.712, 0.143])})

    layers = [f"layer{i}" for i in range(1, 21)]
    depth = np.arange(20)
    epochs = list(range(0, 31))
    flow_skip = [[0.8 * (1 + 0.1 * np.sin(d)) * np.exp(-e / 20) for d in depth] for e in epochs]
    flow_plain = [[1e-4 * 2.0 ** (d / 1.5) * np.exp(-e / 30) for d in depth] for e in epochs]
    histories = [
        {"name": "mlp20 (synthetic)", "gradient_flow": {"layers": layers, "epochs": epochs, "norms": flow_skip}},
        {"name": "mlp20_noskip (synthetic)", "gradient_flow": {"layers": layers, "epochs": epochs, "norms": flow_plain}},
    ]
    return {"surfaces": [with_skip, without], "lines": [line_with, line_without], "pca": pca,
            "histories": histories}


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------

def unfinished(surface: Surface, done: float = 0.62, seed: int = 0) -> Surface:
    """A copy of ``surface`` as a half-computed file looks: cells after the first ``done`` fraction
    (row-major, the order a run fills them) and 1% at random set to NaN."""
    rng = np.random.default_rng(seed)
    holes = rng.random(surface.shape) < 0.01  # the same cells in every value: a cell is done or not
    values = {}
    for k, v in surface.values.items():
        v = np.array(v, dtype=float)
        v.ravel()[int(done * v.size):] = np.nan
        v[holes] = np.nan
        values[k] = v
    return Surface(x=surface.x, y=surface.y, values=values, attrs=dict(surface.attrs))


def scale_note(surfaces) -> str:
    """How the default scale draws these surfaces, for a caption: '; linear colour scale from the
    lowest minimum (0.0002) up to 10, clipped above'."""
    from landscape.plot import _scale

    arrays = [_scale.get_values(s, "train_loss") for s in surfaces]
    scale = _scale.shared_scale(arrays, value="train_loss")
    top = f"up to {scale.fmt(scale.vmax)}, clipped above" if scale.clipped else f"to {scale.fmt(scale.vmax)}"
    return f"; default linear colour scale from the lowest minimum ({scale.fmt(scale.vmin)}) {top}"


def basin_note(surfaces) -> str:
    """The measured basin areas the figure must agree with, for a caption (``landscape.geometry``,
    what `landscape sharpness SURFACE.h5` reports)."""
    from landscape.analysis import geometry

    parts = [f"{s.label()} {geometry.basins(s, 'train_loss', [1.0])[0]['area']:.2f}" for s in surfaces]
    return ("Measured basin area where the loss stays within 1 of its minimum (`landscape sharpness "
            f"SURFACE.h5`): {', '.join(parts)}; on the shared linear scale the wider basin looks wider.")


def make(inputs: dict, out: str, source: str) -> List[tuple]:
    """Write every figure to ``out``; returns [(file name, caption)]."""
    made = []
    a, b = inputs["surfaces"]

    def put(fig, name, caption):
        # a grid of panels is large already: fewer dots per inch keep its PNG near the others' size
        plot.save(fig, os.path.join(out, name), dpi=130 if len(fig.axes) <= 3 else 90)
        plt.close(fig)
        made.append((name, caption))
        print(f"wrote {os.path.join(out, name)}", flush=True)

    lines = inputs["lines"] or inputs["surfaces"]
    put(plot.draw(lines[0], "line"), "line.png",
        f"`line`: 1D loss (blue, left) and accuracy (red, right) of {a.label()}, train solid, test dashed.")
    for kind, caption in [
        ("contour", "`contour`: contour lines of the train loss around the trained model (star: minimum)"),
        ("contourf", "`contourf`: filled contours"),
        ("heatmap", "`heatmap`: one cell per grid point, no interpolation"),
        ("surface", "`surface`: the 3D surface"),
    ]:
        put(plot.draw(b, kind), f"{kind}.png", f"{caption} ({b.label()}){scale_note([b])}.")
    put(plot.draw(b, "contourf", log=True), "contourf_log.png",
        f"`contourf --log`: the log scale, one option away; it stretches the bottom of the basin by the "
        f"decades below it, so read basin widths on the linear default ({b.label()}).")
    p = unfinished(b)
    put(plot.draw(p, "heatmap"), "heatmap_partial.png",
        f"`heatmap` of a file still being computed: cells not done yet (NaN) are blank, the title says how "
        f"many are done, and the star is the minimum so far ({b.label()}, with the last 38% of its cells and a "
        "few others blanked out to show it).")
    put(plot.compare([a, b], kind="contour"), "compare_contour.png",
        f"`compare --kind contour`: with and without skip connections on shared contour levels{scale_note([a, b])}. "
        f"{basin_note([a, b])}")
    put(plot.compare([a, b], kind="surface"), "compare_surface.png",
        "`compare --kind surface`: shared z-limits, colour scale and view angle.")
    put(plot.compare([a, b], kind="heatmap"), "compare_heatmap.png",
        "`compare --kind heatmap`: one colour scale for both.")
    if len(lines) == 2:
        put(plot.compare(lines, kind="line"), "compare_line.png",
            "`compare --kind line`: 1D curves on shared loss and accuracy axes.")
    if inputs.get("pca") is not None:
        put(plot.draw(inputs["pca"], "contour", log=True), "trajectory.png",
            "`contour --log` of a PCA-plane surface with the training trajectory: epoch labels, the final "
            "model ringed, the star the grid's minimum. The log scale shows the valley the path follows "
            "(on the linear default it lies inside the lowest band).")
    study = inputs.get("study") or []
    if len(study) == 2 * len(STUDY_DEPTHS):
        grid = (2, len(STUDY_DEPTHS))
        put(plot.compare(study, kind="contour", grid=grid), "grid_depth_contour.png",
            f"`compare --grid 2x{grid[1]}`: the depth study as Li et al. (2018) Fig. 5 lays it out, rows with "
            f"and without skip connections, columns by depth (row and column labels from the model specs), "
            f"all panels on one scale{scale_note(study)}.")
        put(plot.compare(study, kind="surface", grid=grid), "grid_depth_surface.png",
            f"`compare --grid 2x{grid[1]} --kind surface`: the same grid in 3D, one z range, colour scale and view.")
    deep = inputs.get("deep") or {}
    if len(deep) == 2 and all(len(v) == 2 for v in deep.values()):
        sizes = sorted(deep)
        put(plot.compare([s for n in sizes for s in deep[n]], kind="surface", grid=(2, 2), log=False, vmax=10,
                         row_labels=[f"{n}x{n} grid" for n in sizes]), "clipped_surface.png",
            f"`compare --kind surface --linear --vmax 10 --grid 2x2`: a smooth net ({deep[sizes[0]][0].label()}) and "
            f"a chaotic one ({deep[sizes[0]][1].label()}), on {sizes[0]}x{sizes[0]} and {sizes[1]}x{sizes[1]} "
            "planes, cut at the clip height: the rim at 10 is where the loss crosses it, nothing is drawn "
            "above it, and no wall or plateau stands where the data has none.")
    if inputs.get("histories"):
        put(plot.gradient_flow(inputs["histories"]), "gradient_flow.png",
            "`gradient_flow`: per-layer gradient norms, by depth and over training.")
    with plot.style("paper", width="double"):
        put(plot.compare([a, b], kind="contourf"), "paper_compare_contourf.png",
            "`style('paper', width='double')`: a 7-inch double-column figure, 8 pt type.")
    with plot.style("slides"):
        put(plot.compare([a, b], kind="surface"), "slides_compare_surface.png",
            "`style('slides')`: 16:9 with large type.")
    return made


# ---------------------------------------------------------------------------------------------
# Between two minima (`landscape connect`): its own inputs, two seeds of one network
# ---------------------------------------------------------------------------------------------

CONNECT_MODEL = "resnet20"


def connect_figures(work: str, out: str, path_file: Optional[str] = None) -> List[tuple]:
    """The two figures of a path file: the loss along the straight line and the trained curve, and
    the plane through both ends and the bend. Without ``path_file``, trains CONNECT_MODEL on digits
    from seeds 0 and 1 and runs `landscape connect` between them (finished steps are reused)."""
    from landscape.plot import paths as path_plots
    from landscape.storage import pathfile

    if path_file is None:
        ckpts = []
        for seed in ("0", "1"):
            run = os.path.join(work, f"{CONNECT_MODEL}_seed{seed}")
            if not os.path.isfile(os.path.join(run, "final.pt")):
                _landscape("train", CONNECT_MODEL, "--dataset", DATASET, "--epochs", "20", "--seed", seed,
                           "--save-every", "0", "--quiet", "--overwrite", "--out", run)
            ckpts.append(os.path.join(run, "final.pt"))
        path_file = os.path.join(work, f"{CONNECT_MODEL}_connect.h5")
        _landscape("connect", *ckpts, "--threads", "1", "--no-progress", "--out", path_file)
    paths = pathfile.load(path_file)
    model, curve = paths.attrs.get("model_name", "model"), path_plots.CURVE_NAMES.get(paths.attrs.get("curve"), "curve")
    line_b, curve_b = paths.barrier("line"), paths.barrier("curve")
    made = []
    for kind, name, caption in [
        ("line", "connect_line.png",
         f"`landscape plot AB.h5 --kind line` of a `landscape connect` file: the loss between two {model} "
         f"minima (digits, seeds 0 and 1) along the straight line (grey) and a trained {curve} (orange), "
         f"train solid, test dashed; train-loss barrier {line_b:.3g} along the line, {curve_b:.3g} along the "
         "curve (BatchNorm statistics re-estimated at every point)."),
        ("contour", "connect_plane.png",
         "`landscape plot AB.h5 --kind contour`: the train loss on the plane through both minima (A, B) and "
         "the curve's bend (θ), axes B − A and the bend's offset orthogonal to it, in units of |B − A| "
         "(Garipov et al. 2018, Fig. 1); dashed: the straight line, orange: the curve."),
    ]:
        fig = path_plots.draw(paths, kind)
        plot.save(fig, os.path.join(out, name), dpi=130)
        plt.close(fig)
        made.append((name, caption))
        print(f"wrote {os.path.join(out, name)}", flush=True)
    return made


def write_page(made: List[tuple], out: str, page: str, source: str, command: str) -> None:
    rel = os.path.relpath(out, os.path.dirname(os.path.abspath(page)))
    lines = [
        "# Gallery",
        "",
        "Every plot kind of `landscape.plot`. Made by:",
        "",
        "```",
        command,
        "```",
        "",
        f"Source of the surfaces: {source}",
        "",
        "The same figures from the command line, for your own files:",
        "",
        "```",
        "landscape plot surf.h5 --kind all --out figs/surf.png          # line, contour, contourf, heatmap, surface",
        "landscape plot surf.h5 --kind contourf --log --out c.pdf --style paper   # log scale; --vmax sets the cap",
        "landscape compare with.h5 without.h5 --kind surface --out compare.png   # shared scales, one colour bar",
        "landscape compare r8.h5 r20.h5 r32.h5 p8.h5 p20.h5 p32.h5 --grid 2x3 --out grid.png   # rows x columns",
        "landscape export surf.h5 --out surf.vtp                        # ParaView; also .obj, .gif (.mp4 with ffmpeg)",
        "```",
        "",
        "and from Python: `landscape.plot.contour(surface, ax=ax)`, `landscape.plot.compare([a, b], kind=\"surface\")`,",
        "`landscape.plot.gradient_flow([landscape.train.load_history(d) for d in runs])`, inside",
        "`with landscape.plot.style(\"paper\"):` and saved with `landscape.plot.save(fig, \"fig.pdf\")`.",
        "",
    ]
    for name, caption in made:
        lines += [f"## {name[:-4].replace('_', ' ')}", "", caption, "", f"![{name}]({rel}/{name})", ""]
    adaptive = sorted(n for n in os.listdir(out) if n.startswith("adaptive-") and n.endswith(".png"))
    if adaptive:  # made by benchmarks/adaptive.py (real nets, a 101x101 reference: too slow for here)
        lines += ["## adaptive", "", ADAPTIVE_CAPTION, ""] + [f"![{n}]({rel}/{n})\n" for n in adaptive]
    with open(page, "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {page}")


ADAPTIVE_CAPTION = (
    "`landscape compare uniform.h5 adaptive.h5 --show-points` (made by `python benchmarks/adaptive.py\n"
    "runs/resnet56/final.pt runs/resnet56_noskip/final.pt --n-samples 256 --figures docs/gallery`):\n"
    "MNIST-1D ResNet-56 with skips (top) and without (bottom), trained 8 epochs; left the uniform 51×51\n"
    "grid (2,601 evaluations), right `landscape surface --adaptive 780` on the same plane and data, its\n"
    "evaluated points dotted: the coarse start everywhere, the refinement inside the cap (10) and along\n"
    "it. With skips the sampler stopped at 689 evaluations (every cell below the cap evaluated); the\n"
    "contours of both nets lie within 0.3 of a 51×51 cell of the uniform grid's (README, \"Adaptive grids\").")


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "gallery"), help="folder for the PNGs")
    p.add_argument("--page", default=None, help="markdown page to write (default: OUT/../gallery.md)")
    p.add_argument("--work", default=os.path.join(ROOT, "out", "gallery-work"),
                   help="where the pipeline keeps runs and surface files (reused on reruns)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--synthetic", action="store_true", help="made-up surfaces, no training (development)")
    src.add_argument("--surfaces", nargs=2, metavar=("WITH.h5", "WITHOUT.h5"), help="two 2D surface files")
    p.add_argument("--lines", nargs=2, metavar=("WITH_1D.h5", "WITHOUT_1D.h5"), help="two 1D surface files")
    p.add_argument("--pca", metavar="PCA.h5", help="a PCA-plane surface with a trajectory")
    p.add_argument("--runs", nargs="+", metavar="RUN_DIR", help="training runs for the gradient-flow figure")
    p.add_argument("--paths", metavar="AB.h5", help="a `landscape connect` path file (default: made by the pipeline)")
    args = p.parse_args(argv)

    command = "python docs/make_gallery.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.synthetic:
        inputs = synthetic_inputs()
        source = ("**synthetic** surfaces made up by `synthetic_inputs()` in `docs/make_gallery.py` "
                  "(no training); run the command without `--synthetic` for the real digits pipeline.")
    elif args.surfaces:
        inputs = load_inputs({"surfaces": args.surfaces, "lines": args.lines, "pca": args.pca, "runs": args.runs})
        source = "the surface files " + ", ".join(f"`{s}`" for s in args.surfaces) + "."
    else:
        inputs = load_inputs(run_pipeline(args.work))
        source = (f"`landscape pair {MODEL} --vary skip --dataset {DATASET}` then `landscape surface` "
                  f"({GRID_2D} grids, filter-normalized random directions, seed {SEED}; PCA plane for the trajectory); "
                  f"for the grids the pairs of {', '.join(f'mlp{d}' for d in STUDY_DEPTHS)} ({GRID_STUDY} planes) and "
                  f"{DEEP} trained {DEEP_EPOCHS} epochs ({' and '.join(f'{n}x{n}' for n in DEEP_GRIDS)} planes, "
                  f"{DEEP_SAMPLES} training samples).")
    os.makedirs(args.out, exist_ok=True)
    made = make(inputs, args.out, source)
    if args.paths or not (args.synthetic or args.surfaces):
        made += connect_figures(args.work, args.out, args.paths)
    page = args.page or os.path.join(os.path.dirname(os.path.abspath(args.out)), "gallery.md")
    write_page(made, args.out, page, source, command)


if __name__ == "__main__":
    main()
