"""The de-duplication of impressions shared by every process through the store: a repeat
reaching another process by a path no shorter is a duplicate there too; a shorter one is
auctioned; the store's rank expires with the window; while the store is down each process
still answers its own repeats."""

import asyncio
import time
import uuid

from budget.keys import KeySpace
from budget.memory import MemoryStore
from budget.redis_store import RedisStore
from budget.store import CounterStore
from exchange.path_dedup import SharedSeenPaths
from exchange.results import NoBid
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, start_services, stop_services
from tests.exchange.test_supply_paths import BOOK, DIRECT, RESOLD, _request
from tests.servers import free_port


async def test_claim_lower_keeps_the_lowest_rank_until_it_expires(store: CounterStore) -> None:
    key = f"rtb-test:{uuid.uuid4().hex}:rank"
    assert await store.claim_lower(key, 2, 300)
    assert not await store.claim_lower(key, 2, 300)  # the same rank again
    assert not await store.claim_lower(key, 5, 300)  # higher
    assert await store.claim_lower(key, 1, 300)  # strictly lower
    assert not await store.claim_lower(key, 2, 300)
    if isinstance(store, MemoryStore):
        return  # its clock is the wall clock too, but waiting proves nothing more
    await asyncio.sleep(0.4)
    assert await store.claim_lower(key, 9, 300)  # expired with its window


async def test_two_processes_on_redis_share_the_seen_impressions(
    redis_url: str, key_prefix: str
) -> None:
    settings = Settings(
        store="redis", redis_url=redis_url, key_prefix=key_prefix, ledger_init="auto",
        currency_rates_refresh_s=0, ivt_datacenter="flag",
        notice_secret="a-test-secret-shared-by-both-processes",  # type: ignore[arg-type]
    )  # fmt: skip
    processes = [build_services(settings, Injected()) for _ in range(2)]
    started = [await start_services(p, announce=False) for p in processes]
    try:
        outcomes = []
        for n, chain in enumerate([RESOLD, RESOLD, DIRECT, RESOLD]):
            services = processes[n % 2]  # a load balancer alternates
            result = await services.exchange.auction(
                _request("shared-tid", chain),
                received_at=time.monotonic(),
                notice_base_url="http://x",
                account=BOOK.accounts["dedup"],
            )
            outcomes.append(result.nobid is NoBid.DUPLICATE_PATH)
    finally:
        for services, background in zip(processes, started, strict=True):
            await stop_services(services, background)
    # Auctioned; the same path in the other process: duplicate; shorter: auctioned; longer
    # than the best, back in the second process: duplicate.
    assert outcomes == [False, True, False, True]


async def test_with_the_store_down_a_process_still_answers_its_own_repeats() -> None:
    dead = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    shared = SharedSeenPaths(dead, KeySpace("rtb-test:"))
    try:
        assert not await shared.duplicate(_request("t-down", RESOLD), 5.0)
        assert await shared.duplicate(_request("t-down", RESOLD), 5.0)
        assert not await shared.duplicate(_request("t-down", DIRECT), 5.0)
    finally:
        await dead.aclose()
