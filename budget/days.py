"""A campaign's day is its own time zone's calendar day: budgets reset at its midnight."""

from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache
from zoneinfo import ZoneInfo

SPEND_KEY_TTL_S = 3 * 24 * 3600
"""Day counters outlive their day long enough for late billing notices and reporting."""

_spans: dict[str, tuple[float, float, str]] = {}
"""Per time zone, the day last asked for and the instants [start, end) it spans."""


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone by IANA name, cached (ZoneInfo construction is not free on the hot path)."""
    return ZoneInfo(name)


def _day_of(epoch_s: float, time_zone: str) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).astimezone(zone(time_zone)).date().isoformat()


def campaign_day(epoch_s: float, time_zone: str) -> str:
    """The ISO date (``YYYY-MM-DD``) of an instant in a campaign's time zone.

    Asked for every candidate campaign of every auction, so the span of the current day is
    remembered per zone and most calls are two comparisons. A span is remembered only when
    its boundaries check out (zones whose midnight falls into a DST gap are computed anew).
    """
    span = _spans.get(time_zone)
    if span is not None and span[0] <= epoch_s < span[1]:
        return span[2]
    day = _day_of(epoch_s, time_zone)
    tz = zone(time_zone)
    date = datetime.fromisoformat(day).date()
    start = datetime.combine(date, clock_time(0), tzinfo=tz).timestamp()
    end = datetime.combine(date + timedelta(days=1), clock_time(0), tzinfo=tz).timestamp()
    if start <= epoch_s < end and _day_of(start, time_zone) == day != _day_of(end, time_zone):
        _spans[time_zone] = (start, end, day)
    return day
