"""Basin profiles (issue 28): curves along random and worst-case directions, radii with intervals,
the figure and `landscape basin`."""
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.analysis import basin
from landscape.core.surface import weights_fingerprint


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def trained_mlp():
    """A small classifier trained to a minimum on a separable problem."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(256, 6, generator=gen)
    Y = (X[:, 0] + X[:, 1] > 0).long()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), Y).backward()
        opt.step()
    return net.eval(), (X, Y)


def test_bracket_is_the_first_crossing_at_the_grid_resolution():
    steps = np.linspace(0, 1, 11)
    rise = np.array([0, .01, .02, .05, .2, .05, .3, .4, .5, .6, .7])
    np.testing.assert_allclose(basin.bracket(steps, rise, 0.1), [0.3, 0.4])  # the first crossing, not the last
    lo, hi = basin.bracket(steps, np.zeros(11), 0.1)
    assert lo == 1.0 and hi == math.inf  # never reached: radius >= the last step
    np.testing.assert_allclose(basin.bracket(steps, np.r_[0, np.nan, np.zeros(9)], 0.1), [0.0, 0.1])  # NaN = diverged


def test_profile_random_band_worst_case_and_restore():
    net, data = trained_mlp()
    before = weights_fingerprint(net)
    steps = np.linspace(0, 2, 11)
    r = basin.profile(net, data, k=4, steps=steps, threshold=0.1, seed=0)
    assert weights_fingerprint(net) == before
    assert r.random_loss.shape == (4, 11) and r.random_acc.shape == (4, 11)
    np.testing.assert_allclose(r.random_loss[:, 0], r.base_loss, rtol=1e-6)  # every line starts at the weights
    assert r.worst_loss[0] == pytest.approx(r.base_loss, rel=1e-6)
    assert len({tuple(np.round(row, 6)) for row in r.random_loss}) == 4  # four different directions
    # the worst case rises faster than the typical random direction at the first step
    assert r.worst_loss[1] > np.median(r.random_loss[:, 1])
    rr, wr = r.random_radius(), r.worst_radius()
    assert rr["lo"] <= rr["radius"] <= rr["hi"] and wr["lo"] <= wr["hi"]
    assert wr["radius"] <= rr["radius"]
    for (lo, hi), row in zip(r.random_brackets, r.random_loss):
        assert (row[steps <= lo] - r.base_loss < 0.1).all()
        if hi != math.inf:
            assert row[np.searchsorted(steps, hi)] - r.base_loss >= 0.1
    doc = json.loads(json.dumps(r.to_json(), allow_nan=False))
    assert doc["random"]["radius"] == rr["radius"] and len(doc["random"]["loss"]) == 4


def test_profile_low_memory_matches_stored_per_direction():
    """store=False draws other numbers for a seed (per-tensor seeding) but the same kind of direction:
    the curves start at the weights and the radius is of the same order."""
    net, data = trained_mlp()
    steps = np.linspace(0, 2, 6)
    low = basin.profile(net, data, k=2, steps=steps, store=False)
    assert low.attrs["store"] is False
    np.testing.assert_allclose(low.random_loss[:, 0], low.base_loss, rtol=1e-6)
    assert np.isfinite(low.random_loss).all()


def test_profile_rejects_bad_steps_and_threshold():
    net, data = trained_mlp()
    with pytest.raises(ValueError, match="steps"):
        basin.profile(net, data, steps=[0.1, 0.2])
    with pytest.raises(ValueError, match="threshold"):
        basin.profile(net, data, steps=[0, 0.1], threshold=0)


def test_figure_draws_band_worst_case_and_threshold():
    from landscape.plot import basin as basin_plot

    net, data = trained_mlp()
    r = basin.profile(net, data, k=3, steps=np.linspace(0, 2, 6))
    fig = basin_plot.figure(r, title="mlp")
    loss_ax, acc_ax = fig.axes
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert any("random" in t for t in labels) and any("worst" in t for t in labels)
    assert any(abs(line.get_ydata()[0] - (r.base_loss + 0.1)) < 1e-9 for line in loss_ax.lines
               if len(line.get_ydata()) == 2)  # the threshold level
    assert "radius" in fig._suptitle.get_text()
    assert acc_ax.get_ylabel() == "accuracy (%)"


def test_cli_basin_on_a_tiny_lm(tmp_path):
    transformers = pytest.importorskip("transformers")
    from landscape.cli import main

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=256, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    transformers.AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path / "lm")
    (tmp_path / "t.txt").write_text("abcdefgh " * 200)
    out, js = tmp_path / "b.png", tmp_path / "b.json"
    res = CliRunner().invoke(main, ["basin", "--hf", str(tmp_path / "lm"), "--text", str(tmp_path / "t.txt"),
                                    "--seq-len", "16", "--n-seqs", "4", "--k", "2", "--steps", "0:1:5",
                                    "--out", str(out), "--json", str(js), "-q"])
    assert res.exit_code == 0, res.output
    assert "radius" in res.output and "UTF-8 bytes" in res.output
    doc = json.loads(js.read_text())
    assert doc["k"] == 2 and len(doc["steps"]) == 5 and doc["attrs"]["store"] is False
    assert out.stat().st_size > 10_000


def test_cli_basin_bad_steps_exit_2(tmp_path):
    from landscape.cli import main

    res = CliRunner().invoke(main, ["basin", str(tmp_path / "x.pt"), "--steps", "0.5:1:5"])
    assert res.exit_code == 2 and "--steps" in res.output
