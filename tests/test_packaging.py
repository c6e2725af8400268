"""The distribution is named loss-landscape-lab on the package index (PyPI's "landscape" is another
project); the import name and the command stay `landscape` (issue 30.6). A wheel built from this
tree carries that name, the packaged study configs and the console script, and installing it gives
both `import landscape` and the `landscape` command."""
import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from landscape.base.extras import DISTRIBUTION

ROOT = Path(__file__).resolve().parent.parent


def test_setup_cfg_names_the_distribution_and_the_command():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["name"] == DISTRIBUTION == "loss-landscape-lab"
    assert "landscape = landscape.cli:main" in cfg["options.entry_points"]["console_scripts"]
    readme = (ROOT / "README.md").read_text()
    assert f"pip install {DISTRIBUTION}" in readme


@pytest.mark.slow
def test_built_wheel_installs_the_package_and_the_command(tmp_path):
    src = tmp_path / "src"  # build from a copy: an in-tree build leaves build/ and *.egg-info behind
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "landscape-demo*", ".venv"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith("loss_landscape_lab-")
    names = zipfile.ZipFile(wheel).namelist()
    configs = {Path(n).stem for n in names if n.startswith("landscape/studies/configs/") and n.endswith(".toml")}
    assert {"mnist1d-demo", "li2018-mnist1d-resnet", "vanishing-gradients"} <= configs
    assert any(n.startswith("landscape/models/") for n in names) and "landscape/cli.py" in names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "Name: loss-landscape-lab" in zipfile.ZipFile(wheel).read(meta).decode()
    # install it (without its dependencies, which this environment has) into a folder of its own
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([str(target / "bin" / "landscape"), "--version"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "landscape" in out.stdout, out.stderr
    where = subprocess.run([sys.executable, "-c", "import landscape; print(landscape.__file__)"], env=env,
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(target)), where
