"""Hessian-vector products against the dense Hessian of torch.autograd.functional.hessian (oracle)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.analysis import hessian
from landscape.core.params import snapshot


def _mlp64(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double().eval()


def _data64(n=40, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def _exact(model, X, Y, names=None):
    """The dense Hessian of the mean cross entropy w.r.t. the named parameters (float64 oracle)."""
    params = {k: v.detach() for k, v in model.named_parameters() if names is None or k in names}

    def f(flat):
        return F.cross_entropy(torch.func.functional_call(model, hessian.unflatten(flat, params), (X,)), Y)

    return torch.autograd.functional.hessian(f, hessian.flatten(params))


def test_flatten_unflatten_round_trip():
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([7.0]), "c": torch.ones(2, 1, 2)}
    flat = hessian.flatten(tensors)
    assert flat.tolist() == [0, 1, 2, 3, 4, 5, 7, 1, 1, 1, 1]
    back = hessian.unflatten(flat, tensors)
    assert list(back) == ["a", "b", "c"]
    for k in tensors:
        assert torch.equal(back[k], tensors[k])
    with pytest.raises(ValueError, match="does not fit"):
        hessian.unflatten(torch.zeros(3), tensors)


@pytest.mark.parametrize("method, cache", [("autograd", None), ("autograd", False), ("func", None)])
@pytest.mark.parametrize("batch_size", [None, 16])  # one batch and three batches
def test_dense_hessian_matches_autograd_oracle(method, cache, batch_size):
    model, (X, Y) = _mlp64(), _data64()
    exact = _exact(model, X, Y)
    with hessian.operator(model, (X, Y), method=method, batch_size=batch_size, cache_graph=cache) as H:
        assert H.n == exact.shape[0] == 51
        assert H.count == 40
        dense = H.dense()
        assert H.n_products == 51
        # a second pass reuses the cached graph (or rebuilds it) and must give the same products
        v = torch.randn(H.n, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(H.matvec(v), exact @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dense, exact, rtol=1e-10, atol=1e-12)


def test_graph_cache_is_decided_by_measured_size(monkeypatch):
    model, (X, Y) = _mlp64(), _data64()
    v = torch.ones(51, dtype=torch.float64)
    with hessian.operator(model, (X, Y), batch_size=16) as H:
        assert H.cache_graph is None
        first = H.matvec(v)
        assert H.cache_graph is True and len(H._graphs) == 3  # a tiny graph: kept
        torch.testing.assert_close(H.matvec(v), first, rtol=0, atol=0)
    monkeypatch.setattr(hessian, "GRAPH_CACHE_BYTES", 1000)
    with hessian.operator(model, (X, Y), batch_size=16) as H:
        torch.testing.assert_close(H.matvec(v), first, rtol=0, atol=0)
        assert H.cache_graph is False and H._graphs is None
        torch.testing.assert_close(H.matvec(v), first, rtol=0, atol=0)


def test_loss_and_grad_match_autograd():
    model, (X, Y) = _mlp64(), _data64()
    with hessian.operator(model, (X, Y), batch_size=7) as H:
        value, g = H.loss_and_grad()
    params = [p for p in model.parameters()]
    ref = F.cross_entropy(model(X), Y)
    ref_g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(ref, params)])
    assert value == pytest.approx(ref.item(), rel=1e-12)
    torch.testing.assert_close(g, ref_g, rtol=1e-10, atol=1e-12)


def test_params_subset_and_frozen_parameters():
    model, (X, Y) = _mlp64(), _data64()
    model[0].weight.requires_grad_(False)  # frozen: no curvature is taken w.r.t. it by default
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    with hessian.operator(model, (X, Y)) as H:
        assert H.names == names and H.n == 51 - 24
        dense = H.dense()
    torch.testing.assert_close(dense, _exact(model, X, Y, names), rtol=1e-10, atol=1e-12)
    with hessian.operator(model, (X, Y), params=r"^2\.") as H:
        assert H.names == ["2.weight", "2.bias"]


def test_hvp_takes_and_returns_dicts_keyed_by_name():
    model, (X, Y) = _mlp64(), _data64()
    v = {"2.weight": torch.ones(3, 6, dtype=torch.float64)}  # other parameters: zero
    out = hessian.hvp(model, (X, Y), v)
    assert list(out) == [k for k, _ in model.named_parameters()]
    flat_v = torch.cat([torch.zeros(24 + 6, dtype=torch.float64), torch.ones(18, dtype=torch.float64),
                        torch.zeros(3, dtype=torch.float64)])
    torch.testing.assert_close(hessian.flatten(out), _exact(model, X, Y) @ flat_v, rtol=1e-10, atol=1e-12)


class _BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5, bias=False)
        self.bn = nn.BatchNorm1d(5)
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


@pytest.mark.parametrize("bn", ["eval", "train"])
def test_batchnorm_mode_and_model_restored(bn):
    torch.manual_seed(0)
    model = _BNNet().double()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.3, 0.3)
        model.bn.running_var.uniform_(0.5, 2.0)
    model.train()  # the caller's mode must come back, whatever mode the Hessian used
    X, Y = _data64()
    before = snapshot(model)
    with hessian.operator(model, (X, Y), bn=bn) as H:
        dense = H.dense()
    after = snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and model.bn.training

    ref_model = _BNNet().double()
    ref_model.load_state_dict(before)
    ref_model.eval()
    if bn == "train":
        ref_model.bn.train()  # batch statistics: the loss of a different function of the weights
    torch.testing.assert_close(dense, _exact(ref_model, X, Y), rtol=1e-9, atol=1e-11)


def test_bad_input_is_one_line_value_error():
    model, (X, Y) = _mlp64(), _data64()
    with pytest.raises(ValueError, match="`bn`"):
        with hessian.operator(model, (X, Y), bn="recompute"):
            pass
    with pytest.raises(ValueError, match="method='func' cannot"):
        with hessian.operator(model, (X, Y), method="func", bn="train"):
            pass
    with pytest.raises(ValueError, match="`method`"):
        with hessian.operator(model, (X, Y), method="finite-differences"):
            pass
    frozen = _mlp64()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters") as info:
        with hessian.operator(frozen, (X, Y)):
            pass
    assert "\n" not in str(info.value)
