"""Acceptance: on a quadratic loss with a known Hessian (10^4 parameters, a spectrum with a few large
outliers), the curvature along K = 64 unnormalized Gaussian directions estimates tr(H) (Hutchinson
1989: E[d^T H d] = tr(H) for d ~ N(0, I)), and the 95% interval of its mean over the 64 planes covers
tr(H) in at least 93 of 100 seeds."""
import numpy as np
import pytest
import torch
from torch import nn

from landscape.analysis.planes import plane_metrics
from landscape.base.spread import mean_se
from landscape.core import directions, surface

pytestmark = pytest.mark.usefixtures("one_thread")


def spectrum(n=10_000):
    """A bulk of small eigenvalues and five large outliers (the shape of a trained net's Hessian)."""
    h = np.abs(np.random.default_rng(123).normal(0.0, 1.0, n)) * 0.1
    h[:5] = [300.0, 200.0, 150.0, 100.0, 80.0]
    return torch.tensor(h, dtype=torch.float64).reshape(100, 100)


class Quadratic(nn.Module):
    """L(w) = ½ Σ h_i w_i², minimum at w = 0, Hessian diag(h)."""

    def __init__(self, h):
        super().__init__()
        self.w = nn.Parameter(torch.zeros_like(h))
        self.register_buffer("h", h)

    def forward(self, batch):
        return 0.5 * (self.h * self.w ** 2).sum() + 0.0 * batch.sum()


def test_curvature_of_each_plane_is_the_directional_second_derivative_and_covers_the_trace():
    h = spectrum()
    model = Quadratic(h).double()
    dirs = directions.random(model, n=1, norm="none", ignore=None, seed=0)
    s = surface.compute(model, dirs, x=(-1, 1, 5), data=[torch.zeros(1, dtype=torch.float64)],
                        loss=lambda m, b: m(b), planes=64, progress=False)
    m = plane_metrics(s, "train_loss")
    assert m["planes"] == 64 and list(m["seeds"]) == list(range(64))
    exact = [float((h * directions.random(model, n=1, norm="none", ignore=None, seed=k)[0]["w"] ** 2).sum())
             for k in (0, 1, 63)]
    np.testing.assert_allclose(m["curvature_x"][[0, 1, 63]], exact, rtol=1e-6)
    assert m["curvature_x_mean_lo"] <= float(h.sum()) <= m["curvature_x_mean_hi"]


def test_interval_over_64_gaussian_directions_covers_the_trace_in_93_of_100_seeds():
    h = spectrum()
    model = Quadratic(h).double()
    trace, hits = float(h.sum()), 0
    for seed in range(100):
        # 64 planes of seed s are the directions of seeds 64 s .. 64 s + 63 (surface.compute(planes=64))
        curv = [float((h * directions.random(model, n=1, norm="none", ignore=None, seed=64 * seed + k)[0]["w"] ** 2).sum())
                for k in range(64)]
        hits += mean_se(curv, method="bootstrap-t", seed=seed).contains(trace)
    assert hits >= 93, hits
