"""Admission and bidder deadlines that leave room for the loop's lag."""

import pytest

from exchange.deadlines import (
    LAG_PASSES,
    MIN_FAN_OUT_MS,
    MIN_QUEUE_WAIT_MS,
    bidders_budget_ms,
    queue_wait_limit_ms,
)


def test_in_process_bidders_only_keep_the_configured_wait() -> None:
    assert queue_wait_limit_ms(20.0, tmax_ms=100, reserve_ms=5, fan_out_ms=0) == 20.0


def test_external_bidders_shorten_the_wait_to_what_tmax_leaves_every_turn() -> None:
    limit = queue_wait_limit_ms(20.0, tmax_ms=100, reserve_ms=5, fan_out_ms=50)
    assert limit == pytest.approx(45 / (1 + LAG_PASSES))
    # An auction that waited that long at admission and at every later turn ends in time.
    assert limit * (1 + LAG_PASSES) + 50 + 5 <= 100


def test_a_generous_tmax_keeps_the_configured_cap() -> None:
    assert queue_wait_limit_ms(20.0, tmax_ms=1_000, reserve_ms=5, fan_out_ms=50) == 20.0


def test_a_tmax_the_fan_out_alone_fills_still_admits_a_burst() -> None:
    assert queue_wait_limit_ms(20.0, tmax_ms=50, reserve_ms=5, fan_out_ms=50) == MIN_QUEUE_WAIT_MS


def test_zero_means_never_shed_whatever_the_bidders() -> None:
    assert queue_wait_limit_ms(0.0, tmax_ms=100, reserve_ms=5, fan_out_ms=50) == 0.0


def test_the_bidders_budget_reserves_the_turns_to_come_only_for_external_bidders() -> None:
    assert bidders_budget_ms(120, 5, elapsed_ms=10.0, external=False) == 105.0
    assert bidders_budget_ms(120, 5, elapsed_ms=10.0, external=True) == 105.0 - LAG_PASSES * 10


def test_the_turns_to_come_leave_external_bidders_at_least_the_minimum_tmax_allows() -> None:
    assert bidders_budget_ms(100, 5, elapsed_ms=20.0, external=True) == MIN_FAN_OUT_MS
    assert bidders_budget_ms(30, 5, elapsed_ms=20.0, external=True) == 5.0  # tmax leaves 5
    assert bidders_budget_ms(30, 5, elapsed_ms=30.0, external=True) == -5.0  # none: no time
