"""The fast evaluation engine against the naive oracle: BatchNorm folding, channels_last, precisions,
vmap groups (values independent of grouping), restoration; CUDA checks marked `gpu`."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_surface import naive_value
from torch import nn

from landscape import models
from landscape.core import bnfold, directions, engine, evaluate, surface
from landscape.core.engine import EngineOptions, PointEvaluator

CE = evaluate.objective("cross_entropy")


class ResBlockCNN(nn.Module):
    """conv-BN-relu stem, a residual block (BN after each conv), pooling, linear-BN1d-linear head."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(1, 4, 3, padding=1, bias=True)
        self.bn0 = nn.BatchNorm2d(4)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4, affine=False)
        self.lin = nn.Linear(4, 8)
        self.bn3 = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv0(x)))
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)
        return self.fc(F.relu(self.bn3(self.lin(x.mean((2, 3))))))


class SharedOutput(nn.Module):
    """A conv whose output feeds its BatchNorm *and* a shortcut: folding it would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.conv(x)
        return self.fc((self.bn(y) + y).mean((2, 3)))


def _trained_bn(model, X, seed=0):
    """Non-trivial BatchNorm affine parameters and statistics (as after training), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.affine:
                    m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        model.train()
        model(X)
    return model.eval()


@pytest.fixture
def resnetish(images):
    torch.manual_seed(0)
    return _trained_bn(ResBlockCNN(), images[0])


def _grid(model, data, dirs, **kw):
    return surface.compute(model, dirs, x=(-1, 1, 3), y=(-0.5, 0.5, 2), data=data, progress=False, **kw)


def _assert_matches_naive(surf, model, dirs, X, Y, rel=1e-6):
    for j, b in enumerate(surf.y):
        for i, a in enumerate(surf.x):
            loss, acc = naive_value(model, dirs, (a, b), X, Y)
            assert surf.values["train_loss"][j, i] == pytest.approx(loss, rel=rel)
            assert surf.values["train_acc"][j, i] == pytest.approx(acc, abs=1e-12)


# --- BatchNorm folding --------------------------------------------------------------------------------

def test_find_foldable_pairs_each_layer_with_its_batchnorm(resnetish, images):
    pairs = bnfold.find_foldable(resnetish, images, CE)
    assert sorted(pairs) == [("conv0", "bn0"), ("conv1", "bn1"), ("conv2", "bn2"), ("lin", "bn3")]
    assert bnfold.fold_is_exact(resnetish, pairs, images, CE)
    net = models.create("resnet20", in_shape=(1, 8, 8), num_classes=3, seed=0).eval()
    assert len(bnfold.find_foldable(net, images, CE)) == 19  # every conv of a CIFAR ResNet-20
    net.train()
    assert bnfold.find_foldable(net, images, CE) == []  # training-mode BatchNorm is not an affine map


@pytest.mark.parametrize("signs", ["same", "mixed"])
def test_fold_check_on_outputs_that_overflow_refuses_instead_of_crashing(signs):
    """A 110-layer plain ResNet's randomized-BatchNorm probe overflowed, and the tolerance built from
    it was NaN ("atol must be greater than or equal to zero"), or inf (anything passes): the check
    now says "not exact", so the engine does not fold."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        model[2].weight.fill_(1e38)  # every output overflows float32: inf ...
        if signs == "mixed":
            model[2].weight[:, 1::2] *= -1  # ... or inf - inf = NaN
    X, Y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    pairs = bnfold.find_foldable(model, (X, Y), CE)
    assert pairs == [("0", "1")]
    assert bnfold.fold_is_exact(model, pairs, (X, Y), CE) is False


def test_a_layer_output_used_beyond_its_batchnorm_is_not_folded(images, caplog):
    torch.manual_seed(0)
    model = _trained_bn(SharedOutput(), images[0])
    pairs = bnfold.find_foldable(model, images, CE)
    assert pairs == [("conv", "bn")]  # hooks cannot see the second use ...
    assert not bnfold.fold_is_exact(model, pairs, images, CE)  # ... the randomized check does
    dirs = directions.random(model, n=2, seed=0)
    with caplog.at_level("WARNING", logger="landscape.core.engine"):
        surf = _grid(model, images, dirs)
    assert "folding skipped" in caplog.text
    _assert_matches_naive(surf, model, dirs, *images)


@pytest.mark.parametrize("ignore, buffers, scale", [("biasbn", False, 1.0), (None, False, 1.0), (None, True, 0.05)])
def test_folded_grid_equals_naive_evaluation(resnetish, images, ignore, buffers, scale):
    """Folding is exact to float rounding, also when BatchNorm parameters and statistics move too
    (small steps for the statistics: a variance must stay positive)."""
    dirs = directions.random(resnetish, n=2, seed=1, ignore=ignore, include_buffers=buffers)
    dirs = [{k: scale * v for k, v in d.items()} for d in dirs]
    folded = _grid(resnetish, images, dirs)
    plain = _grid(resnetish, images, dirs, engine=EngineOptions(fold_bn=False, channels_last=False))
    assert np.isfinite(folded.values["train_loss"]).all()
    _assert_matches_naive(folded, resnetish, dirs, *images)
    np.testing.assert_allclose(folded.values["train_loss"], plain.values["train_loss"], rtol=1e-6)


def test_runner_copy_follows_every_point_and_model_is_untouched(resnetish, images):
    before = {k: v.clone() for k, v in resnetish.state_dict().items()}
    formats = [p.is_contiguous() for p in resnetish.parameters()]
    dirs = directions.random(resnetish, n=2, seed=0, ignore=None)
    ev = PointEvaluator(resnetish, dirs, {"train": [images]}, CE, options=EngineOptions(channels_last=True))
    assert ev.runner.is_copy and len(ev.runner.pairs) == 4
    coords = np.array([[0.0, 0.0], [0.7, -0.2], [0.0, 0.0]])
    out = ev(coords)["train_loss"]
    assert out[0] == out[2] != out[1]  # weights really change between points, and come back
    assert out[1] == pytest.approx(naive_value(resnetish, dirs, (0.7, -0.2), *images)[0], rel=1e-6)
    for k, v in resnetish.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert [p.is_contiguous() for p in resnetish.parameters()] == formats  # the model's layout is its own


class ActAfterUse(nn.Module):
    """ReLU modules whose inputs are needed afterwards: in-place would corrupt the sum and the batch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act_in = nn.ReLU()
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = self.bn(self.conv(self.act_in(x) - 0.5 * x))  # act_in's input is the batch itself
        return self.fc((self.act(h) + h).mean((2, 3)))     # act's input is used after it


def test_inplace_activations_only_where_they_change_nothing(images):
    net = models.create("resnet20", in_shape=(1, 8, 8), num_classes=3, seed=0).eval()
    ev = PointEvaluator(net, directions.random(net, n=1), {"train": [images]}, CE)
    assert ev.runner.inplace and all(m.inplace for m in ev.runner.module.modules() if isinstance(m, nn.ReLU))
    assert not any(m.inplace for m in net.modules() if isinstance(m, nn.ReLU))  # the user's model untouched
    torch.manual_seed(0)
    bad = _trained_bn(ActAfterUse(), images[0])
    X = images[0].clone()
    dirs = directions.random(bad, n=2, seed=0)
    ev = PointEvaluator(bad, dirs, {"train": [(X, images[1])]}, CE)
    assert ev.runner.is_copy and not ev.runner.inplace
    assert not any(m.inplace for m in ev.runner.module.modules() if isinstance(m, nn.ReLU))
    assert torch.equal(X, images[0])  # the probe left the data alone
    _assert_matches_naive(_grid(bad, images, dirs), bad, dirs, *images)


# --- memory format and precision ----------------------------------------------------------------------

def test_channels_last_and_recomputed_batchnorm_match_naive(resnetish, images):
    dirs = directions.random(resnetish, n=2, seed=2)
    cl = _grid(resnetish, images, dirs, engine=EngineOptions(channels_last=True))
    _assert_matches_naive(cl, resnetish, dirs, *images)
    rec = _grid(resnetish, images, dirs, bn="recompute", engine=EngineOptions(channels_last=True))
    expect = naive_value(resnetish, dirs, (1.0, 0.5), *images, bn="recompute")[0]
    assert rec.values["train_loss"][1, 2] == pytest.approx(expect, rel=1e-6)


def test_precisions_recorded_tf32_is_fp32_on_cpu_bf16_close_and_not_stale(resnetish, images, tmp_path):
    dirs = directions.random(resnetish, n=2, seed=0)
    kw = dict(x=(-1, 1, 5), y=(-1, 1, 4), data=images, progress=False)
    fp32 = surface.compute(resnetish, dirs, **kw)
    tf32 = surface.compute(resnetish, dirs, precision="tf32", **kw)
    bf16 = surface.compute(resnetish, dirs, precision="bf16", path=tmp_path / "b.h5", **kw)
    np.testing.assert_array_equal(tf32.values["train_loss"], fp32.values["train_loss"])  # no TF32 on CPUs
    assert bf16.attrs["precision"] == "bf16" and tf32.attrs["precision"] == "tf32"
    a, b = fp32.values["train_loss"], bf16.values["train_loss"]
    assert not np.array_equal(a, b)  # really ran in bfloat16 ...
    np.testing.assert_allclose(b, a, rtol=3e-2)  # ... at every point: a stale autocast weight cache
    assert np.ptp(b) > 0.5 * np.ptp(a)  # would repeat the first point's value across the grid


def test_bf16_weights_are_recast_at_every_point_of_a_round(mlp, xy):
    """The model itself runs here (nothing to fold: no copy), its weights require grad, and a whole
    round runs in one autocast region. Under ``torch.no_grad`` autocast's weight cache would hand every
    point the first point's bfloat16 weights (the engine turns the cache off; this guards the result)."""
    dirs = directions.random(mlp, n=1, seed=0)
    ev = PointEvaluator(mlp, dirs, {"train": [xy]}, CE, precision="bf16")
    assert not ev.runner.is_copy
    coords = np.array([[0.0], [1.0], [-1.0]])
    together = ev(coords)["train_loss"]
    apart = np.concatenate([ev(c[None])["train_loss"] for c in coords])
    np.testing.assert_array_equal(together, apart)
    assert len(set(together.tolist())) == 3


def test_precision_context_restores_global_settings():
    before = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    for p in engine.PRECISIONS:
        with engine.precision_context(p, "cpu"):
            if p == "bf16":
                assert torch.is_autocast_enabled("cpu")
    assert (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32) == before
    with pytest.raises(ValueError, match="precision"):
        with engine.precision_context("fp16", "cpu"):
            pass


# --- several points per pass --------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["mlp", "resnetish"])
def test_vmap_groups_match_single_points_and_grouping_never_changes_a_value(which, request, xy, images):
    model = request.getfixturevalue(which)
    data = xy if which == "mlp" else images
    dirs = directions.random(model, n=2, seed=0)
    coords = np.random.default_rng(0).uniform(-1, 1, (7, 2))
    single = PointEvaluator(model, dirs, {"train": [data]}, CE)(coords)["train_loss"]
    ev = PointEvaluator(model, dirs, {"train": [data]}, CE, options=EngineOptions(points_per_pass=3))
    grouped = ev(coords)["train_loss"]
    np.testing.assert_allclose(grouped, single, rtol=1e-6)
    # the same point in other company, at another place in its group, in a padded last group:
    one_by_one = np.concatenate([ev(coords[i:i + 1])["train_loss"] for i in range(7)])
    shuffled = ev(coords[::-1])["train_loss"][::-1]
    np.testing.assert_array_equal(one_by_one, grouped)
    np.testing.assert_array_equal(shuffled, grouped)


def test_automatic_options_per_device(mlp, cnn, xy, images):
    dirs = directions.random(cnn, n=1)
    ev = PointEvaluator(cnn, dirs, {"train": [images]}, CE)
    assert ev.options.channels_last and ev.options.points_per_pass == 1  # CPU: no vmap
    ev = PointEvaluator(mlp, directions.random(mlp, n=1), {"train": [xy]}, CE)
    assert not ev.options.channels_last and not ev.runner.is_copy  # nothing to transform: no copy
    with pytest.raises(ValueError, match="points_per_pass"):
        EngineOptions(points_per_pass=0)
    with pytest.raises(ValueError, match="threads"):
        EngineOptions(threads=-2)


def test_thread_option_applies_during_the_job_only(mlp, xy):
    seen = []

    def spy(model, batch):
        seen.append(torch.get_num_threads())
        return F.cross_entropy(model(batch[0]), batch[1])

    before = torch.get_num_threads()
    surface.compute(mlp, directions.random(mlp, n=1), x=(-1, 1, 2), data=xy, loss=spy, progress=False,
                    engine=EngineOptions(threads=before + 1))
    assert seen[-1] == before + 1 and torch.get_num_threads() == before


def test_cli_engine_flags(tmp_path):
    from click.testing import CliRunner

    from landscape import cli, data
    from landscape.storage import checkpoint, io

    X, _ = data.load("digits", "train", n=64)
    model = models.create("mlp", depth=4, width=0.5, in_shape=(1, 8, 8), num_classes=10, seed=0)
    _trained_bn(model, X)
    ckpt = tmp_path / "m.pt"
    checkpoint.save(ckpt, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True}, epoch=0)
    outs = {}
    for name, flags in {"fast": ["--precision", "bf16", "--points-per-pass", "2"],
                        "plain": ["--no-fold-bn", "--no-channels-last"]}.items():
        outs[name] = tmp_path / f"{name}.h5"
        r = CliRunner().invoke(cli.main, ["surface", str(ckpt), "--x", "-1:1:3", "--n-samples", "32", "--threads", "1",
                                          "--no-progress", "--out", str(outs[name]), *flags])
        assert r.exit_code == 0, r.output
    fast, plain = io.load(outs["fast"]), io.load(outs["plain"])
    assert fast.attrs["precision"] == "bf16" and plain.attrs["precision"] == "fp32"
    np.testing.assert_allclose(fast.values["train_loss"], plain.values["train_loss"], rtol=3e-2)
    r = CliRunner().invoke(cli.main, ["surface", str(ckpt), "--precision", "fp8", "--out", str(tmp_path / "x.h5")])
    assert r.exit_code == 2 and "fp8" in r.output


# --- CUDA (run with `pytest -m gpu`; benchmarks/gpu_check.sh) -----------------------------------------

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
def test_cuda_engine_matches_cpu_in_every_precision():
    torch.manual_seed(0)
    X, Y = torch.randn(512, 3, 32, 32), torch.randint(0, 10, (512,))
    net = models.create("resnet20", seed=0)
    _trained_bn(net, X[:256])
    dirs = directions.random(net, n=2, seed=0)
    kw = dict(x=(-1, 1, 3), y=(-1, 1, 3), data=(X, Y), progress=False, batch_size=256)
    cpu = surface.compute(net, dirs, **kw).values["train_loss"]
    gnet, gdirs = copy.deepcopy(net).cuda(), [{k: v.cuda() for k, v in d.items()} for d in dirs]
    for precision, rtol in (("fp32", 1e-5), ("tf32", 1e-2), ("bf16", 3e-2)):
        ev = PointEvaluator(gnet, gdirs, {"train": evaluate.batches((X, Y), 256, torch.device("cuda"))}, CE,
                            precision=precision)
        assert ev.options.channels_last and ev.runner.is_copy
        got = surface.compute(gnet, gdirs, precision=precision, **kw).values["train_loss"]
        np.testing.assert_allclose(got, cpu, rtol=rtol, err_msg=precision)


@pytest.mark.gpu
@gpu
def test_cuda_vmap_groups_are_automatic_for_small_models_and_grouping_invariant():
    torch.manual_seed(0)
    X, Y = torch.randn(1024, 1, 8, 8, device="cuda"), torch.randint(0, 10, (1024,), device="cuda")
    net = models.create("mlp20", in_shape=(1, 8, 8), num_classes=10, seed=0).cuda()
    _trained_bn(net, X)
    dirs = directions.random(net, n=2, seed=0)
    ev = PointEvaluator(net, dirs, {"train": [(X, Y)]}, CE)
    assert ev.options.points_per_pass > 1
    coords = np.random.default_rng(0).uniform(-1, 1, (2 * ev.options.points_per_pass + 3, 2))
    grouped = ev(coords)["train_loss"]
    np.testing.assert_array_equal(ev(coords[::-1])["train_loss"][::-1], grouped)
    single = PointEvaluator(net, dirs, {"train": [(X, Y)]}, CE, options=EngineOptions(points_per_pass=1))(coords)
    np.testing.assert_allclose(grouped, single["train_loss"], rtol=1e-5)


@pytest.mark.slow  # torch.compile takes tens of seconds on a CPU
def test_compiled_engine_follows_the_weights_point_by_point(resnetish, images):
    """The compiled copy reads weights written in place between calls (no stale constants)."""
    dirs = directions.random(resnetish, n=2, seed=0)
    coords = np.array([[0.0, 0.0], [0.8, -0.3], [-0.5, 0.9], [0.0, 0.0]])
    plain = PointEvaluator(resnetish, dirs, {"train": [images]}, CE)(coords)["train_loss"]
    compiled = PointEvaluator(resnetish, dirs, {"train": [images]}, CE, options=EngineOptions(compile=True))(coords)
    np.testing.assert_allclose(compiled["train_loss"], plain, rtol=1e-5)
    assert len(set(compiled["train_loss"][:3].tolist())) == 3
