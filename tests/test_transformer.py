"""The transformer family, the majority task and what runs on them: parameter counts against a hand
count, pairs, filter normalization, Hessian-vector products through attention against finite
differences, the top eigenvalue against an exact Hessian, the per-block probes and the CLI chain
pair -> surface -> sharpness -> plot."""
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.func import functional_call

from landscape import cli, data, models
from landscape.analysis import blocks, hessian, sharpness
from landscape.core import directions

pytestmark = pytest.mark.usefixtures("one_thread")


def hand_count(d, depth, token_in, tokens, classes, vocab=0):
    """Parameters of a transformer, counted by hand (module docstring's layout)."""
    embed = vocab * d if vocab else token_in * d + d           # Embedding(V, d) or Linear(C*patch, d)
    pos = tokens * d                                            # one vector per position
    block = (2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (2 * d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    return embed + pos + depth * block + 2 * d + d * classes + classes  # ... + norm_f + fc


@pytest.mark.parametrize("name, kw, expected", [
    ("transformer12", dict(in_shape=(1, 40)), hand_count(64, 12, 4, 10, 10)),            # MNIST-1D: 10 patches of 4
    ("transformer12_noskip", dict(in_shape=(10, 16)), hand_count(64, 12, 10, 16, 10)),  # majority: one-hot tokens
    ("transformer6_postnorm", dict(in_shape=(1, 16), vocab=10, num_classes=3), hand_count(64, 6, 0, 16, 3, vocab=10)),
    ("transformer2_nonorm", dict(in_shape=(1, 8, 8), width=0.5, heads=2), hand_count(32, 2, 4, 16, 10)),
])
def test_parameter_count_matches_hand_count(name, kw, expected):
    assert models.info(name, **kw)["parameters"] == expected
    assert sum(p.numel() for p in models.create(name, **kw).parameters()) == expected
    assert hand_count(64, 12, 4, 10, 10) == 601_546  # the number written in the docs


def test_listed_with_parameter_counts():
    result = CliRunner().invoke(cli.main, ["models", "list", "--family", "transformer", "--dataset", "mnist1d"])
    assert result.exit_code == 0, result.output
    for suffix in ("", "_noskip", "_postnorm", "_nonorm"):
        line = next(l for l in result.output.splitlines() if l.split()[:1] == [f"transformer12{suffix}"])
        assert "601.5k" in line


@pytest.mark.parametrize("vary, values", [("skip", (True, False)), ("norm", ("pre", "none"))])
def test_pair_members_share_names_shapes_and_initial_weights(vary, values):
    on, off = models.pair("transformer4", vary=vary, in_shape=(10, 16), seed=3)
    assert (on.spec[vary], off.spec[vary]) == values
    post = models.create("transformer4_postnorm", in_shape=(10, 16), seed=3)
    for other in (off, post):
        a, b = on.state_dict(), other.state_dict()
        assert list(a) == list(b)
        assert all(torch.equal(a[k], b[k]) for k in a)
    x = data.load("majority", "train", n=8)[0]
    with torch.no_grad():  # the switch matters: three different functions
        outs = [m.eval()(x) for m in (on, off, post)]
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])


def test_token_ids_and_one_hot_inputs_agree():
    """An embedding table and a linear map of one-hot vectors are the same function."""
    ids, _ = data.majority.token_ids("test")
    ids = torch.as_tensor(ids[:5])
    tok = models.create("transformer2", vocab=10, in_shape=(1, 16), seed=0)
    hot = models.create("transformer2", in_shape=(10, 16), seed=0)
    with torch.no_grad():
        hot.embed.weight.copy_(tok.embed.weight.T)
        hot.embed.bias.zero_()
        hot.load_state_dict({k: v for k, v in tok.state_dict().items() if not k.startswith("embed")}, strict=False)
        x = torch.as_tensor(data.majority.one_hot(ids.numpy()))
        torch.testing.assert_close(hot.eval()(x), tok.eval()(ids))
        torch.testing.assert_close(tok(ids.float().unsqueeze(1)), tok(ids))  # (N, 1, L) float ids too


@pytest.mark.parametrize("kw, words", [
    (dict(norm="layer"), ["norm", "'pre'", "'layer'"]),
    (dict(heads=5), ["heads", "divide", "64"]),
    (dict(depth=0), ["depth", "0"]),
    (dict(patch=3, in_shape=(1, 40)), ["patch", "40"]),
    (dict(vocab=10, in_shape=(2, 16)), ["vocab", "C = 1"]),
])
def test_bad_options_name_the_parameter(kw, words):
    with pytest.raises(ValueError) as info:
        models.create("transformer2", **kw)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_wrong_input_shape_is_one_clear_error():
    model = models.create("transformer2", in_shape=(1, 40))
    with pytest.raises(ValueError, match=r"\(N, 1, 40\).*\(2, 1, 41\)"):
        model(torch.randn(2, 1, 41))


def test_majority_is_seeded_and_labels_are_the_unique_most_frequent_symbol():
    ids, labels = data.majority.token_ids("train")
    again, _ = data.majority.make(len(labels), data.majority.DATA_SEED["train"])
    assert np.array_equal(ids, again) and ids.shape == (4000, 16)
    counts = np.stack([(ids == v).sum(1) for v in range(10)], 1)
    assert np.array_equal(counts.argmax(1), labels)
    assert ((counts == counts.max(1, keepdims=True)).sum(1) == 1).all()
    assert np.bincount(labels, minlength=10).min() > 300  # balanced by symmetry
    x, y = data.load("majority", "test")
    assert x.shape == (1000, 10, 16) and torch.equal(x.sum(1), torch.ones(1000, 16))  # one-hot, unstandardized


def test_filter_normalization_of_attention_embedding_and_norm_weights():
    """A filter is one output row of every matrix (a q, k or v unit, an embedding dimension, a
    position's vector); 1-D tensors (LayerNorm scales and shifts, biases) are zeroed by biasbn."""
    model = models.create("transformer2", in_shape=(10, 16), seed=0)
    d = directions.random(model, n=1, seed=0)[0]
    for name, w in model.named_parameters():
        if w.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            torch.testing.assert_close(d[name].norm(dim=1), w.detach().norm(dim=1), rtol=1e-5, atol=1e-7)


def _tiny(depth=1, norm="pre", skip=True):
    torch.manual_seed(0)
    model = models.create("transformer", depth=depth, width=0.125, heads=2, patch=2, in_shape=(1, 8),
                          num_classes=3, norm=norm, skip=skip, seed=0).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=g)
    return model, (x, y)


def _flat_loss(model, xy):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]

    def loss(flat):
        parts = dict(zip(names, (t.view(s) for t, s in zip(flat.split([math.prod(s) for s in shapes]), shapes))))
        return torch.nn.functional.cross_entropy(functional_call(model, parts, (xy[0],)), xy[1])

    return loss, torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("norm, skip", [("pre", True), ("post", True), ("none", False)])
def test_hvp_through_attention_matches_finite_differences(norm, skip):
    model, xy = _tiny(depth=2, norm=norm, skip=skip)
    loss, w = _flat_loss(model, xy)
    v = torch.randn(w.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    vec = hessian.unflatten(v, dict(model.named_parameters()))
    hv = hessian.flatten(hessian.hvp(model, xy, vec))
    eps = 1e-5  # central differences of the gradient: error O(eps^2)

    def grad(at):
        at = at.clone().requires_grad_(True)
        return torch.autograd.grad(loss(at), at)[0]

    fd = (grad(w + eps * v) - grad(w - eps * v)) / (2 * eps)
    assert float((hv - fd).norm() / fd.norm()) < 1e-4


def test_top_eigenvalue_matches_an_exact_hessian():
    model, xy = _tiny(depth=1)
    loss, w = _flat_loss(model, xy)
    exact = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, w, vectorize=True))  # ascending
    found = sharpness.hessian_eigs(model, xy, k=3, tol=1e-8, seed=0)
    np.testing.assert_allclose(found.values, exact.flip(0)[:3].numpy(), rtol=1e-6)


def test_rank_collapse_and_block_gradients():
    x, y = data.load("majority", "train", n=64)
    deep = {skip: models.create("transformer12", in_shape=(10, 16), skip=skip, seed=0) for skip in (True, False)}
    res = {skip: blocks.rank_collapse(m, x) for skip, m in deep.items()}
    assert len(res[True]["residual"]) == 12
    # without residuals the tokens collapse to one vector within a few blocks (Dong et al. 2021); with them not
    assert res[False]["residual"][-1] < 1e-3 * res[False]["input"]
    assert res[True]["residual"][-1] > 0.1 * res[True]["input"]
    same = torch.ones(3, 16, 8)
    assert torch.equal(blocks.token_residual(same), torch.zeros(3, dtype=torch.float64))
    model = deep[True]
    model.blocks[0].attn.qkv.weight.grad = torch.ones_like(model.blocks[0].attn.qkv.weight)
    before = [p.detach().clone() for p in model.parameters()]
    pre = blocks.block_gradients(model, (x, y))
    assert len(pre["norms"]) == 12 and all(n > 0 for n in pre["norms"])
    assert torch.equal(model.blocks[0].attn.qkv.weight.grad, torch.ones_like(model.blocks[0].attn.qkv.weight))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # Xiong et al. 2020: at initialization Post-LN's gradient is largest at the last block, Pre-LN's is not
    post = blocks.block_gradients(models.create("transformer12_postnorm", in_shape=(10, 16), seed=0), (x, y))
    assert post["peak"] == 1.0 and post["ratio"] > 1 and pre["peak"] < 0.5 and pre["ratio"] < 1
    with pytest.raises(ValueError, match="blocks"):
        blocks.rank_collapse(torch.nn.Linear(2, 2), torch.randn(1, 2))


def test_cli_pair_surface_sharpness_plot(tmp_path):
    """The acceptance chain on a tiny run: landscape pair -> surface -> sharpness -> plot."""
    run = CliRunner()
    out = tmp_path / "pair"
    r = run.invoke(cli.main, ["pair", "transformer2", "--vary", "skip", "--dataset", "majority", "--n-train", "64",
                              "--epochs", "1", "--batch-size", "32", "--threads", "1", "--out", str(out),
                              "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "transformer2_noskip" in r.output
    ckpt = out / "transformer2" / "final.pt"
    surf = tmp_path / "s.h5"
    r = run.invoke(cli.main, ["surface", str(ckpt), "--x", "-1:1:3", "--y", "-1:1:3", "--n-samples", "32",
                              "--split", "train", "--threads", "1", "--out", str(surf), "--no-progress"])
    assert r.exit_code == 0, r.output
    r = run.invoke(cli.main, ["sharpness", str(ckpt), "--top-k", "3", "--trace", "--probes", "4", "--n-samples", "32",
                              "--threads", "1", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "lambda_3" in r.output and "trace" in r.output
    r = run.invoke(cli.main, ["plot", str(surf), "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_block_profiles_figure():
    import matplotlib.pyplot as plt

    from landscape.plot.blocks import block_profiles

    fig = block_profiles([{"depth": 3, "skip": True, "rank": [0.9, 0.8, 0.7], "grad": [1.0, 1.2, 1.5]},
                          {"depth": 3, "skip": False, "rank": [0.5, 1e-3, 0.0], "grad": [2.0, 1.0, 0.5]}], title="t")
    left, right = fig.axes
    assert left.get_yscale() == right.get_yscale() == "log"
    assert [len(ax.lines) for ax in (left, right)] == [3, 2]  # two series (+ the floor line on the left)
    assert left.lines[1].get_linestyle() == "--" and min(left.lines[1].get_ydata()) > 0  # 0 drawn at the floor
    plt.close(fig)
    with pytest.raises(ValueError, match="series"):
        block_profiles([])
