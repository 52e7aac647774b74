"""Campaign days and the spend ledger (in-memory store; the store contract is tested apart)."""

from datetime import UTC, datetime

from budget.accounts import Settlement
from budget.days import campaign_day
from budget.keys import KeySpace
from budget.ledger import CampaignHold, SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_campaign_day_follows_the_campaign_time_zone() -> None:
    instant = epoch("2026-11-28T03:30:00")
    assert campaign_day(instant, "UTC") == "2026-11-28"
    assert campaign_day(instant, "America/New_York") == "2026-11-27"
    assert campaign_day(instant, "Asia/Tokyo") == "2026-11-28"
    assert campaign_day(epoch("2026-11-28T15:30:00"), "Asia/Tokyo") == "2026-11-29"


async def test_holds_and_settlement_land_on_the_day_of_the_bid() -> None:
    now = epoch("2026-11-28T12:00:00")
    clock = [epoch("2026-11-28T04:59:00")]  # still 27 Nov in New York
    store = MemoryStore()
    await open_ledger(store, KeySpace("t:"), ["c1"])
    ledger = SpendLedger(store, KeySpace("t:"), clock=lambda: clock[0])
    account = ("c1", "America/New_York")
    hold = CampaignHold("c1", "America/New_York", 10_000, "a:1:b", 2_400)
    assert await ledger.reserve([hold], ttl_s=3600) == [True]
    bid_time = clock[0]
    clock[0] = now
    settled = await ledger.settle(
        account,
        budget_micros=10_000,
        impression_id="a:1:b",
        cost_micros=1_500,
        bid_time_s=bid_time,
        marker_ttl_s=60,
    )
    assert settled.settlement is Settlement.SETTLED
    assert (settled.charged_micros, settled.first_notice) == (1_500, True)
    again = await ledger.settle(
        account,
        budget_micros=10_000,
        impression_id="a:1:b",
        cost_micros=1_500,
        bid_time_s=now,
        marker_ttl_s=60,
    )
    assert (again.settlement, again.charged_micros, again.first_notice) == (
        Settlement.DUPLICATE,
        0,
        False,
    )
    assert await ledger.spent_today([account]) == [0]  # it is 28 Nov in New York now
    clock[0] = bid_time
    assert await ledger.spent_today([account, ("other", "UTC")]) == [1_500, 0]


async def test_release_returns_the_hold() -> None:
    store = MemoryStore()
    await open_ledger(store, KeySpace("t:"), ["c1"])
    ledger = SpendLedger(store, KeySpace("t:"), clock=lambda: 1_000.0)
    hold = CampaignHold("c1", "UTC", 2_400, "a:1:b", 2_400)
    assert await ledger.reserve([hold], ttl_s=60) == [True]
    assert await ledger.reserve([CampaignHold("c1", "UTC", 2_400, "a:2:b", 1)], ttl_s=60) == [False]
    await ledger.release([hold], bid_time_s=1_000.0)
    assert await ledger.reserve([CampaignHold("c1", "UTC", 2_400, "a:2:b", 1)], ttl_s=60) == [True]


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
