"""In-memory counter store for a single process (the demo and unit tests).

Correct only while one process owns the counters: nothing is shared or persisted. Expiry
is lazy (checked on read) against an injected monotonic clock so tests can move time.
"""

import time
from collections.abc import Callable, Sequence


class MemoryStore:
    """CounterStore backed by two dicts; every operation is atomic under asyncio."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counters: dict[str, int] = {}
        self._markers: dict[str, float] = {}

    def _alive(self, key: str) -> bool:
        expires_at = self._markers.get(key)
        if expires_at is None:
            return False
        if expires_at <= self._clock():
            del self._markers[key]
            return False
        return True

    async def claim(self, key: str, ttl_s: int) -> bool:
        if self._alive(key):
            return False
        self._markers[key] = self._clock() + ttl_s
        return True

    async def charge_once(
        self, *, spend_key: str, charge_key: str, cost_micros: int, charge_ttl_s: int
    ) -> bool:
        if cost_micros < 0:
            raise ValueError("cost_micros must not be negative")
        if not await self.claim(charge_key, charge_ttl_s):
            return False
        self._counters[spend_key] = self._counters.get(spend_key, 0) + cost_micros
        return True

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        return [self._counters.get(key, 0) for key in keys]

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._counters.clear()
        self._markers.clear()
