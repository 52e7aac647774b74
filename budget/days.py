"""A campaign's day is its own time zone's calendar day: budgets reset at its midnight."""

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

SPEND_KEY_TTL_S = 3 * 24 * 3600
"""Day counters outlive their day long enough for late billing notices and reporting."""


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone by IANA name, cached (ZoneInfo construction is not free on the hot path)."""
    return ZoneInfo(name)


def campaign_day(epoch_s: float, time_zone: str) -> str:
    """The ISO date (``YYYY-MM-DD``) of an instant in a campaign's time zone."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).astimezone(zone(time_zone)).date().isoformat()
