"""The counter store interface shared by the Redis and the in-memory backends.

The exchange needs few primitives from its store, each atomic: claim a key once (notice
idempotency), hold money for bids in flight and settle (charge once per won impression) or
release it — spend plus holds never pass a budget — and read spend
for many campaigns in one round trip. Both backends implement exactly this, so tests and
the single-process demo swap one for the other instead of patching.
"""

from collections.abc import Sequence
from typing import Protocol

from budget.accounts import AccountKeys, Hold, Settlement


class StoreUnavailable(RuntimeError):
    """The store did not answer in time or at all; callers must fail safe (no bid, 503)."""


class CounterStore(Protocol):
    """Atomic counters in integer micros; every method may raise StoreUnavailable."""

    async def claim(self, key: str, ttl_s: int) -> bool:
        """Set ``key`` if absent (expiring after ``ttl_s``); True only for the first caller."""
        ...

    async def reserve(self, holds: Sequence[Hold]) -> list[bool]:
        """Place each hold if spend + held + amount stays within its budget (expired holds of
        the account are released first); one round trip; True where placed."""
        ...

    async def release(self, holds: Sequence[tuple[AccountKeys, str]]) -> None:
        """Give held money back (lost or cancelled bids); unknown holds are ignored."""
        ...

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
        """Charge a won impression once, against its hold (see Settlement)."""
        ...

    async def incr_many(self, items: Sequence[tuple[str, int]]) -> None:
        """Add one to each key, which expires ``ttl_s`` after it was first counted."""
        ...

    async def add_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        """Add ``amount`` to each ``(key, amount, ttl_s)``; the key expires ``ttl_s`` after it
        was first counted (pacing's traffic counts, flushed in batches)."""
        ...

    async def put_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        """Set each ``(key, value, ttl_s)`` to the integer ``value``, expiring after ``ttl_s``
        (pacing's shared controller state; last writer wins)."""
        ...

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        """The integer values of ``keys`` (0 when absent), in one round trip."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers now."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
