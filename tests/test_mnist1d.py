"""MNIST-1D: the arrays are the mnist1d package's own, cached safely, and 1D augmentation."""
from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch

from landscape import data
from landscape.data import mnist1d

torch.set_num_threads(1)


@pytest.fixture
def fresh(tmp_path):
    """A data root of its own and an empty in-process cache."""
    mnist1d._arrays.cache_clear()
    yield tmp_path
    mnist1d._arrays.cache_clear()


@pytest.fixture(scope="module")
def reference():
    """What the package's generator returns with its default arguments (the paper's dataset)."""
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A data root where ``data.load`` generated and cached the set (once: generating is the slow
    part), with the global RNGs' next draws with and without that generation in between."""
    root = tmp_path_factory.mktemp("mnist1d-root")
    mnist1d._arrays.cache_clear()
    np.random.seed(7)
    random.seed(7)
    undisturbed = (np.random.rand(3), random.random())
    np.random.seed(7)
    random.seed(7)
    data.load("mnist1d", root=root)  # make_dataset calls np.random.seed(42) and random.seed(42) inside
    after = (np.random.rand(3), random.random())
    mnist1d._arrays.cache_clear()
    return root, undisturbed, after


def _copy_cache(built_root, root):
    (root / mnist1d.CACHE).parent.mkdir(parents=True)
    shutil.copy(built_root / mnist1d.CACHE, root / mnist1d.CACHE)


def test_load_equals_the_packages_generator(built, reference):
    root = built[0]
    for split, (x_key, y_key) in {"train": ("x", "y"), "test": ("x_test", "y_test")}.items():
        X, Y = data.load("mnist1d", split=split, root=root)
        assert X.dtype == torch.float32 and Y.dtype == torch.int64
        assert tuple(X.shape) == (data.info("mnist1d")["sizes"][split], 1, 40)
        np.testing.assert_array_equal(X[:, 0].numpy(), reference[x_key].astype(np.float32))
        np.testing.assert_array_equal(Y.numpy(), reference[y_key])
        # the generator standardized the set already: normalize=True changes nothing
        assert torch.equal(X, data.load("mnist1d", split=split, root=root, normalize=False)[0])
    mnist1d._arrays.cache_clear()


def test_generation_leaves_the_global_rngs_alone(built):
    _, undisturbed, after = built
    assert np.array_equal(after[0], undisturbed[0]) and after[1] == undisturbed[1]


def test_info_and_sizes():
    meta = data.info("mnist1d")
    assert meta["input_shape"] == (1, 40) and meta["num_classes"] == 10
    assert meta["sizes"] == {"train": 4000, "test": 1000}
    assert meta["mean"] == [0.0] and meta["std"] == [1.0]
    assert data.default_augmentation("mnist1d")["flip"] is False


def test_cache_is_read_without_generating(built, fresh, reference, monkeypatch):
    _copy_cache(built[0], fresh)

    def refuse():
        raise AssertionError("generated again although the cache was there")

    monkeypatch.setattr(mnist1d, "generate", refuse)
    X, Y = data.load("mnist1d", split="test", root=fresh)
    np.testing.assert_array_equal(X[:, 0].numpy(), reference["x_test"].astype(np.float32))
    with np.load(fresh / mnist1d.CACHE, allow_pickle=False) as f:  # plain arrays, no pickled objects
        assert f["x"].shape == (4000, 40) and f["y_test"].shape == (1000,)


def test_a_truncated_cache_is_rebuilt(fresh, reference):
    path = fresh / mnist1d.CACHE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    X, _ = data.load("mnist1d", split="test", root=fresh)
    np.testing.assert_array_equal(X[:, 0].numpy(), reference["x_test"].astype(np.float32))
    with np.load(path, allow_pickle=False) as f:  # replaced by a complete file
        assert f["x_test"].shape == (1000, 40)


def test_a_cache_from_another_generator_version_is_not_trusted(built, fresh):
    _copy_cache(built[0], fresh)
    path = fresh / mnist1d.CACHE
    identity = mnist1d._identity()
    assert mnist1d._read_cache(path, identity) is not None
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["identity"] = np.array(identity.replace('"mnist1d": "', '"mnist1d": "0.0.0-'))
    np.savez(path, **arrays)
    assert mnist1d._read_cache(path, identity) is None  # the loader then generates (as for a truncated file)


def test_an_unwritable_root_only_costs_the_cache(built, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data root's directory would go")
    with np.load(built[0] / mnist1d.CACHE, allow_pickle=False) as f:
        arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
    with caplog.at_level("WARNING", logger="landscape.data.mnist1d"):
        mnist1d._write_cache(blocker / mnist1d.CACHE, mnist1d._identity(), arrays)  # no exception
    assert "could not cache" in caplog.text and blocker.read_text().startswith("a file")


def test_augment_shifts_signals_and_adds_noise():
    x = torch.arange(1, 6 * 2 * 10 + 1, dtype=torch.float32).reshape(6, 2, 10)  # no zeros inside
    a = data.augment(x, crop_padding=3, flip=False, seed=0)
    assert a.shape == x.shape and torch.equal(a, data.augment(x, crop_padding=3, flip=False, seed=0))
    padded = torch.nn.functional.pad(x, (3, 3))
    shifts = []
    for i in range(6):  # each output is one length-10 window of the padded signal, both channels alike
        matches = [d for d in range(7) if torch.equal(a[i], padded[i, :, d:d + 10])]
        assert matches
        shifts.append(matches[0])
    assert len(set(shifts)) > 1  # each signal draws its own shift
    flipped = data.augment(x, crop_padding=0, flip=True, seed=0)
    assert all(torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1)) for i in range(6))
    big = torch.zeros(2000, 1, 40)
    noisy = data.augment(big, crop_padding=0, flip=False, noise=0.05, seed=0)
    assert abs(float(noisy.std()) - 0.05) < 0.002 and abs(float(noisy.mean())) < 0.002
    with pytest.raises(ValueError, match="`noise`"):
        data.augment(big, noise=-1.0)


def test_default_augmentation_is_a_small_shift_plus_noise(built):
    X, _ = data.load("mnist1d", split="test", n=200, root=built[0])
    aug = data.default_augmentation("mnist1d")
    a = data.augment(X, **aug, seed=0)
    p = aug["crop_padding"]
    padded = torch.nn.functional.pad(X, (p, p))
    windows = torch.stack([padded[..., d:d + 40] for d in range(2 * p + 1)])  # (shifts, N, 1, 40)
    residual = a[None] - windows
    best = residual.pow(2).sum(dim=(2, 3)).argmin(dim=0)  # the shift each signal got
    noise = residual[best, torch.arange(len(X))]
    assert abs(float(noise.std()) - aug["noise"]) < 0.01


def test_training_recipe():
    from landscape.training import train

    config = train.recommended("mnist1d")
    assert (config.epochs, config.batch_size, config.lr, config.schedule, config.optimizer) == \
        (30, 128, 0.05, "cosine", "sgd")
    assert not config.augment  # the measured accuracies (98-99% for ResNets with skips) used none


def test_cli_data_info_describes_signals():
    from click.testing import CliRunner

    from landscape import cli

    result = CliRunner().invoke(cli.main, ["data", "info", "mnist1d"])
    assert result.exit_code == 0, result.output
    for text in ("1x40 (channels x length)", "4,000", "1,000", "standardized by its generator",
                 "random shift by up to 4 samples", "Gaussian noise (std 0.05)", "no flips"):
        assert text in result.output
    listed = CliRunner().invoke(cli.main, ["data", "list"])
    assert "mnist1d        1x40" in listed.output
