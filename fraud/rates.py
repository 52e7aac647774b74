"""Requests per IP and per device over a sliding window, shared by every process
(no-bid reason 4, suspected non-human traffic).

A store round trip per request would cost more than the whole screen, so the hot path only
counts in memory (``seen``) and compares against the fleet's counts as last read; every
``flush_s`` a background task adds the local counts to the store (``add_many``: one key
per subject and window bucket, expiring after two windows) and reads back the fleet's
totals of the current and the previous bucket for the subjects it flushed (``read_many``).
The window is the usual sliding-window counter: previous bucket × the part of it still in
the window + current bucket. So a subject over its limit on the fleet as a whole is caught
within one flush interval, one that floods a single process at once.

Subjects are keyed by a 64-bit HMAC under the exchange's shared secret: no raw IP or
device id is written to the store. A store that does not answer costs the flush only:
the local counts still catch what one process sees.
"""

import asyncio
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

log = structlog.get_logger("fraud.rates")

_KEY_BYTES: Final = 8
DEFAULT_MAX_SUBJECTS: Final = 100_000
"""Subjects counted between two flushes at most (memory and flush size stay bounded)."""


class WindowStore(Protocol):
    """The counter-store primitives the rates need (``budget`` satisfies it)."""

    async def add_many(self, items: Sequence[tuple[str, int, int]]) -> None: ...

    async def read_many(self, keys: Sequence[str]) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests allowed per window, per kind of subject (``ip``, ``device``)."""

    window_s: int
    per_kind: Mapping[str, int]


class RateWatch:
    """Counts requests per subject; says which subjects are over their limit."""

    def __init__(
        self,
        limits: RateLimits,
        secret: bytes,
        *,
        prefix: str = "rtb:",
        namespace: str = "ivt",
        store: WindowStore | None = None,
        clock: Callable[[], float] = time.time,
        max_subjects: int = DEFAULT_MAX_SUBJECTS,
    ) -> None:
        self._limits = limits
        self._secret = secret
        self._prefix = f"{prefix}{namespace}:"
        self._store = store
        self._clock = clock
        self._max_subjects = max_subjects
        self._pending: dict[tuple[str, str], int] = {}
        """Counts of this process not yet added to the store, by (kind, raw subject): the
        raw IP or device id stays in this process; the store sees ``subject_key`` only."""
        self._pending_bucket = self._bucket(clock())
        self._fleet: dict[tuple[str, str], tuple[int, int, int]] = {}
        """(bucket, fleet count of that bucket, of the one before), as last read."""
        self._rolled: list[tuple[int, dict[tuple[str, str], int]]] = []
        """Counts of earlier buckets not yet flushed (a bucket ended between two flushes)."""
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        """Ends the flush loop even when a cancellation was absorbed by a store call."""
        self.dropped = 0
        """Subjects not counted because ``max_subjects`` were already pending."""

    def _bucket(self, now: float) -> int:
        return int(now // self._limits.window_s)

    def subject_key(self, raw: str) -> str:
        """The opaque key of an IP or device id."""
        return hmac.digest(self._secret, raw.encode(), "sha256")[:_KEY_BYTES].hex()

    def seen(self, kind: str, raw: str) -> int | None:
        """Count one request of ``raw`` (an IP, a device id); its estimated requests in the
        window when that is over the kind's limit, else None."""
        return self._count(kind, raw, over_counts=True)

    def take(self, kind: str, raw: str) -> int | None:
        """As ``seen``, but a request over the limit is not counted: a limiter, under which
        a client sending more than its rate still gets its rate through."""
        return self._count(kind, raw, over_counts=False)

    def _count(self, kind: str, raw: str, *, over_counts: bool) -> int | None:
        limit = self._limits.per_kind.get(kind)
        if limit is None:
            return None
        now = self._clock()
        bucket = self._bucket(now)
        if bucket != self._pending_bucket:
            self._roll(bucket)
        key = (kind, raw)  # hashed only when flushed: no HMAC on the hot path
        count = self._pending.get(key, 0) + 1
        estimate = self._estimate(key, bucket, now, count)
        if estimate > limit and not over_counts:
            return estimate
        if count == 1 and len(self._pending) >= self._max_subjects:
            self.dropped += 1
            estimate -= 1
        else:
            self._pending[key] = count
        return estimate if estimate > limit else None

    def _estimate(self, key: tuple[str, str], bucket: int, now: float, local: int) -> int:
        fleet = self._fleet.get(key)
        current = previous = 0
        if fleet is not None:
            read_bucket, current, previous = fleet
            if read_bucket == bucket - 1:  # read in the bucket before: it is "previous" now
                current, previous = 0, current
            elif read_bucket != bucket:
                current = previous = 0
        window = self._limits.window_s
        left = 1.0 - (now - bucket * window) / window
        return int(previous * left) + current + local

    def _roll(self, bucket: int) -> None:
        """A new bucket began with counts not yet flushed: fold them into what is known, so
        the previous bucket still weighs in until the next flush."""
        old = self._pending_bucket
        for key, count in self._pending.items():
            fleet = self._fleet.get(key)
            current = fleet[1] if fleet is not None and fleet[0] == old else 0
            previous = fleet[2] if fleet is not None and fleet[0] == old else 0
            self._fleet[key] = (old, current + count, previous)
        if self._pending:
            self._rolled.append((old, self._pending))
        self._pending = {}
        self._pending_bucket = bucket

    async def flush(self) -> None:
        """Add the local counts to the store and read the fleet's totals back."""
        pending, bucket = self._pending, self._pending_bucket
        batches = [*self._rolled, (bucket, pending)]
        self._rolled = []
        self._pending = {}
        if self._store is None or not any(counts for _, counts in batches):
            return
        ttl_s = 2 * self._limits.window_s + 1
        adds = [
            (self._key(kind, b, raw), count, ttl_s)
            for b, counts in batches
            for (kind, raw), count in counts.items()
        ]
        subjects = list(pending)
        reads = [self._key(kind, bucket, raw) for kind, raw in subjects]
        reads += [self._key(kind, bucket - 1, raw) for kind, raw in subjects]
        try:
            await self._store.add_many(adds)
            totals = await self._store.read_many(reads) if subjects else []
        except RuntimeError as exc:  # StoreUnavailable: local counts still work
            log.debug("ivt_rates_flush_failed", error=str(exc))
            return
        half = len(subjects)
        self._fleet = {
            subject: (bucket, totals[i], totals[half + i]) for i, subject in enumerate(subjects)
        }

    def _key(self, kind: str, bucket: int, raw: str) -> str:
        return f"{self._prefix}{kind}:{bucket}:{self.subject_key(raw)}"

    def start(self, flush_s: float) -> None:
        """Flush every ``flush_s`` seconds in the background until ``aclose`` (without a
        store a flush only starts a new interval, which keeps the local counts bounded)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(flush_s))

    async def _run(self, flush_s: float) -> None:
        while not self._closing:
            await asyncio.sleep(flush_s)
            try:
                await self.flush()
            except Exception as exc:  # the screen goes on with local counts
                log.warning("ivt_rates_flush_error", error=repr(exc))

    async def aclose(self) -> None:
        """Stop flushing; the last counts go to the store."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            await self.flush()
