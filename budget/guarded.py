"""A circuit breaker around the counter store: when Redis is slow or down, fail in
microseconds instead of waiting out a timeout on every auction.

Every store call first asks the breaker; an open breaker raises StoreUnavailable at once, so
the in-process routers stop bidding (no bid beats overspend) while the exchange keeps serving
external bidders. After the cool-down one call probes the store; success closes the breaker
and bidding resumes by itself. ``ping`` (readiness) always asks the store itself.

A ``LedgerLost`` answer is not a failure of the store (it answered): it closes nothing and
opens nothing, and goes to ``on_ledger_lost`` (the ledger watch stops money at once).

Every call's duration and outcome go to ``observe(operation, seconds, failed)`` (metrics):
the figures that say whether the timeout fits the load.
"""

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from budget.accounts import AccountKeys, Charge, ChargeResult, Hold
from budget.breaker import BreakerState, CircuitBreaker
from budget.profile_write import ProfileWrite
from budget.store import CounterStore, LedgerLost, StoreUnavailable

_T = TypeVar("_T")


class GuardedStore:
    """A CounterStore that consults a CircuitBreaker before every call to the real one."""

    def __init__(
        self,
        store: CounterStore,
        breaker: CircuitBreaker,
        on_ledger_lost: Callable[[LedgerLost], None] | None = None,
        observe: Callable[[str, float, bool], None] | None = None,
    ) -> None:
        self._store = store
        self.breaker = breaker
        self.on_ledger_lost = on_ledger_lost
        self._observe = observe

    @property
    def open(self) -> bool:
        """Whether calls are being refused right now."""
        return self.breaker.state is BreakerState.OPEN

    async def _guard(self, operation: str, call: Callable[[], Awaitable[_T]]) -> _T:
        if not self.breaker.allow():
            raise StoreUnavailable("circuit open: the store failed repeatedly")
        started = time.perf_counter()
        try:
            result = await call()
        except LedgerLost as exc:
            self.breaker.record_success()
            self._record(operation, started, failed=False)
            if self.on_ledger_lost is not None:
                self.on_ledger_lost(exc)
            raise
        except StoreUnavailable:
            self.breaker.record_failure()
            self._record(operation, started, failed=True)
            raise
        self.breaker.record_success()
        self._record(operation, started, failed=False)
        return result

    def _record(self, operation: str, started: float, *, failed: bool) -> None:
        if self._observe is not None:
            self._observe(operation, time.perf_counter() - started, failed)

    def use_epoch(self, epoch: str | None) -> None:
        self._store.use_epoch(epoch)

    async def claim(self, key: str, ttl_s: int) -> bool:
        return await self._guard("claim", lambda: self._store.claim(key, ttl_s))

    async def claim_lower(self, key: str, rank: int, ttl_ms: int) -> bool:
        return await self._guard("claim_lower", lambda: self._store.claim_lower(key, rank, ttl_ms))

    async def claim_counted(self, key: str, counter: str, limit: int, ttl_s: int) -> int:
        return await self._guard(
            "claim_counted", lambda: self._store.claim_counted(key, counter, limit, ttl_s)
        )

    async def reserve(self, holds: Sequence[Hold]) -> list[bool]:
        return await self._guard("reserve", lambda: self._store.reserve(holds))

    async def release(self, holds: Sequence[tuple[AccountKeys, str]]) -> None:
        await self._guard("release", lambda: self._store.release(holds))

    async def settle(self, charge: Charge) -> ChargeResult:
        return await self._guard("settle", lambda: self._store.settle(charge))

    async def incr_many(self, items: Sequence[tuple[str, int]]) -> None:
        await self._guard("incr_many", lambda: self._store.incr_many(items))

    async def add_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        await self._guard("add_many", lambda: self._store.add_many(items))

    async def put_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        await self._guard("put_many", lambda: self._store.put_many(items))

    async def put_texts(self, items: Sequence[tuple[str, str, int]]) -> None:
        await self._guard("put_texts", lambda: self._store.put_texts(items))

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        return await self._guard("read_many", lambda: self._store.read_many(keys))

    async def read_texts(self, keys: Sequence[str]) -> list[str | None]:
        return await self._guard("read_texts", lambda: self._store.read_texts(keys))

    async def read_record(self, key: str, fields: Sequence[str] | None = None) -> Mapping[str, str]:
        return await self._guard("read_record", lambda: self._store.read_record(key, fields))

    async def read_counts_and_record(
        self, keys: Sequence[str], record_key: str
    ) -> tuple[list[int], Mapping[str, str]]:
        return await self._guard(
            "read_counts_and_record", lambda: self._store.read_counts_and_record(keys, record_key)
        )

    async def write_profile(self, write: ProfileWrite) -> None:
        await self._guard("write_profile", lambda: self._store.write_profile(write))

    async def create_record(self, key: str, fields: Mapping[str, str]) -> Mapping[str, str]:
        return await self._guard("create_record", lambda: self._store.create_record(key, fields))

    async def put_versioned(self, key: str, field: str, value: str) -> int:
        return await self._guard(
            "put_versioned", lambda: self._store.put_versioned(key, field, value)
        )

    async def register_campaign(
        self, record_key: str, marker_key: str, campaign_id: str, epoch: str
    ) -> None:
        await self._guard(
            "register_campaign",
            lambda: self._store.register_campaign(record_key, marker_key, campaign_id, epoch),
        )

    async def ping(self) -> bool:
        healthy = await self._store.ping()
        if healthy and self.open:
            self.breaker.record_success()  # readiness probes may close it early
        return healthy

    async def aclose(self) -> None:
        await self._store.aclose()
