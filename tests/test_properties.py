"""Property tests (hypothesis): the ``MIN:MAX:NUM`` grid parser and HDF5 save/load round trips.

The parser: whatever text it is given it either returns a Range the library can sample (finite,
strictly increasing coordinates) or fails as a click usage error — never another exception. The
file: any Surface (1D/2D, NaN/inf values, partial done masks, attributes of every JSON-able kind,
directions) reads back equal, and the written file holds only numbers and strings (no pickled or
opaque objects).
"""
import math
import string

import click
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from test_robustness import assert_plain_data_only

from landscape.commands._common import MAX_GRID_POINTS_PER_AXIS, RANGE, Range
from landscape.core import surface
from landscape.storage import io

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILES = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# --- the grid-spec parser ---------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
number_text = st.one_of(
    finite.map(repr), st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0x10", "1_0", " 1 ", "", "+", "1e", "٣", "1.5.2"]),
)
num_text = st.one_of(st.integers(-5, MAX_GRID_POINTS_PER_AXIS + 5).map(str),
                     st.sampled_from(["1000000", "2.0", "", "-", "3e1", " 7", "0b11", "nan"]))


def parse(text):
    return RANGE.convert(text, None, None)


@FAST
@given(st.one_of(st.text(max_size=40), st.tuples(number_text, number_text, num_text).map(":".join),
                 st.lists(number_text, max_size=5).map(":".join)))
def test_parser_returns_a_sampleable_range_or_a_usage_error(text):
    try:
        r = parse(text)
    except click.BadParameter as exc:
        message = exc.format_message()
        assert repr(text) in message or "MIN:MAX:NUM" in message  # names the value it refused
        assert "\n" not in message
        return
    assert isinstance(r, Range)
    assert math.isfinite(r.start) and math.isfinite(r.stop) and r.start < r.stop
    assert 2 <= r.num <= MAX_GRID_POINTS_PER_AXIS
    xs = surface.axis(r, "x")  # what the CLI accepts, the library samples
    assert len(xs) == r.num and np.isfinite(xs).all() and (np.diff(xs) > 0).all()
    assert xs[0] == r.start and xs[-1] == r.stop


@FAST
@given(finite, finite, st.integers(2, MAX_GRID_POINTS_PER_AXIS))
def test_parser_reads_back_what_repr_writes(a, b, num):
    lo, hi = min(a, b), max(a, b)
    text = f"{lo!r}:{hi!r}:{num}"
    with np.errstate(all="ignore"):
        pts = np.linspace(lo, hi, num) if math.isfinite(hi - lo) else None
    ok = lo < hi and pts is not None and np.isfinite(pts).all() and (np.diff(pts) > 0).all()
    if ok:
        assert parse(text) == Range(lo, hi, num)
        assert parse(parse(text)) == parse(text)  # a Range passes through (defaults are converted twice)
    else:
        with pytest.raises(click.BadParameter):
            parse(text)


@pytest.mark.parametrize("text, words", [
    ("1:-1:51", "MIN must be less than MAX"), ("-1:1:0", "NUM must be between 2 and"),
    ("-1:1:1000000", "NUM must be between 2 and"), ("nan:1:5", "finite"), ("-1:inf:5", "finite"),
    ("-1e308:1e308:3", "distinct points"), ("1:1.0000000000000002:3", "distinct points"),
    ("-1:1", "MIN:MAX:NUM"), ("a:1:5", "must be numbers"), ("-1:1:5.5", "whole number"),
])
def test_parser_messages_name_the_problem(text, words):
    with pytest.raises(click.BadParameter, match=words):
        parse(text)


# --- HDF5 round trips -------------------------------------------------------------------------------

# attribute names a caller may use: not the ones the format stamps itself
names = st.text(string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=12).filter(
    lambda k: k not in {"format", "format_version", "json_attrs", "ndim"})
# any unicode, plus what HDF5 strings cannot hold natively (NUL, lone surrogates: stored as JSON)
text = st.one_of(st.text(max_size=20), st.sampled_from(["", "x\x00y", "\ud800", "ünï €", "a\nb"]))
# integers beyond 64 bits (stored as JSON) and at the int64 edges
integers = st.one_of(st.integers(-2**70, 2**70), st.sampled_from([2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**100]))
json_scalars = st.one_of(st.none(), st.booleans(), integers, st.floats(), text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=10)
attr_values = st.one_of(json_values, st.lists(st.floats(width=64), min_size=1, max_size=5).map(np.array),
                        st.lists(st.integers(-2**40, 2**40), min_size=1, max_size=5).map(np.array))


def coords(n):
    return st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n, unique=True).map(sorted).map(
        lambda v: np.asarray(v, np.float64)).filter(lambda v: n == 1 or (np.diff(v) > 0).all())


cell = st.one_of(st.floats(width=64), st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0]))


@st.composite
def surfaces(draw):
    ndim = draw(st.sampled_from([1, 2]))
    nx = draw(st.integers(1, 5))
    ny = draw(st.integers(1, 4)) if ndim == 2 else None
    shape = (nx,) if ndim == 1 else (ny, nx)
    size = int(np.prod(shape))
    value_names = draw(st.lists(st.sampled_from(io.VALUE_NAMES + ("val_loss", "custom_acc")),
                                min_size=1, max_size=4, unique=True))
    values = {n: np.asarray(draw(st.lists(cell, min_size=size, max_size=size)), np.float64).reshape(shape)
              for n in value_names}
    done = np.asarray(draw(st.lists(st.booleans(), min_size=size, max_size=size))).reshape(shape)
    attrs = draw(st.dictionaries(names, attr_values, max_size=6))
    directions = None
    if draw(st.booleans()):
        params = draw(st.lists(st.text(string.ascii_lowercase + ".", min_size=1, max_size=8)
                               .filter(lambda s: s.strip(".") == s and ".." not in s), min_size=1, max_size=3,
                               unique=True))
        g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
        shapes = {p: tuple(draw(st.lists(st.integers(1, 3), max_size=2))) for p in params}
        directions = [{p: torch.randn(shapes[p], generator=g) for p in params} for _ in range(ndim)]
    x = draw(coords(nx))
    y = draw(coords(ny)) if ndim == 2 else None
    return io.Surface(x=x, y=y, values=values, attrs=attrs, directions=directions, computed=done)


def same_value(a, b) -> bool:
    """Equality for attribute values, NaN equal to NaN, types kept (a bool stays a bool)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype.kind == b.dtype.kind and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(same_value(u, v) for u, v in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@FILES
@given(surfaces())
def test_save_load_round_trip(tmp_path, surf):
    path = tmp_path / "s.h5"
    io.save(surf, path)
    back = io.load(path)
    np.testing.assert_array_equal(back.x, surf.x)
    assert (back.y is None) == (surf.y is None)
    if surf.y is not None:
        np.testing.assert_array_equal(back.y, surf.y)
    np.testing.assert_array_equal(back.done(), surf.computed)
    assert set(back.values) == set(surf.values)
    for name, v in surf.values.items():
        expected = np.where(surf.computed, v, np.nan)  # cells not done read as NaN
        np.testing.assert_array_equal(back.values[name], expected)  # NaN and +-inf kept as such
    for key, value in surf.attrs.items():
        assert key in back.attrs and same_value(value if not isinstance(value, tuple) else list(value),
                                                back.attrs[key]), (key, value, back.attrs.get(key))
    if surf.directions is None:
        assert back.directions is None
    else:
        assert [list(d) for d in back.directions] == [list(d) for d in surf.directions]  # order kept
        for a, b in zip(surf.directions, back.directions):
            for k in a:
                assert torch.equal(a[k], b[k])
    assert_plain_data_only(path)
    # a second round trip changes nothing
    io.save(back, tmp_path / "t.h5")
    again = io.load(tmp_path / "t.h5")
    for key in surf.attrs:
        assert same_value(back.attrs[key], again.attrs[key])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@FILES
@given(st.dictionaries(names, json_values, max_size=5), st.integers(1, 3))
def test_directions_file_round_trip(tmp_path, attrs, n):
    g = torch.Generator().manual_seed(n)
    dirs = [{"a.weight": torch.randn(3, 2, generator=g), "b": torch.randn(4, generator=g, dtype=torch.float64)}
            for _ in range(min(n, 2))]
    io.save_directions(tmp_path / "d.h5", dirs, attrs)
    back, stored = io.load_directions(tmp_path / "d.h5", with_attrs=True)
    assert len(back) == len(dirs)
    for a, b in zip(dirs, back):
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    for key, value in attrs.items():
        assert same_value(value, stored[key])
    assert_plain_data_only(tmp_path / "d.h5")


@FILES
@given(st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=6),
                       st.one_of(st.floats(), integers, text,
                                 st.lists(st.floats(width=64), min_size=1, max_size=4).map(np.array)),
                       min_size=1, max_size=5))
def test_metrics_round_trip(tmp_path, metrics):
    path = tmp_path / "m.h5"
    io.create(path, np.arange(3.0), None, ["train_loss"], {})
    io.save_metrics(path, {"nested": metrics, **metrics})
    back = io.load(path).metrics
    for key, value in metrics.items():
        assert same_value(value, back[key]) and same_value(value, back["nested"][key]), (key, value, back[key])
    assert_plain_data_only(path)
