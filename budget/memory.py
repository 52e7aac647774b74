"""In-memory counter store for a single process (the demo and unit tests).

Correct only while one process owns the counters: nothing is shared or persisted. Expiry
is lazy (checked on read) against an injected monotonic clock so tests can move time.
"""

import heapq
import time
from collections.abc import Callable, Sequence

from budget.accounts import AccountKeys, Hold, Settlement


class MemoryStore:
    """CounterStore backed by two dicts; every operation is atomic under asyncio."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counters: dict[str, int] = {}
        self._markers: dict[str, float] = {}
        self._holds: dict[str, dict[str, tuple[int, float]]] = {}
        """Per holds key: hold id → (amount, expiry)."""
        self._expiry_heaps: dict[str, list[tuple[float, str]]] = {}
        self._counter_expiry: dict[str, float] = {}
        """Counters that expire (frequency caps); budget counters have no entry here."""
        """Per holds key: (expiry, hold id), a heap, so purging costs O(expired · log n)."""

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

    def _purge(self, account: AccountKeys) -> dict[str, tuple[int, float]]:
        holds = self._holds.setdefault(account.holds, {})
        heap = self._expiry_heaps.setdefault(account.holds, [])
        now = self._clock()
        while heap and heap[0][0] <= now:
            expiry, hold_id = heapq.heappop(heap)
            entry = holds.get(hold_id)
            if entry is not None and entry[1] == expiry:  # not released or settled since
                del holds[hold_id]
                self._counters[account.held] = self._counters.get(account.held, 0) - entry[0]
        if len(heap) > 2 * len(holds) + 1024:  # released holds linger in the heap: compact
            heap[:] = [(expiry, hold_id) for hold_id, (_, expiry) in holds.items()]
            heapq.heapify(heap)
        return holds

    async def reserve(self, holds: Sequence[Hold]) -> list[bool]:
        placed = []
        for hold in holds:
            account = hold.account
            current = self._purge(account)
            spend = self._counters.get(account.spend, 0)
            held = self._counters.get(account.held, 0)
            ok = (
                spend + held + hold.amount_micros <= hold.budget_micros
                and hold.hold_id not in current
            )
            if ok:
                expiry = self._clock() + hold.ttl_ms / 1000
                current[hold.hold_id] = (hold.amount_micros, expiry)
                heapq.heappush(self._expiry_heaps[account.holds], (expiry, hold.hold_id))
                self._counters[account.held] = held + hold.amount_micros
            placed.append(ok)
        return placed

    async def release(self, holds: Sequence[tuple[AccountKeys, str]]) -> None:
        for account, hold_id in holds:
            entry = self._holds.get(account.holds, {}).pop(hold_id, None)
            if entry is not None:
                self._counters[account.held] = self._counters.get(account.held, 0) - entry[0]

    async def settle(
        self,
        account: AccountKeys,
        *,
        hold_id: str,
        cost_micros: int,
        budget_micros: int,
        charge_key: str,
        charge_ttl_s: int,
    ) -> Settlement:
        if cost_micros < 0:
            raise ValueError("cost_micros must not be negative")
        entry = self._purge(account).pop(hold_id, None)
        if entry is not None:
            self._counters[account.held] = self._counters.get(account.held, 0) - entry[0]
        if not await self.claim(charge_key, charge_ttl_s):
            return Settlement.DUPLICATE
        spend = self._counters.get(account.spend, 0)
        if spend + self._counters.get(account.held, 0) + cost_micros > budget_micros:
            return Settlement.REFUSED
        self._counters[account.spend] = spend + cost_micros
        return Settlement.SETTLED if entry is not None else Settlement.CHARGED_LATE

    async def incr_many(self, items: Sequence[tuple[str, int]]) -> None:
        now = self._clock()
        for key, ttl_s in items:
            if self._counter_expiry.get(key, now + 1) <= now:
                self._counters.pop(key, None)
                del self._counter_expiry[key]
            self._counters[key] = self._counters.get(key, 0) + 1
            self._counter_expiry.setdefault(key, now + ttl_s)

    async def add_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        now = self._clock()
        for key, amount, ttl_s in items:
            if self._counter_expiry.get(key, now + 1) <= now:
                self._counters.pop(key, None)
                del self._counter_expiry[key]
            self._counters[key] = self._counters.get(key, 0) + amount
            self._counter_expiry.setdefault(key, now + ttl_s)

    async def put_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        now = self._clock()
        for key, value, ttl_s in items:
            self._counters[key] = value
            self._counter_expiry[key] = now + ttl_s

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        now = self._clock()
        expiry = self._counter_expiry
        return [
            0 if expiry.get(key, now + 1) <= now else self._counters.get(key, 0) for key in keys
        ]

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._counters.clear()
        self._markers.clear()
        self._holds.clear()
        self._expiry_heaps.clear()
        self._counter_expiry.clear()
