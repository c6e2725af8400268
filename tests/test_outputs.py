"""No command writes over its own input, under an extension that names another format, or over a file
it did not write (issue 30.1): each case exits 2 with one line and leaves every file as it was."""
import hashlib
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape import cli, models
from landscape.commands.outputs import check_output, file_format, same_file
from landscape.storage import checkpoint, io


def _surface(path):
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    X, Y = np.meshgrid(x, y)
    io.create(path, x, y, ["train_loss"], {"format": io.FORMAT})
    io.write_cells(path, np.arange(X.size), {"train_loss": (0.1 + X ** 2 + Y ** 2).ravel()})
    return path


def _checkpoint(path, seed=0):
    torch.manual_seed(seed)
    model = models.create("mlp", seed=seed, depth=2, width=4, in_shape=(1, 8, 8), num_classes=10)
    checkpoint.save(path, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    return path


def _digest(*paths):
    return {str(p): hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def _refused(args, *keep, says=()):
    before = _digest(*keep)
    r = CliRunner().invoke(cli.main, [str(a) for a in args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for word in says:
        assert word in lines[0], lines[0]
    assert "--overwrite" not in lines[0]
    assert _digest(*keep) == before  # nothing changed
    return lines[0]


@pytest.mark.parametrize("to", ["html", "vtp", "obj", "gif"])
def test_export_onto_its_own_input_is_refused(tmp_path, to):
    s = _surface(tmp_path / "p.h5")
    _refused(["export", s, "--to", to, "--out", s], s, says=["input"])
    # the same file by another spelling, and through a link
    os.symlink(s, tmp_path / "link.h5")
    _refused(["export", s, "--to", to, "--out", tmp_path / "." / "link.h5"], s, says=["input"])


def test_export_onto_another_surface_is_refused(tmp_path):
    s, other = _surface(tmp_path / "p.h5"), _surface(tmp_path / "q.h5")
    _refused(["export", s, "--to", "html", "--out", other], s, other, says=[".h5"])


def test_an_extension_that_names_another_format_is_refused(tmp_path):
    s = _surface(tmp_path / "p.h5")
    line = _refused(["export", s, "--to", "mp4", "--out", tmp_path / "x.gif"], s, says=[".gif", ".mp4"])
    assert not (tmp_path / "x.gif").exists(), line
    _refused(["surface", tmp_path / "a.pt", "--out", tmp_path / "fig.png"], says=[".png", ".h5"])


def test_connect_onto_a_checkpoint_is_refused_and_overwrite_does_not_replace_it(tmp_path):
    a, b = _checkpoint(tmp_path / "a.pt", 0), _checkpoint(tmp_path / "b.pt", 1)
    _refused(["connect", a, b, "--out", a], a, b, says=["input"])
    _refused(["connect", a, b, "--out", a, "--overwrite"], a, b, says=["input"])
    c = _checkpoint(tmp_path / "c.pt", 2)  # not an input, but not a file connect writes either
    _refused(["connect", a, b, "--out", c, "--overwrite"], a, b, c, says=["PyTorch"])


def test_surface_onto_its_checkpoint_or_a_foreign_file_is_refused(tmp_path):
    a = _checkpoint(tmp_path / "a.h5")  # a checkpoint under an HDF5 name
    _refused(["surface", a, "--out", a, "--x", "-1:1:3"], a, says=["input"])
    other = _checkpoint(tmp_path / "b.h5")
    notes = tmp_path / "notes.h5"
    notes.write_text("my notes\n")
    for target in (other, notes):
        _refused(["surface", a, "--out", target, "--x", "-1:1:3", "--overwrite"], a, target,
                 says=["does not write"])


def test_figures_and_sharpness_json_do_not_replace_their_inputs(tmp_path):
    s = _surface(tmp_path / "p.h5")
    _refused(["plot", s, "--out", tmp_path / "p.h5"], s)
    _refused(["compare", s, s, "--out", s], s)
    png = tmp_path / "p.png"
    png.write_bytes(b"not really")
    a = _checkpoint(tmp_path / "a.pt")
    _refused(["sharpness", a, "--json", a], a, says=["input"])


def test_check_output_library_cases(tmp_path):
    s = _surface(tmp_path / "p.h5")
    assert file_format(s)[0] == io.FORMAT
    assert same_file(s, tmp_path / "." / "p.h5") and not same_file(s, tmp_path / "q.h5")
    check_output(tmp_path / "new.html", [("surface", s)], extensions=(".html",), writes="a web page")
    check_output(s, [], extensions=(".h5",), replaces=(io.FORMAT,))  # a surface may replace a surface
    fig = tmp_path / "old.png"
    fig.write_bytes(b"\x89PNG old figure")
    check_output(fig, [("surface", s)], extensions=(".png",))  # a figure replaces a figure
    with pytest.raises(ValueError, match="is a directory"):
        check_output(tmp_path, [], extensions=(".png",))
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.png")
    with pytest.raises(ValueError, match="PyTorch"):
        check_output(tmp_path / "w.png", [], extensions=(".png",))
