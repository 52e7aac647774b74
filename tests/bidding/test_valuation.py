"""The bid formula per goal, rounding down, clipping to [min, max], floors and zero values;
its scalar and vectorised paths agree to the micro."""

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.valuation import (
    VALUE_VECTOR_MIN,
    BidDecision,
    Goal,
    GoalKind,
    Unsent,
    ValuationTable,
    bid_cpm,
    value_bids,
    value_bids_scalar,
    value_bids_vector,
    value_cpm_micros,
)


@dataclass(frozen=True, slots=True)
class Priced:
    goal: Goal | None
    bid_cpm_micros: int = 0
    min_bid_cpm_micros: int = 0
    max_bid_cpm_micros: int | None = None


ROI = Goal(GoalKind.ROI, conversion_value_micros=60_000_000, target_roi=4.0)
CPA = Goal(GoalKind.CPA, target_cpa_micros=12_000_000)
CPC = Goal(GoalKind.CPC, target_cpc_micros=800_000)


def exact(goal: Goal, pctr: float, pcvr: float, multiplier: float = 1.0) -> Fraction:
    rate = Fraction(pcvr) if goal.uses_cvr else Fraction(1)
    if goal.kind is GoalKind.ROI:
        per_click = Fraction(goal.conversion_value_micros) / Fraction(goal.target_roi)
    elif goal.kind is GoalKind.CPA:
        per_click = Fraction(goal.target_cpa_micros)
    else:
        per_click = Fraction(goal.target_cpc_micros)
    return 1000 * Fraction(pctr) * rate * per_click * Fraction(multiplier)


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        (ROI, 1000 * 0.01 * 0.05 * 60_000_000 / 4),  # 7.50 CPM
        (CPA, 1000 * 0.01 * 0.05 * 12_000_000),  # 6.00 CPM
        (CPC, 1000 * 0.01 * 800_000),  # 8.00 CPM (pCVR plays no part)
    ],
)
def test_each_goal_prices_a_thousand_impressions(goal: Goal, expected: float) -> None:
    value = value_cpm_micros(goal, 0.01, 0.05)
    assert value <= exact(goal, 0.01, 0.05)
    assert expected - 1 <= value <= expected


def test_the_pacing_multiplier_scales_the_value() -> None:
    assert value_cpm_micros(CPC, 0.01, 0.0, 0.5) in (3_999_999, 4_000_000)
    assert bid_cpm(Priced(CPC), 0.01, 0.0, 0, 0.0) == BidDecision(None, Unsent.NO_VALUE)


def test_clipped_to_min_and_max() -> None:
    capped = Priced(CPC, min_bid_cpm_micros=1_000_000, max_bid_cpm_micros=5_000_000)
    assert bid_cpm(capped, 0.01, 0.0, 0) == BidDecision(5_000_000, None)
    assert bid_cpm(capped, 0.0001, 0.0, 0) == BidDecision(1_000_000, None)  # 0.08 → min
    assert bid_cpm(capped, 0.0, 0.0, 0) == BidDecision(None, Unsent.NO_VALUE)


def test_a_bid_below_the_floor_is_not_sent() -> None:
    assert bid_cpm(Priced(CPC), 0.001, 0.0, 800_000) == BidDecision(None, Unsent.BELOW_FLOOR)
    at_floor = bid_cpm(Priced(CPC, max_bid_cpm_micros=700_000), 0.01, 0.0, 700_000)
    assert at_floor == BidDecision(700_000, None)


def test_fixed_price_campaigns_ignore_models_and_pacing() -> None:
    fixed = Priced(None, bid_cpm_micros=2_400_000)
    assert bid_cpm(fixed, 0.0, 0.0, 500_000, multiplier=0.1) == BidDecision(2_400_000, None)
    assert bid_cpm(fixed, 0.5, 0.5, 2_500_000) == BidDecision(None, Unsent.BELOW_FLOOR)


def test_bad_probabilities_are_clamped_not_trusted() -> None:
    table = ValuationTable.of([Priced(CPC, max_bid_cpm_micros=10**12)])
    valued = value_bids(table, [0, 0, 0], [np.nan, -1.0, 7.0], [0.0, 0.0, 0.0], 0)
    assert valued.sent.tolist() == [False, False, True]
    assert valued.bid_cpm_micros[2] in (799_999_999, 800_000_000)  # pCTR clamped to 1


def test_an_absurd_value_cannot_overflow() -> None:
    huge = Goal(GoalKind.CPC, target_cpc_micros=2**62)
    table = ValuationTable.of([Priced(huge, max_bid_cpm_micros=50_000_000)])
    assert value_bids(table, [0], [1.0], [1.0], 0).bid_cpm_micros.tolist() == [50_000_000]


def test_vectorised_over_candidates_of_many_campaigns() -> None:
    campaigns = [
        Priced(ROI, max_bid_cpm_micros=20_000_000),
        Priced(CPA, max_bid_cpm_micros=20_000_000),
        Priced(CPC, min_bid_cpm_micros=100_000, max_bid_cpm_micros=3_000_000),
        Priced(None, bid_cpm_micros=1_500_000),
    ]
    table = ValuationTable.of(campaigns)
    positions = np.array([3, 0, 2, 1, 2])
    pctr = np.array([0.2, 0.01, 0.01, 0.01, 0.00001])
    pcvr = np.array([0.2, 0.05, 0.05, 0.05, 0.05])
    valued = value_bids(table, positions, pctr, pcvr, 500_000, multiplier=[1, 1, 1, 1, 1])
    assert valued.bid_cpm_micros.dtype == np.int64
    for i, p in enumerate(positions):
        assert valued.decision(i) == bid_cpm(campaigns[p], pctr[i], pcvr[i], 500_000)
    assert valued.decision(2) == BidDecision(3_000_000, None)  # CPC 8.00 capped at 3.00
    assert valued.decision(4) == BidDecision(None, Unsent.BELOW_FLOOR)  # min 0.10 < 0.50 floor


probability = st.floats(min_value=0.0, max_value=1.0)


@given(
    st.sampled_from([ROI, CPA, CPC]),
    probability,
    probability,
    st.floats(min_value=0.0, max_value=4.0),
)
def test_never_above_the_exact_value_and_at_most_one_micro_below(
    goal: Goal, pctr: float, pcvr: float, multiplier: float
) -> None:
    true_value = exact(goal, pctr, pcvr, multiplier)
    table = ValuationTable.of([Priced(goal, max_bid_cpm_micros=2**60)])
    valued = value_bids(table, [0], [pctr], [pcvr], 0, multiplier)
    value = int(valued.value_cpm_micros[0])
    assert value == value_cpm_micros(goal, pctr, pcvr, multiplier)
    assert value <= true_value
    assert value >= int(true_value) - 1


goals = st.one_of(
    st.builds(
        Goal,
        st.just(GoalKind.ROI),
        conversion_value_micros=st.integers(0, 10**9),
        target_roi=st.floats(min_value=0.01, max_value=100.0),
    ),
    st.builds(Goal, st.just(GoalKind.CPA), target_cpa_micros=st.integers(0, 10**9)),
    st.builds(Goal, st.just(GoalKind.CPC), target_cpc_micros=st.integers(0, 10**8)),
)
campaigns = st.builds(
    Priced,
    st.one_of(st.none(), goals),
    bid_cpm_micros=st.integers(0, 10**8),
    min_bid_cpm_micros=st.integers(0, 10**7),
    max_bid_cpm_micros=st.one_of(st.none(), st.integers(0, 10**9)),
)
any_float = st.floats(allow_nan=True, allow_infinity=True)
"""What a model or a pacer might hand over, good or bad: NaN, infinities, out of [0, 1]."""


@settings(max_examples=200, deadline=None)
@given(
    st.lists(campaigns, min_size=1, max_size=8),
    st.integers(0, 2 * VALUE_VECTOR_MIN + 2),
    st.data(),
)
def test_the_scalar_and_vectorised_bid_formulas_give_the_same_micros(
    table_campaigns: list[Priced], n: int, data: st.DataObject
) -> None:
    """Both paths, at sizes around the threshold where ``value_bids`` switches between them:
    every value, bid and decision equal to the micro."""
    table = ValuationTable.of(table_campaigns)
    positions = data.draw(
        st.lists(st.integers(0, len(table_campaigns) - 1), min_size=n, max_size=n)
    )
    probabilities = st.lists(st.one_of(probability, any_float), min_size=n, max_size=n)
    pctr = np.array(data.draw(probabilities), np.float64)
    pcvr = data.draw(probabilities)
    floor: int | list[int] = data.draw(
        st.one_of(st.integers(0, 10**8), st.lists(st.integers(0, 10**8), min_size=n, max_size=n))
    )
    multiplier: float | list[float] = data.draw(
        st.one_of(
            st.floats(min_value=0.0, max_value=4.0),
            st.lists(st.one_of(st.floats(0.0, 4.0), any_float), min_size=n, max_size=n),
        )
    )
    scalar = value_bids_scalar(table, positions, pctr, pcvr, floor, multiplier)
    vector = value_bids_vector(table, np.array(positions, np.intp), pctr, pcvr, floor, multiplier)
    chosen = value_bids(table, positions, pctr, pcvr, floor, multiplier)
    for valued in (scalar, vector, chosen):
        assert valued.value_cpm_micros.dtype == valued.bid_cpm_micros.dtype == np.int64
        assert valued.sent.dtype == valued.below_floor.dtype == np.bool_
    for field in ("value_cpm_micros", "bid_cpm_micros", "sent", "below_floor"):
        expected = getattr(vector, field).tolist()
        assert getattr(scalar, field).tolist() == expected, field
        assert getattr(chosen, field).tolist() == expected, field


def test_value_bids_takes_each_path_by_size() -> None:
    table = ValuationTable.of([Priced(CPC)])
    for n in (0, 1, VALUE_VECTOR_MIN - 1, VALUE_VECTOR_MIN, 4 * VALUE_VECTOR_MIN):
        pctr = [0.01] * n
        valued = value_bids(table, [0] * n, pctr, [0.0] * n, 0)
        assert valued.bid_cpm_micros.tolist() == [bid_cpm(Priced(CPC), 0.01, 0.0, 0)[0]] * n


def test_a_nan_value_is_no_value_in_both_paths() -> None:
    # 0 × an infinite multiplier: NaN; it must not become a bid (nor an int64 cast warning).
    table = ValuationTable.of([Priced(CPC, max_bid_cpm_micros=5_000_000)])
    for path in (value_bids_scalar, value_bids_vector):
        valued = path(table, [0, 0], [0.0, 0.01], [0.0, 0.0], 0, [math.inf, math.inf])
        assert valued.sent.tolist() == [False, True]
        assert valued.bid_cpm_micros.tolist() == [0, 5_000_000]
