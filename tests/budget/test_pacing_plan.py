"""Spend plans: traffic profiles, the cumulative share over a day, time zones and DST."""

import pytest

from budget.pacing_plan import (
    SLOTS,
    DayPlan,
    TrafficProfile,
    day_bounds,
    previous_days,
    quarter_hour,
)


def test_quarter_hours_are_local() -> None:
    start, _ = day_bounds("2025-03-12", "America/New_York")
    assert quarter_hour(start, "America/New_York") == 0
    assert quarter_hour(start, "UTC") == 4 * 4  # 04:00 UTC (EDT is UTC-4)
    assert quarter_hour(start + 3600 + 1800, "America/New_York") == 6


@pytest.mark.parametrize(
    ("day", "zone", "hours"),
    [
        ("2025-03-12", "UTC", 24),
        ("2025-03-09", "America/New_York", 23),  # spring forward
        ("2025-10-26", "Europe/Berlin", 25),  # fall back
    ],
)
def test_plan_spans_the_local_day(day: str, zone: str, hours: int) -> None:
    plan = DayPlan(day, zone, TrafficProfile.even())
    assert plan.end_s - plan.start_s == hours * 3600
    assert plan.share(plan.start_s - 1) == 0.0
    assert plan.share(plan.start_s) == 0.0
    assert plan.share(plan.end_s) == 1.0
    shares = [plan.share(plan.start_s + i * 600) for i in range(hours * 6 + 1)]
    assert shares == sorted(shares)
    assert abs(plan.share(plan.start_s + hours * 1800) - 0.5) < 1e-9  # even: half at half-time


def test_shaped_plan_follows_the_counts() -> None:
    counts = [10] * SLOTS
    for q in range(72, 88):  # 18:00–22:00 carry most of the traffic
        counts[q] = 200
    profile = TrafficProfile.from_counts(counts, min_total=100)
    plan = DayPlan("2025-03-12", "UTC", profile)
    evening = plan.share(plan.start_s + 22 * 3600) - plan.share(plan.start_s + 18 * 3600)
    assert evening > 0.7
    assert plan.planned_micros(1_000_000, plan.end_s) == 1_000_000


def test_sparse_history_gives_the_even_plan() -> None:
    counts = [0] * SLOTS
    counts[50] = 30
    assert TrafficProfile.from_counts(counts, min_total=100) == TrafficProfile.even()


def test_quarter_hours_without_traffic_get_no_plan() -> None:
    """A daypart (06:00–24:00): nothing planned at night, and the edges keep their level."""
    counts = [0] * 24 + [100] * 72
    weights = TrafficProfile.from_counts(counts, min_total=100).weights
    assert weights[:24] == (0.0,) * 24
    assert weights[24:] == (100.0,) * 72
    plan = DayPlan("2025-03-12", "UTC", TrafficProfile(weights))
    assert plan.share(plan.start_s + 6 * 3600) == 0.0
    assert abs(plan.share(plan.start_s + 15 * 3600) - 0.5) < 1e-9


def test_profile_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match="96"):
        TrafficProfile((1.0,) * 95)
    with pytest.raises(ValueError, match="96"):
        TrafficProfile((0.0,) * 96)


def test_previous_days() -> None:
    assert previous_days("2025-03-01", 2) == ["2025-02-28", "2025-02-27"]


def test_sparse_counts_are_smoothed_more_than_dense_ones() -> None:
    """Hours alternating low and high: noise when sparse (flattened), a real pattern when
    dense (kept)."""
    pattern = [1] * 4 + [4] * 4
    sparse = TrafficProfile.from_counts([2 * c for c in pattern] * 12, min_total=100).weights
    dense = TrafficProfile.from_counts([200 * c for c in pattern] * 12, min_total=100).weights
    assert max(sparse) / min(sparse) < 2.0
    assert max(dense) / min(dense) > 3.0
