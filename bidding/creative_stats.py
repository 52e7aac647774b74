"""Creative impression and click counts, shared by every exchange process through the
counter store, read on the hot path from a local copy.

Thompson sampling (``bidding.exploration``) needs every candidate creative's impressions and
clicks inside the router's few milliseconds, where no I/O may happen, and it needs the
fleet's counts, not one process's. So the counts live in the counter store (one ``INCR``
per billed impression and per click, under the campaign's hash tag ``{c:<id>}`` so Redis
Cluster keeps them on the campaign's shard) and each process keeps a copy: ``snapshot``
answers from it synchronously, ``refresh`` re-reads every known creative in one round
trip, and ``run`` keeps refreshing in the background. A count is at most one refresh
interval stale — sampling does not mind; a creative not seen before counts zero (its prior
alone) until the next refresh fetches it. The background refresh reads in slices of
``refresh_batch`` creatives: packing and parsing a pipeline costs the event loop about
20 µs per key with redis-py (measured: 80 ms for 1,000 creatives at once), and one long
stall would land in some auction's latency; small slices spread it out.

Counts are a sliding window rather than a lifetime: one counter per creative, kind and
period (``period_s``, a week by default), summed over the last ``periods`` (2) — one to two
weeks of history. A creative whose appeal changes is relearned, and old keys expire on
their own.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final, Literal, Protocol

import structlog

from bidding.exploration import Counts

__all__ = ["DEFAULT_PERIOD_S", "CountingStore", "KeyPrefix", "StoreCreativeStats"]

log = structlog.get_logger("bidding.creative_stats")

DEFAULT_PERIOD_S: Final = 7 * 24 * 3600
_EXPIRY_MARGIN_S: Final = 3600
"""Counters outlive the window they are summed in by this much (clock skew between hosts)."""

Pair = tuple[str, str]
"""(campaign id, creative id)."""
_Kind = Literal["imp", "click"]
_KINDS: Final[tuple[_Kind, ...]] = ("imp", "click")


class CountingStore(Protocol):
    """The two counter-store calls these counts need (``budget.store.CounterStore`` has them;
    its errors, ``StoreUnavailable``, pass through)."""

    async def incr_many(self, items: Sequence[tuple[str, int]]) -> None:
        """Add one to each key, which expires ``ttl_s`` after it was first counted."""
        ...

    async def read_many(self, keys: Sequence[str]) -> list[int]:
        """The integer values of ``keys`` (0 when absent), in one round trip."""
        ...


class KeyPrefix(Protocol):
    """Where the store's keys live (``budget.keys.KeySpace`` has it)."""

    @property
    def prefix(self) -> str: ...


class StoreCreativeStats:
    """``CreativeStats`` and ``EngagementRecorder`` on a counter store, with a local cache.

    One instance per process: ``await run(interval_s)`` at startup, ``snapshot`` on the hot
    path, ``record_impression``/``record_click`` from notices and click tracking,
    ``await aclose()`` at shutdown.
    """

    def __init__(
        self,
        store: CountingStore,
        keys: KeyPrefix,
        *,
        pairs: Iterable[Pair] = (),
        period_s: int = DEFAULT_PERIOD_S,
        periods: int = 2,
        refresh_batch: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if period_s <= 0 or periods < 1 or refresh_batch < 1:
            raise ValueError("period_s, periods and refresh_batch must be positive")
        self._store = store
        self._prefix = keys.prefix
        self._period_s = period_s
        self._periods = periods
        self._ttl_s = period_s * periods + _EXPIRY_MARGIN_S
        self._batch = refresh_batch
        self._clock = clock
        self._cache: dict[Pair, Counts] = {}
        self._known: dict[Pair, None] = {}
        """Every creative to refresh (a dict: an ordered set)."""
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.track(pairs)

    def key(self, campaign_id: str, creative_id: str, kind: _Kind, period: int) -> str:
        """The counter of one creative's impressions or clicks in one period."""
        return f"{self._prefix}creative:{{c:{campaign_id}}}:{creative_id}:{kind}:{period}"

    def track(self, pairs: Iterable[Pair]) -> None:
        """Refresh these creatives from now on (a router registers all it hosts at startup,
        so its first snapshot is not empty)."""
        for pair in pairs:
            self._known.setdefault(pair, None)

    def snapshot(self, keys: Sequence[Pair]) -> list[Counts]:
        """The cached counts of ``keys``, in order, without I/O; a key never fetched counts
        zero and is fetched by the next refresh."""
        cache, zero = self._cache, Counts()
        out = []
        for key in keys:
            counts = cache.get(key)
            if counts is None:
                self._known.setdefault(key, None)
                counts = zero
            out.append(counts)
        return out

    async def counts(self, keys: Sequence[Pair]) -> list[Counts]:
        """Fresh counts of ``keys`` from the store (one round trip; ``CreativeStats``).
        Raises what the store raises; ``snapshot`` is the hot path's call."""
        self.track(keys)
        fresh = await self._read(list(dict.fromkeys(keys)))
        self._cache.update(fresh)
        return [fresh[key] for key in keys]

    async def refresh(self) -> None:
        """Re-read every known creative's counts in one round trip."""
        pairs = list(self._known)
        if pairs:
            self._cache.update(await self._read(pairs))

    async def record_impression(self, campaign_id: str, creative_id: str) -> None:
        """One more impression, in the store and in this process's copy at once."""
        await self._add(campaign_id, creative_id, "imp")

    async def record_click(self, campaign_id: str, creative_id: str) -> None:
        """One more click, in the store and in this process's copy at once."""
        await self._add(campaign_id, creative_id, "click")

    async def run(self, interval_s: float) -> None:
        """Refresh now, then every ``interval_s`` in a background task until ``aclose``
        (both in slices: each read stays well within the hot-path store's timeout).

        A failed refresh is logged (once per outage) and the cache kept: stale counts are
        better than no sampling, and the store's breaker decides about bidding.
        """
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if self._task is not None:
            raise RuntimeError("already running")
        await self._refresh_logged(self._refresh_in_slices)
        self._task = asyncio.create_task(self._loop(interval_s))

    async def aclose(self) -> None:
        """Stop the background refresh."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _current_period(self) -> int:
        return int(self._clock() // self._period_s)

    async def _add(self, campaign_id: str, creative_id: str, kind: _Kind) -> None:
        key = self.key(campaign_id, creative_id, kind, self._current_period())
        await self._store.incr_many([(key, self._ttl_s)])
        pair = (campaign_id, creative_id)
        self._known.setdefault(pair, None)
        old = self._cache.get(pair, Counts())
        if kind == "imp":
            self._cache[pair] = Counts(old.impressions + 1, old.clicks)
        else:
            self._cache[pair] = Counts(old.impressions, old.clicks + 1)

    async def _read(self, pairs: Sequence[Pair]) -> dict[Pair, Counts]:
        now = self._current_period()
        window = range(now - self._periods + 1, now + 1)
        names = [
            self.key(campaign, creative, kind, period)
            for campaign, creative in pairs
            for kind in _KINDS
            for period in window
        ]
        values = await self._store.read_many(names)
        n = self._periods
        out = {}
        for i, pair in enumerate(pairs):
            start = 2 * n * i
            out[pair] = Counts(
                sum(values[start : start + n]), sum(values[start + n : start + 2 * n])
            )
        return out

    async def _refresh_in_slices(self) -> None:
        pairs = list(self._known)
        for start in range(0, len(pairs), self._batch):
            self._cache.update(await self._read(pairs[start : start + self._batch]))

    async def _refresh_logged(self, refresh: Callable[[], Awaitable[None]]) -> None:
        try:
            await refresh()
        except Exception as exc:  # the store's error type is budget's, not bidding's, to name
            if not self._failing:
                log.warning("creative_stats_refresh_failed", error=repr(exc))
            self._failing = True
        else:
            if self._failing:
                log.info("creative_stats_refresh_recovered")
            self._failing = False

    async def _loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self._refresh_logged(self._refresh_in_slices)
