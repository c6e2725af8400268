"""Write the golden surface files in this folder (run once per format version; never regenerate an
old version's file: the point is that future readers still read exactly these bytes).

    python tests/golden/make_golden.py
"""
from pathlib import Path

import numpy as np
import torch

from landscape.storage import io

HERE = Path(__file__).parent


def golden_values():
    """The values stored in surface_v1.0.h5: train_loss = 1 + x^2 + 2 y^2 on a 4 x 3 grid ([y, x]),
    cell [2, 3] not done, cell [0, 0] done but diverged (inf)."""
    x, y = np.linspace(-1, 1, 4), np.linspace(-0.5, 0.5, 3)
    X, Y = np.meshgrid(x, y)
    loss = 1 + X ** 2 + 2 * Y ** 2
    acc = 1 / loss
    done = np.ones((3, 4), np.uint8)
    done[2, 3] = 0
    loss[0, 0] = np.inf
    return x, y, loss, acc, done


def write_v1_0(path=HERE / "surface_v1.0.h5"):
    x, y, loss, acc, done = golden_values()
    dirs = [{"layer.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "layer.bias": torch.zeros(2)},
            {"layer.weight": -torch.arange(6, dtype=torch.float32).reshape(2, 3), "layer.bias": torch.zeros(2)}]
    attrs = {"created_by": "landscape 0.1.0", "created_at": "2026-01-01T00:00:00+00:00",
             "library_versions": {"landscape": "0.1.0"}, "model_name": "golden", "model_spec": {"name": "mlp", "depth": 2},
             "direction_kind": "random", "norm": "filter", "ignore": "biasbn", "seed": 0, "dataset": "digits",
             "n_samples": 100, "loss": "cross_entropy", "bn": "eval", "precision": "fp32", "values": ["train_loss", "train_acc"]}
    io.create(path, x, y, ["train_loss", "train_acc"], attrs, dirs,
              trajectory={"coords": np.array([[0.5, 0.25], [0.0, 0.0]]), "epochs": np.array([0, 1]),
                          "explained": np.array([0.75, 0.125]), "error": np.array([0.01, 0.0])},
              values={"train_loss": np.where(done, loss, np.nan), "train_acc": np.where(done, acc, np.nan)},
              done=done, metrics={"sharpness": 0.5, "eigs": {"values": np.array([3.0, 1.0])}})



def write_v1_1_planes(path=HERE / "surface_v1.1_planes.h5"):
    """Format 1.1's additions: a 2-plane ensemble (seeds 0 and 1; plane 1 = plane 0's loss times 2),
    standard errors (0.1 x loss) and per-cell sample counts (100, cell [0, 1] 50)."""
    x, y, loss, acc, done = golden_values()
    loss[0, 0] = 1.0 + 1 + 0.5  # finite here
    dirs = [{"layer.weight": torch.ones(2, 3)}, {"layer.weight": -torch.ones(2, 3)}]
    attrs = {"created_by": "landscape 0.1.0", "created_at": "2026-01-02T00:00:00+00:00",
             "library_versions": {"landscape": "0.1.0"}, "model_name": "golden", "model_spec": None,
             "direction_kind": "random", "norm": "filter", "ignore": "biasbn", "seed": 0, "planes": 2,
             "tol": 0.01, "tol_cap": 10.0, "tol_first": 128, "tol_step": 128, "tol_seed": 0,
             "population": {"train": 100}, "n_samples": 100, "loss": "cross_entropy", "values": ["train_loss"]}
    n = np.full((3, 4), 100, np.int64)
    n[0, 1] = 50
    masked = np.where(done, loss, np.nan)
    arrays = {"se/train_loss": 0.1 * masked, "samples/train": n * done,
              "planes/done": np.stack([done, done]), "planes/train_loss": np.stack([masked, 2 * masked]),
              "planes/se/train_loss": np.stack([0.1 * masked, 0.2 * masked]), "planes/samples/train": np.stack([n, n]) * done}
    io.create(path, x, y, ["train_loss"], attrs, dirs, values={"train_loss": masked}, done=done,
              se_names=["train_loss"], sample_splits=["train"], plane_seeds=[0, 1], arrays=arrays)


if __name__ == "__main__":
    write_v1_0()
    write_v1_1_planes()
