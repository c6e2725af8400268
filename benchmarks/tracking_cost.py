"""What `--track-sharpness N` costs: one tanh MLP (depth 4, no normalization; 12k parameters),
full-batch gradient descent (lr 0.4) on 4,000 MNIST-1D sequences, 100 steps, one thread, untracked
and tracked every 10 steps (Lanczos, power iteration, and with top-3 + trace + batch sharpness) and
every step, side by side in one process. Prints each run's seconds, its ratio to the untracked run,
and one measurement's cost in training steps and Hessian-vector products.

    python benchmarks/tracking_cost.py
"""
import time

import torch

from landscape import data, models
from landscape.analysis.tracking import SharpnessTracker
from landscape.training.train import fit, recommended

STEPS = 100


def run(X, Y, **track):
    model = models.create("mlp", in_shape=(1, 40), num_classes=10, seed=0, depth=4, norm="none", activation="tanh",
                          skip=False)
    config = recommended("mnist1d", optimizer="gd", lr=0.4, epochs=STEPS, eval_train=False, **track)
    t0 = time.perf_counter()
    r = fit(model, (X, Y), config=config, progress_bar=False, tracker=SharpnessTracker(config) if track else None)
    return time.perf_counter() - t0, r.sharpness


def main():
    torch.set_num_threads(1)
    X, Y = data.load("mnist1d", "train", n=4000, seed=0)
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)  # the first optimizer imports torch._dynamo: not training
    base, _ = run(X, Y)
    step = base / STEPS
    print(f"untracked: {base:.1f} s for {STEPS} steps ({1000 * step:.0f} ms a step)")
    for kw in (dict(track_sharpness=10), dict(track_sharpness=10, track_method="power"), dict(track_sharpness=1),
               dict(track_sharpness=10, track_top_k=3, track_trace=20, track_batch=4)):
        total, rows = run(X, Y, **kw)
        spent = sum(r["seconds"] for r in rows)
        products = sum(r["products"] for r in rows) / len(rows)
        print(f"{kw}: {total:.1f} s (x{total / base:.2f}); {len(rows)} measurements of {1000 * spent / len(rows):.0f} ms "
              f"= {spent / len(rows) / step:.1f} steps, {products:.1f} Hessian-vector products each")


if __name__ == "__main__":
    main()
