"""Try to break every command: bad input, corrupted and hostile files, no space, no permission.

One table, one check per row (``test_bad_input``): the exit status (2 for usage errors, 1 for
runtime failures), exactly one ``Error:`` line on stderr that names what was wrong, no traceback,
and no file damaged — every fixture file is byte-compared before and after, and the directory the
command was told to write into holds exactly what it held before (no partial output, no stray
temporary file). A few rows run again as real processes through the console script, and with
``--debug``. Further tests cover what a table row cannot: NaN/inf losses far from the minimum, and
crafted checkpoints and HDF5 files that try to run code.

A full disk is a 1 MiB tmpfs filled to the last byte when this process may mount one (root), else a
file-size limit (``RLIMIT_FSIZE``: writes fail with EFBIG); a read-only directory is a read-only
tmpfs when mountable, else a ``chmod 555`` directory (not read-only for root: those rows are skipped).
See docs/reliability.md for the guarantees these back.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import landscape_exe
from torch import nn

from landscape import cli, models
from landscape.storage import checkpoint, io

SPEC = dict(depth=4, width=0.5, in_shape=(1, 8, 8), num_classes=10)  # an MLP with BatchNorm, 4.6k weights
META = {"dataset": "digits", "normalize": True}
FAST = ["--n-samples", "16", "--no-progress"]  # every surface row evaluates 16 samples


# --- the files the table reads ----------------------------------------------------------------------

class Evil:
    """Unpickling this runs a shell command that creates ``PWNED`` next to the file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _save_raw(path: Path, **payload) -> None:
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "data": META, **payload}, path)


def _surface(ckpt: Path, out: Path, *grid: str) -> None:
    r = CliRunner().invoke(cli.main, ["surface", str(ckpt), *grid, *FAST, "--out", str(out)])
    assert r.exit_code == 0, r.output


def build_fixtures(root: Path) -> Path:
    """Every good, broken and hostile file the table uses, in ``root`` (a few seconds)."""
    model = models.create("mlp", seed=0, **SPEC)
    spec = models.spec(model)
    checkpoint.save(root / "ckpt.pt", model, spec=spec, data=META)
    deeper = models.create("mlp", seed=0, **{**SPEC, "depth": 6})
    checkpoint.save(root / "other.pt", deeper, spec=models.spec(deeper), data=META)
    _save_raw(root / "arch.pt", model=spec, state_dict=deeper.state_dict())  # spec and weights disagree
    nan = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    _save_raw(root / "nan.pt", model=spec, state_dict=nan)
    _save_raw(root / "evil.pt", model=spec, state_dict=model.state_dict(), extra=Evil(root / "PWNED"))
    _save_raw(root / "newer.pt", model=spec, state_dict=model.state_dict(), version=99)
    (root / "garbage.pt").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "hello.pt").write_text("hello\n")  # text: the unpickler fails with KeyError, not UnpicklingError
    (root / "abc.pt").write_text("abc")  # ... and with IndexError
    torch.save(model.state_dict(), root / "bare.pt")  # weights without a spec

    _surface(root / "ckpt.pt", root / "surf.h5", "--x", "-1:1:3", "--y", "-1:1:3")
    _surface(root / "ckpt.pt", root / "line.h5", "--x", "-1:1:5")
    _surface(root / "other.pt", root / "otherdirs.h5", "--x", "-1:1:3", "--y", "-1:1:3")
    blob = (root / "surf.h5").read_bytes()
    (root / "trunc.h5").write_bytes(blob[: len(blob) // 2])
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.savefig(root / "pic.png")
    plt.close(fig)
    shutil.copy(root / "pic.png", root / "png.h5")
    (root / "empty.h5").write_bytes(b"")
    with h5py.File(root / "schema.h5", "w") as f:  # HDF5, but of another program
        f["weights"] = np.arange(10.0)
        f.attrs["kind"] = "something else"
    shutil.copy(root / "surf.h5", root / "v2.h5")
    with h5py.File(root / "v2.h5", "r+") as f:
        f.attrs["format_version"] = "2.0"

    # training run directories: finished, and with a broken / hostile / too new resumable state
    for name in ("finished", "badstate", "evilstate", "newstate", "evilrun/snapshots"):
        (root / name).mkdir(parents=True)
    shutil.copy(root / "ckpt.pt", root / "finished" / "final.pt")
    (root / "badstate" / "last_state.pt").write_bytes(blob[:500])
    torch.save({"format": "landscape-train-state", "version": 1, "hook": Evil(root / "PWNED")},
               root / "evilstate" / "last_state.pt")
    torch.save({"format": "landscape-train-state", "version": 99}, root / "newstate" / "last_state.pt")
    shutil.copy(root / "evil.pt", root / "evilrun" / "snapshots" / "epoch_0000.pt")
    # experiment configs: not TOML, an unknown setting, a bad value
    (root / "notoml.toml").write_text("this is = = not toml")
    (root / "unknown.toml").write_text('name = "x"\nfrobnicate = 1\n')
    (root / "bad.toml").write_text('name = "x"\n[train]\nepochs = -3\n')
    return root


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> Path:
    return build_fixtures(tmp_path_factory.mktemp("fixtures"))


# --- a read-only directory and a full disk ----------------------------------------------------------

def _mount_tmpfs(path: Path, options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)


@pytest.fixture(scope="module")
def ro_dir(fx, tmp_path_factory):
    """A directory nobody can write into, holding a copy of surf.h5; None if this is impossible here."""
    path = tmp_path_factory.mktemp("readonly")
    if _mount_tmpfs(path, "size=1m"):
        shutil.copy(fx / "surf.h5", path / "surf.h5")
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
        _umount(path)
        return
    shutil.copy(fx / "surf.h5", path / "surf.h5")
    path.chmod(0o555)
    probe = path / ".probe"
    try:
        probe.touch()  # root ignores permissions: no read-only directory to be had
        probe.unlink()
        yield None
    except OSError:
        yield path
    finally:
        path.chmod(0o755)


@dataclass
class FullDisk:
    path: Path
    kind: str  # "tmpfs" (a filled 1 MiB tmpfs) or "rlimit" (RLIMIT_FSIZE while a command runs)

    @contextlib.contextmanager
    def active(self):
        if self.kind == "tmpfs":
            yield
            return
        old = resource.getrlimit(resource.RLIMIT_FSIZE)
        handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, old[1]))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old)
            signal.signal(signal.SIGXFSZ, handler)


@pytest.fixture(scope="module")
def full_disk(fx, tmp_path_factory):
    """A directory on a full disk, holding surf.h5 and p.png that must survive the failed writes."""
    path = tmp_path_factory.mktemp("full")
    mounted = _mount_tmpfs(path, "size=1m")
    shutil.copy(fx / "surf.h5", path / "surf.h5")
    shutil.copy(fx / "pic.png", path / "p.png")
    (path / "run").mkdir()
    if mounted:
        with open(path / ".ballast", "wb", buffering=0) as f:
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 4096)
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0")
    yield FullDisk(path, "tmpfs" if mounted else "rlimit")
    if mounted:
        _umount(path)


# --- the table ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    args: Tuple[str, ...]
    code: int                      # 2: usage error (bad input), 1: runtime failure
    words: Tuple[str, ...]         # what the one-line message must name
    existing: Optional[str] = None  # a file placed at {T}/<name> first: the command must not touch it
    xfail: Optional[str] = None


def case(id, args, code, *words, existing=None, xfail=None):
    return Case(id, tuple(args.split()), code, words, existing, xfail)


S = "surface {F}/ckpt.pt --x -1:1:3 --n-samples 16 --no-progress"
SO = S + " --out {T}/s.h5"
CASES = [
    # grid specs: wrong ranges and types
    case("surface-x-reversed", "surface {F}/ckpt.pt --x 1:-1:51 --out {T}/s.h5", 2, "--x", "MIN must be less than MAX"),
    case("surface-x-zero-points", "surface {F}/ckpt.pt --x -1:1:0 --out {T}/s.h5", 2, "--x", "NUM must be between 2"),
    case("surface-x-million-points", "surface {F}/ckpt.pt --x -1:1:1000000 --out {T}/s.h5", 2, "--x", "10001"),
    case("surface-grid-too-many-cells", "surface {F}/ckpt.pt --x -1:1:10001 --y -1:1:10001 --n-samples 16 "
         "--out {T}/s.h5", 2, "100,020,001 cells", "4096 x 4096"),
    case("surface-x-nan", "surface {F}/ckpt.pt --x nan:1:5 --out {T}/s.h5", 2, "--x", "finite"),
    case("surface-y-inf", "surface {F}/ckpt.pt --y -inf:1:5 --out {T}/s.h5", 2, "--y", "finite"),
    case("surface-x-overflowing-span", "surface {F}/ckpt.pt --x -1e308:1e308:3 --out {T}/s.h5", 2, "--x", "distinct"),
    case("surface-x-no-room", "surface {F}/ckpt.pt --x 1:1.0000000000000002:3 --out {T}/s.h5", 2, "--x", "distinct"),
    case("surface-x-words", "surface {F}/ckpt.pt --x a:b:c --out {T}/s.h5", 2, "--x", "numbers"),
    case("surface-x-two-parts", "surface {F}/ckpt.pt --x -1:1 --out {T}/s.h5", 2, "--x", "MIN:MAX:NUM"),
    case("surface-batch-size-zero", SO + " --batch-size 0", 2, "--batch-size"),
    # unknown choices
    case("surface-dir-unknown", SO + " --dir sideways", 2, "--dir", "sideways"),
    case("surface-norm-typo", SO + " --norm filtr", 2, "--norm", "filtr"),
    case("surface-split-unknown", SO + " --split val", 2, "--split", "val"),
    case("surface-dataset-unknown", SO + " --dataset nosuch", 2, "nosuch", "digits"),
    case("surface-device-unknown", SO + " --device tpu", 2, "--device", "tpu"),
    case("surface-precision-unknown", SO + " --precision fp8", 2, "--precision", "fp8"),
    case("surface-target-without-dir", SO + " --target {F}/other.pt", 2, "--target"),
    # missing, unreadable, corrupted and hostile checkpoints
    case("surface-checkpoint-missing", "surface {F}/nope.pt --out {T}/s.h5", 2, "nope.pt", "does not exist"),
    case("surface-checkpoint-is-dir", "surface {F} --out {T}/s.h5", 2, "CHECKPOINT", "directory"),
    case("surface-checkpoint-garbage", "surface {F}/garbage.pt --out {T}/s.h5", 2, "garbage.pt", "not a readable"),
    case("surface-checkpoint-text", "surface {F}/hello.pt --out {T}/s.h5", 2, "hello.pt", "not a readable"),
    case("surface-checkpoint-abc", "surface {F}/abc.pt --out {T}/s.h5", 2, "abc.pt", "not a readable"),
    case("surface-checkpoint-png", "surface {F}/pic.png --out {T}/s.h5", 2, "pic.png", "not a readable"),
    case("surface-checkpoint-hdf5", "surface {F}/surf.h5 --out {T}/s.h5", 2, "surf.h5", "not a readable"),
    case("surface-checkpoint-malicious", "surface {F}/evil.pt --out {T}/s.h5", 2, "evil.pt", "Refused", "run code"),
    case("surface-checkpoint-newer", "surface {F}/newer.pt --out {T}/s.h5", 2, "newer.pt", "version 99", "upgrade"),
    case("surface-checkpoint-other-architecture", "surface {F}/arch.pt --out {T}/s.h5", 2, "arch.pt", "architecture"),
    case("surface-checkpoint-no-spec", "surface {F}/bare.pt --out {T}/s.h5", 2, "bare.pt", "no model spec"),
    case("surface-checkpoint-nan-weights", "surface {F}/nan.pt --out {T}/s.h5", 2, "nan.pt", "NaN", "diverged"),
    case("surface-target-other-architecture", SO + " --dir target --target {F}/other.pt", 2, "--target", "other.pt",
         "architecture"),
    case("surface-target-malicious", SO + " --dir target --target {F}/evil.pt", 2, "evil.pt", "Refused"),
    case("surface-target-count", SO + " --dir target --target {F}/other.pt --target {F}/ckpt.pt", 2, "--target", "1D"),
    case("surface-pca-missing-run", SO + " --dir pca --trajectory {F}/nodir", 2, "--trajectory", "snapshots"),
    case("surface-pca-malicious-snapshot", SO + " --dir pca --trajectory {F}/evilrun", 2, "epoch_0000.pt", "Refused"),
    # an --out that exists and is not this job's surface: never written into
    # (and no message offers --overwrite for a file landscape did not write: issue 30.1)
    case("surface-out-png", S + " --out {F}/png.h5", 2, "png.h5", "a PNG image", "left as it is"),
    case("surface-out-truncated", S + " --out {F}/trunc.h5", 2, "trunc.h5", "damaged HDF5", "left as it is"),
    case("surface-out-empty", S + " --out {F}/empty.h5", 2, "empty.h5", "(empty)", "left as it is"),
    case("surface-out-other-schema", S + " --out {F}/schema.h5", 2, "schema.h5", "not a landscape file", "left as it is"),
    case("surface-out-newer-version", S + " --out {F}/v2.h5", 2, "v2.h5", "version 2.0"),
    case("surface-out-directions-of-another-model", S + " --y -1:1:3 --out {F}/otherdirs.h5", 2,
         "otherdirs.h5", "different surface", "--overwrite"),
    case("surface-out-other-grid", "surface {F}/ckpt.pt --x -1:1:5 --y -1:1:3 --n-samples 16 --no-progress "
         "--out {F}/surf.h5", 2, "surf.h5", "x grid differs", "--overwrite"),
    case("surface-out-is-dir", S + " --out {F}", 2, "--out", "directory"),
    case("surface-out-under-a-file", S + " --out {F}/ckpt.pt/s.h5", 2, "ckpt.pt", "not a directory"),
    case("surface-out-readonly", S + " --out {RO}/s.h5", 2, "s.h5", "not writable"),
    case("surface-overwrite-readonly", S + " --out {RO}/surf.h5 --overwrite", 2, "surf.h5", "not writable"),
    case("surface-out-full-disk", S + " --out {FULL}/s.h5", 1, "s.h5", "Could not write"),
    case("surface-overwrite-full-disk", S + " --out {FULL}/surf.h5 --overwrite", 1, "surf.h5", "Could not write"),
    # info
    case("info-missing", "info {F}/nope.h5", 2, "nope.h5", "does not exist"),
    case("info-truncated", "info {F}/trunc.h5", 2, "trunc.h5", "not a readable HDF5"),
    case("info-png-renamed", "info {F}/png.h5", 2, "png.h5", "not a readable HDF5"),
    case("info-empty", "info {F}/empty.h5", 2, "empty.h5", "not a readable HDF5"),
    case("info-other-schema", "info {F}/schema.h5", 2, "schema.h5", "neither a landscape surface"),
    case("info-newer-version", "info {F}/v2.h5", 2, "v2.h5", "version 2.0", "upgrade"),
    case("info-checkpoint", "info {F}/ckpt.pt", 2, "ckpt.pt", "not a readable HDF5"),
    case("info-directory", "info {F}", 2, "PATH", "directory"),
    # plot / compare / export
    case("plot-kind-unknown", "plot {F}/surf.h5 --kind pie --out {T}/p.png", 2, "kind", "pie", "contour"),
    case("plot-value-unknown", "plot {F}/surf.h5 --value val_loss --out {T}/p.png", 2, "value", "val_loss", "train_loss"),
    case("plot-extension", "plot {F}/surf.h5 --out {T}/p.bmp", 2, "--out", ".bmp", ".png"),
    case("plot-style-unknown", "plot {F}/surf.h5 --style poster --out {T}/p.png", 2, "style", "poster"),
    case("plot-width-unknown", "plot {F}/surf.h5 --style paper --width triple --out {T}/p.png", 2, "width", "triple"),
    case("plot-levels-one", "plot {F}/surf.h5 --levels 1 --out {T}/p.png", 2, "--levels"),
    case("plot-vmax-nan", "plot {F}/surf.h5 --vmax nan --out {T}/p.png", 2, "--vmax", "finite"),
    case("plot-vmin-above-vmax", "plot {F}/surf.h5 --vmin 5 --vmax 1 --out {T}/p.png", 2, "vmin", "vmax"),
    case("plot-contour-of-a-line", "plot {F}/line.h5 --kind contour --out {T}/p.png", 2, "contour", "1D"),
    case("plot-truncated", "plot {F}/trunc.h5 --out {T}/p.png", 2, "trunc.h5"),
    case("plot-png-renamed", "plot {F}/png.h5 --out {T}/p.png", 2, "png.h5"),
    case("plot-other-schema", "plot {F}/schema.h5 --out {T}/p.png", 2, "schema.h5"),
    case("plot-newer-version", "plot {F}/v2.h5 --out {T}/p.png", 2, "v2.h5", "version 2.0"),
    case("plot-keeps-existing-figure", "plot {F}/surf.h5 --value nope --out {T}/p.png", 2, "nope",
         existing="p.png"),
    case("plot-all-fails-before-writing", "plot {F}/surf.h5 --kind all --value nope --out {T}/p.png", 2, "nope"),
    case("plot-out-under-a-file", "plot {F}/surf.h5 --out {F}/ckpt.pt/p.png", 2, "ckpt.pt", "not a directory"),
    case("plot-readonly", "plot {F}/surf.h5 --out {RO}/p.png", 2, "p.png", "not writable"),
    case("plot-full-disk", "plot {F}/surf.h5 --out {FULL}/p.png", 1, "p.png", "Could not write"),
    case("compare-one-file", "compare {F}/surf.h5 --out {T}/c.png", 2, "two or more", "landscape plot",
         existing="c.png"),
    case("compare-titles", "compare {F}/surf.h5 {F}/surf.h5 --title a --out {T}/c.png", 2, "--title"),
    case("compare-line-and-plane", "compare {F}/surf.h5 {F}/line.h5 --out {T}/c.png", 2, "1D"),
    case("compare-kind-unknown", "compare {F}/surf.h5 {F}/surf.h5 --kind pie --out {T}/c.png", 2, "kind", "pie"),
    case("compare-truncated", "compare {F}/surf.h5 {F}/trunc.h5 --out {T}/c.png", 2, "trunc.h5"),
    case("compare-readonly", "compare {F}/surf.h5 {F}/surf.h5 --out {RO}/c.png", 2, "c.png", "not writable"),
    case("compare-full-disk", "compare {F}/surf.h5 {F}/surf.h5 --out {FULL}/c.png", 1, "c.png", "Could not write"),
    case("export-format-unknown", "export {F}/surf.h5 --to stl --out {T}/e.stl", 2, "--to stl", "vtp"),
    case("export-extension-unknown", "export {F}/surf.h5 --out {T}/e.stl", 2, "--out", "extension", "'stl'", "vtp"),
    case("export-no-extension", "export {F}/surf.h5 --out {T}/e", 2, "--to", "extension"),
    case("export-value-unknown", "export {F}/surf.h5 --value nope --out {T}/e.vtp", 2, "value", "nope"),
    case("export-animation-for-mesh", "export {F}/surf.h5 --animation rotate --out {T}/e.vtp", 2, "--animation"),
    case("export-animation-unknown", "export {F}/surf.h5 --animation spin --out {T}/e.gif", 2, "spin", "rotate"),
    case("export-mesh-of-a-line", "export {F}/line.h5 --out {T}/e.obj", 2, "obj", "1D"),
    case("export-vmax-inf", "export {F}/surf.h5 --vmax inf --out {T}/e.vtp", 2, "--vmax", "finite"),
    case("export-png-renamed", "export {F}/png.h5 --out {T}/e.vtp", 2, "png.h5"),
    case("export-keeps-existing-file", "export {F}/surf.h5 --value nope --out {T}/e.vtp", 2, "nope",
         existing="e.vtp"),
    case("export-readonly", "export {F}/surf.h5 --out {RO}/e.vtp", 2, "e.vtp", "not writable"),
    case("export-full-disk", "export {F}/surf.h5 --out {FULL}/e.vtp", 1, "e.vtp", "Could not write"),
    # sharpness
    case("sharpness-missing", "sharpness {F}/nope.pt", 2, "nope.pt", "does not exist"),
    case("sharpness-garbage", "sharpness {F}/garbage.pt", 2, "garbage.pt", "not a readable"),
    case("sharpness-text-checkpoint", "sharpness {F}/hello.pt", 2, "hello.pt", "not a readable PyTorch checkpoint"),
    case("sharpness-png-renamed", "sharpness {F}/png.h5", 2, "png.h5", "not a readable HDF5"),
    case("sharpness-malicious", "sharpness {F}/evil.pt --n-samples 16", 2, "evil.pt", "Refused"),
    case("sharpness-nan-weights", "sharpness {F}/nan.pt --n-samples 16 --top-k 1", 2, "nan.pt", "NaN"),
    case("sharpness-other-architecture", "sharpness {F}/arch.pt", 2, "arch.pt", "architecture"),
    case("sharpness-sam-text", "sharpness {F}/ckpt.pt --sam abc", 2, "--sam", "abc"),
    case("sharpness-sam-negative", "sharpness {F}/ckpt.pt --n-samples 16 --top-k 0 --sam -1", 2, "--sam", "-1", "positive"),
    case("sharpness-eps-inf", "sharpness {F}/ckpt.pt --n-samples 16 --top-k 0 --eps inf", 2, "--eps", "inf", "positive"),
    case("sharpness-method-unknown", "sharpness {F}/ckpt.pt --method qr", 2, "--method", "qr"),
    case("sharpness-draws-zero", "sharpness {F}/ckpt.pt --draws 0", 2, "--draws", "0"),
    case("sharpness-threshold-negative", "sharpness {F}/surf.h5 --thresholds -1", 2, "thresholds", "-1"),
    case("sharpness-checkpoint-option-for-surface", "sharpness {F}/surf.h5 --top-k 2", 2, "--top-k", "surface"),
    case("sharpness-surface-option-for-checkpoint", "sharpness {F}/ckpt.pt --window 3", 2, "--window", "surface"),
    case("sharpness-truncated", "sharpness {F}/trunc.h5", 2, "trunc.h5"),
    case("sharpness-newer-version", "sharpness {F}/v2.h5", 2, "v2.h5", "version 2.0"),
    case("sharpness-other-schema", "sharpness {F}/schema.h5", 2, "schema.h5"),
    case("sharpness-directions-of-another-model", "sharpness {F}/otherdirs.h5 --curvature-map 2 --checkpoint "
         "{F}/ckpt.pt --n-samples 16 --no-progress", 2, "another architecture"),
    case("sharpness-metrics-into-readonly", "sharpness {RO}/surf.h5", 2, "surf.h5", "not writable"),
    case("sharpness-metrics-full-disk", "sharpness {FULL}/surf.h5", 1, "surf.h5", "Could not write"),
    case("sharpness-json-readonly", "sharpness {F}/ckpt.pt --n-samples 16 --top-k 1 --json {RO}/s.json", 2,
         "s.json", "not writable"),
    # data and models
    case("data-info-unknown", "data info nosuch", 2, "nosuch", "digits"),
    case("data-info-files-missing", "data info mnist --root {T}/nodata", 2, "mnist", "download"),
    case("data-download-unknown", "data download nosuch", 2, "nosuch", "mnist"),
    case("models-info-unknown", "models info resnet99x", 2, "resnet99x"),
    case("models-family-unknown", "models list --family lstm", 2, "lstm", "resnet"),
    case("models-dataset-unknown", "models list --dataset nosuch", 2, "nosuch"),
    # train and pair
    case("train-model-unknown", "train nosuch --out {T}/run", 2, "nosuch"),
    case("train-epochs-zero", "train mlp8 --epochs 0 --out {T}/run", 2, "--epochs"),
    case("train-lr-negative", "train mlp8 --lr -1 --out {T}/run", 2, "--lr"),
    case("train-lr-nan", "train mlp8 --lr nan --epochs 1 --n-train 50 -q --out {T}/run", 2, "lr", "nan"),
    case("train-optimizer-unknown", "train mlp8 --optimizer lbfgs --out {T}/run", 2, "--optimizer", "lbfgs"),
    case("train-milestones-decreasing", "train mlp8 --milestones 3,2 --out {T}/run", 2, "--milestones"),
    case("train-dataset-unknown", "train mlp8 --dataset nosuch --out {T}/run", 2, "nosuch"),
    case("train-resume-and-overwrite", "train mlp8 --resume --overwrite --out {T}/run", 2, "--resume", "--overwrite"),
    case("train-patience-without-validation", "train mlp8 --patience 2 --epochs 1 --n-train 50 -q --out {T}/run",
         2, "patience", "val"),
    case("train-n-train-too-big", "train mlp8 --n-train 100000 --epochs 1 -q --out {T}/run", 2, "100000", "1437"),
    case("train-out-is-a-file", "train mlp8 --epochs 1 --n-train 50 -q --out {F}/ckpt.pt", 2, "--out", "file"),
    case("train-finished-run-kept", "train mlp8 --epochs 1 --n-train 50 -q --out {F}/finished", 2,
         "finished", "--resume", "--overwrite"),
    case("train-resume-corrupted-state", "train mlp8 --epochs 1 --n-train 50 -q --resume --out {F}/badstate", 2,
         "last_state.pt", "not a readable"),
    case("train-resume-malicious-state", "train mlp8 --epochs 1 --n-train 50 -q --resume --out {F}/evilstate", 2,
         "last_state.pt", "Refused"),
    case("train-resume-newer-state", "train mlp8 --epochs 1 --n-train 50 -q --resume --out {F}/newstate", 2,
         "last_state.pt", "newer"),
    case("train-readonly", "train mlp8 --epochs 1 --n-train 50 -q --out {RO}/run", 2, "run", "write"),
    case("train-full-disk", "train mlp8 --epochs 1 --n-train 50 -q --out {FULL}/run", 1, "Could not write"),
    case("pair-vary-unknown", "pair mlp8 --vary depth --out {T}/runs", 2, "--vary", "depth"),
    case("pair-model-unknown", "pair nosuch --out {T}/runs", 2, "nosuch"),
    case("pair-readonly", "pair mlp8 --epochs 1 --n-train 50 -q --out {RO}/runs", 2, "runs", "write"),
    # experiment and demo (every row fails before any training starts)
    case("experiment-config-missing", "experiment {F}/nope.toml --out {T}/exp", 2, "nope.toml", "does not exist"),
    case("experiment-config-png", "experiment {F}/pic.png --out {T}/exp", 2, "pic.png", "not valid TOML"),
    case("experiment-config-not-toml", "experiment {F}/notoml.toml --out {T}/exp", 2, "notoml.toml", "TOML"),
    case("experiment-config-unknown-setting", "experiment {F}/unknown.toml --out {T}/exp", 2, "frobnicate"),
    case("experiment-config-bad-value", "experiment {F}/bad.toml --out {T}/exp", 2, "epochs", "-3"),
    case("experiment-seeds-zero", "experiment li2018-mnist1d-resnet --seeds 0 --out {T}/exp", 2, "--seeds", "0"),
    case("demo-seeds-zero", "demo --seeds 0 --out {T}/demo", 2, "--seeds", "0"),
    case("experiment-packaged-unknown", "experiment nosuch-config --out {T}/exp", 2, "nosuch-config", "digits-demo"),
    case("experiment-device-unknown", "experiment digits-demo --device tpu --out {T}/exp", 2, "device", "tpu"),
    case("experiment-readonly", "experiment digits-demo --quick --out {RO}/exp", 2, "exp", "Cannot create"),
    case("demo-device-unknown", "demo --device tpu --out {T}/demo", 2, "device", "tpu"),
    case("demo-threads-negative", "demo --threads -1 --out {T}/demo", 2, "--threads"),
    case("demo-out-is-a-file", "demo --out {F}/ckpt.pt", 2, "--out", "file"),
    case("demo-readonly", "demo --quick --out {RO}/demo", 2, "demo", "Cannot create"),
    # the group itself
    case("command-unknown", "frobnicate", 2, "frobnicate", "surface"),
]
# every command, also those added later (demo, experiment): an unknown option is a usage error
CASES += [case(f"{name}-unknown-option", f"{name} --no-such-option", 2, "--no-such-option") for name in cli.COMMANDS]


def fill(arg: str, places: dict) -> str:
    for key, value in places.items():
        arg = arg.replace("{" + key + "}", str(value))
    return arg


def snapshot(root: Path) -> dict:
    """Path -> SHA-256 of every file under ``root`` (dot files included: a stray temp file shows)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != ".ballast":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def error_lines(stderr: str) -> list:
    """The non-blank lines of stderr: what the user is told went wrong (click's usage block included,
    were it shown)."""
    return [line for line in stderr.splitlines() if line.strip()]


def check_message(stderr: str, output: str, c: Case) -> str:
    assert "Traceback" not in output, output
    lines = error_lines(stderr)
    assert len(lines) == 1, f"expected one error line, got: {lines}"
    line = lines[0]
    assert line.startswith("Error: "), line
    for word in c.words:
        assert word in line, f"{word!r} not in {line!r}"
    if c.code == 1:
        assert "rerun with --debug" in line
    return line


def _places(fx, tmp_path, ro_dir, full_disk, c: Case) -> dict:
    places = {"F": fx, "T": tmp_path, "RO": ro_dir, "FULL": full_disk.path}
    text = " ".join(c.args)
    if "{RO}" in text and ro_dir is None:
        pytest.skip("no read-only directory here (root without mount)")
    return places


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                                            if c.xfail else []) for c in CASES])
def test_bad_input(c: Case, fx, tmp_path, ro_dir, full_disk):
    places = _places(fx, tmp_path, ro_dir, full_disk, c)
    if c.existing:
        (tmp_path / c.existing).write_bytes(b"an earlier result that must survive")
    watched = [fx, tmp_path, full_disk.path] + ([ro_dir] if ro_dir else [])
    before = {str(d): snapshot(d) for d in watched}
    args = [fill(a, places) for a in c.args]
    context = full_disk.active() if "{FULL}" in " ".join(c.args) else contextlib.nullcontext()
    with context:
        result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == c.code, result.output
    check_message(result.stderr, result.output, c)
    after = {str(d): snapshot(d) for d in watched}
    assert after == before  # nothing written, nothing damaged, no temporary file left
    assert not (fx / "PWNED").exists()  # no hostile file ran code


def test_table_covers_every_command():
    covered = {c.args[0] for c in CASES}
    assert covered >= set(cli.COMMANDS)
    assert len(CASES) >= 40
    for name in ("surface", "info", "plot", "compare", "export", "sharpness", "train", "pair", "data", "models"):
        assert sum(c.args[0] == name for c in CASES) >= 2, name


# --- the same rows as real processes and with --debug -------------------------------------------------

BY_ID = {c.id: c for c in CASES}


def _limit_file_size():
    """preexec_fn: a 512-byte file-size limit, writes beyond it fail with EFBIG (not SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, resource.RLIM_INFINITY))


@pytest.mark.parametrize("row, limit", [("surface-checkpoint-malicious", False), ("surface-out-full-disk", True)])
def test_real_process(row, limit, fx, tmp_path):
    """The console script in a real process: exit status and one stderr line. The full disk here is a
    file-size limit (RLIMIT_FSIZE), whatever the machine allows."""
    c = BY_ID[row]
    places = {"F": fx, "T": tmp_path, "FULL": tmp_path}
    if limit:
        shutil.copy(fx / "pic.png", tmp_path / "keep.png")
    before = snapshot(tmp_path)
    proc = subprocess.run(landscape_exe() + [fill(a, places) for a in c.args], capture_output=True, text=True,
                          timeout=120, preexec_fn=_limit_file_size if limit else None)
    assert proc.returncode == c.code, proc.stderr
    line = check_message(proc.stderr, proc.stdout + proc.stderr, c)
    if limit:
        assert "File too large" in line
    assert snapshot(tmp_path) == before
    assert not (fx / "PWNED").exists()


@pytest.mark.parametrize("row, exc", [("surface-checkpoint-malicious", ValueError), ("plot-vmin-above-vmax", ValueError),
                                      ("surface-out-under-a-file", ValueError)])
def test_debug_shows_the_exception(row, exc, fx, tmp_path):
    c = BY_ID[row]
    result = CliRunner().invoke(cli.main, ["--debug"] + [fill(a, {"F": fx, "T": tmp_path}) for a in c.args])
    assert isinstance(result.exception, exc), result.output


# --- NaN and inf far from the minimum ----------------------------------------------------------------

def test_overflowing_losses_far_away_are_stored_and_do_not_stop_the_job(fx, tmp_path):
    """An unnormalized step of 1e12 filter norms overflows float32: those cells are NaN, marked done;
    the job finishes; info counts them; every plot and export still draws."""
    out = tmp_path / "far.h5"
    r = CliRunner().invoke(cli.main, ["surface", str(fx / "ckpt.pt"), "--x", "-1e12:1e12:5", "--y", "-1e12:1e12:5",
                                      *FAST, "--split", "train", "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = io.load(out)
    assert s.done().all()
    loss = s.values["train_loss"]
    assert np.isfinite(loss[2, 2]) and (~np.isfinite(loss)).sum() >= 16
    info = CliRunner().invoke(cli.main, ["info", str(out)])
    assert info.exit_code == 0 and "25/25 cells" in info.output and "NaN/inf (diverged)" in info.output
    for args in (["plot", str(out), "--kind", "all", "--out", str(tmp_path / "f.png")],
                 ["export", str(out), "--out", str(tmp_path / "f.vtp")]):
        r = CliRunner().invoke(cli.main, args)
        assert r.exit_code == 0, r.output


class Cliff(nn.Module):
    """Two weights ``w``; the loss is |w|² within radius 1 of the origin, +inf up to radius 2, NaN beyond
    (an overflow, then inf - inf)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return x[:, :2] * 0 + self.w


def cliff_loss(model, batch):
    r = model.w.norm()
    inf = torch.tensor(float("inf"))
    return torch.where(r < 1, r ** 2, torch.where(r < 2, inf, inf - inf))


def test_inf_and_nan_cells_are_stored_as_such_and_metrics_handle_them(tmp_path):
    from landscape import plot
    from landscape.analysis import geometry
    from landscape.core import surface

    model = Cliff()
    dirs = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([0.0, 1.0])}]
    data = (torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    out = tmp_path / "cliff.h5"
    s = surface.compute(model, dirs, x=(-3.0, 3.0, 13), y=(-3.0, 3.0, 13), data=data, loss=cliff_loss,
                        path=str(out), progress=False)
    xx, yy = np.meshgrid(s.x, s.y)
    r = np.hypot(xx, yy)
    loss = s.values["train_loss"]
    assert s.done().all()
    np.testing.assert_allclose(loss[r < 1], (r ** 2)[r < 1], rtol=1e-6)
    assert np.isposinf(loss[(r >= 1) & (r < 2)]).all() and np.isnan(loss[r >= 2]).all()
    m = geometry.grid_metrics(io.load(out), "train_loss")
    assert m["min"] == 0.0 and np.isfinite(m["curvature_x"]) and m["curvature_x"] > 0
    for kind in ("contour", "contourf", "heatmap", "surface"):
        plot.save(plot.draw(s, kind, "train_loss"), tmp_path / f"{kind}.png")
    r = CliRunner().invoke(cli.main, ["sharpness", str(out)])
    assert r.exit_code == 0, r.output
    assert np.isfinite(io.load(out).metrics["train_loss"]["curvature_x"])


def test_a_disk_that_fills_up_during_a_job_does_not_stop_it(tmp_path, monkeypatch):
    """Every dataset of a surface file is allocated when the file is created, so a running (or resumed)
    job writes only inside it: once the file exists, a full disk cannot stop or damage the job."""
    from landscape.core import surface

    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount_tmpfs(disk, "size=1m"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        model, out = Cliff(), disk / "job.h5"
        dirs = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([0.0, 1.0])}]
        kw = dict(x=(-0.5, 0.5, 9), y=(-0.5, 0.5, 9), data=(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)),
                  loss=cliff_loss, path=str(out), progress=False, round_seconds=0.0)
        calls = []
        real = io.write_cells

        def interrupted(*a, **k):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real(*a, **k)

        monkeypatch.setattr(io, "write_cells", interrupted)
        with pytest.raises(KeyboardInterrupt):
            surface.compute(model, dirs, **kw)
        monkeypatch.setattr(io, "write_cells", real)
        assert 0 < io.read_done(out).sum() < 81
        with open(disk / "ballast", "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)
        with pytest.raises(OSError):
            (disk / "probe").write_bytes(b"x" * 8192)  # the disk is full
        s = surface.compute(model, dirs, **kw)  # resumes inside the file
        assert s.done().all() and np.isfinite(s.values["train_loss"]).all()
    finally:
        _umount(disk)


# --- hostile files ---------------------------------------------------------------------------------

def test_checkpoint_loading_never_unpickles_code(fx):
    for path in (fx / "evil.pt", fx / "evilstate" / "last_state.pt"):
        with pytest.raises(ValueError, match="Refused"):
            if path.name == "last_state.pt":
                from landscape.storage import rundir

                rundir.load_state(path)
            else:
                checkpoint.load(path)
    assert not (fx / "PWNED").exists()
    with pytest.raises(ValueError, match="NaN"):
        checkpoint.load_model(fx / "nan.pt")
    model, _ = checkpoint.load_model(fx / "nan.pt", allow_nonfinite=True)  # on purpose, for a post-mortem
    assert torch.isnan(next(model.parameters())).all()


def test_hdf5_with_a_pickled_blob_is_read_without_unpickling(fx, tmp_path):
    """A surface file with opaque datasets/attributes holding a pickle reads fine (they are bytes, never
    unpickled: h5py has no pickle path; this guards against one being added); a pickle where JSON is
    expected is refused as a format error."""
    import pickle

    payload = pickle.dumps(Evil(tmp_path / "PWNED"))
    path = tmp_path / "opaque.h5"
    shutil.copy(fx / "surf.h5", path)
    with h5py.File(path, "r+") as f:
        f["payload"] = np.void(payload)
        f["directions/x"].attrs["payload"] = np.void(payload)
    assert io.load(path).done().all() and len(io.load_directions(path)) == 2
    bad = tmp_path / "pickled_json.h5"
    shutil.copy(fx / "surf.h5", bad)
    with h5py.File(bad, "r+") as f:
        f.attrs["model_spec"] = np.void(payload)  # listed in json_attrs, holds a pickle
    for load in (io.load, io.load_directions):
        with pytest.raises(ValueError, match="model_spec"):
            load(bad)
    assert not (tmp_path / "PWNED").exists()


def stored_kinds(path):
    """Every (name, dtype) of the datasets and attributes in an HDF5 file."""
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out.append((name, obj.dtype))
        for key in obj.attrs:
            out.append((f"{name}@{key}", obj.attrs.get_id(key).dtype))

    with h5py.File(path, "r") as f:
        for key in f.attrs:
            out.append((f"@{key}", f.attrs.get_id(key).dtype))
        f.visititems(visit)
    return out


def assert_plain_data_only(path):
    """No pickled, opaque, reference or compound objects: numbers, booleans and strings only."""
    for name, dtype in stored_kinds(path):
        if dtype.kind == "O":
            assert h5py.check_string_dtype(dtype) is not None, f"{name} holds objects of dtype {dtype}"
        else:
            assert dtype.kind in "biufSU" or h5py.check_enum_dtype(dtype) is not None, f"{name}: {dtype}"


def test_written_files_hold_plain_data_only(fx):
    """Every HDF5 file the commands wrote: numbers, booleans and strings; no object or opaque dtype."""
    for name in ("surf.h5", "line.h5", "otherdirs.h5"):
        assert_plain_data_only(fx / name)
