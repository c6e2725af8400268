"""1D networks (``in_shape=(C, L)``): native Conv1d / 1D norms / 1D option-A shortcuts, pairs, counts,
checkpoints and the CLI. The MNIST-1D shape (1, 40) throughout; each test runs in well under a second."""
import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from landscape import cli, models
from landscape.models.layers import norm_layer
from landscape.models.resnet import ShortcutA
from landscape.storage import checkpoint

SIGNAL = dict(in_shape=(1, 40), num_classes=10)
NAMES = models.list_models()


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is fastest (conftest)


def signals(n=6, shape=(1, 40), seed=0):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
def test_every_builder_is_native_1d_and_pairs_match(name):
    model = models.create(name, seed=0, **SIGNAL)
    assert not any(isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)) for m in model.modules())
    for p in model.parameters():  # no kernel has a second spatial axis
        assert p.dim() <= 3
    out = model.train()(signals())
    assert out.shape == (6, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    for vary in [v for v in models.VARY if v in models.resolve(name)[1]]:
        on, off = models.pair(name, vary=vary, seed=1, **SIGNAL)
        assert [(n, p.shape) for n, p in on.named_parameters()] == [(n, p.shape) for n, p in off.named_parameters()]
        assert all(torch.equal(a, b) for a, b in zip(on.parameters(), off.parameters()))
        with torch.no_grad():
            assert not torch.allclose(on.train()(signals()), off.train()(signals()), rtol=1e-3, atol=0)


def _resnet_1d_count(depth: int, channels: int = 1, classes: int = 10) -> int:
    """Parameters of the 1D option-A ResNet, from its layout: kernel-3 convs without bias, a norm
    (scale + shift per channel) after each, the linear classifier with bias."""
    n = (depth - 2) // 6
    conv = lambda c_in, c_out: 3 * c_in * c_out  # noqa: E731
    norm = lambda c: 2 * c  # noqa: E731
    total = conv(channels, 16) + norm(16)
    c_in = 16
    for c_out in (16, 32, 64):
        for _ in range(n):
            total += conv(c_in, c_out) + conv(c_out, c_out) + 2 * norm(c_out)
            c_in = c_out
    return total + 64 * classes + classes


def test_parameter_counts():
    # by hand for ResNet-20 on (1, 40): stem 48 + 32; stage 1: 3 x (2 x 768 + 64) = 4,800;
    # stage 2: 4,736 + 2 x 6,272 = 17,280; stage 3: 18,688 + 2 x 24,832 = 68,352; fc 650
    assert _resnet_1d_count(20) == 91_162
    for depth, exact in {20: 91_162, 56: 287_386, 110: 581_722}.items():
        for name in (f"resnet{depth}", f"resnet{depth}_noskip"):
            assert models.info(name, **SIGNAL)["parameters"] == exact == _resnet_1d_count(depth)
    assert models.info("resnet20_nonorm", **SIGNAL)["parameters"] == 91_162  # the norm slot keeps its shape
    assert models.info("resnet20", in_shape=(3, 40), num_classes=4)["parameters"] == _resnet_1d_count(20, 3, 4)
    # mlp20: 40 x 64 + 2 x 64 in, 9 blocks of 2 x (64 x 64 + 2 x 64), fc 64 x 10 + 10
    assert models.info("mlp20", **SIGNAL)["parameters"] == 2_560 + 128 + 9 * 8_448 + 650 == 79_370
    # vgg9: convs 3 x (1x64 + 64x64 + 64x128 + 128x128 + 128x256 + 2 x 256x256), their norms 2 x 1,152;
    # length 40 -> 20 -> 10 -> 5, so FC 256*5 -> 256 (+ norm 512), fc 256 x 10 + 10
    assert models.info("vgg9", **SIGNAL)["parameters"] == 577_728 + 2_304 + 327_680 + 512 + 2_570 == 910_794
    built = models.create("resnet56", **SIGNAL)
    assert sum(p.numel() for p in built.parameters()) == 287_386


@pytest.mark.parametrize("norm, kind", [("batch", nn.BatchNorm1d), ("layer", nn.GroupNorm), ("group", nn.GroupNorm),
                                        ("none", models.layers.ChannelAffine)])
def test_every_norm_in_1d(norm, kind):
    model = models.create("resnet20", norm=norm, seed=0, **SIGNAL)
    assert isinstance(model.norm1, kind) and isinstance(model.conv1, nn.Conv1d)
    assert model(signals(3)).shape == (3, 10)
    if norm == "layer":  # statistics over (C, L) of each sample
        y = norm_layer("layer", 16, dims=1)(3 + 5 * torch.randn(4, 16, 9)).detach()
        torch.testing.assert_close(y.mean(dim=(1, 2)), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(y.var(dim=(1, 2), unbiased=False), torch.ones(4), atol=1e-3, rtol=0)


@pytest.mark.parametrize("length", [40, 7, 1])
def test_option_a_shortcut_in_1d(length):
    short = ShortcutA(16, 32, stride=2)
    x = torch.randn(2, 16, length)
    y = short(x)
    conv = nn.Conv1d(16, 32, 3, stride=2, padding=1)
    assert y.shape == conv(x).shape == (2, 32, (length + 1) // 2)
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2])  # original channels in the middle, every 2nd sample
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0
    model = models.create("resnet20", in_shape=(1, length), num_classes=3, seed=0)
    assert model(torch.randn(2, 1, length)).shape == (2, 3)


def test_conv1d_weights_get_he_init():
    model = models.create("resnet110", seed=0, **SIGNAL)
    w = model.layer3[5].conv1.weight.detach()  # (64, 64, 3): fan_in 192
    assert abs(float(w.std()) - (2 / 192) ** 0.5) < 0.1 * (2 / 192) ** 0.5
    torch.testing.assert_close(model.norm1.weight, torch.ones(16))


def test_spec_and_checkpoint_round_trip(tmp_path):
    model = models.create("resnet20_noskip", seed=4, **SIGNAL)
    with torch.no_grad():
        model.train()(signals(8))  # move the BN running statistics away from their init
    spec = models.spec(model)
    assert spec["in_shape"] == [1, 40] and json.loads(json.dumps(spec)) == spec
    checkpoint.save(tmp_path / "m.pt", model, data={"dataset": "mnist1d"})
    loaded, ckpt = checkpoint.load_model(tmp_path / "m.pt")
    assert isinstance(loaded.conv1, nn.Conv1d) and ckpt["data"]["dataset"] == "mnist1d"
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    x = signals(5)
    torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)


def test_wrong_inputs_are_refused_with_the_shape():
    model = models.create("resnet20", seed=0, **SIGNAL)
    with pytest.raises(ValueError, match=r"\(N, 1, 40\)"):
        model(torch.randn(2, 1, 8, 8))
    image_net = models.create("vgg9", in_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match="in_shape"):
        image_net(signals(2, (1, 64)))


def test_cli_models_for_mnist1d():
    runner = CliRunner()
    listed = runner.invoke(cli.main, ["models", "list", "--dataset", "mnist1d"])
    assert listed.exit_code == 0, listed.output
    assert "91.2k" in listed.output and "(1x40)" in listed.output  # resnet20 on MNIST-1D
    shown = runner.invoke(cli.main, ["models", "info", "resnet56_noskip", "--dataset", "mnist1d", "--json"])
    meta = json.loads(shown.output)
    assert meta["parameters"] == 287_386 and meta["options"]["in_shape"] == [1, 40]
