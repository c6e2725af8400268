"""Nothing of ours claims a generic top-level name: models/, data/ and cli.py install as
landscape.models, landscape.data and landscape.cli, so a user's own `models` or `data` package wins
in their project and ours still works beside it."""
import subprocess
import sys
from pathlib import Path

import pytest

from landscape.storage import checkpoint

GOLDEN = Path(__file__).parent / "golden" / "checkpoint_mlp_2026-12.pt"


@pytest.fixture
def user_project(tmp_path):
    """A directory laid out like a typical ML project: its own models/, data/ and cli.py."""
    for name in ("models", "data"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"OWNER = 'user {name}'\n")
    (tmp_path / "cli.py").write_text("OWNER = 'user cli'\n")
    return tmp_path


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    # `python -c` puts the working directory first on sys.path, as a user's script in their project does.
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_load_model_beside_user_packages_named_models_and_data(user_project):
    code = (
        "import models, data, cli\n"
        "from landscape import checkpoint\n"
        f"model, ckpt = checkpoint.load_model({str(GOLDEN)!r})\n"
        "import landscape.models, landscape.data\n"
        "assert models.OWNER == 'user models' and data.OWNER == 'user data' and cli.OWNER == 'user cli'\n"
        "assert landscape.models.__name__ == 'landscape.models'\n"
        "print(type(model).__module__, sum(p.numel() for p in model.parameters()))\n"
    )
    result = _python(code, user_project)
    assert result.returncode == 0, result.stderr
    module, count = result.stdout.split()
    assert module.startswith("landscape.models.")
    assert int(count) == 38922


def test_python_m_landscape_runs_beside_user_packages(user_project):
    out = user_project / "s.h5"
    result = subprocess.run(
        [sys.executable, "-m", "landscape", "surface", str(GOLDEN), "--dataset", "digits", "--x", "-1:1:3",
         "--n-samples", "16", "--no-progress", "--out", str(out)],
        cwd=user_project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_checkpoint_written_before_the_move_still_loads():
    """A checkpoint saved when the packages were top-level `models`/`data` (golden file): the spec is
    plain data, so it rebuilds the same model under the new names."""
    model, ckpt = checkpoint.load_model(GOLDEN)
    assert ckpt["model"]["name"] == "mlp" and ckpt["model"]["width"] == 8
    assert type(model).__module__ == "landscape.models.mlp"
