"""The one verdict vocabulary of judged claims (landscape.studies.verdicts)."""
import pytest

from landscape.studies import verdicts as V


def test_order_confirmed_by_separate_intervals_or_every_seed():
    v = V.order([0.30, 0.12, 0.85], [0.011, 0.013, 0.010])
    assert (v.verdict, v.agree, v.of, v.why) == ("confirmed", 3, 3, "the intervals do not overlap")
    # overlapping intervals, but each seed's pair agrees: still confirmed
    v = V.order([0.30, 0.012, 0.85], [0.011, 0.010, 0.50])
    assert v.verdict == "confirmed" and v.why == "" and str(v) == "confirmed (3 of 3 seeds agree)"
    assert V.order([0.30, 0.012, 0.85], [0.011, 0.013, 0.010]).verdict == "partly confirmed"
    assert str(V.order([0.30, 0.012, 0.85], [0.011, 0.013, 0.010])) == "partly confirmed (2 of 3 seeds agree)"
    assert V.order([0.1, 0.2], [0.3, 0.4]).verdict == "not confirmed"


def test_one_seed_is_said_to_be_a_single_draw():
    v = V.order([2.0], [1.0])
    assert v.verdict == "confirmed" and "single draw" in str(v)


def test_no_vote_for_missing_values_or_differences_within_the_resolution():
    assert V.order([None, None], [1.0, 2.0]).verdict == "no claim"
    v = V.order([0.2, 0.2, 0.5], [0.1, 0.1, 0.1], resolution=0.1)  # two seeds one cell apart
    assert v.verdict == "partly confirmed" and v.agree == 1 and "within the noise or resolution (0.1)" in v.why
    v = V.order([0.2, 0.2], [0.1, 0.1], resolution=0.1)
    assert v.verdict == "no claim" and "resolution" in str(v) and v.holds is None
    with pytest.raises(ValueError, match="one value per seed"):
        V.order([1, 2], [1])


def test_trend_per_seed_and_by_intervals():
    assert V.trend([[2, 3, 2], [30, 40, 60], [90, 88, 91]]).why == "the intervals do not overlap"
    v = V.trend([[2, 3, 2], [30, 4, 60], [90, 3, 91]])
    assert v.verdict == "partly confirmed" and (v.agree, v.of) == (2, 3)
    assert V.trend([[0.3, 0.3], [0.2, 0.25]], "decreasing").verdict == "confirmed"
    assert V.trend([[0.3], [0.2]], "increasing").verdict == "not confirmed"
    assert V.trend([[0.3], [None]]).verdict == "no claim"
    with pytest.raises(ValueError, match="direction"):
        V.trend([[1], [2]], "up")


def test_bound_and_judge_and_combine():
    assert V.bound([0.25, 0.249], 0.25).verdict == "confirmed"
    assert V.bound([0.3, 0.2], 0.25).verdict == "partly confirmed"
    assert V.bound([0.3], 0.25, side="at_least").verdict == "confirmed"
    assert V.judge([True, None, False]).verdict == "partly confirmed"
    assert V.judge([None]).verdict == "no claim"
    depths = [V.order([2], [1]), V.order([1], [2]), V.no_claim("one grid cell")]
    v = V.combine(depths, unit="depth")
    assert str(v) == "partly confirmed (1 of 3 depths agree; 1 depth without a claim)"
    assert V.combine([V.order([2], [1])] * 2, unit="depth").verdict == "confirmed"
    assert V.combine([V.order([1], [2]), V.no_claim("x")]).verdict == "not confirmed"
    assert V.combine([V.no_claim("one grid cell")]).why == "one grid cell"


def test_round_trip_and_labels():
    v = V.order([0.3, 0.4], [0.1, 0.2])
    assert V.Verdict.from_dict(v.to_dict()) == v
    assert V.mark(v) == "**Confirmed**" and V.mark(V.no_claim("x")) == "**No claim**"
    assert set(V.VERDICTS) == {"confirmed", "partly confirmed", "not confirmed", "no claim"}
    with pytest.raises(ValueError, match="verdict"):
        V.Verdict("probably")
    for word in V.VERDICTS:
        assert word in V.RULE


def test_a_relative_margin_silences_small_differences():
    assert V.order([2.3], [2.0], relative=0.2).verdict == "no claim"
    assert "margin (20%" in V.order([2.3], [2.0], relative=0.2).why
    assert V.order([2.3], [0.2], relative=0.2).verdict == "confirmed"
    assert V.order([0.004], [0.0], relative=0.2).verdict == "confirmed"  # a zero is not within 20% of 0.004
    assert V.order([0.0], [0.0], relative=0.2).why == "no difference: the numbers are equal"
    assert V.trend([[6e-6], [7e-10]], "decreasing", relative=0.2).verdict == "confirmed"
    assert V.trend([[1.0], [0.9], [0.1]], "decreasing", relative=0.2).verdict == "no claim"
    # over seeds: intervals separated only by more than the margin
    assert V.order([1.1, 1.15], [1.0, 1.05], relative=0.2).verdict == "no claim"
    assert V.order([2.0, 2.1], [1.0, 1.05], relative=0.2).verdict == "confirmed"


def test_the_reason_given_is_that_of_the_seeds_without_a_vote():
    # seed 1 differs by far more than the margin, seeds 0 and 2 by less: they abstain for the margin,
    # not for "a number missing"
    v = V.order([0.0337, 0.0655, 0.034], [0.0328, 0.034, 0.0335], relative=0.2)
    assert v.verdict == "partly confirmed" and "2 seeds without a vote: a difference within the margin" in v.why
    t = V.trend([[1.0, 1.0, 1.0], [2.0, 1.05, 3.0], [3.0, 4.0, 5.0]], relative=0.2)
    assert t.agree == 2 and "1 seed without a vote: a difference within the margin" in t.why
