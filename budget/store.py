"""The counter store interface shared by the Redis and the in-memory backends.

The exchange needs few primitives from its store, each atomic: claim a key once (notice
idempotency), charge a campaign once per won impression, and read spend for many campaigns
in one round trip. Both backends implement exactly this, so tests and the single-process
demo swap one for the other instead of patching.
"""

from collections.abc import Sequence
from typing import Protocol


class StoreUnavailable(RuntimeError):
    """The store did not answer in time or at all; callers must fail safe (no bid, 503)."""


class CounterStore(Protocol):
    """Atomic counters in integer micros; every method may raise StoreUnavailable."""

    async def claim(self, key: str, ttl_s: int) -> bool:
        """Set ``key`` if absent (expiring after ``ttl_s``); True only for the first caller."""
        ...

    async def charge_once(
        self, *, spend_key: str, charge_key: str, cost_micros: int, charge_ttl_s: int
    ) -> bool:
        """Add ``cost_micros`` to ``spend_key`` unless ``charge_key`` exists; True if charged."""
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
