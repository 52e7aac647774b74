"""Rate-limit section: what the auction's door costs per bid request, side by side with the
``limits`` library doing the same job.

``exchange.gate.Gate.admit`` (an account key looked up by digest, the account's and the
address's rate counted in memory and shared through the store a few times a second) is
timed per call; ``limits``' sliding-window-counter and moving-window limiters are timed on
the same work, in memory (one process only) and on Redis (shared across processes, which
is what the exchange needs). The Redis rows run only when a Redis answers at
``REDIS_URL``; ``limits`` rows only when it is installed. Each row: median and p99 per call
over batches. Run it alone with ``python -m bench --section rate-limit``.
"""

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Final

import orjson
import redis

from bench.section import Options, Report, median_p99, progress, timing_report
from exchange.accounts import AccountBook, key_digest
from exchange.gate import Gate

__all__ = ["run"]

_BATCH: Final = 500
_KEY: Final = "rtbk_bench-0123456789abcdefghijklmnopqrstuvwxyz"
_UNLIMITED: Final = 10**9


def _gate() -> Gate:
    book = AccountBook.parse(
        orjson.dumps(
            {
                "accounts": [
                    {"id": "ssp", "key_digests": [key_digest(_KEY)], "rate_limit_qps": _UNLIMITED}
                ]
            }
        ),
        "bench",
    )
    return Gate(book, per_ip_qps=_UNLIMITED, secret=b"b" * 32)


def _time_sync(call: Callable[[int], object], batches: int) -> tuple[float, float]:
    samples = []
    for batch in range(batches):
        started = time.perf_counter_ns()
        for i in range(_BATCH):
            call(batch * _BATCH + i)
        samples.append((time.perf_counter_ns() - started) / _BATCH / 1_000)
    return median_p99(samples)


async def _time_async(
    call: Callable[[int], Awaitable[object]], batches: int
) -> tuple[float, float]:
    samples = []
    for batch in range(batches):
        started = time.perf_counter_ns()
        for i in range(_BATCH):
            await call(batch * _BATCH + i)
        samples.append((time.perf_counter_ns() - started) / _BATCH / 1_000)
    return median_p99(samples)


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


async def _library_rows(batches: int, redis_url: str | None) -> list[tuple[str, float, float]]:
    try:
        from limits import parse
        from limits.aio.storage import MemoryStorage, RedisStorage, Storage
        from limits.aio.strategies import (
            MovingWindowRateLimiter,
            RateLimiter,
            SlidingWindowCounterRateLimiter,
        )
    except ImportError:
        progress("rate-limit: the limits library is not installed; its rows are left out")
        return []
    item = parse(f"{_UNLIMITED}/second")
    storages: list[tuple[str, Callable[[], Storage]]] = [("memory", MemoryStorage)]
    if redis_url is not None:
        async_url = "async+" + redis_url
        storages.append(("Redis", lambda: RedisStorage(async_url, implementation="redispy")))
    rows = []
    strategies: list[tuple[str, type[RateLimiter]]] = [
        ("sliding window counter", SlidingWindowCounterRateLimiter),
        ("moving window", MovingWindowRateLimiter),
    ]
    for where, storage in storages:
        for name, strategy in strategies:
            limiter = strategy(storage())

            async def hit(n: int, limiter: RateLimiter = limiter) -> object:
                # the account's rate and the address's, as the gate counts both
                await limiter.hit(item, "bench-account", "ssp")
                return await limiter.hit(item, "bench-ip", f"192.0.2.{n % 200}")

            median, p99 = await _time_async(hit, max(4, batches // 4))
            rows.append((f"limits 5 {name}, {where}", median, p99))
    return rows


def run(options: Options) -> Report:
    """Time the gate, and the library on the same two counts per request."""
    batches = max(20, int(options.duration_s * 20))
    progress(f"rate-limit: {batches} batches of {_BATCH} calls per row")
    gate = _gate()
    median, p99 = _time_sync(lambda n: gate.admit(_KEY, f"192.0.2.{n % 200}"), batches)
    rows = [("exchange.gate (key + account rate + address rate)", median, p99)]
    redis_url = _redis_url()
    rows += asyncio.run(_library_rows(batches, redis_url))
    report = timing_report("rate-limit", "a few µs per request", "per request", "request", rows)
    notes = [
        "The gate counts in memory and adds its counts to the store every "
        "RTB_RATE_LIMIT_FLUSH_S (one pipelined round trip for every subject): a client over "
        "its rate on the fleet is caught within one flush. A shared limiter of the library "
        "makes one Redis round trip per count on the bid path instead (docs/decisions.md).",
    ]
    if redis_url is None:
        notes.append("No Redis answered at REDIS_URL: the shared library rows are left out.")
    return Report(report.title, report.context, report.tables, notes)
