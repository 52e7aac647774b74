"""The store-backed pacer: local advice, shared state across instances, traffic profiles,
a failing store. Run against the in-memory store and a real Redis."""

import asyncio
from dataclasses import dataclass

import pytest

from bidding.strategy import FULL_SPEED, MULTIPLIER_FLOOR, PacingAdvice, advice_at
from budget.keys import KeySpace
from budget.ledger import CampaignHold, SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from budget.pacing import PacingConfig, StorePacer
from budget.pacing_plan import day_bounds
from budget.redis_store import RedisStore
from budget.store import CounterStore
from tests.servers import free_port

DAY = "2025-03-12"
START, END = day_bounds(DAY, "UTC")
BUDGET = 50_000_000


@dataclass(frozen=True)
class Paced:
    id: str
    time_zone: str = "UTC"
    daily_budget_micros: int = BUDGET


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(request: pytest.FixtureRequest) -> KeySpace:
    return KeySpace(request.getfixturevalue("key_prefix"))


def pacer(
    store: CounterStore, keys: KeySpace, clock: Clock, *campaigns: Paced
) -> StorePacer[PacingAdvice]:
    return StorePacer(campaigns or (Paced("c1"),), store, keys, advice=advice_at, clock=clock)


async def spend(store: CounterStore, keys: KeySpace, clock: Clock, micros: int, n: int) -> None:
    """Charge ``micros`` to c1 through a hold and its settlement, as a billing notice would."""
    await open_ledger(store, keys, ["c1"])
    ledger = SpendLedger(store, keys, clock=clock)
    hold = CampaignHold("c1", "UTC", BUDGET, f"a{n}:1:b", micros)
    assert await ledger.reserve([hold], ttl_s=60) == [True]
    await ledger.settle(
        ("c1", "UTC"),
        budget_micros=BUDGET,
        impression_id=f"a{n}:1:b",
        cost_micros=micros,
        bid_time_s=clock.now,
        marker_ttl_s=60,
    )


async def test_full_speed_until_the_first_tick_then_bounded_advice(
    store: CounterStore, keys: KeySpace
) -> None:
    clock = Clock(START + 6 * 3600)
    paced = pacer(store, keys, clock)
    assert paced.advice("c1") == FULL_SPEED
    assert paced.advice("unknown") == FULL_SPEED
    assert await paced.tick() is True
    advice = paced.advice("c1")
    assert isinstance(advice, PacingAdvice)
    assert advice.multiplier == 2.0  # six hours and nothing spent: bid up
    await spend(store, keys, clock, BUDGET * 3 // 4, 1)
    clock.now += 60
    await paced.tick()
    advice = paced.advice("c1")
    assert MULTIPLIER_FLOOR <= advice.multiplier <= 2.0  # the strategy's floor, 1/64
    assert advice.participation == 0.0  # three quarters spent by a quarter of the day


async def test_two_pacers_over_one_store_give_the_same_advice(
    store: CounterStore, keys: KeySpace
) -> None:
    clock = Clock(START + 3600)
    campaigns = (Paced("c1"), Paced("c2", "America/New_York", 20_000_000))
    first = pacer(store, keys, clock, *campaigns)
    second = pacer(store, keys, clock, *campaigns)
    for minute in range(30):
        clock.now = START + 3600 + 60 * minute
        if minute % 3 == 0:
            await spend(store, keys, clock, 40_000 * (minute % 7), minute)
        # The processes tick at different moments; each steps the shared state or adopts it.
        await first.tick(clock.now)
        await second.tick(clock.now + 0.5)
        for cid in ("c1", "c2"):
            assert first.advice(cid) == second.advice(cid)
            assert first.state(cid) == second.state(cid)
    assert first.peek("c1") == first.advice("c1") != FULL_SPEED


async def test_a_new_day_plans_along_the_traffic_counted_the_day_before(
    store: CounterStore, keys: KeySpace
) -> None:
    clock = Clock(START)
    paced = pacer(store, keys, clock)
    for hour in range(24):  # the evening brings five times the offers
        clock.now = START + hour * 3600 + 600
        for _ in range(500 if hour >= 18 else 100):
            paced.advice("c1")
        for _ in range(1000):
            paced.peek("c1")  # debug views are not traffic
        await paced.flush_counts(clock.now + 600)
    clock.now = END + 60
    tomorrow = pacer(store, keys, clock)  # another process, or a restart: the store remembers
    await tomorrow.tick()
    plan = tomorrow.plan("c1")
    assert plan is not None
    assert plan.day == "2025-03-13"
    evening = plan.share(plan.start_s + 24 * 3600) - plan.share(plan.start_s + 18 * 3600)
    assert 0.5 < evening < 0.7  # 6 × 500 of 18 × 100 + 6 × 500 offers
    flat = StorePacer(
        (Paced("c1"),),
        store,
        keys,
        advice=advice_at,
        config=PacingConfig(shaped=False),
        clock=clock,
    )
    await flat.tick()
    even = flat.plan("c1")
    assert even is not None
    assert abs(even.share(even.start_s + 12 * 3600) - 0.5) < 1e-9


async def test_a_failing_store_keeps_the_last_advice(keys: KeySpace) -> None:
    clock = Clock(START + 3600)
    memory = MemoryStore()
    paced = pacer(memory, keys, clock)
    await paced.tick()
    before = paced.advice("c1")
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    broken = StorePacer((Paced("c1"),), down, keys, advice=advice_at, clock=clock)
    try:
        assert await broken.tick() is False
        assert broken.advice("c1") == FULL_SPEED
    finally:
        await down.aclose()
    assert paced.advice("c1") == before


async def test_background_loop_ticks_until_closed(store: CounterStore, keys: KeySpace) -> None:
    clock = Clock(START + 7200)
    paced = pacer(store, keys, clock)
    paced.start(0.01)
    for _ in range(500):
        if paced.state("c1") is not None:
            break
        await asyncio.sleep(0.01)
    await paced.aclose()
    assert paced.state("c1") is not None
    assert paced.advice("c1").multiplier == 2.0


async def test_open_holds_count_as_spend(store: CounterStore, keys: KeySpace) -> None:
    """A won impression whose billing notice has not come yet still holds its bid: the
    pacer counts it (one more key per campaign in the same read)."""
    clock = Clock(START + 6 * 3600)
    paced = pacer(store, keys, clock)
    await paced.tick()
    await open_ledger(store, keys, ["c1"])
    ledger = SpendLedger(store, keys, clock=clock)
    hold = CampaignHold("c1", "UTC", BUDGET, "a1:1:b", BUDGET * 3 // 4)
    assert await ledger.reserve([hold], ttl_s=600) == [True]
    clock.now += 60
    await paced.tick()
    assert paced.advice("c1").participation == 0.0  # three quarters committed by 6 am
    state = paced.state("c1")
    assert state is not None
    assert state.spent_micros == BUDGET * 3 // 4
