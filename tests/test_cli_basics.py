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
    (ValueError("The value for `norm` must be one of ['filter'], but 'x' was passed."), 2, "must be one of"),
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
