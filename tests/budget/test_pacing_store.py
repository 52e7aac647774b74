"""The two store operations pacing added (``add_many``, ``put_many``), on both backends."""

import pytest
from redis.asyncio import Redis

from budget.breaker import CircuitBreaker
from budget.guarded import GuardedStore
from budget.memory import MemoryStore
from budget.redis_store import RedisStore
from budget.store import CounterStore, StoreUnavailable
from tests.servers import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_add_many_adds_amounts(store: CounterStore, key_prefix: str) -> None:
    a, b = f"{key_prefix}traffic:a", f"{key_prefix}traffic:b"
    await store.add_many([(a, 5, 60), (b, 1, 60), (a, 7, 60)])
    await store.add_many([])
    assert await store.read_many([a, b]) == [12, 1]


async def test_put_many_sets_integers_last_write_wins(store: CounterStore, key_prefix: str) -> None:
    u, s = f"{key_prefix}pace:u", f"{key_prefix}pace:s"
    await store.put_many([(u, -12_000_000, 60), (s, 123_456_789_012, 60)])
    await store.put_many([(u, 250_000, 60)])
    await store.put_many([])
    assert await store.read_many([u, s]) == [250_000, 123_456_789_012]


async def test_memory_put_and_add_expire_with_the_clock() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    await store.put_many([("p", 7, 10)])
    await store.add_many([("a", 3, 10)])
    clock.now += 5
    await store.put_many([("p", 8, 10)])  # a put restarts the expiry
    await store.add_many([("a", 1, 10)])  # an add does not
    assert await store.read_many(["p", "a"]) == [8, 4]
    clock.now += 6
    assert await store.read_many(["p", "a"]) == [8, 0]
    clock.now += 5
    assert await store.read_many(["p"]) == [0]


async def test_redis_put_and_add_set_their_ttls(
    redis_url: str, key_prefix: str, redis_client: Redis
) -> None:
    store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        await store.add_many([(f"{key_prefix}a", 1, 100)])
        await store.add_many([(f"{key_prefix}a", 1, 5)])
        await store.put_many([(f"{key_prefix}p", 1, 100)])
        await store.put_many([(f"{key_prefix}p", 2, 50)])
        assert 95 < await redis_client.ttl(f"{key_prefix}a") <= 100
        assert 45 < await redis_client.ttl(f"{key_prefix}p") <= 50
    finally:
        await store.aclose()


async def test_unreachable_redis_and_open_circuit_fail_safe() -> None:
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    guarded = GuardedStore(down, CircuitBreaker(1, 60.0, Clock()))
    try:
        with pytest.raises(StoreUnavailable):
            await guarded.put_many([("k", 1, 10)])
        with pytest.raises(StoreUnavailable, match="circuit open"):
            await guarded.add_many([("k", 1, 10)])
    finally:
        await guarded.aclose()
