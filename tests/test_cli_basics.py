"""The command group itself: help, version, unknown commands, and how errors become exit codes."""
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from landscape import cli


def landscape_exe():
    exe = os.path.join(os.path.dirname(sys.executable), "landscape")
    if not os.path.exists(exe):
        pytest.skip("the console script is not installed next to this Python")
    return exe


def test_help_lists_every_command_with_its_line():
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0
    for name, (_, line) in cli.COMMANDS.items():
        assert name in result.output
        assert line.split()[0] in result.output


def test_version_matches_package():
    import landscape

    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0 and landscape.__version__ in result.output


def test_every_registered_command_imports_and_has_help():
    for name in cli.COMMANDS:
        result = CliRunner().invoke(cli.main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_unknown_command_suggests_close_match():
    result = CliRunner().invoke(cli.main, ["dtaa"])
    assert result.exit_code == 2
    assert "No such command 'dtaa'" in result.output and "data" in result.output




@pytest.mark.parametrize("exc, code, text", [
    (ValueError("The value for `norm` must be one of ['filter'], but 'x' was passed."), 2, "Invalid value for 'norm': 'x' is not one of 'filter'."),
    (OSError(28, "No space left on device"), 1, "No space left on device"),
    (KeyboardInterrupt(), 130, "Interrupted. Files are written whole or not at all"),
])
def test_library_errors_become_one_line_with_status(monkeypatch, exc, code, text):
    @click.command()
    def boom():
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "boom", ("x:y", "test only"))
    monkeypatch.setattr(cli.LazyGroup, "get_command", lambda self, ctx, name: boom if name == "boom" else None)
    result = CliRunner().invoke(cli.main, ["boom"])
    assert result.exit_code == code
    assert text in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_debug_flag_shows_the_exception(monkeypatch):
    @click.command()
    def boom():
        raise ValueError("bad")

    monkeypatch.setitem(cli.COMMANDS, "boom", ("x:y", "test only"))
    monkeypatch.setattr(cli.LazyGroup, "get_command", lambda self, ctx, name: boom)
    result = CliRunner().invoke(cli.main, ["--debug", "boom"])
    assert isinstance(result.exception, ValueError)


def test_installed_console_script_runs_as_a_subprocess():
    exe = landscape_exe()
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Commands:" in out.stdout
    bad = subprocess.run([exe, "nosuchcommand"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "No such command" in bad.stderr


def _all_commands():
    """Every command and subcommand, as argument lists: ["surface"], ["data", "list"], ..."""
    out = []
    for name in cli.COMMANDS:
        cmd = cli.main.get_command(None, name)
        out.append([name])
        if isinstance(cmd, click.Group):
            out += [[name, sub] for sub in cmd.list_commands(None)]
    return out


@pytest.mark.parametrize("args", _all_commands(), ids=" ".join)
def test_every_command_help_has_examples(args):
    result = CliRunner().invoke(cli.main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"landscape {' '.join(args)}" in result.output.split("Example", 1)[1]


def test_debug_is_accepted_after_the_subcommand(tmp_path):
    missing = str(tmp_path / "none.h5")
    after = CliRunner().invoke(cli.main, ["info", missing, "--debug"])
    before = CliRunner().invoke(cli.main, ["--debug", "info", missing])
    for r in (after, before):  # the exception itself reaches the caller, as --debug promises
        assert r.exit_code == 1 and r.exception is not None and "does not exist" in str(r.exception)
    plain = CliRunner().invoke(cli.main, ["info", missing])
    assert plain.exit_code == 2 and "Error:" in plain.output


def test_an_empty_or_wrong_checkpoint_says_what_it_is(tmp_path):
    from landscape.storage import rundir

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    r = CliRunner().invoke(cli.main, ["sharpness", str(empty)])
    assert r.exit_code == 2 and "the file is empty (0 bytes)" in r.output
    state = tmp_path / "last_state.pt"
    import torch

    torch.save({"format": rundir.STATE_FORMAT, "version": 1}, state)
    (tmp_path / "final.pt").write_bytes(b"x")
    r = CliRunner().invoke(cli.main, ["sharpness", str(state)])
    assert r.exit_code == 2 and "training state" in r.output and "final.pt" in r.output


def test_a_closed_pipe_ends_quietly():
    # stdout is a pipe whose reader reads nothing and exits: the first write fails with EPIPE
    proc = subprocess.run(f"{sys.executable} -m landscape models list | true", shell=True, capture_output=True,
                          text=True, executable="/bin/bash",
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert "Broken pipe" not in proc.stderr and "Error" not in proc.stderr, proc.stderr


def test_library_advice_reads_as_command_line_options():
    words = cli.cli_words
    opts = {"overwrite", "kind", "dataset"}
    assert words("'a.h5' holds a different surface; use --overwrite (overwrite=True) to replace it.", opts) == \
        "'a.h5' holds a different surface; use --overwrite to replace it."
    assert words("choose another output path or pass --overwrite / overwrite=True.", opts) == \
        "choose another output path or pass --overwrite."
    assert words("A 1D line has no contour; use kind='line'.", opts) == "A 1D line has no contour; use --kind line."
    assert words("The value for `dataset` must be one of ['digits', 'mnist'], but 'digit' was passed. Did you mean "
                 "'digits'?", opts) == ("Invalid value for '--dataset': 'digit' is not one of 'digits', 'mnist'. "
                                        "Did you mean 'digits'?")
    assert words("kind='line' for a model with kind=2", set()) == "kind='line' for a model with kind=2"  # not options


@pytest.mark.parametrize("args, says, never", [
    (["plot", "{line}", "--kind", "contour", "-o", "{tmp}/f.png"], "--kind line", "kind='line'"),
    (["plot", "{line}", "--kind", "bogus", "-o", "{tmp}/f.png"], "Invalid value for '--kind'", "surface3d"),
    (["compare", "{line}", "{line}", "--kind", "bogus", "-o", "{tmp}/f.png"], "Invalid value for '--kind'",
     "surface3d"),
    (["surface", "{ckpt}", "-o", "{line}", "--n-samples", "8"], "--overwrite", "overwrite=True"),
    (["train", "mlp8", "--dataset", "digit", "-o", "{tmp}/run"], "Invalid value for '--dataset'", "The value for"),
])
def test_cli_messages_speak_cli(tmp_path, args, says, never):
    import numpy as np

    from landscape import models
    from landscape.storage import checkpoint, io

    line = tmp_path / "line.h5"
    io.create(line, np.linspace(-1, 1, 5), None, ["train_loss"], {"format": io.FORMAT, "note": "another job"})
    ckpt = tmp_path / "m.pt"
    model = models.create("mlp", in_shape=(1, 8, 8), num_classes=10, depth=2, width=0.125, seed=0)
    checkpoint.save(ckpt, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    r = CliRunner().invoke(cli.main, [a.format(line=line, tmp=tmp_path, ckpt=ckpt) for a in args])
    assert r.exit_code == 2, r.output
    assert says in r.output and never not in r.output, r.output
