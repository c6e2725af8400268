"""`landscape export` to a mesh says when heights were clipped, as plots do in their colour bar (issue 21.15)."""
import numpy as np
import pytest
from click.testing import CliRunner

from landscape import cli
from landscape.storage import io


def _file(path, outlier=None):
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    X, Y = np.meshgrid(x, y)
    loss = 0.1 + X ** 2 + Y ** 2
    if outlier is not None:
        loss[0, 0] = outlier  # one diverged corner
    io.create(path, x, y, ["train_loss"], {"format": io.FORMAT})
    io.write_cells(path, np.arange(loss.size), {"train_loss": loss.ravel()})
    return path


@pytest.mark.parametrize("fmt", ["vtp", "obj"])
def test_clipped_heights_are_reported(tmp_path, fmt):
    r = CliRunner().invoke(cli.main, ["export", str(_file(tmp_path / "s.h5", 688.5)), "-o", str(tmp_path / f"s.{fmt}")])
    assert r.exit_code == 0, r.output
    assert "Heights clipped at" in r.output and "reach 688.5" in r.output and "--vmax" in r.output
    r = CliRunner().invoke(cli.main, ["export", str(tmp_path / "s.h5"), "-o", str(tmp_path / f"t.{fmt}"),
                                      "--vmax", "2"])
    assert "Heights clipped at 2" in r.output and "reach 688.5" in r.output


def test_a_smooth_surface_is_not_reported_clipped(tmp_path):
    r = CliRunner().invoke(cli.main, ["export", str(_file(tmp_path / "s.h5")), "-o", str(tmp_path / "s.vtp")])
    assert r.exit_code == 0 and "clipped" not in r.output
