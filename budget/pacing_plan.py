"""A campaign day's spend plan: the share of the daily budget due by each instant.

The plan follows the campaign's own traffic: a profile of 96 local quarter-hours — how many
requests the campaign was eligible for in each, summed over recent days by every process
through the store — so a campaign buys at night what the night offers and keeps the
evening's share for the evening. A campaign without history gets the even plan. Pacing
against an even plan on diurnal traffic would have to overbid at night and throttle at
the peak: more expensive, and impossible where the night has too little traffic.

The plan is a float share in [0, 1]; money stays integer micros (``planned_micros`` rounds
down), and nothing here is ever added into a budget.
"""

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Final

from budget.days import zone

SLOTS: Final = 96
"""Quarter-hours of a local day: the resolution of traffic profiles and plans."""
SLOT_S: Final = 900

_SMOOTH_COUNTS: Final = 300
"""A slot's weight is averaged with its neighbours' (triangular kernel) until the kernel
covers about this many requests: sampling noise of sparse counts is not traffic shape.
Dense counts are barely smoothed (±1 slot), sparse ones over up to ±``_SMOOTH_MAX``."""
_SMOOTH_MAX: Final = 4


def quarter_hour(epoch_s: float, time_zone: str) -> int:
    """The local quarter-hour of the day (0..95) of an instant in ``time_zone``."""
    local = datetime.fromtimestamp(epoch_s, tz=zone(time_zone))
    return local.hour * 4 + local.minute // 15


def day_bounds(day: str, time_zone: str) -> tuple[float, float]:
    """[local midnight, next local midnight) of the ISO ``day`` as epoch seconds (23, 24 or
    25 hours long across daylight-saving changes)."""
    tz = zone(time_zone)
    start = date.fromisoformat(day)
    begin = datetime.combine(start, clock_time(0), tzinfo=tz).timestamp()
    end = datetime.combine(start + timedelta(days=1), clock_time(0), tzinfo=tz).timestamp()
    return begin, end


def previous_days(day: str, count: int) -> list[str]:
    """The ``count`` ISO days before ``day``, most recent first."""
    start = date.fromisoformat(day)
    return [(start - timedelta(days=n)).isoformat() for n in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """Relative traffic weight of each local quarter-hour (96 non-negative floats)."""

    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != SLOTS or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError("a profile has 96 non-negative weights, not all zero")

    @classmethod
    def even(cls) -> "TrafficProfile":
        """Every quarter-hour alike: the plan of a campaign without history."""
        return cls((1.0,) * SLOTS)

    @classmethod
    def from_counts(cls, counts: Sequence[int], min_total: int) -> "TrafficProfile":
        """The profile of request counts per quarter-hour, smoothed; even when they total
        less than ``min_total`` (too little history to trust its shape).

        A quarter-hour without a single request keeps weight 0 — a daypart the campaign
        does not buy in, or a night without its audience — and lends none of its
        neighbours' weight: a plan that expects spend where there is no traffic only builds
        a deficit to be caught up in a burst later.
        """
        if len(counts) != SLOTS:
            raise ValueError("counts need one value per quarter-hour")
        total = sum(counts)
        if total < max(1, min_total):
            return cls.even()
        per_slot = total / sum(1 for c in counts if c > 0)
        half = 1
        while half < _SMOOTH_MAX and per_slot * (2 * half + 1) < _SMOOTH_COUNTS:
            half += 1
        weights = []
        for i, count in enumerate(counts):
            if count <= 0:
                weights.append(0.0)
                continue
            near = [(counts[(i + d) % SLOTS], half + 1 - abs(d)) for d in range(-half, half + 1)]
            used = [(c, k) for c, k in near if c > 0]
            weights.append(sum(c * k for c, k in used) / sum(k for _, k in used))
        return cls(tuple(weights))


class DayPlan:
    """The planned cumulative share of the budget over one campaign day.

    The day is cut into 15-minute steps of real time from local midnight (92 or 100 on
    daylight-saving days); each step weighs what the profile says of its local quarter-hour,
    and the plan grows linearly within a step.
    """

    __slots__ = ("_cumulative", "_starts", "_weights", "day", "end_s", "start_s")

    def __init__(self, day: str, time_zone: str, profile: TrafficProfile) -> None:
        self.day = day
        self.start_s, self.end_s = day_bounds(day, time_zone)
        steps = round((self.end_s - self.start_s) / SLOT_S)
        self._starts = [self.start_s + i * SLOT_S for i in range(steps)]
        weights = [profile.weights[quarter_hour(s, time_zone)] for s in self._starts]
        total = sum(weights)
        self._weights = [w / total for w in weights]
        cumulative = [0.0]
        for w in self._weights:
            cumulative.append(cumulative[-1] + w)
        self._cumulative = cumulative

    def share(self, epoch_s: float) -> float:
        """The share of the day's budget planned to be spent by ``epoch_s`` (0 before the
        day, 1 after it)."""
        if epoch_s <= self.start_s:
            return 0.0
        if epoch_s >= self.end_s:
            return 1.0
        i = bisect_right(self._starts, epoch_s) - 1
        within = (epoch_s - self._starts[i]) / SLOT_S
        return min(1.0, self._cumulative[i] + self._weights[i] * within)

    def planned_micros(self, budget_micros: int, epoch_s: float) -> int:
        """The spend planned by ``epoch_s``, in micros, rounded down."""
        return int(budget_micros * self.share(epoch_s))
