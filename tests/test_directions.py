"""Directions: filter normalization, ignore=biasbn, seeds, target/plane/PCA geometry, save/load."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from landscape.core import directions


def test_filter_normalized_direction_has_each_weight_filters_norm(cnn):
    (d,) = directions.random(cnn, n=1, norm="filter", seed=3)
    state = cnn.state_dict()
    checked = 0
    for name, t in d.items():
        w = state[name]
        if w.dim() <= 1:
            continue
        dn = t.reshape(t.shape[0], -1).norm(dim=1)
        wn = w.reshape(w.shape[0], -1).norm(dim=1)
        torch.testing.assert_close(dn, wn, rtol=1e-5, atol=1e-7)
        checked += 1
    assert checked == 3  # conv1, conv2, fc weights


def test_biasbn_zeroes_one_dimensional_tensors_and_none_scales_them(cnn):
    (zeroed,) = directions.random(cnn, n=1, ignore="biasbn", seed=0)
    (kept,) = directions.random(cnn, n=1, ignore=None, seed=0)
    state = cnn.state_dict()
    one_d = [n for n, t in zeroed.items() if t.dim() <= 1]
    assert set(one_d) == {"bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias", "fc.bias"}
    for n in one_d:
        assert torch.count_nonzero(zeroed[n]) == 0
        # ignore=None: each element is its own filter, so |d_i| = |w_i|
        torch.testing.assert_close(kept[n].abs(), state[n].abs())
    for n in zeroed:
        if zeroed[n].dim() > 1:  # the same draws: ignore only changes the 1-D entries
            assert torch.equal(zeroed[n], kept[n])


def test_same_seed_same_directions_and_global_rng_untouched(mlp):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = directions.random(mlp, n=2, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.rand(10)  # disturbing the global RNG must not matter
    b = directions.random(mlp, n=2, seed=7)
    c = directions.random(mlp, n=2, seed=8)
    for da, db, dc in zip(a, b, c):
        assert list(da) == [n for n, _ in mlp.named_parameters()]  # keyed by name, in model order
        for n in da:
            assert torch.equal(da[n], db[n])
    assert not all(torch.equal(a[0][n], c[0][n]) for n in a[0])
    assert not torch.equal(a[0]["net.0.weight"], a[1]["net.0.weight"])  # the two axes differ


def test_directions_do_not_depend_on_thread_count():
    """Bitwise: resuming a surface compares stored directions with regenerated ones."""
    big = nn.Sequential(nn.Linear(300, 400), nn.Linear(400, 10))  # 120,000 weights: parallel reductions
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = directions.random(big, n=2, seed=0, orthogonal=True)
        torch.set_num_threads(4)
        four = directions.random(big, n=2, seed=0, orthogonal=True)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, four):
        assert all(torch.equal(a[n], b[n]) for n in a)


def test_directions_do_not_depend_on_model_dtype(mlp):
    """Drawn in float32 on the CPU whatever the model: a float64 model gets the same numbers."""
    d32 = directions.random(mlp, n=1, seed=1)[0]
    d64 = directions.random(copy.deepcopy(mlp).double(), n=1, seed=1)[0]
    for n in d32:
        assert d64[n].dtype == torch.float64
        torch.testing.assert_close(d64[n].float(), d32[n], rtol=1e-6, atol=1e-8)


def test_layer_weight_and_none_norms(mlp):
    state = mlp.state_dict()
    (raw,) = directions.random(mlp, n=1, norm="none", ignore=None, seed=2)
    (layer,) = directions.random(mlp, n=1, norm="layer", ignore=None, seed=2)
    (weight,) = directions.random(mlp, n=1, norm="weight", ignore=None, seed=2)
    for n, w in state.items():
        torch.testing.assert_close(layer[n].norm(), w.norm(), rtol=1e-5, atol=0)
        torch.testing.assert_close(weight[n], raw[n] * w, rtol=1e-6, atol=1e-8)
    flat = torch.cat([t.reshape(-1) for t in raw.values()])
    assert abs(flat.mean()) < 0.05 and abs(flat.std() - 1) < 0.05  # standard Gaussian


def test_only_trainable_parameters_get_entries_and_buffers_on_request(cnn):
    cnn.conv1.weight.requires_grad_(False)
    (d,) = directions.random(cnn, n=1)
    assert "conv1.weight" not in d and "conv2.weight" in d
    assert "bn1.running_mean" not in d
    (b,) = directions.random(cnn, n=1, include_buffers=True, ignore=None)
    assert {"bn1.running_mean", "bn1.running_var"} <= set(b)
    assert "bn1.num_batches_tracked" not in b  # integer buffers never move
    (only,) = directions.random(cnn, n=1, params=r"^fc\.")
    assert set(only) == {"fc.weight", "fc.bias"}


def test_orthogonal_directions(mlp):
    a, b = directions.random(mlp, n=2, seed=0, orthogonal=True)
    a0, b0 = directions.random(mlp, n=2, seed=0)
    assert abs(directions.cosine(a, b)) < 1e-6
    assert abs(directions.cosine(a0, b0)) > 1e-6
    norm = lambda d: torch.cat([t.reshape(-1).double() for t in d.values()]).norm()  # noqa: E731
    assert float(norm(b)) == pytest.approx(float(norm(b0)), rel=1e-5)
    for n in a:
        assert torch.equal(a[n], a0[n])  # the first direction is untouched


@pytest.mark.parametrize("kwargs, word", [({"norm": "filtr"}, "filter"), ({"ignore": "bias"}, "biasbn"),
                                          ({"n": 0}, "positive")])
def test_bad_options_raise_value_error_naming_choices(mlp, kwargs, word):
    with pytest.raises(ValueError, match=word):
        directions.random(mlp, **kwargs)


def test_directions_carry_their_settings(mlp):
    d = directions.random(mlp, n=2, norm="layer", ignore=None, seed=5)
    assert isinstance(d, list)
    assert d.attrs == {"direction_kind": "random", "norm": "layer", "ignore": "none", "seed": 5,
                       "include_buffers": False, "orthogonal": False}


def _shifted(model, scale, seed):
    other = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return other


def test_target_direction_reaches_the_other_model(mlp):
    other = _shifted(mlp, 0.1, 0)
    dirs = directions.target(mlp, other)
    assert dirs.attrs["direction_kind"] == "target"
    (d,) = dirs
    for (n, p), q in zip(mlp.named_parameters(), other.parameters()):
        torch.testing.assert_close(p + d[n], q, rtol=0, atol=1e-6)
    (d2,) = directions.target(mlp, other.state_dict())  # a state dict works too
    assert all(torch.equal(d[n], d2[n]) for n in d)
    with pytest.raises(ValueError, match="architecture"):
        directions.target(mlp, nn.Linear(4, 3))


def test_plane_through_three_models(mlp):
    b, c = _shifted(mlp, 0.1, 1), _shifted(mlp, 0.1, 2)
    u, v = directions.plane(mlp, b, c)
    assert abs(directions.cosine(u, v)) < 1e-6
    for point, expect_y0 in ((mlp, True), (b, True), (c, False)):
        coords, residual = directions.coordinates(point, mlp, [u, v])
        assert residual < 1e-4
        if expect_y0:
            assert abs(coords[1]) < 1e-6
    assert directions.coordinates(b, mlp, [u, v])[0] == pytest.approx([1.0, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="line"):
        directions.plane(mlp, b, b)


def test_coordinates_recover_a_combination(mlp):
    d1, d2 = directions.random(mlp, n=2, seed=0, ignore=None)
    point = copy.deepcopy(mlp)
    with torch.no_grad():
        for n, p in point.named_parameters():
            p.copy_(p.double() + 0.3 * d1[n].double() - 0.7 * d2[n].double())
    coords, residual = directions.coordinates(point, mlp, [d1, d2])
    assert coords == pytest.approx([0.3, -0.7], abs=1e-6)
    assert residual < 1e-5


def test_pca_matches_sklearn_and_reconstructs_planar_trajectory(mlp):
    from sklearn.decomposition import PCA

    # A trajectory in a 2D affine plane: w_t = final + a_t u + b_t v (plus nothing else).
    u, v = directions.random(mlp, n=2, seed=4, ignore=None, norm="none")
    final = mlp.state_dict()
    ts = np.linspace(0, 1, 9)
    a, b = 3 * (1 - ts) ** 2, np.sin(4 * ts) * (1 - ts)
    snaps = [{n: final[n].double() + ai * u[n].double() + bi * v[n].double() for n in final} for ai, bi in zip(a, b)]
    snaps = [{n: t.float() for n, t in s.items()} for s in snaps]
    res = directions.pca(snaps, mlp, n=2, epochs=list(range(0, 18, 2)))
    assert res.directions.attrs["direction_kind"] == "pca"
    names = list(res.directions[0])
    rows = np.stack([np.concatenate([(s[n].double() - final[n].double()).reshape(-1).numpy() for n in names])
                     for s in snaps])
    ref = PCA(n_components=2).fit(rows)
    np.testing.assert_allclose(res.explained, ref.explained_variance_ratio_, rtol=1e-6)
    assert res.explained.sum() == pytest.approx(1.0, abs=1e-6)   # exactly planar
    np.testing.assert_allclose(res.error, 0, atol=1e-4)
    comps = np.stack([np.concatenate([d[n].double().reshape(-1).numpy() for n in names]) for d in res.directions])
    np.testing.assert_allclose(comps @ comps.T, np.eye(2), atol=1e-6)
    for k in range(2):  # same axes as sklearn up to sign
        assert abs(abs(comps[k] @ ref.components_[k]) - 1) < 1e-6
    np.testing.assert_allclose(res.coords, rows @ comps.T, rtol=1e-6, atol=1e-8)
    assert res.trajectory()["epochs"].tolist() == list(range(0, 18, 2))
    with pytest.raises(ValueError, match="at least"):
        directions.pca(snaps[:2], mlp, n=2)


def test_save_load_round_trip(tmp_path, cnn):
    d = directions.random(cnn, n=2, seed=9, include_buffers=True)
    path = tmp_path / "dirs.h5"
    directions.save(path, d)
    back = directions.load(path)
    assert back.attrs["seed"] == 9 and back.attrs["include_buffers"] is True
    assert [list(x) for x in back] == [list(x) for x in d]  # parameter order kept
    for a, b in zip(d, back):
        for n in a:
            assert torch.equal(a[n], b[n])
