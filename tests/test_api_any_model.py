"""The public API on models, losses and data that are not ours (issue 11).

Any ``nn.Module``; data as tensors, Datasets, DataLoaders, generators, dict batches or custom batch
objects; custom losses in both the mean and the ``(loss_sum, count)`` form; frozen parameters that
must stay bit-for-bit fixed; and misuse that must fail with a ValueError saying what to pass.
Everything here is tiny (a few hundred parameters, <= 64 samples, 3-5 grid points).
"""
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.analysis import sharpness
from landscape.core import directions, evaluate, params, surface
from landscape.storage import io

torch.set_num_threads(1)


# --- models and data ------------------------------------------------------------------------------

class Backbone(nn.Module):
    """6 -> 8 features through Linear + BatchNorm (so frozen buffers exist too)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return torch.relu(self.bn(self.fc(x)))


class FrozenBackboneNet(nn.Module):
    """A backbone with ``requires_grad=False`` and a trainable head: LoRA-style fine-tuning, in small."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = Backbone()
        self.head = nn.Linear(8, 3)
        with torch.no_grad():  # non-trivial running statistics, as after training
            self.backbone.bn.running_mean.uniform_(-0.2, 0.2)
            self.backbone.bn.running_var.uniform_(0.8, 1.2)
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.head(self.backbone(x))


class TwoInputNet(nn.Module):
    """``forward(tokens, mask)``: a model that cannot be called as ``model(X)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, tokens, mask):
        h = (self.embed(tokens) * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return self.out(h)


@dataclass
class Batch:
    """A custom batch object with ``.to(device)``, as some frameworks use."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def to(self, device):
        return Batch(self.inputs.to(device), self.labels.to(device))


def xy(n=48, d=6, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).eval()


def line(model, data, **kw):
    """A 3-point 1D surface along a seeded random direction, in memory."""
    dirs = directions.random(model, n=1, seed=0, params=kw.pop("dir_params", None))
    return surface.compute(model, dirs, x=(-1.0, 1.0, 3), data=data, progress=False, **kw)


# --- data and loss in any form --------------------------------------------------------------------

def test_every_data_form_gives_the_same_surface():
    model = mlp()
    X, Y = xy()
    reference = line(model, (X, Y)).values["train_loss"]
    forms = {
        "dataset": TensorDataset(X, Y),
        "dataloader": DataLoader(TensorDataset(X, Y), batch_size=10),
        "generator": ((X[i:i + 16], Y[i:i + 16]) for i in range(0, 48, 16)),
        "list of tuples": [(X[:20], Y[:20]), (X[20:], Y[20:])],
    }
    for name, data in forms.items():
        np.testing.assert_allclose(line(model, data).values["train_loss"], reference, rtol=1e-6, err_msg=name)
    objects = [Batch(X[:30], Y[:30]), Batch(X[30:], Y[30:])]
    by_object = line(model, objects, loss=lambda m, b: F.cross_entropy(m(b.inputs), b.labels))
    np.testing.assert_allclose(by_object.values["train_loss"], reference, rtol=1e-6)


def test_dict_of_tensors_is_cut_into_dict_batches():
    tokens = torch.randint(0, 10, (25, 5))
    out = evaluate.batches({"tokens": tokens, "labels": torch.zeros(25, dtype=torch.long)}, batch_size=10)
    assert [b["tokens"].shape[0] for b in out] == [10, 10, 5]
    assert torch.equal(torch.cat([b["tokens"] for b in out]), tokens)
    with pytest.raises(ValueError, match="one row per sample"):
        evaluate.batches({"tokens": tokens, "labels": torch.zeros(24)})
    # sharpness takes such a dict directly, with a loss that reads the keys
    model = TwoInputNet().eval()
    columns = {"tokens": tokens, "mask": torch.ones(25, 5), "labels": torch.arange(25) % 2}
    eig = sharpness.hessian_eigs(model, columns, k=1, batch_size=10,
                                 loss=lambda m, b: F.cross_entropy(m(b["tokens"], b["mask"]), b["labels"]))
    assert eig.n_samples == 25 and np.isfinite(eig.values).all()


def test_custom_loss_forms_agree_with_the_builtin_and_mean_weights_by_batch_size():
    model = TwoInputNet().eval()
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 10, (40, 5), generator=g)
    mask = torch.ones(40, 5)
    mask[::3, 3:] = 0
    labels = torch.randint(0, 2, (40,), generator=g)
    # Uneven batches (16, 16, 8): a plain mean of batch means would be wrong.
    dict_batches = [{"tokens": tokens[i:i + 16], "mask": mask[i:i + 16], "labels": labels[i:i + 16]}
                    for i in range(0, 40, 16)]

    def mean_loss(m, b):
        return F.cross_entropy(m(b["tokens"], b["mask"]), b["labels"])

    def sum_loss(m, b):
        return F.cross_entropy(m(b["tokens"], b["mask"]), b["labels"], reduction="sum"), len(b["labels"])

    exact = [F.cross_entropy(model(tokens, mask), labels).item()]
    for loss in (mean_loss, sum_loss, evaluate.objective(mean_loss, batch_size_fn=lambda b: len(b["labels"]))):
        surf = line(model, dict_batches, loss=loss)
        assert surf.values["train_loss"][1] == pytest.approx(exact[0], rel=1e-6)
        assert "train_acc" not in surf.values  # a custom loss says nothing about accuracy


def test_regression_with_mse_has_loss_but_no_accuracy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    X = torch.randn(32, 3)
    Y = X.sum(1, keepdim=True)
    surf = line(model, (X, Y), test_data=(X[:8], Y[:8]), loss="mse")
    assert set(surf.values) == {"train_loss", "test_loss"}
    assert surf.values["train_loss"][1] == pytest.approx(F.mse_loss(model(X), Y).item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"Y\.reshape\(-1, 1\)"):
        line(model, (X, Y[:, 0]), loss="mse")


# --- frozen parameters ----------------------------------------------------------------------------

FROZEN = ("backbone.fc.weight", "backbone.fc.bias", "backbone.bn.weight", "backbone.bn.bias")


@pytest.mark.parametrize("bn, exact", [("eval", False), ("eval", True), ("recompute", False)])
def test_frozen_parameters_stay_bitwise_fixed_across_a_surface(tmp_path, bn, exact):
    """At every grid point the frozen tensors the forward pass sees are the same bits (with the exact
    engine: the model's own; the default engine may evaluate a copy with BatchNorm folded into the
    frozen layer, folded once), the values match a naive head-only evaluation, and the model is
    bitwise unchanged afterwards."""
    from landscape.core.engine import EngineOptions

    model = FrozenBackboneNet().eval()
    X, Y = xy()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    assert set(frozen) == set(FROZEN)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first_seen, changed, heads = {}, [], []

    def watch(module, args):  # runs before every forward pass, at every grid point
        now = {n: p.detach().clone() for n, p in module.named_parameters() if n in frozen}
        ref = first_seen.setdefault(module, now)  # keyed by the module itself: ids of freed copies recur
        changed.extend(n for n in now if not torch.equal(now[n], ref[n]))
        if exact:
            changed.extend(n for n in now if not torch.equal(now[n], frozen[n]))
        heads.append(module.head.weight.detach().clone())

    model.register_forward_pre_hook(watch)  # deep copies made by the engine keep the hook
    dirs = directions.random(model, n=2, seed=0, ignore=None)
    assert [set(d) for d in dirs] == [{"head.weight", "head.bias"}] * 2  # no entries: frozen = zero there
    engine = EngineOptions(fold_bn=False) if exact else None
    surf = surface.compute(model, dirs, x=(-1, 1, 3), y=(-1, 1, 3), data=(X, Y), bn=bn, path=tmp_path / "f.h5",
                           progress=False, engine=engine)
    assert changed == [] and len({tuple(h.flatten().tolist()) for h in heads}) >= 9  # the head did move
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert [set(d) for d in io.load(tmp_path / "f.h5").directions] == [{"head.weight", "head.bias"}] * 2
    assert surf.attrs["moved_numel"] == 8 * 3 + 3
    if bn == "eval":  # oracle: move the head by hand on a copy, leave everything else alone
        naive = FrozenBackboneNet().eval()
        for j, b in enumerate((-1.0, 0.0, 1.0)):
            for i, a in enumerate((-1.0, 0.0, 1.0)):
                with torch.no_grad():
                    for n in ("weight", "bias"):
                        getattr(naive.head, n).copy_(state[f"head.{n}"] + a * dirs[0][f"head.{n}"]
                                                     + b * dirs[1][f"head.{n}"])
                    expect = F.cross_entropy(naive(X), Y).item()
                assert surf.values["train_loss"][j, i] == pytest.approx(expect, rel=1e-5)


def test_frozen_modules_buffers_get_no_direction_entries():
    model = FrozenBackboneNet()
    names = set(directions.random(model, n=1, include_buffers=True)[0])
    assert not any(n.startswith("backbone.") for n in names)
    for p in model.backbone.parameters():
        p.requires_grad_(True)
    names = set(directions.random(model, n=1, include_buffers=True)[0])
    assert {"backbone.bn.running_mean", "backbone.bn.running_var"} <= names


def test_hessian_of_a_frozen_model_lives_in_the_trainable_subspace():
    model = FrozenBackboneNet().eval()
    X, Y = xy()
    eig = sharpness.hessian_eigs(model, (X, Y), k=2, seed=0)
    assert all(set(v) == {"head.weight", "head.bias"} for v in eig.vectors)
    assert eig.n_params == 27
    # The same subspace chosen explicitly on an unfrozen copy: the same eigenvalues.
    free = FrozenBackboneNet().eval()
    for p in free.parameters():
        p.requires_grad_(True)
    explicit = sharpness.hessian_eigs(free, (X, Y), k=2, seed=0, params=free.head)
    np.testing.assert_allclose(eig.values, explicit.values, rtol=1e-5)
    trace = sharpness.hessian_trace(model, (X, Y), n_probes=4, seed=0)
    assert trace.n_params == 27 and np.isfinite(trace.trace)


@pytest.mark.parametrize("choice", [
    r"^head\.",
    ["head.weight", "head.bias"],
    lambda name, p: name.startswith("head"),
    "submodule",
    "parameter list",
])
def test_params_filter_forms_choose_the_same_subspace(choice):
    model = FrozenBackboneNet()
    for p in model.parameters():
        p.requires_grad_(True)
    choice = {"submodule": model.head, "parameter list": list(model.head.parameters())}.get(choice, choice) \
        if isinstance(choice, str) else choice
    assert list(params.select(model, choice)) == ["head.weight", "head.bias"]
    assert set(directions.random(model, n=1, params=choice)[0]) == {"head.weight", "head.bias"}


def test_params_filter_refuses_generators_and_foreign_parameters():
    model = FrozenBackboneNet()
    with pytest.raises(ValueError, match=r"params=model\.head"):
        params.select(model, model.head.parameters())
    with pytest.raises(ValueError, match="not parameters of the model"):
        params.select(model, list(nn.Linear(2, 2).parameters()))
    with pytest.raises(ValueError, match="submodule"):
        params.select(model, 3)


# --- misuse: ValueError saying what to pass, through every entry point ----------------------------

def _run(api, model, data=None, loss="cross_entropy", params=None):
    X, Y = xy()
    data = (X, Y) if data is None else data
    if api == "surface":
        dirs = directions.random(model, n=1, seed=0)
        return surface.compute(model, dirs, x=(-1, 1, 3), data=data, loss=loss, params=params, progress=False)
    if api == "directions":
        return directions.random(model, n=1, params=params)
    return sharpness.hessian_eigs(model, data, k=1, loss=loss, params=params)


def _elementwise(m, b):
    return F.cross_entropy(m(b[0]), b[1], reduction="none")


MISUSE = {  # what goes wrong -> (keyword arguments, what the message must tell the user)
    "wrong data shape": (dict(data=(torch.randn(48, 5), xy()[1])), r"first batch: \(Tensor \(\d+, 5\).*Pass data shaped"),
    "numpy data": (dict(data=(np.zeros((48, 6)), np.zeros(48))), r"torch\.as_tensor"),
    "inputs without targets": (dict(data=torch.randn(48, 6)), r"pass data=\(X, Y\)"),
    "float class targets": (dict(data=(xy()[0], xy()[1].float())), r"Y\.long\(\)"),
    "non-scalar loss": (dict(loss=_elementwise), r"not a scalar; return the mean over the batch"),
    "loss of one argument": (dict(loss=lambda outputs: outputs.sum()), r"called as loss\(model, batch\)"),
    "params matching nothing": (dict(params="no_such_layer"), r"pass params=None .*a name regex"),
    "params naming a missing tensor": (dict(params=["head.weight", "head.wieght"]), r"named_parameters\(\)"),
}


@pytest.mark.parametrize("api, case", [(api, case) for case, (kwargs, _) in MISUSE.items()
                                       for api in ("surface", "directions", "hessian_eigs")
                                       if api != "directions" or set(kwargs) == {"params"}])  # no data there
def test_misuse_raises_value_error_saying_what_to_pass(api, case):
    kwargs, message = MISUSE[case]
    with pytest.raises(ValueError, match=message):
        _run(api, FrozenBackboneNet().eval(), **kwargs)


@pytest.mark.parametrize("api", ["directions", "hessian_eigs"])
def test_a_model_that_is_not_a_module_is_refused(api):
    with pytest.raises(ValueError, match="must be a torch.nn.Module"):
        _run(api, xy())


def test_a_fully_frozen_model_says_how_to_choose_parameters():
    model = FrozenBackboneNet()
    model.head.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters: all 6 have requires_grad=False.*params="):
        directions.random(model)
    assert set(directions.random(model, n=1, params=model.head)[0]) == {"head.weight", "head.bias"}


# --- models that are harder to call ---------------------------------------------------------------

class TinyAttention(nn.Module):
    """nn.MultiheadAttention over 4 tokens: scaled-dot-product attention inside."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 2)

    def forward(self, tokens):
        h = self.embed(tokens)
        h = h + self.attn(h, h, h, need_weights=False)[0]
        return self.out(h.mean(1))


def _tokens():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 10, (24, 4), generator=g), torch.randint(0, 2, (24,), generator=g)


def test_attention_model_surface_and_restore():
    model = TinyAttention().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    surf = line(model, _tokens())
    assert np.isfinite(surf.values["train_loss"]).all()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_attention_model_hessian():
    eig = sharpness.hessian_eigs(TinyAttention().eval(), _tokens(), k=1, seed=0)
    assert np.isfinite(eig.values).all()


def test_tied_weights_move_together_and_are_restored():
    """A language-model-style tie (output layer = embedding): one name, one entry, both uses move."""
    torch.manual_seed(0)
    embed = nn.Embedding(10, 6)
    head = nn.Linear(6, 10, bias=False)
    head.weight = embed.weight
    model = nn.Sequential(embed, nn.Flatten(0, -1), head).eval()  # a token -> logits over 10 tokens
    tokens = torch.arange(10)

    def next_token(m, b):
        return F.cross_entropy(m[2](m[0](b[0])), b[1])

    data = [(tokens, (tokens + 1) % 10)]
    dirs = directions.random(model, n=1, seed=0)
    assert list(dirs[0]) == ["0.weight"]
    surf = surface.compute(model, dirs, x=[0.0, 0.5], data=data, loss=next_token, progress=False)
    with torch.no_grad():
        embed.weight.add_(0.5 * dirs[0]["0.weight"])
        moved = next_token(model, data[0]).item()
        embed.weight.sub_(0.5 * dirs[0]["0.weight"])
    assert surf.values["train_loss"][1] == pytest.approx(moved, rel=1e-5)
    assert model[2].weight is model[0].weight


# --- device ---------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_directions_surface_and_sharpness_follow_the_models_device():
    model = FrozenBackboneNet().cuda().eval()
    X, Y = xy()
    dirs = directions.random(model, n=2, seed=0)
    assert all(t.device.type == "cuda" for d in dirs for t in d.values())
    cpu_dirs = directions.random(FrozenBackboneNet(), n=2, seed=0)
    assert all(torch.equal(dirs[k][n].cpu(), cpu_dirs[k][n]) for k in range(2) for n in cpu_dirs[k])
    surf = surface.compute(model, dirs, x=(-1, 1, 3), y=(-1, 1, 3), data=(X, Y), progress=False)
    assert np.isfinite(surf.values["train_loss"]).all() and next(model.parameters()).is_cuda
    eig = sharpness.hessian_eigs(model, (X, Y), k=1)
    assert all(t.is_cuda for t in eig.vectors[0].values())


def test_surface_refuses_a_non_module_and_takes_a_dict_of_tensors(tmp_path):
    from landscape.core import directions, surface

    class DictNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, tokens):
            return self.lin(tokens)

    net = DictNet()
    g = torch.Generator().manual_seed(0)
    batch = {"tokens": torch.randn(40, 4, generator=g), "labels": torch.randint(0, 3, (40,), generator=g)}
    loss = lambda m, b: nn.functional.cross_entropy(m(b["tokens"]), b["labels"])  # noqa: E731
    dirs = directions.random(net, n=1, seed=0)
    surf = surface.compute(net, dirs, x=(-1, 1, 3), data=batch, loss=loss, progress=False)
    centre = loss(net, batch).item()
    assert surf.values["train_loss"][1] == pytest.approx(centre, rel=1e-6)
    with pytest.raises(ValueError, match="must be a torch.nn.Module"):
        surface.compute(lambda x: x, dirs, x=(-1, 1, 3), data=batch, loss=loss, progress=False)
