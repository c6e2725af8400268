"""Sharpness measures: oracle tests in float64 against the dense Hessian, and the rescaling test.

The oracle is ``torch.autograd.functional.hessian`` of the mean cross entropy of a tiny float64 MLP
(51 parameters) and ``numpy.linalg.eigvalsh`` of it.
"""
import copy
import json

import numpy as np
import pytest
import torch
from test_hessian import _data64, _exact, _mlp64
from torch import nn

from landscape.analysis import sharpness
from landscape.core import directions, surface
from landscape.core.params import snapshot


@pytest.fixture(scope="module")
def oracle():
    model, (X, Y) = _mlp64(), _data64()
    H = _exact(model, X, Y).numpy()
    return model, (X, Y), H, np.linalg.eigvalsh(H)


def _unchanged(model, before):
    after = snapshot(model)
    return all(torch.equal(before[k], after[k]) for k in before)


# --- eigenvalues -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["lanczos", "power"])
@pytest.mark.parametrize("which", ["LA", "SA"])
def test_eigenpairs_match_exact(oracle, method, which):
    model, data, H, exact = oracle
    before = snapshot(model)
    res = sharpness.hessian_eigs(model, data, k=3, which=which, method=method, seed=0)
    ref = exact[::-1][:3] if which == "LA" else exact[:3]
    np.testing.assert_allclose(res.values, ref, rtol=1e-4)
    assert res.converged and res.iterations > 0 and res.n_samples == 40 and res.n_params == 51
    # vectors: unit norm overall, mutually orthogonal, eigenvectors of the exact Hessian
    flat = np.stack([torch.cat([t.reshape(-1) for t in v.values()]).numpy() for v in res.vectors])
    np.testing.assert_allclose(flat @ flat.T, np.eye(3), atol=1e-5)
    assert list(res.vectors[0]) == [k for k, _ in model.named_parameters()]
    # the reported residuals ||H v - lambda v|| are the true ones, and small
    true_residuals = np.linalg.norm(flat @ H - res.values[:, None] * flat, axis=1)
    np.testing.assert_allclose(res.residuals, true_residuals, rtol=1e-6, atol=1e-12)
    assert (res.residuals < 1e-3 * abs(exact).max()).all()
    assert _unchanged(model, before)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_converged_means_the_documented_criterion(oracle, method):
    """Issue 21.17: converged is True only when every ||H v - lambda v|| <= tol |lambda| holds."""
    model, (X, Y), _, _ = oracle
    model32, data32 = copy.deepcopy(model).float(), (X.float(), Y)  # float32 products: a residual floor
    for tol in (1e-4, 1e-8):  # 1e-8 is below float32's floor: no solver reaches it
        res = sharpness.hessian_eigs(model32, data32, k=2, method=method, tol=tol, seed=0, max_iter=300)
        np.testing.assert_allclose(res.relative_residuals, res.residuals / np.abs(res.values), rtol=1e-12)
        assert res.converged == bool((res.relative_residuals <= tol).all())
        assert res.to_dict()["relative_residuals"] == res.relative_residuals.tolist()
        assert res.converged == (tol == 1e-4)


def test_power_finds_the_largest_even_when_the_smallest_is_larger_in_magnitude(oracle):
    model, data, _, _ = oracle
    # the negated loss has the negated spectrum: its most negative eigenvalue dominates in magnitude
    neg = lambda m, batch: -nn.functional.cross_entropy(m(batch[0]), batch[1])  # noqa: E731
    exact = -oracle[3][::-1]
    assert abs(exact[0]) > abs(exact[-1])
    res = sharpness.hessian_eigs(model, data, k=2, which="LA", method="power", loss=neg)
    np.testing.assert_allclose(res.values, exact[::-1][:2], rtol=1e-4)


def test_same_seed_same_result_and_json(oracle):
    model, data, _, _ = oracle
    a = sharpness.hessian_eigs(model, data, k=2, method="power", seed=5)
    b = sharpness.hessian_eigs(model, data, k=2, method="power", seed=5)
    assert np.array_equal(a.values, b.values) and a.iterations == b.iterations
    d = json.loads(json.dumps(a.to_dict()))
    assert d["result"] == "EigenResult" and d["seed"] == 5 and d["method"] == "power" and d["tol"] == 1e-4
    assert "vectors" not in d and len(d["values"]) == 2


# --- trace and density -------------------------------------------------------------------------------

def test_hutchinson_trace_within_three_standard_errors(oracle):
    model, data, _, exact = oracle
    res = sharpness.hessian_trace(model, data, n_probes=100, seed=0)
    assert res.n_probes == 100 == res.iterations and res.estimates.shape == (100,)
    assert 0 < res.stderr < abs(exact.sum())
    assert abs(res.trace - exact.sum()) <= 3 * res.stderr
    # early stop once the relative standard error is below tol
    short = sharpness.hessian_trace(model, data, n_probes=1000, tol=0.2, seed=0)
    assert 10 <= short.n_probes < 1000 and short.stderr <= 0.2 * abs(short.trace)


def test_spectral_density_integrates_to_one_where_the_eigenvalues_are(oracle):
    model, data, _, exact = oracle
    res = sharpness.spectral_density(model, data, n_probes=16, steps=20, seed=0)
    assert res.grid.shape == res.density.shape == (1000,)
    assert (res.density >= 0).all()
    assert np.trapezoid(res.density, res.grid) == pytest.approx(1.0, abs=1e-3)
    assert np.allclose(res.weights.sum(1), 1.0)
    # Kolmogorov distance between the smoothed density's CDF and the exact eigenvalues' CDF
    cdf = np.cumsum(res.density) * (res.grid[1] - res.grid[0])
    ecdf = np.searchsorted(np.sort(exact), res.grid, side="right") / len(exact)
    assert np.abs(cdf - ecdf).max() < 0.15
    # spectrum shifted by a tenth of its width: clearly detected (guards the assertion above)
    shifted = np.searchsorted(np.sort(exact) + 0.1 * np.ptp(exact), res.grid, side="right") / len(exact)
    assert np.abs(cdf - shifted).max() > 0.2


def test_full_lanczos_quadrature_nodes_are_the_eigenvalues(oracle):
    model, data, _, exact = oracle
    res = sharpness.spectral_density(model, data, n_probes=1, steps=51, seed=1)
    nodes = res.nodes[0][~np.isnan(res.nodes[0])]
    heavy = nodes[res.weights[0][:len(nodes)] > 1e-6]
    assert np.abs(heavy[:, None] - exact[None, :]).min(1).max() < 1e-8


# --- neighbourhood sharpness ----------------------------------------------------------------------------

def _loss_at(model, data, flat_offset):
    m = copy.deepcopy(model)
    with torch.no_grad():
        i = 0
        for p in m.parameters():
            p.add_(flat_offset[i:i + p.numel()].view_as(p))
            i += p.numel()
    X, Y = data
    return float(nn.functional.cross_entropy(m(X), Y))


def _grad(model, data):
    X, Y = data
    loss = nn.functional.cross_entropy(model(X), Y)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))]), loss.item()


def test_sam_first_order_step_and_more_steps(oracle):
    model, data, _, _ = oracle
    before = snapshot(model)
    res = sharpness.sam_sharpness(model, data, rho=[0.01, 0.1])
    g, base = _grad(model, data)
    for r, s in zip([0.01, 0.1], res.sharpness):
        assert s == pytest.approx(_loss_at(model, data, r * g / g.norm()) - base, rel=1e-9, abs=1e-12)
    assert res.base_loss == pytest.approx(base, rel=1e-12)
    assert res.sharpness[0] == pytest.approx(0.01 * float(g.norm()), rel=0.05)  # first order in rho
    more = sharpness.sam_sharpness(model, data, rho=[0.01, 0.1], steps=4)
    assert (more.sharpness >= res.sharpness - 1e-12).all() and more.steps == 4
    assert _unchanged(model, before)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["result"] == "SharpnessResult" and d["kind"] == "sam" and d["rho"] == [0.01, 0.1]


def test_asam_is_the_adaptive_ascent_step(oracle):
    model, data, _, _ = oracle
    res = sharpness.asam_sharpness(model, data, rho=[0.5], eta=0.01)
    g, base = _grad(model, data)
    T = torch.cat([(p.detach().abs() + 0.01 if n.endswith("weight") else torch.ones_like(p)).reshape(-1)
                   for n, p in model.named_parameters()])
    e = 0.5 * T * T * g / (T * g).norm()  # Kwon et al. 2021, eq. 13
    assert res.sharpness[0] == pytest.approx(_loss_at(model, data, e) - base, rel=1e-9)
    assert res.eta == 0.01 and res.kind == "asam"


def test_epsilon_sharpness_beats_random_corners_of_the_box(oracle):
    model, data, _, _ = oracle
    res = sharpness.epsilon_sharpness(model, data, rho=[1e-3, 5e-2], steps=10)
    g, base = _grad(model, data)
    w = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gen = torch.Generator().manual_seed(0)
    for r, best in zip([1e-3, 5e-2], res.max_loss):
        corners = [_loss_at(model, data, r * (w.abs() + 1) * (torch.randint(0, 2, w.shape, generator=gen) * 2 - 1))
                   for _ in range(20)]
        assert best >= max(corners) - 1e-12
    assert res.sharpness[1] > res.sharpness[0] > 0
    np.testing.assert_allclose(res.sharpness, 100 * (res.max_loss - base) / (1 + base))


def test_barrier_between_models(oracle):
    model, data, _, _ = oracle
    other = _mlp64(seed=7)
    before = snapshot(model)
    res = sharpness.barrier_height(model, other, data, n_points=5)
    X, Y = data
    assert res.losses[0] == pytest.approx(float(nn.functional.cross_entropy(model(X), Y)), rel=1e-12)
    assert res.losses[-1] == pytest.approx(float(nn.functional.cross_entropy(other(X), Y)), rel=1e-12)
    mid = copy.deepcopy(model)
    with torch.no_grad():
        for p, q in zip(mid.parameters(), other.parameters()):
            p.copy_((p + q) / 2)
    assert res.losses[2] == pytest.approx(float(nn.functional.cross_entropy(mid(X), Y)), rel=1e-12)
    line = (1 - res.t) * res.losses[0] + res.t * res.losses[-1]
    assert res.barrier == pytest.approx(max(0.0, (res.losses - line).max()))
    assert _unchanged(model, before)
    same = sharpness.barrier_height(model, model, data, n_points=3)
    assert same.barrier == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="same parameter names"):
        sharpness.barrier_height(model, nn.Linear(4, 3).double(), data)


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda m, d: sharpness.hessian_eigs(m, d, k=51), "k must be a whole number between 1 and 50"),
    (lambda m, d: sharpness.hessian_eigs(m, d, k=0), "k must be"),
    (lambda m, d: sharpness.hessian_eigs(m, d, which="LM"), "`which`"),
    (lambda m, d: sharpness.hessian_eigs(m, d, method="arnoldi"), "`method`"),
    (lambda m, d: sharpness.sam_sharpness(m, d, rho=0), "rho must be positive"),
    (lambda m, d: sharpness.asam_sharpness(m, d, rho=[0.1, -1]), "rho must be positive"),
    (lambda m, d: sharpness.epsilon_sharpness(m, d, rho=float("nan")), "rho must be positive"),
    (lambda m, d: sharpness.hessian_trace(m, d, n_probes=1), "n_probes"),
    (lambda m, d: sharpness.spectral_density(m, d, sigma=-1.0), "sigma"),
])
def test_bad_input_is_a_one_line_value_error(oracle, call, match):
    model, data, _, _ = oracle
    with pytest.raises(ValueError, match=match) as info:
        call(model, data)
    assert "\n" not in str(info.value)


def test_model_without_trainable_parameters_is_refused(oracle):
    _, data, _, _ = oracle
    frozen = _mlp64()
    for p in frozen.parameters():
        p.requires_grad_(False)
    for fn in (sharpness.hessian_eigs, sharpness.hessian_trace, sharpness.sam_sharpness):
        with pytest.raises(ValueError, match="no trainable parameters"):
            fn(frozen, data)


# --- rescaling (Dinh et al. 2017) ---------------------------------------------------------------------

class _ReluBNNet(nn.Module):
    """conv -> BN -> ReLU -> conv -> BN -> ReLU -> global average pool -> linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def test_rescaling_changes_lambda_max_but_not_the_filter_normalized_surface_or_asam():
    """Multiply conv2 by 10 (and its BN statistics to match): the same function, so the same
    filter-normalized surface and ASAM sharpness, but a different raw Hessian (Dinh et al. 2017)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)
    X = torch.randn(40, 1, 8, 8, generator=g, dtype=torch.float64)
    Y = torch.randint(0, 3, (40,), generator=g)
    model = _ReluBNNet().double()
    for bn in (model.bn1, model.bn2):
        bn.momentum = None  # running statistics = this batch's statistics, as after training
    model.train()
    with torch.no_grad():
        model(X)
    model.eval()
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        scaled.conv2.weight.mul_(10)
        scaled.bn2.running_mean.mul_(10)
        scaled.bn2.running_var.mul_(100)
    scaled.bn2.eps = model.bn2.eps * 100  # (10 z - 10 mu) / sqrt(100 var + 100 eps): exactly the same output
    torch.testing.assert_close(scaled(X), model(X), rtol=1e-12, atol=1e-12)

    grid = dict(x=(-1.0, 1.0, 5), y=(-1.0, 1.0, 5), data=(X, Y), progress=False)
    surf_a = surface.compute(model, directions.random(model, n=2, seed=0), **grid)
    surf_b = surface.compute(scaled, directions.random(scaled, n=2, seed=0), **grid)
    np.testing.assert_allclose(surf_b.values["train_loss"], surf_a.values["train_loss"], rtol=1e-6)

    asam_a = sharpness.asam_sharpness(model, (X, Y), rho=[0.1, 0.5], eta=0.0)
    asam_b = sharpness.asam_sharpness(scaled, (X, Y), rho=[0.1, 0.5], eta=0.0)
    np.testing.assert_allclose(asam_b.sharpness, asam_a.sharpness, rtol=1e-6)
    # with the paper's eta = 0.01 the invariance is approximate (|10 w| + eta != 10 (|w| + eta))
    np.testing.assert_allclose(sharpness.asam_sharpness(scaled, (X, Y), rho=0.5).sharpness,
                               sharpness.asam_sharpness(model, (X, Y), rho=0.5).sharpness, rtol=0.05)

    lam_a = sharpness.hessian_eigs(model, (X, Y), k=1).values[0]
    lam_b = sharpness.hessian_eigs(scaled, (X, Y), k=1).values[0]
    assert abs(lam_b - lam_a) > 0.2 * abs(lam_a)
    sam_a = sharpness.sam_sharpness(model, (X, Y), rho=0.05).sharpness[0]
    sam_b = sharpness.sam_sharpness(scaled, (X, Y), rho=0.05).sharpness[0]
    assert abs(sam_b - sam_a) > 0.1 * abs(sam_a)  # SAM is not scale-invariant either
