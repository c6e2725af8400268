"""One rank of a small sharded surface job, started by tests/test_distributed.py under torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/torchrun_job.py OUT GRID SLEEP_MS [PID_DIR]
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/torchrun_job.py train RUN_DIR

Every rank builds the same seeded model, data and directions and calls ``landscape.surface.compute``;
the loss sleeps ``SLEEP_MS`` per batch so a test has time to kill a rank mid-run. Each rank writes
its process id to ``PID_DIR/<restart>-<rank>.pid`` so the test knows whom to kill.
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from landscape import (
    data,  # noqa: E402
    models,  # noqa: E402
)
from landscape.core import directions, surface  # noqa: E402


def job():
    """(model, (X, Y), directions): a BN MLP on 128 digits, statistics set by one pass."""
    X, Y = data.load("digits", "train", n=128)
    model = models.create("mlp", depth=4, width=0.5, in_shape=(1, 8, 8), num_classes=10, seed=0)
    with torch.no_grad():
        model.train()
        model(X)  # non-trivial BatchNorm running statistics (so folding is exercised)
    model.eval()
    return model, (X, Y), directions.random(model, n=2, seed=0)


def loss_fn(sleep_ms: float):
    def slow_ce(model, batch):
        if sleep_ms:
            time.sleep(sleep_ms / 1000)
        return F.cross_entropy(model(batch[0]), batch[1])

    slow_ce.__name__ = "slow_ce"  # the name is recorded; the sleep does not change the values
    return slow_ce


def compute(out, grid: int, sleep_ms: float):
    model, xy, dirs = job()
    return surface.compute(model, dirs, x=(-1, 1, grid), y=(-1, 1, grid), data=xy, loss=loss_fn(sleep_ms),
                           batch_size=64, path=out, progress=False, round_seconds=0.2)


def train(run_dir, epochs: int = 2):
    """A 6-layer MLP without normalization on 512 digits samples (DistributedDataParallel under torchrun)."""
    from landscape.training.train import TrainConfig, fit

    X, Y = data.load("digits", "train", n=512)
    model = models.create("mlp", depth=6, width=0.5, norm="none", in_shape=(1, 8, 8), num_classes=10, seed=0)
    config = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, seed=0, save_every=1)
    return fit(model, (X, Y), config=config, run_dir=run_dir, progress_bar=False)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        torch.set_num_threads(1)
        run = train(sys.argv[2])
        print(f"rank {os.environ.get('RANK')}: final train loss {run.final['train_loss']:.6f}", flush=True)
        sys.exit(0)
    out, grid, sleep_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if len(sys.argv) > 4:
        name = f"{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}-{os.environ.get('RANK', '0')}.pid"
        with open(os.path.join(sys.argv[4], name), "w") as f:
            f.write(str(os.getpid()))
    torch.set_num_threads(1)
    s = compute(out, grid, sleep_ms)
    print(f"rank {os.environ.get('RANK')}: {int(s.done().sum())} cells done", flush=True)
