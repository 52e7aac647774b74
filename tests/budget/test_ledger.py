"""Campaign days and the spend ledger (in-memory store; the store contract is tested apart)."""

from datetime import UTC, datetime

from budget.days import campaign_day
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.memory import MemoryStore


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_campaign_day_follows_the_campaign_time_zone() -> None:
    instant = epoch("2026-11-28T03:30:00")
    assert campaign_day(instant, "UTC") == "2026-11-28"
    assert campaign_day(instant, "America/New_York") == "2026-11-27"
    assert campaign_day(instant, "Asia/Tokyo") == "2026-11-28"
    assert campaign_day(epoch("2026-11-28T15:30:00"), "Asia/Tokyo") == "2026-11-29"


async def test_charge_lands_on_the_day_of_the_bid_and_only_once() -> None:
    now = epoch("2026-11-28T12:00:00")
    ledger = SpendLedger(MemoryStore(), KeySpace("t:"), clock=lambda: now)
    account = ("c1", "America/New_York")
    late_bid = epoch("2026-11-28T04:59:00")  # still 27 Nov in New York
    assert await ledger.charge(
        account, cost_micros=1500, charge_id="a:1:b", bid_time_s=late_bid, charge_ttl_s=60
    )
    assert not await ledger.charge(
        account, cost_micros=1500, charge_id="a:1:b", bid_time_s=now, charge_ttl_s=60
    )
    assert await ledger.spent_today([account]) == [0]  # it is 28 Nov in New York now
    assert await ledger.charge(
        account, cost_micros=700, charge_id="a:2:b", bid_time_s=now, charge_ttl_s=60
    )
    assert await ledger.spent_today([account, ("other", "UTC")]) == [700, 0]


def test_campaign_day_is_exact_at_midnight_and_across_dst() -> None:
    # New York midnight on 8 March 2026 (EST, UTC-5) and the DST switch later that night.
    before = epoch("2026-03-08T04:59:59.999")
    assert campaign_day(before, "America/New_York") == "2026-03-07"
    assert campaign_day(epoch("2026-03-08T05:00:00"), "America/New_York") == "2026-03-08"
    assert campaign_day(before, "America/New_York") == "2026-03-07"  # cache does not stick
    # The next midnight is EDT (UTC-4): 9 March 04:00 UTC.
    assert campaign_day(epoch("2026-03-09T03:59:59"), "America/New_York") == "2026-03-08"
    assert campaign_day(epoch("2026-03-09T04:00:00"), "America/New_York") == "2026-03-09"


def test_campaign_day_agrees_with_the_direct_computation_over_a_year() -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    start = datetime(2026, 1, 1, tzinfo=UTC)
    for zone_name in ("America/Sao_Paulo", "Asia/Kolkata", "Pacific/Chatham", "Europe/London"):
        for hours in range(0, 365 * 24, 7):
            instant = start + timedelta(hours=hours, minutes=hours % 60)
            expected = instant.astimezone(ZoneInfo(zone_name)).date().isoformat()
            assert campaign_day(instant.timestamp(), zone_name) == expected
