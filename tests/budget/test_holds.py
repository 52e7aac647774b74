"""Holds: spend + held never pass a budget; release, settle and expiry keep it that way.

Run against both backends: in memory and a real Redis.
"""

import asyncio

import pytest
from redis.asyncio import Redis

from budget.accounts import AccountKeys, Charge, Hold, Settlement
from budget.keys import KeySpace
from budget.ledger_watch import open_ledger
from budget.redis_store import RedisStore
from budget.store import CounterStore

BUDGET = 10_000


@pytest.fixture
async def account(store: CounterStore, key_prefix: str) -> AccountKeys:
    await open_ledger(store, KeySpace(key_prefix), ["c1"])
    return KeySpace(key_prefix).account("c1", "2026-11-28")


def hold(account: AccountKeys, hold_id: str, amount: int, ttl_ms: int = 60_000) -> Hold:
    return Hold(account, hold_id, amount, BUDGET, ttl_ms)


async def totals(store: CounterStore, account: AccountKeys) -> tuple[int, int]:
    spend, held = await store.read_many([account.spend, account.held])
    return spend, held


async def settle(store: CounterStore, account: AccountKeys, hold_id: str, cost: int) -> Settlement:
    charge = Charge(
        account,
        hold_id,
        cost,
        BUDGET,
        charge_key=f"{account.spend}:charged:{hold_id}",
        notice_key=f"{account.spend}:notice:{hold_id}",
        marker_ttl_s=60,
    )
    return (await store.settle(charge)).settlement


async def test_holds_are_placed_until_the_budget_is_full(
    store: CounterStore, account: AccountKeys
) -> None:
    placed = await store.reserve([hold(account, f"h{i}", 3_000) for i in range(4)])
    assert placed == [True, True, True, False]
    assert await totals(store, account) == (0, 9_000)
    assert await store.reserve([hold(account, "small", 1_000)]) == [True]
    assert await store.reserve([hold(account, "one-more", 1)]) == [False]


async def test_a_hold_id_is_placed_once(store: CounterStore, account: AccountKeys) -> None:
    assert await store.reserve([hold(account, "h", 100), hold(account, "h", 100)]) == [True, False]
    assert await totals(store, account) == (0, 100)


async def test_release_gives_the_money_back(store: CounterStore, account: AccountKeys) -> None:
    await store.reserve([hold(account, "a", 6_000), hold(account, "b", 4_000)])
    await store.release([(account, "a"), (account, "unknown")])
    assert await totals(store, account) == (0, 4_000)
    await store.release([(account, "a")])  # twice: nothing more
    assert await totals(store, account) == (0, 4_000)


async def test_settle_charges_the_cost_and_frees_the_rest_once(
    store: CounterStore, account: AccountKeys
) -> None:
    await store.reserve([hold(account, "won", 2_400)])
    assert await settle(store, account, "won", 1_910) is Settlement.SETTLED
    assert await totals(store, account) == (1_910, 0)
    assert await settle(store, account, "won", 1_910) is Settlement.DUPLICATE
    assert await totals(store, account) == (1_910, 0)


async def test_late_settlement_charges_only_within_the_budget(
    store: CounterStore, account: AccountKeys
) -> None:
    assert await settle(store, account, "late", 9_000) is Settlement.CHARGED_LATE
    await store.reserve([hold(account, "other", 1_000)])
    assert await settle(store, account, "later", 1) is Settlement.REFUSED
    assert await totals(store, account) == (9_000, 1_000)
    assert await settle(store, account, "later", 1) is Settlement.DUPLICATE


async def test_expired_holds_return_to_the_budget(
    store: CounterStore, account: AccountKeys
) -> None:
    assert await store.reserve([hold(account, "short", BUDGET, ttl_ms=50)]) == [True]
    assert await store.reserve([hold(account, "blocked", 1)]) == [False]
    await asyncio.sleep(0.12)  # real time: Redis expires holds by its own clock
    assert await store.reserve([hold(account, "now", 5_000)]) == [True]
    assert await totals(store, account) == (0, 5_000)


async def test_concurrent_reservations_never_pass_the_budget(
    store: CounterStore, account: AccountKeys
) -> None:
    results = await asyncio.gather(
        *(store.reserve([hold(account, f"h{i}", 700)]) for i in range(40))
    )
    assert sum(r[0] for r in results) == BUDGET // 700
    spend, held = await totals(store, account)
    assert spend + held <= BUDGET


async def test_redis_hold_keys_share_the_campaign_hash_tag_and_expire(
    redis_url: str, key_prefix: str, redis_client: Redis
) -> None:
    account = KeySpace(key_prefix).account("c9", "2026-11-28")
    assert {k.split("{")[1].split("}")[0] for k in vars_of(account)} == {"c:c9"}
    store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        await open_ledger(store, KeySpace(key_prefix), ["c9"])
        await store.reserve([Hold(account, "h", 10, 100, 60_000)])
        for key in (account.held, account.holds, account.expiries):
            assert await redis_client.ttl(key) > 0
    finally:
        await store.aclose()


def vars_of(account: AccountKeys) -> list[str]:
    return [account.spend, account.held, account.holds, account.expiries, account.ledger]
