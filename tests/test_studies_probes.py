"""landscape.probes: gradient-flow ratios, dead units, the train/eval-mode gap, dropout at test time."""
import math

import pytest
import torch
from torch import nn

from landscape import models
from landscape.analysis import probes
from landscape.training import train


def _data(n=96, d=16, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, (X[:, :classes].argmax(1))


def _mlp(**kw):
    opts = dict(depth=8, skip=False, norm="none", in_shape=(1, 1, 16), num_classes=4, seed=0)
    return models.create("mlp", **{**opts, **kw})


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# -- gradient flow ---------------------------------------------------------------------------------

def test_gradient_ratio_first_over_last():
    assert probes.gradient_ratio([0.5, 1.0, 2.0]) == 0.25
    assert probes.gradient_ratio([1.0, 0.0]) is None
    assert probes.gradient_ratio([1.0]) is None


def test_flow_ratios_read_a_log():
    flow = {"layers": ["a", "b"], "epochs": [0, 1, 2], "norms": [[1.0, 4.0], [2.0, 2.0], [1.0, 1.0]]}
    r = probes.flow_ratios(flow)
    assert r["ratio_init"] == 0.25 and r["ratio_epoch1"] == 1.0 and r["ratio_last"] == 1.0
    assert r["ratio_train"] == pytest.approx(1.0) and r["first_init"] == 1.0 and r["last_init"] == 4.0
    with pytest.raises(ValueError, match="one row of norms per epoch"):
        probes.flow_ratios({"epochs": [0], "norms": []})


def test_sigmoid_gradient_vanishes_toward_the_input_relu_keeps_it():
    """Measured through training's own log: a deep plain sigmoid net's first layer gets a far smaller
    share of the gradient than a ReLU net's (sigmoid' <= 1/4 per layer)."""
    X, Y = _data()
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=0.01, warmup_epochs=0)
    ratios = {}
    for act in ("sigmoid", "relu"):
        run = train.fit(_mlp(depth=20, activation=act), (X, Y), config=cfg, progress_bar=False)
        ratios[act] = probes.flow_ratios(run.gradient_flow)["ratio_init"]
    assert ratios["sigmoid"] < 1e-3 * ratios["relu"]


def test_weight_change_is_relative_per_layer():
    a = _mlp(depth=4)
    b = _mlp(depth=4)
    with torch.no_grad():
        b.linear1.weight.mul_(1.5)  # the first layer moved by half its norm, the others not at all
    out = probes.weight_change(a, b)
    assert out["layers"][0] == "linear1" and out["layers"][-1] == "fc"
    assert out["change"][0] == pytest.approx(0.5) and out["change"][1:] == [0.0] * (len(out["layers"]) - 1)
    with pytest.raises(ValueError, match="same architecture"):
        probes.weight_change(_mlp(depth=4, width=0.5), b)


# -- dead units ------------------------------------------------------------------------------------

def test_dead_units_counts_never_positive_relu_units():
    lin = nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([1.0, -1.0, 0.0, 2.0]))  # units 1 and 2 never positive
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(4, 2))
    out = probes.dead_units(model, (torch.randn(10, 3), torch.zeros(10, dtype=torch.long)), batch_size=4)
    assert (out["units"], out["dead"]) == (4, 2) and out["share"] == 0.5
    assert out["layers"] == [{"name": "1", "units": 4, "dead": 2}]


def test_leaky_relu_has_no_dead_units_where_relu_has():
    lin = nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.fill_(-1.0)
    X = torch.randn(8, 3)
    relu = probes.dead_units(nn.Sequential(lin, nn.ReLU()), (X, X[:, 0]))
    leaky = probes.dead_units(nn.Sequential(lin, nn.LeakyReLU(0.01)), (X, X[:, 0]))
    assert relu["share"] == 1.0 and leaky["share"] == 0.0
    assert relu["max_slope"] == 0.0 and leaky["max_slope"] == pytest.approx(0.01)


def test_sigmoid_slope_never_exceeds_a_quarter():
    X = torch.randn(256, 16) * 3
    out = probes.dead_units(_mlp(activation="sigmoid"), (X, X[:, 0]))
    assert 0.05 < out["mean_slope"] < out["max_slope"] <= 0.25
    assert probes.dead_units(_mlp(activation="relu"), (X, X[:, 0]))["max_slope"] == 1.0


def test_dead_units_leave_the_model_untouched_and_need_activations():
    model = _mlp(norm="batch")
    model.train()
    before = _state(model)
    out = probes.dead_units(model, _data())
    assert out["units"] == 64 * 7 and 0 <= out["share"] <= 1
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="no activation module"):
        probes.dead_units(nn.Linear(3, 2), (torch.randn(4, 3), torch.zeros(4)))


# -- train mode vs eval mode -----------------------------------------------------------------------

def test_mode_gap_is_zero_without_batch_statistics_and_not_with_them():
    X, Y = _data()
    cfg = train.TrainConfig(epochs=2, batch_size=4, lr=0.02, warmup_epochs=0)
    gaps = {}
    for norm in ("layer", "batch"):
        model = train.fit(_mlp(norm=norm), (X, Y), config=cfg, progress_bar=False).model
        before = _state(model)
        gaps[norm] = probes.mode_gap(model, (X, Y), batch_size=4)
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # running stats kept
        assert not model.training
    assert gaps["layer"]["gap"] == pytest.approx(0.0, abs=1e-5)
    assert abs(gaps["batch"]["gap"]) > 1e-3
    assert gaps["batch"]["count"] == len(Y)
    with pytest.raises(ValueError, match="batch_size"):
        probes.mode_gap(model, (X, Y), batch_size=0)
    with pytest.raises(ValueError, match="leave no batch"):
        probes.mode_gap(model, (X[:1], Y[:1]), batch_size=4)


# -- dropout at test time --------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_eval_is_deterministic_and_the_expectation_of_training(p):
    model = _mlp(dropout=p)
    before = _state(model)
    rng = torch.get_rng_state()
    out = probes.dropout_check(model, _data(n=16)[0], draws=400, seed=0)
    assert out["convention"] == "inverted" and out["eval_deterministic"] and out["train_mode_varies"]
    assert len(out["layers"]) == 3  # one per block of the 8-layer MLP
    for layer in out["layers"]:
        assert layer["p"] == p and layer["eval_is_identity"]
        assert layer["expected_rel_error"] == pytest.approx(math.sqrt(p / ((1 - p) * 400)))
        # the mean of training-mode outputs is the eval output up to Monte-Carlo noise; a test-time
        # output off by the keep probability q would be off by p (>= 0.1 here, > 5x the noise)
        assert layer["error_ratio"] < 3 and layer["rel_error"] < p / 2
    assert torch.equal(torch.get_rng_state(), rng) and all(torch.equal(v, before[k])
                                                           for k, v in model.state_dict().items())


def test_dropout_check_needs_a_dropout_layer():
    with pytest.raises(ValueError, match="no dropout layer"):
        probes.dropout_check(_mlp(), torch.randn(4, 16))
    with pytest.raises(ValueError, match="draws"):
        probes.dropout_check(_mlp(dropout=0.5), torch.randn(4, 16), draws=1)
