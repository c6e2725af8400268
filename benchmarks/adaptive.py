"""Adaptive grids against uniform ones, on real surfaces: what a budget of evaluations buys.

For each checkpoint (by default the MNIST-1D ResNet-56 with skips, smooth, and without, rough), on
one seeded filter-normalized plane over [-1, 1]² and the same data:

  reference   a uniform 101 x 101 grid (10,201 evaluations): the truth;
  (a)         at equal evaluations: ``--adaptive 441`` on the 101 x 101 lattice against a uniform
              21 x 21 grid (441 evaluations: every fifth line of the reference, the same numbers),
              both brought to 101 x 101 by the same interpolation (``landscape.core.adaptive.
              interpolate``); printed: the largest error below the figure's cap, |min(grid, cap) -
              truth| over the cells where the truth is below the cap (the cap and levels of the
              reference's default figure: ``landscape.plot.shared_scale``), and the ratio;
  (b)         ``--adaptive 780`` (30% of 2,601; then 390, 15%: ``--budgets``) on the 51 x 51 lattice
              against the uniform 51 x 51 grid (every second line of the reference): the Hausdorff
              distance between the contour lines of each level of the 51 x 51 figure, in 51 x 51 cells
              (0.04 units), printed per level;
  figures     the uniform 51 x 51 grid and the adaptive one side by side, the evaluated points shown
              (``landscape compare ... --show-points``), one PNG per checkpoint.

Every surface is computed by the CLI (``landscape surface``, resumable: a rerun reuses the files in
--work). The adaptive runs evaluate exactly the reference's cells (same engine, batch size and
threads), which the script checks: their evaluated values equal the reference's there, bit for bit.

    python benchmarks/adaptive.py runs/resnet56/final.pt runs/resnet56_noskip/final.pt \\
        --n-samples 256 --work bench/ --figures docs/
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landscape.core import adaptive  # noqa: E402
from landscape.plot import shared_scale  # noqa: E402
from landscape.storage import io  # noqa: E402


def surface(ckpt: str, out: Path, n: int, extra, args) -> float:
    """``landscape surface`` on [-1, 1]² with n x n cells (train split only); returns its seconds."""
    cmd = [sys.executable, "-m", "landscape", "surface", ckpt, "--x", f"-1:1:{n}", "--y", f"-1:1:{n}",
           "--split", "train", "--n-samples", str(args.n_samples), "--seed", str(args.seed),
           "--threads", str(args.threads), "--no-progress", "--out", str(out), *extra]
    start = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.time() - start


def every(k: int, n: int) -> np.ndarray:
    """Flat indices of the uniform sub-grid of every k-th line of an n x n lattice."""
    idx = np.arange(0, n, k)
    return np.ravel_multi_index(tuple(g.ravel() for g in np.meshgrid(idx, idx, indexing="ij")), (n, n))


def largest_error(grid: np.ndarray, truth: np.ndarray, cap: float) -> float:
    below = truth < cap
    return float(np.abs(np.minimum(grid, cap) - truth)[below].max())


def contour_points(x: np.ndarray, z: np.ndarray, level: float) -> np.ndarray:
    import contourpy

    lines = contourpy.contour_generator(x, x, z, line_type=contourpy.LineType.Separate).lines(level)
    return np.concatenate(lines) if lines else np.zeros((0, 2))


def hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.spatial.distance import directed_hausdorff

    if len(a) == 0 and len(b) == 0:
        return 0.0
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    return max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])


def replay(truth: np.ndarray, budget: int, share: float) -> np.ndarray:
    """The adaptive grid ``budget`` points give on the lattice of ``truth`` with another share of the
    budget in the coarse start, its values read from ``truth`` (the cells an adaptive run evaluates)."""
    shape, saved = truth.shape, adaptive.START_SHARE
    adaptive.START_SHARE = share
    try:
        flat = np.ravel_multi_index(tuple(g.ravel() for g in np.meshgrid(*adaptive.start_axes(shape, budget),
                                                                          indexing="ij")), shape)
        while True:
            new = adaptive.next_points(shape, budget, flat, truth.reshape(-1)[flat])
            if not len(new):
                break
            flat = np.concatenate([flat, new])
    finally:
        adaptive.START_SHARE = saved
    return adaptive.interpolate(shape, flat, {"train_loss": truth.reshape(-1)[flat]})["train_loss"]


def learner2d(truth: np.ndarray, clip, budget: int = 441):
    """python-adaptive's Learner2D (default loss) on the reference, its points snapped to the
    lattice; the grid interpolated as ours is. Returns (largest error below the cap, share of its
    points below the cap)."""
    import importlib

    here = os.path.dirname(os.path.abspath(__file__))  # this file is adaptive.py too: look past it
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        if not hasattr(sys.modules.get("adaptive"), "Learner2D"):
            sys.modules.pop("adaptive", None)
        pyadaptive = importlib.import_module("adaptive")  # pip install adaptive (not a dependency of landscape)
    finally:
        sys.path[:] = saved

    n = truth.shape[0]
    cap = shared_scale([truth], value="train_loss").vmax

    def cell(xy):
        return int(round((xy[1] + 1) / 2 * (n - 1))), int(round((xy[0] + 1) / 2 * (n - 1)))

    def f(xy):
        v = float(truth[cell(xy)])
        return min(v, clip) if clip is not None else v

    learner = pyadaptive.Learner2D(f, bounds=[(-1, 1), (-1, 1)])
    for _ in range(budget):
        (p,), _ = learner.ask(1)
        learner.tell(p, f(p))
    flat = np.unique([np.ravel_multi_index(cell(p), (n, n)) for p in learner.data])
    grid = adaptive.interpolate((n, n), flat, {"train_loss": truth.reshape(-1)[flat]})["train_loss"]
    return largest_error(grid, truth, cap), float((truth.reshape(-1)[flat] < cap).mean())


def one(ckpt: str, args) -> None:
    name = Path(ckpt).parent.name or Path(ckpt).stem
    work = Path(args.work)
    ref_path = work / f"{name}_uniform101.h5"
    t_ref = surface(ckpt, ref_path, 101, [], args)
    ref = io.load(ref_path)
    truth = ref.values["train_loss"]
    cap = shared_scale([truth], value="train_loss").vmax
    print(f"\n{name}: reference 101 x 101 ({t_ref:.0f} s here), train loss {np.nanmin(truth):.4g} .. "
          f"{np.nanmax(truth):.4g}, figure cap {cap:g}, {100 * (truth < cap).mean():.0f}% of the plane below it")

    # (a) equal evaluations: 441
    a_path = work / f"{name}_adaptive441_101.h5"
    t_a = surface(ckpt, a_path, 101, ["--adaptive", "441"], args)
    ad = io.load(a_path)
    flat = ad.points["index"]
    same = np.array_equal(ad.points["values"]["train_loss"], truth.reshape(-1)[flat], equal_nan=True)
    uni = every(5, 101)
    uni_grid = adaptive.interpolate((101, 101), uni, {"train_loss": truth.reshape(-1)[uni]})["train_loss"]
    e_a, e_u = largest_error(ad.values["train_loss"], truth, cap), largest_error(uni_grid, truth, cap)
    print(f"  (a) 441 evaluations: largest error below the cap: adaptive {e_a:.4g}, uniform 21 x 21 {e_u:.4g} "
          f"-> {e_a / e_u:.0%} of uniform; adaptive took {t_a:.0f} s; its {len(flat)} points are the reference's "
          f"cells bit for bit: {same}")

    for share in args.start_shares:  # the sampler replayed on the reference: no new evaluations
        e_s = largest_error(replay(truth, 441, share), truth, cap)
        print(f"      replayed with start share {share:g}: largest error below the cap {e_s:.4g} ({e_s / e_u:.0%} of uniform)")
    if args.learner2d:
        for clipped in (False, True):
            e_l, share = learner2d(truth, cap if clipped else None)
            print(f"      python-adaptive Learner2D, 441 points snapped to the lattice, told the loss "
                  f"{'clipped at the cap' if clipped else 'as is'}: largest error below the cap {e_l:.4g} "
                  f"({share:.0%} of its points below the cap)")

    # (b) 30% of 51 x 51 (and smaller budgets, to see where the picture starts to go)
    u51 = truth[::2, ::2]
    x51 = np.linspace(-1, 1, 51)
    scale = shared_scale([u51], value="train_loss")
    for budget in args.budgets:
        b_path = work / f"{name}_adaptive{budget}_51.h5"
        t_b = surface(ckpt, b_path, 51, ["--adaptive", str(budget)], args)
        bd = io.load(b_path)
        dists = []
        for level in scale.levels[1:-1]:
            d = hausdorff(contour_points(x51, u51, level), contour_points(x51, bd.values["train_loss"], level))
            dists.append(d / (x51[1] - x51[0]))
        spent = len(bd.points["index"])
        print(f"  (b) budget {budget} ({budget / 2601:.0%} of 51 x 51), {spent} evaluations spent ({spent / 2601:.0%}), "
              f"{t_b:.0f} s: Hausdorff distance per contour level, in 51 x 51 cells: "
              + ", ".join(f"{lv:.3g}: {d:.2f}" for lv, d in zip(scale.levels[1:-1], dists)))
        print(f"      largest {max(dists):.2f} cells; {sum(d <= 1 for d in dists)} of {len(dists)} levels within one "
              f"cell; largest error below the cap {largest_error(bd.values['train_loss'], u51, scale.vmax):.4g}")
        if budget == args.budgets[0]:
            shown, shown_path = spent, b_path
    if args.figures:
        u_path = work / f"{name}_uniform51.h5"
        io.save(io.Surface(x=x51, y=x51, values={"train_loss": u51}, attrs={**ref.attrs, "title": f"{name} uniform"},
                           directions=ref.directions), u_path)
        fig = Path(args.figures) / f"adaptive-{name}.png"
        subprocess.run([sys.executable, "-m", "landscape", "compare", str(u_path), str(shown_path), "--show-points",
                        "--title", "uniform 51 x 51 (2,601 evaluations)",
                        "--title", f"adaptive, {shown:,} evaluations (dots)",
                        "--out", str(fig)], check=True, stdout=subprocess.DEVNULL)
        print(f"  figure: {fig}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--n-samples", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default="adaptive-bench")
    p.add_argument("--figures", default=None, help="Folder for the side-by-side figures (e.g. docs/gallery).")
    p.add_argument("--start-shares", type=lambda v: [float(x) for x in v.split(",")], default=[],
                   help="Replay (a) on the reference with these shares of the budget in the coarse start, e.g. "
                        "0.1,0.15,0.2,0.35 (no new evaluations).")
    p.add_argument("--learner2d", action="store_true",
                   help="Also run python-adaptive's Learner2D at 441 points (pip install adaptive).")
    p.add_argument("--budgets", type=lambda v: [int(b) for b in v.split(",")], default=[780, 390],
                   help="Budgets of (b) on the 51 x 51 lattice; the first is drawn.")
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    for ckpt in args.checkpoints:
        one(ckpt, args)


if __name__ == "__main__":
    main()
