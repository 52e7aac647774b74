"""The bid formula per goal, rounding down, clipping to [min, max], floors and zero values."""

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bidding.valuation import (
    BidDecision,
    Goal,
    GoalKind,
    NoBid,
    ValuationTable,
    bid_cpm,
    value_bids,
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
    assert bid_cpm(Priced(CPC), 0.01, 0.0, 0, 0.0) == BidDecision(None, NoBid.NO_VALUE)


def test_clipped_to_min_and_max() -> None:
    capped = Priced(CPC, min_bid_cpm_micros=1_000_000, max_bid_cpm_micros=5_000_000)
    assert bid_cpm(capped, 0.01, 0.0, 0) == BidDecision(5_000_000, None)
    assert bid_cpm(capped, 0.0001, 0.0, 0) == BidDecision(1_000_000, None)  # 0.08 → min
    assert bid_cpm(capped, 0.0, 0.0, 0) == BidDecision(None, NoBid.NO_VALUE)


def test_a_bid_below_the_floor_is_not_sent() -> None:
    assert bid_cpm(Priced(CPC), 0.001, 0.0, 800_000) == BidDecision(None, NoBid.BELOW_FLOOR)
    at_floor = bid_cpm(Priced(CPC, max_bid_cpm_micros=700_000), 0.01, 0.0, 700_000)
    assert at_floor == BidDecision(700_000, None)


def test_fixed_price_campaigns_ignore_models_and_pacing() -> None:
    fixed = Priced(None, bid_cpm_micros=2_400_000)
    assert bid_cpm(fixed, 0.0, 0.0, 500_000, multiplier=0.1) == BidDecision(2_400_000, None)
    assert bid_cpm(fixed, 0.5, 0.5, 2_500_000) == BidDecision(None, NoBid.BELOW_FLOOR)


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
    assert valued.decision(4) == BidDecision(None, NoBid.BELOW_FLOOR)  # min 0.10 < 0.50 floor


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
