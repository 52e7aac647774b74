"""The counter store's part of an auction: frequency caps and budget holds for 100 candidates.

What the router asks the store per request when 100 campaigns are candidates: one read of
their frequency-cap counters (``SpendLedger.capped``, one MGET) and one reserve of 100
holds (``SpendLedger.reserve``, one pipelined EVALSHA batch) — two round trips. Timed
against the local Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379/0``) and the
in-memory store side by side: wall time per auction (median, p99) and this process's CPU
per auction (the exchange's cost; Redis's own CPU is another core). Holds are released
after each auction so budgets never run out; keys use a throwaway prefix and are deleted.
Run it alone with ``python -m bench.store``.
"""

import asyncio
import os
import secrets
import time

from redis.asyncio import Redis

from bench.section import Options, Report, median_p99, progress, timing_report
from bidding.router import BidHold
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from budget.redis_store import RedisStore
from budget.store import CounterStore

__all__ = ["run", "store_timings", "time_store"]

CANDIDATES = 100
_CAP = [(3, "day")]


async def time_store(store: CounterStore, prefix: str, auctions: int) -> tuple[float, float, float]:
    """(median µs, p99 µs, CPU µs per auction) of caps + holds for ``CANDIDATES``."""
    ledger = SpendLedger(store, KeySpace(prefix))
    campaigns = [(f"c{i}", "UTC", _CAP) for i in range(CANDIDATES)]
    await open_ledger(store, KeySpace(prefix), [cid for cid, _, _ in campaigns])
    samples = []
    cpu_started = 0.0
    for n in range(auctions + 100):
        if n == 100:  # after warm-up (connections, script loads)
            cpu_started = time.process_time()
        holds = [BidHold(f"c{i}", "UTC", 10**12, f"a{n}:1:{i}", 2_000) for i in range(CANDIDATES)]
        started = time.perf_counter_ns()
        await ledger.capped(campaigns, f"user-{n % 1000}")
        await ledger.reserve(holds, 60.0)
        elapsed_us = (time.perf_counter_ns() - started) / 1000
        await ledger.release(holds, time.time())
        if n >= 100:
            samples.append(elapsed_us)
    cpu_us = (time.process_time() - cpu_started) * 1e6 / auctions  # includes the releases
    median, p99 = median_p99(samples)
    return median, p99, cpu_us


async def _redis_rows(url: str, auctions: int) -> list[tuple[str, float, float]]:
    prefix = f"bench-{secrets.token_hex(4)}:"
    store = RedisStore.from_url(url, timeout_s=1.0)
    try:
        median, p99, cpu = await time_store(store, prefix, auctions)
    finally:
        await store.aclose()
        cleaner = Redis.from_url(url)
        async for key in cleaner.scan_iter(match=f"{prefix}*", count=1000):
            await cleaner.delete(key)
        await cleaner.aclose()
    label = f"Redis: caps + holds, {CANDIDATES} candidates (client CPU {cpu:.0f} µs incl. release)"
    return [(label, median, p99)]


def store_timings(auctions: int = 2_000) -> list[tuple[str, float, float]]:
    """``(label, median µs, p99 µs)`` per auction for Redis and the in-memory store."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    rows = asyncio.run(_redis_rows(url, auctions))
    median, p99, cpu = asyncio.run(time_store(MemoryStore(), "bench:", auctions))
    rows.append((f"memory: caps + holds, {CANDIDATES} candidates (CPU {cpu:.0f} µs)", median, p99))
    return rows


def run(options: Options) -> Report:
    """The ``store`` section of ``python -m bench`` (ignores the load options)."""
    progress("store: caps + holds against Redis and memory")
    return timing_report(
        "counter store round trips per auction",
        "reported: two round trips (caps, holds) for 100 candidates",
        "store",
        "auction",
        store_timings(),
    )


if __name__ == "__main__":
    for label, median_us, p99_us in store_timings():
        print(f"{label:<75} median {median_us:8.1f} µs   p99 {p99_us:8.1f} µs")
