"""The in-memory store forgets what has expired: memory holds the live keys, not every key
ever written (a fake clock moves the time)."""

from dataclasses import replace

import pytest

from budget.accounts import Charge, Hold, Settlement
from budget.days import SPEND_KEY_TTL_S
from budget.keys import KeySpace
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore

KEYS = KeySpace("t:")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_expired_notice_markers_are_swept_as_time_passes(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    most = 0
    for second in range(1_000):  # 100 notices a second, each remembered for 10 s
        for n in range(100):
            assert await store.claim(KEYS.notice("win", f"{second}-{n}"), 10)
        clock.now += 1
        most = max(most, store.size)
    # What is alive, and the expired markers waiting for the packed table's next rebuild.
    assert most <= 100 * 11 * 85 // 70 + 64
    clock.now += 11
    store.sweep()
    assert store.size == 0


async def test_a_days_notice_markers_stay_small_and_answer_as_before(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    await open_ledger(store, KEYS, ["c1"])
    account = KEYS.account("c1", "day")
    for n in range(3_000):  # won impressions: a charge and two notices each, kept a day
        for kind in ("win", "billing"):
            charge = Charge(
                account,
                f"h{n}",
                50,
                10**9,
                KEYS.charge("c1", f"h{n}"),
                KEYS.notice(kind, f"h{n}", "c1"),
                25 * 3600,
            )
            settled = await store.settle(charge)
            assert (settled.settlement is Settlement.DUPLICATE) is (kind == "billing")
    assert await store.read_texts([KEYS.charge("c1", "h7"), KEYS.notice("win", "h7", "c1")]) == [
        f"{int(Settlement.CHARGED_LATE)}:50",
        "1",
    ]
    assert await store.read_many([account.spend]) == [3_000 * 50]
    packed = store.marker_bytes
    assert packed / 9_000 <= 40  # bytes per marker, where a dict entry costs hundreds
    clock.now += 25 * 3600
    assert await store.read_texts([KEYS.charge("c1", "h7")]) == [None]


async def test_a_charge_too_large_to_pack_is_kept_all_the_same(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    await open_ledger(store, KEYS, ["c1"])
    account = KEYS.account("c1", "day")
    cost = 2**31  # micros: over what a packed charge marker holds
    charge = Charge(
        account, "h1", cost, 2**40, KEYS.charge("c1", "h1"), KEYS.notice("win", "h1", "c1"), 60
    )
    assert (await store.settle(charge)).charged_micros == cost
    assert await store.read_texts([KEYS.charge("c1", "h1")]) == [f"2:{cost}"]
    again = replace(charge, notice_key=KEYS.notice("billing", "h1", "c1"))
    assert (await store.settle(again)).settlement is Settlement.DUPLICATE


async def test_a_campaign_day_is_forgotten_after_its_counters_expire(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    await open_ledger(store, KEYS, ["c1"])
    baseline = store.size  # the ledger marker (it lives as long as the campaign)
    for day in range(30):  # a month of days, each with its account, holds and a charge
        account = KEYS.account("c1", f"day-{day}")
        hold = Hold(account, f"h{day}", 100, 10_000, 60_000)
        assert await store.reserve([hold]) == [True]
        charge = Charge(
            account,
            f"h{day}",
            50,
            10_000,
            KEYS.charge("c1", f"h{day}"),
            KEYS.notice("billing", f"h{day}", "c1"),
            3_600,
        )
        assert (await store.settle(charge)).charged_micros == 50
        clock.now += 24 * 3600
    store.sweep()
    days_kept = SPEND_KEY_TTL_S // (24 * 3600)
    # spend, held and holds of the last few days only (each key lives SPEND_KEY_TTL_S)
    assert store.size - baseline <= 3 * days_kept
    assert await store.read_many([KEYS.spend("c1", "day-29")]) == [50]
    assert await store.read_many([KEYS.spend("c1", "day-0")]) == [0]


async def test_a_refreshed_ttl_keeps_the_key_and_a_stale_expiry_does_not_drop_it(
    clock: FakeClock,
) -> None:
    store = MemoryStore(clock)
    await store.put_many([("state", 7, 10)])
    clock.now += 8
    await store.put_many([("state", 8, 10)])  # written again: lives 10 s from now
    clock.now += 5  # past the first expiry, not the second
    store.sweep()
    assert await store.read_many(["state"]) == [8]
    clock.now += 6
    assert await store.read_many(["state"]) == [0]
