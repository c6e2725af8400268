"""A study never runs into another study's directory, nor a full run into a --quick one (or the
reverse), unless --fresh says to replace it (issue 30.2)."""
import pytest
from click.testing import CliRunner

from landscape import cli
from landscape.studies import experiment

from test_demo import TINY


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _dir_of(tmp_path, name):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "config.toml").write_text(f'name = "{name}"\n')
    (out / "report.md").write_text("# the other study's report\n")
    return out


def _snapshot(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("held, args, says", [
    ("vanishing-gradients", [], "the study 'vanishing-gradients'"),
    ("tiny-quick", [], "a --quick run of 'tiny'"),
    ("tiny", ["--quick"], "the full run of 'tiny'"),
])
def test_another_study_or_quickness_is_refused(tmp_path, tiny, held, args, says):
    out = _dir_of(tmp_path, held)
    before = _snapshot(out)
    r = CliRunner().invoke(cli.main, ["experiment", str(tiny), "--out", str(out), "--no-progress", *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0] and "--fresh" in lines[0] and "fresh=True" not in lines[0], lines
    assert _snapshot(out) == before


def test_same_study_goes_on_and_fresh_replaces(tmp_path, tiny, monkeypatch):
    """The same study's directory is resumed; with --fresh another study's is taken over (the run is
    stopped right after the check, so the test needs no training)."""
    from landscape.studies.config import load_config

    class Stop(Exception):
        pass

    def stop(ctx):
        raise Stop

    monkeypatch.setattr(experiment.workers, "run", stop)
    config = load_config(tiny)
    for held, fresh in (("tiny", False), ("vanishing-gradients", True)):
        out = _dir_of(tmp_path / held, held)
        with pytest.raises(Stop):
            experiment.run(config, out, fresh=fresh, progress_bars=False)
        assert 'name = "tiny"' in (out / "config.toml").read_text()  # says whose directory it now is


def test_a_hand_written_config_in_out_is_not_replaced(tmp_path):
    """`landscape experiment DIR/config.toml --out DIR`: the study would write its own config.toml over
    the one given; a hand-written one (comments, another layout) is refused, not replaced."""
    out = tmp_path / "mine"
    out.mkdir()
    mine = out / "config.toml"
    mine.write_text("# my notes\n" + TINY)
    before = mine.read_bytes()
    r = CliRunner().invoke(cli.main, ["experiment", str(mine), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2 and "config" in r.output and "--out" in r.output, r.output
    assert mine.read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["config.toml"]
