"""The built wheel carries the whole package — the layer packages, the linked models/ and data/, the
packaged study configs — and its command runs from the unpacked wheel alone."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(REPO)], capture_output=True, text=True)
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    (path,) = out.glob("*.whl")
    return path


def test_wheel_has_the_packages_and_the_study_configs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {p.name for p in (REPO / "landscape" / "studies" / "configs").glob("*.toml")}
    assert configs and {f"landscape/studies/configs/{c}" for c in configs} <= names
    for package in ("base", "plot", "storage", "core", "training", "analysis", "studies", "commands",
                    "models", "data"):
        assert f"landscape/{package}/__init__.py" in names, package
    assert "landscape/cli.py" in names
    assert not any(n.startswith(("models/", "data/", "tests/")) for n in names)  # no generic top-level names


def test_unpacked_wheel_runs_experiment_help(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = ("import landscape, sys; print(landscape.__file__); "
            "from landscape.cli import main; sys.argv = ['landscape', 'experiment', '--help']; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(str(tmp_path))  # the wheel's copy, not the checkout
    for config in ("li2018-mnist1d-resnet", "vanishing-gradients", "normalization", "overfitting"):
        assert config in r.stdout
