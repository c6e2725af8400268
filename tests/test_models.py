"""models/: every builder builds, runs, trains one step; pairs differ in one switch only; specs round-trip.

Most tests use 1x8x8 inputs (the digits shape) so the whole file runs in seconds on one CPU core.
"""
import copy
import functools
import json

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from landscape import cli, models
from landscape.models.layers import ChannelAffine, group_count, norm_layer
from landscape.models.resnet import ShortcutA

SMALL = dict(in_shape=(1, 8, 8), num_classes=7)
NAMES = models.list_models()


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is fastest (conftest)


@functools.lru_cache(maxsize=None)
def _built(name):
    return models.create(name, seed=0, **SMALL)


def built(name):
    """A fresh copy of ``create(name, seed=0, **SMALL)`` (copying is cheaper than building)."""
    return copy.deepcopy(_built(name))


def batch(n=6, shape=(1, 8, 8), seed=0):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def varies(name):
    """The switches ``name``'s family has (the pairs it can form)."""
    return [v for v in models.VARY if v in models.resolve(name)[1]]


# ---- every builder -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_forward_backward(name):
    model = built(name)
    out = model(batch())
    assert out.shape == (6, 7)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(6) % 7).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_train_and_eval_mode(name):
    """BN uses batch statistics in training and running averages in eval: outputs differ.
    Without BN (and without dropout) the two modes compute the same function."""
    model = models.create(name, seed=0, **SMALL)
    x = batch()
    model.train()
    train_out = model(x)
    model.eval()
    with torch.no_grad():
        eval_out = model(x)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert has_bn == (model.spec["norm"] == "batch")
    if has_bn:
        assert not torch.allclose(train_out, eval_out, atol=1e-4)
    else:
        torch.testing.assert_close(train_out.detach(), eval_out)


@pytest.mark.parametrize("name", NAMES)
def test_dropout_only_in_training(name):
    """dropout=p changes training outputs at random; in eval mode the net equals its dropout-free twin."""
    # layer norm (the transformer's Pre-LN): same in both modes, so only dropout differs
    kw = dict(SMALL, seed=1, norm="pre" if models.resolve(name)[0] == "transformer" else "layer")
    with_drop, without = models.create(name, dropout=0.5, **kw), models.create(name, dropout=0.0, **kw)
    assert sum(isinstance(m, nn.Dropout) for m in with_drop.modules()) >= 1
    x = batch()
    with_drop.eval(), without.eval()
    with torch.no_grad():
        torch.testing.assert_close(with_drop(x), without(x))
        with_drop.train()
        torch.manual_seed(0)
        a = with_drop(x)
        b = with_drop(x)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, without(x))


@pytest.mark.parametrize("name", NAMES)
def test_pairs_share_names_shapes_and_weights(name):
    for vary in varies(name):
        on, off = models.pair(name, vary=vary, **SMALL)
        shapes_on = {n: p.shape for n, p in on.named_parameters()}
        shapes_off = {n: p.shape for n, p in off.named_parameters()}
        assert list(shapes_on) == list(shapes_off)  # same names, same order
        assert shapes_on == shapes_off
        for (n, a), b in zip(on.named_parameters(), off.parameters()):
            assert torch.equal(a, b), f"{vary} pair of {name}: {n} differs at init"
        diff = {k for k in on.spec if on.spec[k] != off.spec[k]}
        assert diff == {vary}
        assert (on.spec[vary], off.spec[vary]) in [(True, False), ("batch", "none"), ("layer", "none"),
                                                   ("group", "none"), ("pre", "none"), ("post", "none")]
        with torch.no_grad():  # the switch matters: the two members compute different functions
            # (in training mode: in eval mode a fresh BN, running mean 0 and variance 1, is the
            # identity up to eps, like the ChannelAffine of the norm="none" member at init)
            assert not torch.allclose(on.train()(batch()), off.train()(batch()), rtol=1e-3, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_seed_fixes_weights_and_leaves_global_rng_alone(name):
    state = torch.get_rng_state()
    a, b = models.create(name, seed=5, **SMALL), models.create(name, seed=5, **SMALL)
    assert torch.equal(torch.get_rng_state(), state)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n
    c = models.create(name, seed=6, **SMALL)
    assert not torch.equal(a.fc.weight, c.fc.weight)


@pytest.mark.parametrize("name", NAMES)
def test_spec_round_trip(name):
    model = models.create(name, seed=3, **SMALL)
    spec = models.spec(model)
    assert spec["name"] == models.resolve(name)[0]
    assert json.loads(json.dumps(spec)) == spec
    assert spec["in_shape"] == [1, 8, 8] and spec["num_classes"] == 7 and spec["seed"] == 3
    rebuilt = models.create(**spec)
    assert models.spec(rebuilt) == spec
    assert str(rebuilt) == str(model)
    for (n, p), q in zip(model.named_parameters(), rebuilt.parameters()):
        assert torch.equal(p, q), n
    spec["depth"] = -1
    assert model.spec["depth"] != -1  # spec() hands out a copy


@pytest.mark.parametrize("name", NAMES)
def test_layer_order_follows_the_forward_pass(name):
    model = built(name)
    order = models.layer_order(model)
    assert order == models.layer_order(model, example_input=batch(2))
    first = dict(model.named_parameters())[order[0]]
    # input layer: 1 channel, 64 flat inputs, or (transformer) a patch of 4 pixels
    assert first.shape[1] in ((4,) if models.resolve(name)[0] == "transformer" else (1, 64))
    assert order[-1] == "fc.weight"
    every = models.layer_order(model, weights_only=False)
    assert sorted(every) == sorted(n for n, _ in model.named_parameters())
    assert [n for n in every if n in order] == order


@pytest.mark.parametrize("name", ["mlp8", "mlp20_plain_sigmoid", "resnet20", "resnet20_nonorm", "wrn56_2", "vgg9",
                                  "vgg9_nonorm"])
def test_info_counts_match_built_models_without_allocating(name):
    model = built(name)
    meta = models.info(name, seed=0, **SMALL)
    assert meta["parameters"] == sum(p.numel() for p in model.parameters())
    assert meta["options"] == models.spec(model)
    assert meta["family"] == models.resolve(name)[0] and meta["description"]


# ---- the paper's numbers -------------------------------------------------------------------------

# He et al. 2016, Table 6 (CIFAR-10), as printed (two significant digits), and the exact count of the
# option-A architecture. ResNet-110's exact count, 1.728M, is 1.6% above the printed 1.7M (rounding);
# the rest are within 1%. We check both: 1% of the printed figure where that is attainable, and the
# printed rounding of the count everywhere.
HE_ET_AL = {20: (0.27e6, 269_722), 32: (0.46e6, 464_154), 44: (0.66e6, 658_586), 56: (0.85e6, 853_018),
            110: (1.7e6, 1_727_962)}


@pytest.mark.parametrize("depth", sorted(HE_ET_AL))
def test_resnet_parameter_counts(depth):
    printed, exact = HE_ET_AL[depth]
    count = models.info(f"resnet{depth}")["parameters"]  # 3x32x32, 10 classes, BN
    assert count == exact
    digits = 1 if printed >= 1e6 else 2
    assert round(count / 1e6, digits) == printed / 1e6
    if depth != 110:
        assert abs(count - printed) / printed < 0.01
    assert models.info(f"resnet{depth}_noskip")["parameters"] == count  # option A: no shortcut weights


def test_vanishing_gradient_at_init():
    """Sigmoid multiplies the gradient by at most 1/4 per layer: in a plain 20-layer sigmoid MLP the
    first layer's gradient is ~1e-12 of the last layer's (measured 0.6e-12..1.3e-12 over seeds 0-4).
    ReLU with skips (and BN, mlp20) keeps them within a factor of a few (measured 0.48..0.96)."""

    def first_over_last(name, seed):
        model = models.create(name, in_shape=(1, 8, 8), num_classes=10, seed=seed)
        x = batch(128, seed=seed)
        y = torch.randint(0, 10, (128,), generator=torch.Generator().manual_seed(seed))
        F.cross_entropy(model(x), y).backward()
        params, order = dict(model.named_parameters()), models.layer_order(model)
        return (params[order[0]].grad.norm() / params[order[-1]].grad.norm()).item()

    for seed in range(3):
        sigmoid = first_over_last("mlp20_plain_sigmoid", seed)
        relu_skip = first_over_last("mlp20", seed)
        assert sigmoid < 1e-8
        assert 0.1 < relu_skip < 10
        assert relu_skip / sigmoid > 1e8


# ---- building blocks -----------------------------------------------------------------------------

def test_layer_norm_on_conv_features_normalizes_each_sample_over_chw():
    norm = norm_layer("layer", 16, dims=2)
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1
    x = 3 + 5 * torch.randn(4, 16, 5, 5)
    y = norm(x).detach()
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    assert norm_layer("layer", 16, dims=0).normalized_shape == (16,)


def test_group_counts_and_none_is_affine_only():
    assert [group_count(c) for c in (16, 32, 64, 128, 512, 6, 3)] == [4, 8, 16, 32, 32, 1, 1]
    affine = norm_layer("none", 8, dims=2)
    assert isinstance(affine, ChannelAffine)
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(affine(x), x)  # identity at init
    for norm in models.NORMS:  # the norm slot always holds weight and bias of shape (C,)
        assert {n: tuple(p.shape) for n, p in norm_layer(norm, 8, dims=2).named_parameters()} == \
            {"weight": (8,), "bias": (8,)}


@pytest.mark.parametrize("name", ["resnet20", "mlp8", "vgg9"])
def test_layers_followed_by_a_norm_have_no_bias(name):
    model = models.create(name, **SMALL)
    biased = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None]
    assert biased == ["fc"]  # only the classifier


@pytest.mark.parametrize("norm", models.NORMS)
@pytest.mark.parametrize("activation", models.ACTIVATIONS)
def test_every_norm_and_activation(norm, activation):
    for name in ("resnet20", "mlp8", "vgg9"):
        model = models.create(name, norm=norm, activation=activation, seed=0, **SMALL)
        out = model(batch(3))
        assert out.shape == (3, 7) and torch.isfinite(out).all()
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert bool(prelus) == (activation == "prelu")


def test_option_a_shortcut_is_parameter_free_and_fits_odd_sizes():
    short = ShortcutA(16, 32, stride=2)
    assert list(short.parameters()) == []
    x = torch.randn(2, 16, 7, 7)
    y = short(x)
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    assert y.shape == conv(x).shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2, ::2])  # original channels in the middle
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_dataset_shapes(shape):
    for name in ("resnet20", "vgg9", "mlp8"):
        model = models.create(name, in_shape=shape, num_classes=10)
        assert model(torch.randn(2, *shape)).shape == (2, 10)
    vgg = models.create("vgg9", in_shape=shape)
    side = vgg.features(torch.randn(1, *shape)).shape[-1]
    assert side == {8: 1, 28: 4, 32: 4}[shape[-1]]  # never pooled below 1x1


def test_wide_resnet_width_multiplier():
    wide = models.create("wrn56_2")
    assert wide.conv1.out_channels == 32 and wide.fc.in_features == 128
    assert models.create("mlp8", width=0.5, **SMALL).fc.in_features == 32


def test_builders_are_attributes():
    model = models.resnet20(in_shape=(1, 8, 8))
    assert model.spec["depth"] == 20
    with pytest.raises(AttributeError):
        models.resnet21


# ---- bad input -----------------------------------------------------------------------------------

def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="resnet56"):
        models.create("resnet57")
    with pytest.raises(ValueError, match="vgg9"):
        models.create("vgg_9")


@pytest.mark.parametrize("overrides, words", [
    (dict(norm="batchnorm"), ["norm", "batchnorm", "'batch'"]),
    (dict(activation="swish"), ["activation", "swish", "relu"]),
    (dict(depth=21), ["depth", "21", "6n+2"]),
    (dict(dropout=1.0), ["dropout", "1.0"]),
    (dict(width=0), ["width"]),
    (dict(in_shape=(8,)), ["in_shape", "(8,)"]),
    (dict(in_shape=(1, 8, 8, 8)), ["in_shape", "(C, L)"]),
    (dict(num_classes=0), ["num_classes"]),
    (dict(skp=False), ["skp", "skip"]),
])
def test_bad_options_name_parameter_value_and_choices(overrides, words):
    with pytest.raises(ValueError) as info:
        models.create("resnet20", **overrides)
    for word in words:
        assert word in str(info.value)


def test_bad_pairs_and_inputs():
    with pytest.raises(ValueError, match="no `skip` switch"):
        models.pair("vgg9", vary="skip")
    with pytest.raises(ValueError, match="vary"):
        models.pair("resnet20", vary="depth")
    with pytest.raises(ValueError, match=r"in_shape"):
        models.create("vgg9", in_shape=(1, 8, 8))(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"64 features"):
        models.create("mlp8", in_shape=(1, 8, 8))(torch.randn(2, 1, 28, 28))
    with pytest.raises(ValueError, match="not a built-in model"):
        models.spec(nn.Linear(2, 2))


def test_pair_draws_one_seed_from_the_global_rng():
    torch.manual_seed(0)
    a_on, a_off = models.pair("mlp8", vary="norm", **SMALL)
    torch.manual_seed(0)
    b_on, _ = models.pair("mlp8", vary="norm", **SMALL)
    assert a_on.spec["seed"] == a_off.spec["seed"] == b_on.spec["seed"] is not None
    assert torch.equal(a_on.linear1.weight, b_on.linear1.weight)
    on, off = models.pair("mlp8", vary="norm", norm="group", **SMALL)
    assert (on.spec["norm"], off.spec["norm"]) == ("group", "none")


# ---- command line --------------------------------------------------------------------------------

def test_cli_list_and_info():
    runner = CliRunner()
    listed = runner.invoke(cli.main, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    for name in NAMES:
        assert f"\n{name} " in listed.output
    assert "853.0k" in listed.output  # resnet56 on CIFAR-10
    shown = runner.invoke(cli.main, ["models", "info", "resnet56", "--dataset", "digits"])
    assert shown.exit_code == 0, shown.output
    assert "skip        True" in shown.output and "in_shape    [1, 8, 8]" in shown.output
    assert f"{models.info('resnet56', in_shape=(1, 8, 8))['parameters']:,}" in shown.output
    as_json = runner.invoke(cli.main, ["models", "info", "vgg9_nonorm", "--json"])
    meta = json.loads(as_json.output)
    assert meta["options"]["norm"] == "none" and meta["parameters"] == models.info("vgg9_nonorm")["parameters"]


def test_cli_unknown_model_is_a_usage_error():
    result = CliRunner().invoke(cli.main, ["models", "info", "resnet57"])
    assert result.exit_code == 2
    assert "resnet56" in result.output and "Traceback" not in result.output


def test_numpy_integers_from_dataset_metadata_give_a_json_spec():
    import numpy as np

    model = models.create("mlp8", in_shape=tuple(np.array([1, 8, 8])),
                          num_classes=np.int64(10), seed=np.int64(2))
    spec = models.spec(model)
    assert json.loads(json.dumps(spec)) == spec == {**spec, "in_shape": [1, 8, 8], "num_classes": 10, "seed": 2}
