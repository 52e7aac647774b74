"""The counter store interface shared by the Redis and the in-memory backends.

The exchange needs few primitives from its store, each atomic: claim a key once (notice
idempotency), hold money for bids in flight and settle (charge once per won impression) or
release it — spend plus holds never pass a budget — and read spend for many campaigns in
one round trip. Both backends implement exactly this, so tests and the single-process demo
swap one for the other instead of patching.

Exceptions::

    RuntimeError
     └─ StoreUnavailable      the store did not answer (in time): fail safe, retry later
         └─ LedgerLost        it answered, but is not the ledger this process wrote to
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

from budget.accounts import AccountKeys, Charge, ChargeResult, Hold
from budget.profile_write import ProfileWrite


class StoreUnavailable(RuntimeError):
    """The store did not answer in time or at all; callers must fail safe (no bid, 503)."""


class LedgerLost(StoreUnavailable):
    """A campaign's ledger marker is missing or of another epoch: the store lost its data
    (restarted empty, failed over to an empty replica) or is not the one this process wrote
    to. Nothing may be spent or charged until an operator restores the ledger."""


class CounterStore(Protocol):
    """Atomic counters in integer micros; every method may raise StoreUnavailable."""

    def use_epoch(self, epoch: str | None) -> None:
        """The ledger epoch every money script checks the campaigns' markers against (None:
        no ledger yet, money operations raise LedgerLost)."""
        ...

    async def claim(self, key: str, ttl_s: int) -> bool:
        """Set ``key`` if absent (expiring after ``ttl_s``); True only for the first caller."""
        ...

    async def claim_lower(self, key: str, rank: int, ttl_ms: int) -> bool:
        """Set ``key`` to ``rank`` (expiring after ``ttl_ms``) unless it holds a rank no
        higher; True when set. Atomic: of several processes offering ranks at once, only
        strictly lower ones win (the shortest supply path of one impression)."""
        ...

    async def claim_counted(self, key: str, counter: str, limit: int, ttl_s: int) -> int:
        """Claim ``key`` (as ``claim``) only while ``counter`` — how many keys were claimed
        this way — is below ``limit``; both expire after ``ttl_s``. 1: claimed (and counted),
        0: ``key`` was claimed before, -1: the limit is reached. Atomic."""
        ...

    async def reserve(self, holds: Sequence[Hold]) -> list[bool]:
        """Place each hold if spend + held + amount stays within its budget (expired holds of
        the account are released first); True where placed. LedgerLost, changing nothing,
        when a campaign's marker is not the epoch."""
        ...

    async def release(self, holds: Sequence[tuple[AccountKeys, str]]) -> None:
        """Give held money back (lost or cancelled bids); unknown holds are ignored."""
        ...

    async def settle(self, charge: Charge) -> ChargeResult:
        """Settle one notice of a won impression atomically (see Charge); LedgerLost,
        changing nothing, when the campaign's marker is not the epoch."""
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

    async def put_texts(self, items: Sequence[tuple[str, str, int]]) -> None:
        """Set each ``(key, text, ttl_s)``, expiring after ``ttl_s`` (whose profile a
        click's conversions count in)."""
        ...

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        """The integer values of ``keys`` (0 when absent), in one round trip."""
        ...

    async def read_texts(self, keys: Sequence[str]) -> list[str | None]:
        """The values of ``keys`` as text (None when absent): the ledger markers."""
        ...

    async def read_record(self, key: str, fields: Sequence[str] | None = None) -> Mapping[str, str]:
        """The fields of a hash (all of them, or only ``fields``; absent ones left out):
        the ledger record."""
        ...

    async def read_counts_and_record(
        self, keys: Sequence[str], record_key: str
    ) -> tuple[list[int], Mapping[str, str]]:
        """``read_many(keys)`` and every field of the hash ``record_key``, in one round trip:
        a request's frequency caps and its user's profile."""
        ...

    async def write_profile(self, write: ProfileWrite) -> None:
        """Apply one profile change atomically, pruning and bounding the record as
        ``budget.profile_write`` says."""
        ...

    async def create_record(self, key: str, fields: Mapping[str, str]) -> Mapping[str, str]:
        """Write ``fields`` (an ``epoch`` among them) into the hash ``key`` unless it has an
        epoch already, atomically; the record as it is afterwards (whoever created it)."""
        ...

    async def put_versioned(self, key: str, field: str, value: str) -> int:
        """Add one to the hash's ``version`` field and set ``field`` to the JSON array
        ``[<that version>, <value>]`` (``value`` is JSON), atomically; the new version. The
        operator's overrides (``exchange.admin``): every process sees which write is newer."""
        ...

    async def register_campaign(
        self, record_key: str, marker_key: str, campaign_id: str, epoch: str
    ) -> None:
        """Put a campaign that is new to the ledger into it: its marker (if absent), then
        its entry in the record (the marker first, so a crash in between leaves a campaign
        that checks out rather than one that looks lost)."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers now."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
