"""The CounterStore contract, run against both backends: in-memory and a real Redis."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from budget.accounts import AccountKeys, Charge, Hold
from budget.days import SPEND_KEY_TTL_S
from budget.keys import KeySpace
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from budget.redis_store import RedisStore
from budget.store import CounterStore, StoreUnavailable
from tests.servers import free_port


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_url = request.getfixturevalue("redis_url")
    redis_store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        yield redis_store
    finally:
        await redis_store.aclose()


def charge(
    keys: KeySpace,
    account: AccountKeys,
    campaign: str,
    impression: str,
    *,
    cost: int = 1,
    budget: int = 10,
    ttl_s: int = 60,
) -> Charge:
    return Charge(
        account,
        impression,
        cost,
        budget,
        keys.charge(campaign, impression),
        keys.notice("billing", impression, campaign),
        ttl_s,
    )


@pytest.fixture
def keys(request: pytest.FixtureRequest) -> KeySpace:
    # Every test gets its own prefix (cleaned up) whatever the backend.
    return KeySpace(request.getfixturevalue("key_prefix"))


async def test_claim_is_true_once(store: CounterStore, keys: KeySpace) -> None:
    key = keys.notice("win", "a:1:b")
    assert await store.claim(key, 60) is True
    assert await store.claim(key, 60) is False
    assert await store.claim(keys.notice("billing", "a:1:b"), 60) is True


async def test_concurrent_claims_have_one_winner(store: CounterStore, keys: KeySpace) -> None:
    key = keys.notice("win", "race")
    results = await asyncio.gather(*(store.claim(key, 60) for _ in range(50)))
    assert results.count(True) == 1


async def test_read_many_defaults_to_zero_and_keeps_order(
    store: CounterStore, keys: KeySpace
) -> None:
    a, b = keys.account("a", "d"), keys.account("b", "d")
    await open_ledger(store, keys, ["a", "b"])
    await store.settle(charge(keys, b, "b", "1", cost=7, budget=100))
    assert await store.read_many([a.spend, b.spend, a.spend]) == [0, 7, 0]
    assert await store.read_many([]) == []


async def test_ping(store: CounterStore) -> None:
    assert await store.ping() is True


def test_memory_markers_expire_with_the_clock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)

    async def scenario() -> list[bool]:
        first = await store.claim("k", 10)
        clock.now += 9.9
        during = await store.claim("k", 10)
        clock.now += 0.2
        after = await store.claim("k", 10)
        return [first, during, after]

    assert asyncio.run(scenario()) == [True, False, True]


async def test_redis_keys_expire(redis_url: str, key_prefix: str, redis_client: Redis) -> None:
    keys = KeySpace(key_prefix)
    store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        account = keys.account("c1", "2026-11-28")
        await open_ledger(store, keys, ["c1"])
        await store.settle(charge(keys, account, "c1", "i", cost=5, budget=100, ttl_s=120))
        assert 0 < await redis_client.ttl(keys.charge("c1", "i")) <= 120
        assert SPEND_KEY_TTL_S - 5 < await redis_client.ttl(account.spend) <= SPEND_KEY_TTL_S
        await store.claim(keys.notice("win", "n"), 30)
        assert 0 < await redis_client.ttl(keys.notice("win", "n")) <= 30
    finally:
        await store.aclose()


def test_campaign_keys_share_a_cluster_hash_tag() -> None:
    keys = KeySpace("p:")
    assert "{c:c1}" in keys.spend("c1", "2026-11-28")
    assert "{c:c1}" in keys.charge("c1", "imp")


async def test_unreachable_redis_raises_store_unavailable() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.05)
    try:
        assert await store.ping() is False
        with pytest.raises(StoreUnavailable):
            await store.claim("k", 1)
        with pytest.raises(StoreUnavailable):
            await store.read_many(["k"])
        store.use_epoch("e")
        with pytest.raises(StoreUnavailable):
            await store.reserve([Hold(KeySpace().account("c", "d"), "h", 1, 10, 1000)])
        store.use_epoch("e")
        with pytest.raises(StoreUnavailable):
            await store.settle(charge(KeySpace(), KeySpace().account("c", "d"), "c", "h"))
    finally:
        await store.aclose()


async def test_counts_expire_from_their_first_count(store: CounterStore, keys: KeySpace) -> None:
    key = keys.notice("freq-test", "u1")
    await store.incr_many([(key, 60), (key, 60)])
    assert await store.read_many([key]) == [2]


def test_memory_counts_expire_with_the_clock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)

    async def scenario() -> list[int]:
        await store.incr_many([("f", 10)])
        clock.now += 5
        await store.incr_many([("f", 10)])  # the window does not restart
        during = (await store.read_many(["f"]))[0]
        clock.now += 5
        after = (await store.read_many(["f"]))[0]
        await store.incr_many([("f", 10)])
        return [during, after, (await store.read_many(["f"]))[0]]

    assert asyncio.run(scenario()) == [2, 0, 1]


async def test_redis_counts_get_their_ttl_once(
    redis_url: str, key_prefix: str, redis_client: Redis
) -> None:
    store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        key = f"{key_prefix}freq"
        await store.incr_many([(key, 100)])
        await store.incr_many([(key, 5)])
        assert 95 < await redis_client.ttl(key) <= 100
    finally:
        await store.aclose()


async def test_claim_counted_claims_each_key_once_and_stops_at_the_limit(
    store: CounterStore, keys: KeySpace
) -> None:
    counter = keys.conversions("c1", "imp")
    outcomes = [await store.claim_counted(f"{counter}:o{n}", counter, 2, 60) for n in range(4)]
    assert outcomes == [1, 1, -1, -1]
    assert await store.claim_counted(f"{counter}:o0", counter, 2, 60) == 0  # a retry
    assert await store.read_many([counter]) == [2]


async def test_concurrent_counted_claims_never_pass_the_limit(
    store: CounterStore, keys: KeySpace
) -> None:
    counter = keys.conversions("c1", "race")
    results = await asyncio.gather(
        *(store.claim_counted(f"{counter}:o{n}", counter, 3, 60) for n in range(40))
    )
    assert results.count(1) == 3
    assert results.count(-1) == 37


async def test_versioned_entries_count_one_version_for_the_whole_hash(
    store: CounterStore, keys: KeySpace
) -> None:
    key = keys.overrides
    assert await store.put_versioned(key, "campaign:a", '{"enabled": false}') == 1
    assert await store.put_versioned(key, "bidder:b", '{"enabled": true}') == 2
    assert await store.put_versioned(key, "campaign:a", '{"enabled": true}') == 3
    assert await store.read_record(key) == {
        "version": "3",
        "campaign:a": '[3,{"enabled": true}]',
        "bidder:b": '[2,{"enabled": true}]',
    }


async def test_concurrent_versioned_writes_get_distinct_versions(
    store: CounterStore, keys: KeySpace
) -> None:
    versions = await asyncio.gather(
        *(store.put_versioned(keys.overrides, f"campaign:c{n}", "{}") for n in range(20))
    )
    assert sorted(versions) == list(range(1, 21))
