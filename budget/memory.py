"""In-memory counter store for a single process (the demo and unit tests).

Correct only while one process owns the counters: nothing is shared or persisted. It keeps
the Redis store's contract, ledger markers included, so the same tests run on both. Every
key may expire, as in Redis; expired keys read as absent at once and are swept from memory
as time passes (a few per call, oldest first, from one heap of expiries), so memory holds
what is alive, not everything ever written. Time comes from an injected monotonic clock so
tests can move it.

Markers set once with a TTL (claims, notice and charge markers: three per won impression,
kept a day) are the bulk of a busy store; they live packed in ``budget.markers`` at 12 to
20 bytes each, not as dict entries of a few hundred. Hashes (users' profiles, kept a month)
are bounded in number too: past ``max_records`` a new profile is not started.
"""

import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from budget.accounts import AccountKeys, Charge, ChargeResult, Hold, Settlement
from budget.days import SPEND_KEY_TTL_S
from budget.markers import MAX_VALUE, Markers
from budget.profile_write import ProfileWrite, apply_write
from budget.store import LedgerLost

_SWEEP_PER_CALL: Final = 64
"""Expired keys removed per store call at most: sweeping never stalls one call, and any
rate of writes is matched, since every write is a call."""


class MemoryStore:
    """CounterStore backed by dicts; every operation is atomic under asyncio."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, max_records: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_records = max_records
        self.records_refused = 0
        """Profile writes dropped because ``max_records`` hashes were alive."""
        self._epoch: str | None = None
        self._counters: dict[str, int] = {}
        self._texts: dict[str, str] = {}
        """Strings that are not numbers, but for the packed markers below (ledger markers)."""
        now = clock()
        self._flags = Markers(now)
        """Markers whose value is "1": claims and notice markers."""
        self._charges = Markers(now, payload=True)
        """Charge markers; the value ``result:micros`` packed as ``micros << 2 | result``
        (up to 2³⁰ micros; a dearer impression's marker goes to ``_texts``)."""
        self._records: dict[str, dict[str, str]] = {}
        self._holds: dict[str, dict[str, tuple[int, float]]] = {}
        """Per holds key: hold id → (amount, expiry)."""
        self._hold_heaps: dict[str, list[tuple[float, str]]] = {}
        """Per holds key: (expiry, hold id), a heap, so purging costs O(expired · log n)."""
        self._expiry: dict[str, float] = {}
        """Keys that expire → when; keys without an entry live until deleted."""
        self._expiry_heap: list[tuple[float, str]] = []
        """(expiry, key) for sweeping; entries whose expiry has since changed are stale."""

    # --- expiry -------------------------------------------------------------------------

    def _expire_at(self, key: str, at: float) -> None:
        self._expiry[key] = at
        heapq.heappush(self._expiry_heap, (at, key))

    def _expire_nx(self, key: str, at: float) -> None:
        if key not in self._expiry:
            self._expire_at(key, at)

    def _drop(self, key: str) -> None:
        self._counters.pop(key, None)
        self._texts.pop(key, None)
        self._holds.pop(key, None)
        self._hold_heaps.pop(key, None)
        self._records.pop(key, None)
        self._expiry.pop(key, None)

    def _live(self, key: str, now: float) -> bool:
        """Whether ``key`` has not expired; an expired one is dropped on the spot."""
        at = self._expiry.get(key)
        if at is not None and at <= now:
            self._drop(key)
            return False
        return True

    def _sweep(self, now: float, limit: int = _SWEEP_PER_CALL) -> None:
        heap = self._expiry_heap
        while heap and heap[0][0] <= now and limit > 0:
            at, key = heapq.heappop(heap)
            if self._expiry.get(key) == at:
                self._drop(key)
            limit -= 1
        if len(heap) > 2 * len(self._expiry) + 1024:  # refreshed TTLs leave stale entries
            self._expiry_heap = [(at, key) for key, at in self._expiry.items()]
            heapq.heapify(self._expiry_heap)

    def sweep(self) -> None:
        """Remove every expired key now (the calls do it a few at a time, and the markers
        go when their table next fills up)."""
        now = self._clock()
        self._sweep(now, limit=len(self._expiry_heap))
        self._flags.rebuild(now)
        self._charges.rebuild(now)

    @property
    def marker_bytes(self) -> int:
        """Bytes the packed markers take."""
        return self._flags.nbytes + self._charges.nbytes

    @property
    def size(self) -> int:
        """Keys held in memory (expired ones not yet swept included)."""
        tables = len(self._counters) + len(self._texts) + len(self._holds) + len(self._records)
        return tables + self._flags.used + self._charges.used

    def _now(self) -> float:
        now = self._clock()
        self._sweep(now)
        return now

    def _count(self, key: str, now: float) -> int:
        return self._counters.get(key, 0) if self._live(key, now) else 0

    def _text(self, key: str, now: float) -> str | None:
        text = self._texts.get(key)
        if text is not None:
            return text if self._live(key, now) else None
        if self._flags.get(key, now) is not None:
            return "1"
        packed = self._charges.get(key, now)
        return None if packed is None else f"{packed & 3}:{packed >> 2}"

    def _set_nx(self, key: str, value: str, ttl_s: float, now: float) -> bool:
        if self._text(key, now) is not None:
            return False
        if value == "1":
            return self._flags.add(key, now + ttl_s, now)
        self._texts[key] = value
        self._expire_at(key, now + ttl_s)
        return True

    # --- the contract ---------------------------------------------------------------------

    def use_epoch(self, epoch: str | None) -> None:
        self._epoch = epoch

    def _check_ledger(self, markers: Sequence[str], now: float) -> None:
        epoch = self._epoch
        for marker in set(markers):
            if epoch is None or self._text(marker, now) != epoch:
                raise LedgerLost(f"ledger marker {marker} is not epoch {epoch}")

    async def claim(self, key: str, ttl_s: int) -> bool:
        return self._set_nx(key, "1", ttl_s, self._now())

    async def claim_lower(self, key: str, rank: int, ttl_ms: int) -> bool:
        now = self._now()
        held = self._text(key, now)
        if held is not None and int(held) <= rank:
            return False
        self._texts[key] = str(rank)
        self._expire_at(key, now + ttl_ms / 1000)
        return True

    async def claim_counted(self, key: str, counter: str, limit: int, ttl_s: int) -> int:
        now = self._now()
        if self._text(key, now) is not None:
            return 0
        if self._count(counter, now) >= limit:
            return -1
        self._set_nx(key, "1", ttl_s, now)
        self._add(counter, 1, now)
        self._expire_nx(counter, now + ttl_s)
        return 1

    def _purge(self, account: AccountKeys, now: float) -> dict[str, tuple[int, float]]:
        self._live(account.holds, now)  # an account idle for days starts afresh
        holds = self._holds.setdefault(account.holds, {})
        heap = self._hold_heaps.setdefault(account.holds, [])
        while heap and heap[0][0] <= now:
            expiry, hold_id = heapq.heappop(heap)
            entry = holds.get(hold_id)
            if entry is not None and entry[1] == expiry:  # not released or settled since
                del holds[hold_id]
                self._add(account.held, -entry[0], now)
        if len(heap) > 2 * len(holds) + 1024:  # released holds linger in the heap: compact
            heap[:] = [(expiry, hold_id) for hold_id, (_, expiry) in holds.items()]
            heapq.heapify(heap)
        return holds

    def _add(self, key: str, amount: int, now: float) -> int:
        value = self._count(key, now) + amount
        self._counters[key] = value
        return value

    async def reserve(self, holds: Sequence[Hold]) -> list[bool]:
        now = self._now()
        self._check_ledger([hold.account.ledger for hold in holds], now)
        placed = []
        for hold in holds:
            account = hold.account
            current = self._purge(account, now)
            spend = self._count(account.spend, now)
            held = self._count(account.held, now)
            ok = (
                spend + held + hold.amount_micros <= hold.budget_micros
                and hold.hold_id not in current
            )
            if ok:
                expiry = now + hold.ttl_ms / 1000
                current[hold.hold_id] = (hold.amount_micros, expiry)
                heapq.heappush(self._hold_heaps[account.holds], (expiry, hold.hold_id))
                self._add(account.held, hold.amount_micros, now)
                for key in (account.held, account.holds):
                    self._expire_at(key, now + SPEND_KEY_TTL_S)
            placed.append(ok)
        return placed

    async def release(self, holds: Sequence[tuple[AccountKeys, str]]) -> None:
        now = self._now()
        for account, hold_id in holds:
            current = self._holds.get(account.holds) if self._live(account.holds, now) else None
            entry = current.pop(hold_id, None) if current is not None else None
            if entry is not None:
                self._add(account.held, -entry[0], now)

    async def settle(self, charge: Charge) -> ChargeResult:
        now = self._now()
        account = charge.account
        self._check_ledger([account.ledger], now)
        entry = self._purge(account, now).pop(charge.hold_id, None)
        if entry is not None:
            self._add(account.held, -entry[0], now)
        first = self._set_nx(charge.notice_key, "1", charge.marker_ttl_s, now)
        if self._text(charge.charge_key, now) is not None:
            return ChargeResult(Settlement.DUPLICATE, 0, first)
        spend = self._count(account.spend, now)
        cost = charge.cost_micros
        if spend + self._count(account.held, now) + cost > charge.budget_micros:
            result, charged = Settlement.REFUSED, 0
        else:
            result = Settlement.SETTLED if entry is not None else Settlement.CHARGED_LATE
            charged = cost
            self._add(account.spend, cost, now)
            self._expire_at(account.spend, now + SPEND_KEY_TTL_S)
        packed = charged << 2 | int(result)
        if packed <= MAX_VALUE:
            self._charges.add(charge.charge_key, now + charge.marker_ttl_s, now, packed)
        else:
            self._set_nx(charge.charge_key, f"{int(result)}:{charged}", charge.marker_ttl_s, now)
        for key, ttl_s in charge.caps:
            self._add(key, 1, now)
            self._expire_nx(key, now + ttl_s)
        return ChargeResult(result, charged, first)

    async def incr_many(self, items: Sequence[tuple[str, int]]) -> None:
        await self.add_many([(key, 1, ttl_s) for key, ttl_s in items])

    async def add_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        now = self._now()
        for key, amount, ttl_s in items:
            self._add(key, amount, now)
            self._expire_nx(key, now + ttl_s)  # the window starts at the first count

    async def put_many(self, items: Sequence[tuple[str, int, int]]) -> None:
        now = self._now()
        for key, value, ttl_s in items:
            self._counters[key] = value
            self._expire_at(key, now + ttl_s)

    async def put_texts(self, items: Sequence[tuple[str, str, int]]) -> None:
        now = self._now()
        for key, text, ttl_s in items:
            self._texts[key] = text
            self._expire_at(key, now + ttl_s)

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        now = self._now()
        return [self._count(key, now) for key in keys]

    async def read_texts(self, keys: Sequence[str]) -> list[str | None]:
        now = self._now()
        return [self._text(key, now) for key in keys]

    async def read_record(self, key: str, fields: Sequence[str] | None = None) -> Mapping[str, str]:
        return self._record(key, fields, self._now())

    def _record(self, key: str, fields: Sequence[str] | None, now: float) -> Mapping[str, str]:
        record = self._records.get(key, {}) if self._live(key, now) else {}
        if fields is None:
            return dict(record)
        return {f: record[f] for f in fields if f in record}

    async def read_counts_and_record(
        self, keys: Sequence[str], record_key: str
    ) -> tuple[list[int], Mapping[str, str]]:
        now = self._now()
        return [self._count(key, now) for key in keys], self._record(record_key, None, now)

    async def write_profile(self, write: ProfileWrite) -> None:
        now = self._now()
        self._live(write.key, now)  # an expired record is dropped first
        if write.key not in self._records and len(self._records) >= self._max_records:
            self.records_refused += 1  # a month of profiles must not outgrow the process
            return
        record = self._records.setdefault(write.key, {})
        apply_write(record, write)
        self._expire_at(write.key, now + write.ttl_s)

    async def put_versioned(self, key: str, field: str, value: str) -> int:
        record = self._records.setdefault(key, {})
        version = int(record.get("version", "0")) + 1
        record["version"] = str(version)
        record[field] = f"[{version},{value}]"
        return version

    async def register_campaign(
        self, record_key: str, marker_key: str, campaign_id: str, epoch: str
    ) -> None:
        now = self._now()
        if self._text(marker_key, now) is None:
            self._texts[marker_key] = epoch
        self._records.setdefault(record_key, {}).setdefault(f"campaign:{campaign_id}", "1")

    async def create_record(self, key: str, fields: Mapping[str, str]) -> Mapping[str, str]:
        record = self._records.setdefault(key, {})
        if "epoch" not in record:
            record.update(fields)
        return dict(record)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        for table in (self._counters, self._texts, self._records, self._holds):
            table.clear()
        self._flags.clear()
        self._charges.clear()
        self._hold_heaps.clear()
        self._expiry.clear()
        self._expiry_heap.clear()
