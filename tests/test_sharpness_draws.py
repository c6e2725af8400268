"""Hessian measures over seeded data draws (landscape.analysis.draws and `landscape sharpness --draws`)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape import cli, data, models
from landscape.analysis import draws, sharpness
from landscape.storage import checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    model = models.create("mlp", in_shape=(1, 8, 8), num_classes=10, depth=2, width=0.125, seed=0)
    return model, data.load("digits", "train", n=300, seed=0)


def test_draw_i_is_the_single_measure_on_subset_i(tiny):
    model, whole = tiny
    r = draws.over_draws("eigs", model, whole, draws=3, n_samples=64, k=2, seed=5, data_seed=7)
    assert r.seeds == [5, 6, 7] and r.data_seeds == [7, 8, 9] and r.n_samples == 64
    lam = r.quantities["lambda_max"]
    for i in range(3):
        one = sharpness.hessian_eigs(model, draws.subset(whole, 64, 7 + i), k=2, seed=5 + i)
        assert lam.values[i] == pytest.approx(one.values[0], rel=1e-6)
        assert r.quantities["lambda_2"].values[i] == pytest.approx(one.values[1], rel=1e-6)
    assert lam.mean == pytest.approx(lam.values.mean())
    assert lam.stderr == pytest.approx(lam.values.std(ddof=1) / np.sqrt(3))
    assert lam.lo < lam.mean < lam.hi and lam.level == 0.95
    # the subsets are the rows data.load(n=, seed=) keeps
    X, Y = data.load("digits", "train", n=300, seed=0)
    assert torch.equal(draws.subset((X, Y), 64, 8)[1], Y[np.sort(np.random.default_rng(8).permutation(300)[:64])])


def test_trace_and_density_over_draws(tiny):
    model, whole = tiny
    t = draws.over_draws("trace", model, whole, draws=2, n_probes=4)
    assert t.data_seeds is None and t.n_samples == 300  # all the data: only the probes change
    single = sharpness.hessian_trace(model, whole, n_probes=4, seed=1)
    assert t.quantities["trace"].values[1] == pytest.approx(single.trace)
    d = draws.over_draws("density", model, whole, draws=2, n_samples=100, steps=8)
    dx = d.grid[1] - d.grid[0]
    assert d.density_mean.sum() * dx == pytest.approx(1.0, abs=1e-3)
    assert (d.density_stderr >= 0).all() and set(d.quantities) == {"ritz_max", "ritz_min", "negative_mass"}
    assert 0 <= d.quantities["negative_mass"].mean <= 1
    json.dumps(d.to_dict(), allow_nan=True)


def test_bad_arguments(tiny):
    model, whole = tiny
    for kw, word in [({"draws": 0}, "draws"), ({"draws": 2, "n_samples": 0}, "n_samples"),
                     ({"draws": 2, "kind": "hessian"}, "kind")]:
        args = {"kind": "eigs", **kw}
        with pytest.raises(ValueError, match=word):
            draws.over_draws(args.pop("kind"), model, whole, **args)


def test_cli_draws_table_and_json(tmp_path, tiny):
    model, _ = tiny
    ckpt = tmp_path / "tiny.pt"
    checkpoint.save(ckpt, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    out = tmp_path / "s.json"
    res = CliRunner().invoke(cli.main, ["sharpness", str(ckpt), "--top-k", "1", "--trace", "--probes", "3",
                                        "--n-samples", "64", "--draws", "3", "--json", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "lambda_max" in res.output and "95% interval of the mean" in res.output
    assert "3 draws of 64 samples (subset seeds 0..2)" in res.output
    doc = json.loads(out.read_text())
    q = doc["eigenvalues"]["quantities"]["lambda_max"]
    assert doc["draws"] == 3 and len(q["values"]) == 3 and q["lo"] <= q["mean"] <= q["hi"]
    assert len(doc["trace"]["runs"]) == 3 and doc["trace"]["data_seeds"] == [0, 1, 2]
    res = CliRunner().invoke(cli.main, ["sharpness", str(ckpt), "--draws", "0"])
    assert res.exit_code == 2 and "--draws" in res.output and len(res.output.strip().splitlines()) == 1
