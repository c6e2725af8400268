"""The data package and `landscape data`: loaders on small files written here in the standard
formats (IDX, CIFAR python pickles), malformed files, hostile pickles, seeds, normalization,
augmentation, and the CLI through CliRunner and a real subprocess of the installed command."""
from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape import cli, data
from landscape.base.errors import FileFormatError
from landscape.data import cifar, idx, synthetic

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- writers (independent
# of the readers under test: the bytes are laid out here from the published format descriptions)

def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """IDX unsigned-byte file: magic 0x000008DD, DD big-endian uint32 sizes, then the bytes."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(directory: Path, n_train=12, n_test=5, gz=False, seed=0):
    """Four IDX files; returns {split: (images (N, 28, 28) uint8, labels (N,))}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            payload = idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (directory / (name + ".gz")).write_bytes(gzip.compress(payload))
            else:
                (directory / name).write_bytes(payload)
        out[split] = (images, labels)
    return out


def cifar_dict(images: np.ndarray, labels) -> dict:
    return {b"batch_label": b"test batch", b"labels": list(map(int, labels)),
            b"data": images.reshape(len(images), 3072), b"filenames": [b"x.png"] * len(images)}


def write_cifar(directory: Path, per_batch=3, n_test=4, protocol=2, seed=0):
    """Five train batches and a test batch; returns {split: (images (N, 3, 32, 32), labels)}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch)
        (directory / f"data_batch_{i}").write_bytes(pickle.dumps(cifar_dict(x, y), protocol=protocol))
        train_x.append(x)
        train_y.append(y)
    tx = rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8)
    ty = rng.integers(0, 10, n_test)
    (directory / "test_batch").write_bytes(pickle.dumps(cifar_dict(tx, ty), protocol=protocol))
    return {"train": (np.concatenate(train_x), np.concatenate(train_y)), "test": (tx, ty)}


def python2_batch(images: np.ndarray, labels) -> bytes:
    """A batch as Python 2's cPickle wrote the real CIFAR files: str keys and array bytes as
    BINSTRING, numpy named ``numpy.core.multiarray``. Built opcode by opcode (pickle protocol 2)."""
    flat = images.reshape(len(images), 3072).tobytes()
    arr = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
           + b"(K\x01" + b"M" + struct.pack("<H", len(images)) + b"M\x00\x0c\x86"  # shape (N, 3072)
           + b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
           + b"\x89T" + struct.pack("<I", len(flat)) + flat + b"tb")
    labels_op = b"](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"e"
    return b"\x80\x02}(U\x04data" + arr + b"U\x06labels" + labels_op + b"u."


def assert_one_line_error(exc: BaseException, *needles: str):
    msg = str(exc)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


# ----------------------------------------------------------------------------- registry and digits

def test_registry_lists_every_dataset_with_static_info():
    names = data.list_datasets()
    assert names[0] == "digits"
    assert set(names) == {"digits", "mnist1d", "majority", "mnist", "fashion-mnist", "cifar10", "blobs",
                          "spirals"}
    for name in names:
        meta = data.info(name, inspect=False)
        assert meta["num_classes"] == len(meta["classes"])
        assert len(meta["input_shape"]) in (2, 3) and set(meta["sizes"]) == {"train", "test"}
        assert {"crop_padding", "flip"} <= set(meta["augmentation"]) <= {"crop_padding", "flip", "noise"}
        json.dumps(meta)  # JSON-able, so a checkpoint can store it


def test_unknown_name_or_split_names_the_choices():
    with pytest.raises(ValueError, match=r"`dataset`.*'digits'.*'digitz'"):
        data.load("digitz")
    with pytest.raises(ValueError, match=r"`split`.*'train', 'test'.*'valid'"):
        data.load("digits", split="valid")


def test_digits_fixed_split_shapes_and_values():
    x, y = data.load("digits", normalize=False)
    xt, yt = data.load("digits", split="test", normalize=False)
    assert x.shape == (1437, 1, 8, 8) and xt.shape == (360, 1, 8, 8)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0  # 0..16 scaled by 1/16
    # stratified: each class puts 20% (to within one image) of its examples in the test split
    per_class_test, per_class = torch.bincount(yt, minlength=10), torch.bincount(torch.cat([y, yt]))
    assert torch.all((per_class_test - 0.2 * per_class).abs() <= 1)
    # the split does not depend on the subset seed
    x2, y2 = data.load("digits", seed=123, normalize=False)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_digits_train_and_test_are_disjoint_and_cover_sklearn():
    from sklearn.datasets import load_digits

    pixels, _ = load_digits(return_X_y=True)
    x, _ = data.load("digits", normalize=False)
    xt, _ = data.load("digits", split="test", normalize=False)
    ours = np.concatenate([x.numpy(), xt.numpy()]).reshape(-1, 64) * 16
    assert sorted(map(bytes, ours.astype(np.uint8))) == sorted(map(bytes, pixels.astype(np.uint8)))


def test_subset_is_seeded_nested_and_validated():
    a, ya = data.load("digits", n=100, seed=7)
    b, yb = data.load("digits", n=100, seed=7)
    c, _ = data.load("digits", n=100, seed=8)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    big, _ = data.load("digits", n=200, seed=7)
    rows = {bytes(r.numpy().tobytes()) for r in big}
    assert all(bytes(r.numpy().tobytes()) in rows for r in a)  # n=100 is a subset of n=200
    for bad in (0, -1, 1438, 2.5, True):
        with pytest.raises(ValueError, match=r"`n`.*1\.\.1437"):
            data.load("digits", n=bad)


def test_normalization_uses_train_constants_for_both_splits():
    raw, _ = data.load("digits", normalize=False)
    raw_test, _ = data.load("digits", split="test", normalize=False)
    x, _ = data.load("digits")
    xt, _ = data.load("digits", split="test")
    meta = data.info("digits")
    mean, std = meta["mean"][0], meta["std"][0]
    assert mean == pytest.approx(float(raw.double().mean()), rel=1e-9)
    assert std == pytest.approx(float(raw.double().std(unbiased=False)), rel=1e-9)
    assert float(x.mean()) == pytest.approx(0, abs=1e-5) and float(x.std()) == pytest.approx(1, abs=1e-3)
    torch.testing.assert_close(xt, (raw_test - mean) / std)
    assert abs(float(xt.mean())) > 1e-4  # test data is not re-centred on its own statistics
    # a subset uses the full train split's constants too
    sub, _ = data.load("digits", n=50, seed=3)
    sub_raw, _ = data.load("digits", n=50, seed=3, normalize=False)
    torch.testing.assert_close(sub, (sub_raw - mean) / std)
    assert data.normalization("digits") == (tuple(meta["mean"]), tuple(meta["std"]))


def test_load_returns_tensors_the_caller_owns():
    x, y = data.load("digits", normalize=False)
    x += 100
    y[:] = -1
    x2, y2 = data.load("digits", normalize=False)
    assert float(x2.max()) == 1.0 and int(y2.min()) == 0


# ----------------------------------------------------------------------------- synthetic

@pytest.mark.parametrize("name,k,n_train,n_test", [("blobs", 4, 800, 200), ("spirals", 3, 1200, 300)])
def test_synthetic_sets_are_fixed_balanced_images(name, k, n_train, n_test):
    x, y = data.load(name, normalize=False)
    xt, yt = data.load(name, split="test", normalize=False)
    assert x.shape == (n_train, 1, 8, 8) and xt.shape == (n_test, 1, 8, 8)
    assert torch.equal(torch.bincount(y), torch.full((k,), n_train // k))
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert not torch.equal(x[:n_test], xt)  # train and test are different draws
    info = data.info(name)
    assert info["sizes"] == {"train": n_train, "test": n_test} and info["num_classes"] == k
    # the image is the rendered point: the brightest pixel is the one nearest to the point
    pts, labels = synthetic.points(name, "train")
    assert torch.equal(torch.from_numpy(labels), y)
    nearest = np.rint((np.clip(pts, -1, 1) + 1) / 2 * 7).astype(int)  # (x -> column, y -> row)
    flat = x[:, 0].reshape(n_train, -1).argmax(dim=1).numpy()
    assert np.mean(flat == nearest[:, 1] * 8 + nearest[:, 0]) > 0.99


# ----------------------------------------------------------------------------- MNIST / Fashion-MNIST

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("name,layout", [("mnist", "."), ("mnist", "mnist/raw"),
                                         ("fashion-mnist", "FashionMNIST/raw"), ("fashion-mnist", "fashion-mnist")])
def test_idx_loads_from_conventional_layouts(tmp_path, name, layout, gz):
    written = write_mnist(tmp_path / layout, gz=gz)
    for split in ("train", "test"):
        x, y = data.load(name, split=split, root=tmp_path, normalize=False)
        images, labels = written[split]
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == torch.float32
        torch.testing.assert_close(x[:, 0], torch.from_numpy(images).float() / 255)
        assert y.tolist() == labels.tolist()
    meta = data.info(name, root=tmp_path)
    assert meta["sizes"] == {"train": 12, "test": 5}
    assert meta["location"] == str(tmp_path / layout)  # pathlib drops the "." of the flat layout


def test_idx_default_root_comes_from_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("LANDSCAPE_DATA", str(tmp_path))
    x, _ = data.load("mnist", normalize=False)
    assert x.shape == (12, 1, 28, 28)
    monkeypatch.delenv("LANDSCAPE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_root() == tmp_path / "home" / ".cache" / "landscape" / "data"


def test_idx_missing_files_name_directory_and_files(tmp_path):
    with pytest.raises(FileFormatError) as err:
        data.load("mnist", root=tmp_path)
    assert_one_line_error(err.value, str(tmp_path), str(tmp_path / "mnist"), "train-images-idx3-ubyte",
                          "train-labels-idx1-ubyte", "download")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    data.load("mnist", root=tmp_path)  # the train split is complete
    with pytest.raises(FileFormatError) as err:
        data.load("mnist", split="test", root=tmp_path)
    assert_one_line_error(err.value, f"{tmp_path} lacks t10k-labels-idx1-ubyte")


@pytest.mark.parametrize("damage,needle", [
    ("truncate", "truncated"),
    ("magic", "not an IDX file"),
    ("labels-as-images", "wrong magic number"),
    ("count", "holds 12 images but train-labels-idx1-ubyte holds 11 labels"),
    ("bad-gzip", "cannot read"),
    ("label-range", "out of range"),
])
def test_idx_malformed_files_are_refused(tmp_path, damage, needle):
    written = write_mnist(tmp_path)
    images_file, labels_file = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    images, labels = written["train"]
    bad = images_file
    if damage == "truncate":
        images_file.write_bytes(images_file.read_bytes()[:-100])
    elif damage == "magic":
        images_file.write_bytes(b"\x12\x34" + images_file.read_bytes()[2:])
    elif damage == "labels-as-images":
        bad = labels_file
        labels_file.write_bytes(idx_bytes(labels.reshape(12, 1, 1)))  # a valid IDX, but 3-D
    elif damage == "count":
        bad = labels_file
        labels_file.write_bytes(idx_bytes(labels[:11]))
    elif damage == "bad-gzip":
        images_file.unlink()
        bad = tmp_path / "train-images-idx3-ubyte.gz"
        bad.write_bytes(gzip.compress(idx_bytes(images))[:200])
    elif damage == "label-range":
        bad = labels_file
        labels_file.write_bytes(idx_bytes(np.full(12, 10, dtype=np.uint8)))
    with pytest.raises(FileFormatError) as err:
        data.load("mnist", root=tmp_path)
    assert_one_line_error(err.value, needle, str(bad) if damage != "count" else str(tmp_path))


@pytest.mark.parametrize("dtype,shape", [(np.uint8, (4, 3, 2)), (np.int16, (5,)), (np.float32, (2, 2, 2, 2)),
                                         (np.float64, (3, 1)), (np.int8, (2, 3)), (np.int32, (7,))])
def test_idx_writer_and_reader_round_trip(tmp_path, dtype, shape):
    arr = (np.arange(np.prod(shape)) - 3).astype(dtype).reshape(shape)
    for name in ("a.idx", "a.idx.gz"):
        idx.write_idx(tmp_path / name, arr)
        back = idx.read_idx(tmp_path / name)
        assert back.dtype == np.dtype(dtype) and np.array_equal(back, arr)
    # the on-disk layout is the published one: big-endian header and values
    raw = (tmp_path / "a.idx").read_bytes()
    assert raw[:2] == b"\0\0" and raw[3] == len(shape)
    assert struct.unpack(f">{len(shape)}I", raw[4:4 + 4 * len(shape)]) == shape


# ----------------------------------------------------------------------------- CIFAR-10

@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("layout", [".", "cifar-10-batches-py"])
def test_cifar_loads_pickle_batches(tmp_path, protocol, layout):
    written = write_cifar(tmp_path / layout, protocol=protocol)
    for split in ("train", "test"):
        x, y = data.load("cifar10", split=split, root=tmp_path, normalize=False)
        images, labels = written[split]
        assert x.shape == (len(images), 3, 32, 32)
        torch.testing.assert_close(x, torch.from_numpy(images).float() / 255)
        assert y.tolist() == list(labels)
    # row layout: the first 1024 values of a row are the red plane, row-major
    first_row = pickle.loads((tmp_path / layout / "data_batch_1").read_bytes())[b"data"][0]
    x, _ = data.load("cifar10", root=tmp_path, normalize=False)
    assert np.array_equal((x[0, 0] * 255).round().to(torch.uint8).numpy().ravel(), first_row[:1024])
    assert np.array_equal((x[0, 2, 0] * 255).round().to(torch.uint8).numpy(), first_row[2048:2048 + 32])


def test_cifar_reads_python2_batches(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_batch(images, [3, 1, 4]))
    x, y = cifar.read_batch(path)
    assert np.array_equal(x, images) and y.tolist() == [3, 1, 4]


def test_cifar_normalization_is_per_channel_from_train(tmp_path):
    written = write_cifar(tmp_path)
    train = written["train"][0].astype(np.float64) / 255
    meta = data.info("cifar10", root=tmp_path)
    assert meta["sizes"] == {"train": 15, "test": 4} and meta["location"] == str(tmp_path)
    np.testing.assert_allclose(meta["mean"], train.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(meta["std"], train.std(axis=(0, 2, 3)), rtol=1e-12)
    xt, _ = data.load("cifar10", split="test", root=tmp_path)
    expected = (written["test"][0] / 255 - np.array(meta["mean"])[:, None, None]) / np.array(meta["std"])[:, None, None]
    np.testing.assert_allclose(xt.numpy(), expected, rtol=1e-5, atol=1e-5)
    # replaced files are re-read, not served from the cache
    write_cifar(tmp_path, per_batch=4, seed=9)
    assert data.info("cifar10", root=tmp_path)["sizes"]["train"] == 20
    assert data.normalization("cifar10", tmp_path) != (tuple(meta["mean"]), tuple(meta["std"]))


class _Exploit:
    """Unpickling this runs a shell command: exactly what a tampered batch would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload", ["os.system", "eval", "numpy-load", "codecs"])
def test_cifar_refuses_malicious_pickles(tmp_path, payload):
    marker = tmp_path / "pwned"
    write_cifar(tmp_path)
    evil = {"os.system": {b"data": _Exploit(marker), b"labels": []},
            "eval": {b"data": _Eval(), b"labels": []},
            "numpy-load": np.load,  # a numpy name, but not an array rebuilder
            "codecs": None}[payload]
    if payload == "codecs":  # _codecs.encode is allowed for latin1 only
        blob = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."
    else:
        blob = pickle.dumps(evil, protocol=2)
    (tmp_path / "data_batch_3").write_bytes(blob)
    with pytest.raises(FileFormatError) as err:
        data.load("cifar10", root=tmp_path)
    assert_one_line_error(err.value, str(tmp_path / "data_batch_3"), "refused")
    assert not marker.exists()


@pytest.mark.parametrize("damage,needle", [
    ("truncate", "truncated"),
    ("not-a-dict", "expected a dict"),
    ("no-labels", "expected b'data' and b'labels'"),
    ("shape", "expected a uint8 array (N, 3072)"),
    ("count", "3 images but 2 labels"),
    ("label-range", "out of range"),
])
def test_cifar_malformed_batches_are_refused(tmp_path, damage, needle):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_2"
    good = pickle.loads(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        obj = {
            "not-a-dict": [1, 2, 3],
            "no-labels": {b"data": good[b"data"]},
            "shape": {b"data": good[b"data"].reshape(3, 3, 1024), b"labels": good[b"labels"]},
            "count": {b"data": good[b"data"], b"labels": good[b"labels"][:2]},
            "label-range": {b"data": good[b"data"], b"labels": [0, 1, 10]},
        }[damage]
        path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(FileFormatError) as err:
        data.load("cifar10", root=tmp_path)
    assert_one_line_error(err.value, str(path), needle)


def test_cifar_missing_batch_names_directory_and_file(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileFormatError) as err:
        data.load("cifar10", root=tmp_path)
    assert_one_line_error(err.value, str(tmp_path / "cifar-10-batches-py"), "lacks data_batch_4",
                          "cifar-10-python.tar.gz")
    data.load("cifar10", split="test", root=tmp_path, normalize=False)  # the test split is there
    with pytest.raises(FileFormatError, match="train split"):  # ...but its statistics need train
        data.load("cifar10", split="test", root=tmp_path)


# ----------------------------------------------------------------------------- augmentation

def test_default_augmentation_avoids_flips_where_they_change_the_class():
    assert data.default_augmentation("digits") == {"crop_padding": 1, "flip": False}
    assert data.default_augmentation("mnist")["flip"] is False
    assert data.default_augmentation("cifar10") == {"crop_padding": 4, "flip": True}
    assert data.default_augmentation("spirals") == {"crop_padding": 0, "flip": False}


def test_augment_crops_and_flips_each_image_reproducibly():
    x = torch.arange(6 * 2 * 5 * 5, dtype=torch.float32).reshape(6, 2, 5, 5) + 1  # no zeros inside
    before = x.clone()
    a = data.augment(x, crop_padding=2, flip=True, seed=0)
    assert torch.equal(x, before)  # input untouched
    assert torch.equal(a, data.augment(x, crop_padding=2, flip=True, seed=0))
    assert not torch.equal(a, data.augment(x, crop_padding=2, flip=True, seed=1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):  # each output is one window of the padded image, maybe mirrored
        windows = [padded[i, :, dy:dy + 5, dx:dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(a[i], w) or torch.equal(a[i], w.flip(-1)) for w in windows)
    g = torch.Generator().manual_seed(0)
    first, second = data.augment(x, 2, True, generator=g), data.augment(x, 2, True, generator=g)
    assert torch.equal(first, a) and not torch.equal(first, second)


def test_augment_flip_only_and_identity():
    x = torch.randn(64, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    f = data.augment(x, crop_padding=0, flip=True, seed=0)
    mirrored = torch.tensor([torch.equal(f[i], x[i].flip(-1)) for i in range(64)])
    kept = torch.tensor([torch.equal(f[i], x[i]) for i in range(64)])
    assert bool((mirrored | kept).all()) and 16 < int(mirrored.sum()) < 48
    same = data.augment(x, crop_padding=0, flip=False)
    assert torch.equal(same, x) and same is not x


def test_augment_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"`X`.*\(8, 8\)"):
        data.augment(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="`crop_padding`"):
        data.augment(torch.zeros(1, 1, 8, 8), crop_padding=-1)
    with pytest.raises(ValueError, match="not both"):
        data.augment(torch.zeros(1, 1, 8, 8), seed=0, generator=torch.Generator())


# ----------------------------------------------------------------------------- CLI

def test_cli_data_list_and_info(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli.main, ["data", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["name", "input", "classes", "train", "test"]
    assert lines[1].split()[:5] == ["digits", "1x8x8", "10", "1,437", "360"]
    assert any(line.split()[:2] == ["cifar10", "3x32x32"] for line in lines)

    result = runner.invoke(cli.main, ["data", "info", "digits"])
    assert result.exit_code == 0, result.output
    assert "1x8x8" in result.output and "1,437" in result.output and "360" in result.output
    assert "10: 0, 1, 2" in result.output and "no flips" in result.output

    write_mnist(tmp_path / "mnist", gz=True)
    result = runner.invoke(cli.main, ["data", "info", "mnist", "--root", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    meta = json.loads(result.output)
    assert meta["sizes"] == {"train": 12, "test": 5} and meta["input_shape"] == [1, 28, 28]


def test_cli_bad_root_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(cli.main, ["data", "info", "cifar10", "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: cifar10:")
    assert str(tmp_path) in result.output and "data_batch_1" in result.output
    result = CliRunner().invoke(cli.main, ["data", "info", "spiral"])
    assert result.exit_code == 2 and "Did you mean 'spirals'" in result.output


def _landscape_command() -> str:
    script = Path(sys.executable).with_name("landscape")
    assert script.is_file(), f"console script {script} missing: install the project (pip install -e .)"
    return str(script)


def test_installed_command_data_list_and_info():
    env = {**os.environ, "LANDSCAPE_DEBUG": ""}
    listing = subprocess.run([_landscape_command(), "data", "list"], capture_output=True, text=True,
                             timeout=120, env=env)
    assert listing.returncode == 0, listing.stderr
    assert all(name in listing.stdout for name in data.list_datasets())
    shown = subprocess.run([_landscape_command(), "data", "info", "digits"], capture_output=True, text=True,
                           timeout=120, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "input shape:   1x8x8" in shown.stdout and "train size:    1,437" in shown.stdout
    assert "test size:     360" in shown.stdout and "classes:       10" in shown.stdout


def test_installed_command_bad_root_exits_2_without_traceback(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    env = {**os.environ, "LANDSCAPE_DEBUG": ""}
    proc = subprocess.run([_landscape_command(), "data", "info", "mnist", "--root", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: ")
    assert str(tmp_path / "train-images-idx3-ubyte") in proc.stderr and "truncated" in proc.stderr


def test_load_at_most_takes_the_whole_split_when_n_is_not_smaller():
    whole = data.load("digits", "test")
    capped = data.load_at_most("digits", "test", n=10_000)
    assert torch.equal(whole[0], capped[0]) and torch.equal(whole[1], capped[1])
    sub = data.load_at_most("digits", "test", n=50, seed=3)
    assert torch.equal(sub[1], data.load("digits", "test", n=50, seed=3)[1])
    with pytest.raises(ValueError, match="must be a whole number"):
        data.load("digits", "test", n=10_000)
