"""The landscape core on 1D networks (Conv1d / BatchNorm1d): every direction kind, the engine's
BatchNorm folding against the naive oracle, and Hessian sharpness against the dense Hessian."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_surface import naive_value
from torch import nn

from landscape import models
from landscape.analysis import hessian, sharpness
from landscape.core import bnfold, directions, engine, evaluate, fastnet, surface
from landscape.core.engine import EngineOptions

CE = evaluate.objective("cross_entropy")


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is fastest (conftest)


@pytest.fixture
def signals():
    g = torch.Generator().manual_seed(0)
    return torch.randn(48, 1, 16, generator=g), torch.randint(0, 3, (48,), generator=g)


def _net(seed=0, norm="batch", width=0.5, X=None):
    """A small 1D ResNet-8 whose BatchNorm statistics and affine parameters are far from their init."""
    model = models.create("resnet", depth=8, width=width, norm=norm, in_shape=(1, 16), num_classes=3, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        if X is not None:
            model.train()(X)
    return model.eval()


def test_filter_normalized_random_directions_on_conv1d_weights(signals):
    model = _net(X=signals[0])
    dirs = directions.random(model, n=2, norm="filter", ignore="biasbn", seed=0)
    weights = dict(model.named_parameters())
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv1d)]
    assert len(convs) == 7
    for d in dirs:
        for name in convs:
            w, v = weights[f"{name}.weight"], d[f"{name}.weight"]  # (C_out, C_in, 3)
            assert v.shape == w.shape and w.dim() == 3
            torch.testing.assert_close(v.flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1), rtol=1e-5, atol=0)
        for name, v in d.items():
            if v.dim() <= 1:  # biasbn: BatchNorm scales and shifts stay put
                assert not v.any(), name
    again = directions.random(model, n=2, norm="filter", seed=0)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(dirs, again) for k in a)
    # one seed gives the skip and no-skip members the same directions (identical names and shapes)
    on, off = models.pair("resnet", vary="skip", depth=8, in_shape=(1, 16), num_classes=3, seed=0)
    d_on, d_off = directions.random(on, seed=3), directions.random(off, seed=3)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(d_on, d_off) for k in a)


def test_target_and_pca_directions(signals):
    a, b = _net(seed=0), _net(seed=1)
    (d,) = directions.target(a, b)
    for name, p in a.named_parameters():
        torch.testing.assert_close(d[name], dict(b.named_parameters())[name].detach() - p.detach())
    g = torch.Generator().manual_seed(0)
    # a trajectory that moves along one line (plus a little noise): the first component finds it
    line = {n: torch.randn(p.shape, generator=g) for n, p in a.named_parameters()}
    snaps = []
    for t in range(5):
        s = copy.deepcopy(a)
        with torch.no_grad():
            for n, p in s.named_parameters():
                p.add_((4 - t) * line[n] + 0.01 * torch.randn(p.shape, generator=g))
        snaps.append(s)
    pcs = directions.pca(snaps, a, n=2).directions
    flat_line = torch.cat([v.flatten() for v in line.values()])
    first = torch.cat([pcs[0][n].flatten() for n in line])
    assert abs(float(first @ flat_line) / float(flat_line.norm() * first.norm())) > 0.99
    assert directions.pca(snaps, a, n=2).explained[0] > 0.99


def test_engine_folds_conv1d_batchnorm_and_equals_naive(signals):
    X, Y = signals
    model = _net(X=X)
    pairs = bnfold.find_foldable(model, (X, Y), CE)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv1d)]
    assert sorted(layer for layer, _ in pairs) == sorted(convs)  # every Conv1d with its BatchNorm1d
    assert bnfold.fold_is_exact(model, pairs, (X, Y), CE)
    dirs = directions.random(model, n=2, seed=1)
    grid = dict(x=(-1, 1, 3), y=(-0.5, 0.5, 2), data=(X, Y), progress=False)
    folded = surface.compute(model, dirs, **grid)  # CPU default: Conv1d run as channels_last Conv2d
    plain = surface.compute(model, dirs, **grid, engine=EngineOptions(fold_bn=False, channels_last=False))
    for j, b in enumerate(folded.y):
        for i, a in enumerate(folded.x):
            loss, acc = naive_value(model, dirs, (a, b), X, Y)
            assert folded.values["train_loss"][j, i] == pytest.approx(loss, rel=1e-6)
            assert folded.values["train_acc"][j, i] == pytest.approx(acc, abs=1e-12)
    np.testing.assert_allclose(folded.values["train_loss"], plain.values["train_loss"], rtol=1e-6)


def test_recomputed_batchnorm_on_1d_equals_naive(signals):
    X, Y = signals
    model = _net(X=X)
    dirs = directions.random(model, n=1, seed=2)
    line = surface.compute(model, dirs, x=(-0.5, 0.5, 3), data=(X, Y), bn="recompute", progress=False)
    for i, a in enumerate(line.x):
        loss, _ = naive_value(model, dirs, (a,), X, Y, bn="recompute")
        assert line.values["train_loss"][i] == pytest.approx(loss, rel=1e-5)


def test_hessian_eigs_and_directions_on_a_1d_net_match_the_dense_hessian(signals):
    X, Y = signals
    model = _net(width=0.125, X=X).double()  # 477 parameters
    Xd = X.double()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(flat):
        return F.cross_entropy(torch.func.functional_call(model, hessian.unflatten(flat, params), (Xd,)), Y)

    exact = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, hessian.flatten(params)))
    eig = sharpness.hessian_eigs(model, (Xd, Y), k=2, seed=0)
    np.testing.assert_allclose(eig.values, exact.flip(0)[:2].numpy(), rtol=1e-6)
    trace = sharpness.hessian_trace(model, (Xd, Y), n_probes=100, seed=0)
    assert abs(trace.trace - float(exact.sum())) < 4 * trace.stderr + 1e-9
    # the top eigenvector as a direction: the loss curves upward along it like lambda_max / 2 * t^2
    top = eig.vectors[0]
    assert set(top) == set(params) and top["conv1.weight"].shape == (2, 1, 3)
    t = 1e-5  # small enough that no ReLU changes side
    m0 = float(loss(hessian.flatten(params)))
    m1 = float(loss(hessian.flatten({k: params[k] + t * top[k] for k in params})))
    m2 = float(loss(hessian.flatten({k: params[k] - t * top[k] for k in params})))
    assert (m1 + m2 - 2 * m0) / t ** 2 == pytest.approx(eig.values[0], rel=1e-3)


@pytest.mark.parametrize("stride, padding, dilation, groups, bias", [
    (1, 1, 1, 1, False), (2, 1, 1, 1, True), (1, 2, 2, 2, True), (3, 0, 1, 1, False), (1, "same", 1, 1, True)])
def test_conv1d_run_as_channels_last_conv2d_equals_conv1d(stride, padding, dilation, groups, bias):
    torch.manual_seed(0)
    conv = nn.Conv1d(4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    fast = fastnet.Conv1dAs2d(conv)
    assert fast.weight is conv.weight and [n for n, _ in fast.named_parameters()] == \
        [n for n, _ in conv.named_parameters()]  # same tensors under the same names: folds write into them
    x = torch.randn(5, 4, 17)
    with torch.no_grad():
        want, got = conv(x), fast(x)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        assert got.transpose(1, 2).is_contiguous()  # memory (N, L, C): the next layer converts for free
        torch.testing.assert_close(fast(got[:, :4]), conv(got[:, :4]), rtol=1e-5, atol=1e-6)  # NLC input
        torch.testing.assert_close(fast(x[0]), conv(x[0]))  # an unbatched (C, L) input


def test_engine_runs_1d_convolutions_channels_last_on_cpu(signals):
    X, Y = signals
    model = _net(X=X)
    dirs = directions.random(model, n=2, seed=4)
    ev = engine.PointEvaluator(model, dirs, {"train": [(X, Y)]}, CE)
    assert ev.options.channels_last
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv1d)]
    assert [n for n, m in ev.runner.module.named_modules() if isinstance(m, fastnet.Conv1dAs2d)] == convs
    assert all(type(m) is nn.Conv1d for n, m in model.named_modules() if n in convs)  # the model is untouched
    slow = engine.PointEvaluator(model, dirs, {"train": [(X, Y)]}, CE,
                                 options=EngineOptions(channels_last=False, fold_bn=False))
    assert not slow.runner.is_copy
    points = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
    fast_values, slow_values = ev(points), slow(points)
    np.testing.assert_allclose(fast_values["train_loss"], slow_values["train_loss"], rtol=1e-6)
    np.testing.assert_array_equal(fast_values["train_acc"], slow_values["train_acc"])


def test_vmapped_points_on_a_1d_net_equal_single_points(signals):
    X, Y = signals
    model = _net(X=X)
    dirs = directions.random(model, n=2, seed=5)
    points = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
    single = engine.PointEvaluator(model, dirs, {"train": [(X, Y)]}, CE)(points)
    grouped = engine.PointEvaluator(model, dirs, {"train": [(X, Y)]}, CE,
                                    options=EngineOptions(points_per_pass=2))
    assert grouped.options.channels_last and grouped.options.points_per_pass == 2
    values = grouped(points)
    np.testing.assert_allclose(values["train_loss"], single["train_loss"], rtol=1e-5)
    np.testing.assert_array_equal(values["train_acc"], single["train_acc"])
