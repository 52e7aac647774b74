"""Several OS processes bidding on one campaign against one real Redis: never overspent.

Each process plays an exchange: it holds the most a bid can cost, then the bid loses (hold
released), wins and is billed (settled below the hold), or wins and its notice never comes
(hold left to expire). A monitor samples spend + held the whole time. Demand exceeds the
budget, so the campaign must also deliver nearly all of it.
"""

import asyncio
import multiprocessing
import random
import time

import redis

from budget.accounts import Charge, Hold
from budget.keys import KeySpace
from budget.ledger_watch import open_ledger
from budget.redis_store import RedisStore

BUDGET = 2_000_000  # 2.00 in micros: ~1,000 impressions at ~2 CPM
HOLD = 2_400  # the bid: 2.40 CPM
PROCESSES = 4


def _exchange_process(redis_url: str, prefix: str, seed: int, deadline: float) -> None:
    async def run() -> None:
        rng = random.Random(seed)
        store = RedisStore.from_url(redis_url, timeout_s=2.0)
        account = KeySpace(prefix).account("shared", "2026-11-28")
        await open_ledger(store, KeySpace(prefix), ["shared"])  # every process, as at start-up
        refused_in_a_row = 0
        n = 0
        try:
            while time.monotonic() < deadline and refused_in_a_row < 200:
                n += 1
                hold_id = f"p{seed}-{n}"
                (placed,) = await store.reserve([Hold(account, hold_id, HOLD, BUDGET, 300)])
                if not placed:
                    refused_in_a_row += 1
                    await asyncio.sleep(0.002)
                    continue
                refused_in_a_row = 0
                fate = rng.random()
                if fate < 0.4:
                    await store.release([(account, hold_id)])
                elif fate < 0.97:
                    await store.settle(
                        Charge(
                            account,
                            hold_id,
                            rng.randint(1_000, HOLD),
                            BUDGET,
                            charge_key=f"{prefix}charged:{{c:shared}}:{hold_id}",
                            notice_key=f"{prefix}notice:{{c:shared}}:billing:{hold_id}",
                            marker_ttl_s=60,
                        )
                    )
                # else: the notice never comes; the hold expires after 300 ms
        finally:
            await store.aclose()

    asyncio.run(run())


def test_many_processes_never_overspend_and_deliver_the_budget(
    redis_url: str, key_prefix: str
) -> None:
    account = KeySpace(key_prefix).account("shared", "2026-11-28")
    deadline = time.monotonic() + 20
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_exchange_process, args=(redis_url, key_prefix, seed, deadline))
        for seed in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    client = redis.Redis.from_url(redis_url)
    samples = 0
    worst = 0
    try:
        while any(worker.is_alive() for worker in workers):
            spend, held = (int(v or 0) for v in client.mget([account.spend, account.held]))
            worst = max(worst, spend + held)
            samples += 1
            time.sleep(0.005)
        spend = int(client.get(account.spend) or 0)
    finally:
        client.close()
        for worker in workers:
            worker.join(timeout=30)
    assert all(worker.exitcode == 0 for worker in workers)
    assert samples > 10
    assert worst <= BUDGET
    assert spend <= BUDGET
    assert spend >= 0.99 * BUDGET, f"delivered only {spend / BUDGET:.2%}"
