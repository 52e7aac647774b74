"""Creative counts shared through the counter store: recorded once, read without I/O on the
hot path, refreshed in one round trip, shared by every process, over both store backends."""

import asyncio
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pytest
from redis.asyncio import Redis

from bidding.creative_stats import DEFAULT_PERIOD_S, StoreCreativeStats
from bidding.exploration import (
    BetaPrior,
    Counts,
    CreativeStats,
    EngagementRecorder,
    MemoryCreativeStats,
    choose_creative,
)
from budget.keys import KeySpace
from budget.memory import MemoryStore
from budget.redis_store import RedisStore
from budget.store import CounterStore, StoreUnavailable

A = ("cmp-a", "cr-1")
B = ("cmp-a", "cr-2")
C = ("cmp-b", "cr-1")


class WallClock:
    """A settable wall clock (the count periods follow wall time)."""

    def __init__(self, now: float = 1_767_225_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FlakyStore(MemoryStore):
    """A memory store whose reads fail while ``down`` is set."""

    down = False

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        if self.down:
            raise StoreUnavailable("down")
        return await super().read_many(keys)


@pytest.fixture
def keys(key_prefix: str) -> KeySpace:
    return KeySpace(key_prefix)


class Stats(CreativeStats, EngagementRecorder, Protocol):
    """What both implementations are: read by routers, fed by notices and clicks."""


async def test_memory_stats_record_like_the_store_backed_ones(keys: KeySpace) -> None:
    implementations: list[Stats] = [MemoryCreativeStats(), StoreCreativeStats(MemoryStore(), keys)]
    for stats in implementations:
        await stats.record_impression(*A)
        await stats.record_impression(*A)
        await stats.record_click(*A)
        assert await stats.counts([A, B]) == [Counts(2, 1), Counts()]


async def test_recorded_counts_show_in_this_process_at_once(
    store: CounterStore, keys: KeySpace
) -> None:
    stats = StoreCreativeStats(store, keys)
    for _ in range(3):
        await stats.record_impression(*A)
    await stats.record_click(*A)
    await stats.record_impression(*B)
    assert stats.snapshot([A, B, C]) == [Counts(3, 1), Counts(1, 0), Counts(0, 0)]
    await stats.refresh()
    assert stats.snapshot([A, B, C]) == [Counts(3, 1), Counts(1, 0), Counts(0, 0)]


async def test_two_processes_share_counts_through_the_store(
    store: CounterStore, keys: KeySpace
) -> None:
    writer = StoreCreativeStats(store, keys)
    reader = StoreCreativeStats(store, keys, pairs=[A])
    for _ in range(5):
        await writer.record_impression(*A)
    await writer.record_click(*A)
    await writer.record_impression(*C)
    assert reader.snapshot([A, C]) == [Counts(), Counts()]  # nothing read yet: the prior
    await reader.refresh()  # one round trip for A (tracked) and C (asked for above)
    assert reader.snapshot([A, C]) == [Counts(5, 1), Counts(1, 0)]
    await reader.record_click(*C)
    assert await writer.counts([C, A]) == [Counts(1, 1), Counts(5, 1)]


async def test_counts_are_a_sliding_window_of_periods(store: CounterStore, keys: KeySpace) -> None:
    clock = WallClock()
    stats = StoreCreativeStats(store, keys, clock=clock)
    await stats.record_impression(*A)
    clock.now += DEFAULT_PERIOD_S
    await stats.record_impression(*A)
    await stats.record_click(*A)
    assert await stats.counts([A]) == [Counts(2, 1)]  # this period and the last
    clock.now += DEFAULT_PERIOD_S
    assert await stats.counts([A]) == [Counts(1, 1)]  # the first period left the window
    clock.now += DEFAULT_PERIOD_S
    await stats.refresh()
    assert stats.snapshot([A]) == [Counts(0, 0)]


async def test_keys_carry_the_campaign_hash_tag_and_expire(
    redis_url: str, keys: KeySpace, redis_client: Redis
) -> None:
    store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        stats = StoreCreativeStats(store, keys, period_s=3600, periods=2)
        await stats.record_click("cmp:x", "cr")
        (key,) = [k.decode() async for k in redis_client.scan_iter(match=f"{keys.prefix}*")]
        assert key.startswith(f"{keys.prefix}creative:{{c:cmp:x}}:cr:click:")
        assert 7200 < await redis_client.ttl(key) <= 2 * 3600 + 3600
    finally:
        await store.aclose()


async def test_background_refresh_picks_up_other_processes_counts_and_survives_outages(
    keys: KeySpace,
) -> None:
    store = FlakyStore()
    other = StoreCreativeStats(store, keys)
    stats = StoreCreativeStats(store, keys, pairs=[A, B, C], refresh_batch=2)
    await stats.run(interval_s=0.01)
    try:
        with pytest.raises(RuntimeError):
            await stats.run(interval_s=0.01)
        await other.record_impression(*A)
        await other.record_click(*C)  # read in the second slice
        await asyncio.sleep(0.05)
        assert stats.snapshot([A, B, C]) == [Counts(1, 0), Counts(), Counts(0, 1)]
        store.down = True
        await other.record_impression(*A)
        await asyncio.sleep(0.05)
        assert stats.snapshot([A]) == [Counts(1, 0)]  # stale, not lost
        store.down = False
        await asyncio.sleep(0.05)
        assert stats.snapshot([A]) == [Counts(2, 0)]
    finally:
        await stats.aclose()
    await other.record_impression(*A)
    await asyncio.sleep(0.03)
    assert stats.snapshot([A]) == [Counts(2, 0)]  # stopped


async def test_an_outage_at_startup_leaves_empty_counts_not_an_error(keys: KeySpace) -> None:
    store = FlakyStore()
    store.down = True
    stats = StoreCreativeStats(store, keys, pairs=[A])
    await stats.run(interval_s=60)
    await stats.aclose()
    assert stats.snapshot([A]) == [Counts()]
    with pytest.raises(StoreUnavailable):
        await stats.counts([A])


def test_bad_windows_are_refused(keys: KeySpace) -> None:
    with pytest.raises(ValueError):
        StoreCreativeStats(MemoryStore(), keys, period_s=0)
    with pytest.raises(ValueError):
        StoreCreativeStats(MemoryStore(), keys, periods=0)
    with pytest.raises(ValueError):
        StoreCreativeStats(MemoryStore(), keys, refresh_batch=0)


async def test_shared_counts_steer_thompson_sampling_away_from_a_bad_creative(
    keys: KeySpace,
) -> None:
    store = MemoryStore()
    writer, router = StoreCreativeStats(store, keys), StoreCreativeStats(store, keys)
    rng = np.random.default_rng(5)
    for _ in range(2000):
        await writer.record_impression(*A)
        await writer.record_impression(*B)
    for _ in range(60):  # A: 3 % CTR, B: 0.5 %
        await writer.record_click(*A)
    for _ in range(10):
        await writer.record_click(*B)
    router.track([A, B])
    await router.refresh()
    prior = BetaPrior.weak(0.01)
    chosen = [
        choose_creative([prior, prior], router.snapshot([A, B]), rng).position for _ in range(200)
    ]
    assert chosen.count(0) > 190
