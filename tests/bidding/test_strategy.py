"""The strategy's levers: a control level becomes a bid multiplier first, participation last.

These replace the pacing controller's old mapping tests, which pinned a multiplier floor
of 0.5 with participation throttled below u = 0: the floor is now 1/64 on purpose
(bidding.strategy, docs/bidding.md)."""

import itertools

import numpy as np
import pytest

from bidding.strategy import (
    FULL_SPEED,
    MULTIPLIER_FLOOR,
    STOP_LEVEL,
    U_FLOOR,
    PacingAdvice,
    advice_at,
    takes_part,
)
from budget.pacing_control import U_MAX, U_MIN


def test_the_stop_level_is_the_controllers() -> None:
    assert STOP_LEVEL == U_MIN
    assert advice_at(U_MIN).participation == 0.0
    assert advice_at(U_MIN + 1e-9).participation > 0.0


@pytest.mark.parametrize("u", [U_MIN - 5, U_MIN, -9.3, U_FLOOR, -2.0, -1.0, 0.0, 0.5, U_MAX, 3])
def test_advice_stays_in_bounds(u: float) -> None:
    advice = advice_at(u)
    assert MULTIPLIER_FLOOR <= advice.multiplier <= 2.0
    assert 0.0 <= advice.participation <= 1.0


def test_bids_fall_well_below_half_before_any_auction_is_skipped() -> None:
    assert advice_at(0.0) == FULL_SPEED
    assert advice_at(U_MAX) == PacingAdvice(2.0, 1.0, 1.0)
    assert advice_at(-2.0) == PacingAdvice(0.25, 1.0, 0.25)
    assert advice_at(U_FLOOR) == PacingAdvice(1 / 64, 1.0, 1 / 64)
    assert advice_at(U_FLOOR - 1) == PacingAdvice(1 / 64, 0.5, 1 / 128)


def test_advice_is_monotonic_and_continuous() -> None:
    levels = [U_MIN + i * (U_MAX - U_MIN) / 4000 for i in range(4001)]
    advice = [advice_at(u) for u in levels]
    mults = [a.multiplier for a in advice]
    parts = [a.participation for a in advice]
    assert mults == sorted(mults)
    assert parts == sorted(parts)
    for (a, x), (_, y) in itertools.pairwise(zip(levels, advice, strict=True)):
        if a > U_MIN:  # participation drops to 0 at U_MIN on purpose
            assert abs(y.multiplier - x.multiplier) < 0.01
            assert abs(y.participation - x.participation) < 0.01
    # Only one lever moves at a time: participation is 1 wherever the multiplier moves.
    assert all(p == 1.0 for u, p in zip(levels, parts, strict=True) if u > U_FLOOR)


def test_takes_part_draws_only_for_uncertain_candidates() -> None:
    rng = np.random.default_rng(3)
    drawn = takes_part([1.0, advice_at(U_MIN).participation, 1.0], rng)
    assert drawn == [True, False, True]
    many = takes_part([advice_at(U_FLOOR - 1).participation] * 4000, np.random.default_rng(4))
    assert 0.45 < sum(many) / len(many) < 0.55
