"""The event stream: every auction, win, billing, loss, click and conversion.

A Redis Stream (``XADD`` with an approximate ``MAXLEN`` cap) shared by every exchange
process, read by consumer groups (the exporter that feeds training). Writers batch: events
are queued in memory and flushed in one pipelined round trip, off the request path. An
in-memory stream with the same interface serves the single-process demo and tests.

On a Redis Cluster one stream key would put every event of the fleet on one node, so the
stream may be sharded: several keys (``KeySpace.events``) whose hash tags place them on
different nodes. Each batch goes to one shard, the next batch to the next (each process
starts at a random one), so a flush stays one round trip to one node and the shards fill
evenly. A shard keeps its events in order; across shards the order is the events' own
time (``ts_ms``), which is how ``rtb export`` merges them.

Event fields are flat (Redis stream entries are string maps): writers pass ids, codes and
integer micros as they are, readers get strings; never personal data.
"""

import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from redis.exceptions import ResponseError

from budget.redis_store import REDIS_ERRORS, RedisClient, as_text, open_client, ready
from budget.store import StoreUnavailable

Event = Mapping[str, str]
"""An event as readers get it back: every field a string."""
FieldValue = str | int | float
NewEvent = Mapping[str, FieldValue]
"""An event as a writer appends it: texts and numbers as they are (Redis encodes numbers
itself; the in-memory ring turns them into the same strings), so the request path builds
events without converting every field."""


def _as_read(event: NewEvent) -> dict[str, str]:
    """The event as Redis would give it back: each number as its ``repr``."""
    return {name: value if type(value) is str else str(value) for name, value in event.items()}


class EventStream(Protocol):
    """Append batches of events; read them back through a consumer group."""

    async def append(self, events: Sequence[NewEvent]) -> None:
        """Append ``events`` in order (one round trip)."""
        ...

    async def read(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        """Up to ``count`` new entries for ``group`` (created at the start if missing); an
        empty list only when there is nothing new at all."""
        ...

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        """Mark entries of ``group`` as processed."""
        ...

    async def read_pending(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        """Entries ``consumer`` was given earlier and never acknowledged (it died before it
        could), up to ``count`` at a time: each call continues after the last one; an empty
        list when none are left."""
        ...


class RedisEventStream:
    """EventStream on one Redis Stream, or on several (shards) read as one."""

    def __init__(self, client: RedisClient, key: str | Sequence[str], max_len: int) -> None:
        self._client = client
        self._keys = (key,) if isinstance(key, str) else tuple(key)
        if not self._keys:
            raise ValueError("an event stream needs at least one key")
        self._max_len = -(-max_len // len(self._keys))
        """``max_len`` is the cap of the whole stream: each shard keeps its part of it."""
        self._next = random.randrange(len(self._keys))
        """The shard the next batch goes to."""
        self._reading = 0
        """The shard reads start at: the last one that had new entries."""
        self._groups: set[tuple[str, str]] = set()
        self._pending_after: dict[tuple[str, str, int], str | None] = {}
        """Per (group, consumer, shard): the last pending id read (None: all read)."""

    @classmethod
    def from_url(
        cls,
        url: str,
        key: str | Sequence[str],
        max_len: int,
        timeout_s: float = 1.0,
        *,
        cluster: bool = False,
    ) -> "RedisEventStream":
        """A stream with a client of its own (batched writes tolerate a longer timeout than
        the hot-path counters); ``cluster``: ``url`` is a node of a Redis Cluster."""
        return cls(open_client(url, cluster=cluster, timeout_s=timeout_s), key, max_len)

    @property
    def keys(self) -> tuple[str, ...]:
        """The stream's keys, one per shard."""
        return self._keys

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()

    async def append(self, events: Sequence[NewEvent]) -> None:
        if not events:
            return
        key = self._keys[self._next]
        self._next = (self._next + 1) % len(self._keys)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for event in events:
                    fields: dict[Any, Any] = dict(event)
                    pipe.xadd(key, fields, maxlen=self._max_len, approximate=True)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def _ensure_group(self, key: str, group: str) -> None:
        if (key, group) in self._groups:
            return
        try:
            await self._client.xgroup_create(key, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((key, group))

    async def read(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        """New entries of one shard: the one read last if it has more, else the next with
        any (the group is created on every shard it reads). With several shards an entry's
        id names its shard too (``<shard>/<id>``), for ``ack``."""
        shards = len(self._keys)
        for step in range(shards):
            shard = (self._reading + step) % shards
            entries = await self._read_shard(shard, group, consumer, count)
            if entries:
                self._reading = shard
                return entries
        return []

    async def _read_shard(
        self, shard: int, group: str, consumer: str, count: int, *, after: str = ">"
    ) -> list[tuple[str, Event]]:
        """New entries (``after`` ">"), or the consumer's own pending ones after an id."""
        key = self._keys[shard]
        try:
            await ready(self._client)
            await self._ensure_group(key, group)
            answer: Any = await self._client.xreadgroup(group, consumer, {key: after}, count=count)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        qualify = len(self._keys) > 1
        entries: list[tuple[str, Event]] = []
        for _, rows in answer or ():
            for entry_id, fields in rows:
                text_id = as_text(entry_id)
                entries.append(
                    (
                        f"{shard}/{text_id}" if qualify else text_id,
                        {as_text(k): as_text(v) for k, v in fields.items()},
                    )
                )
        return entries

    async def read_pending(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        for shard in range(len(self._keys)):
            cursor = self._pending_after.get((group, consumer, shard), "0")
            if cursor is None:
                continue  # this shard's pending entries were all read
            entries = await self._read_shard(shard, group, consumer, count, after=cursor)
            last = entries[-1][0].rpartition("/")[2] if entries else None
            self._pending_after[group, consumer, shard] = last
            if entries:
                return entries
        return []

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        by_shard: dict[int, list[str]] = {}
        for entry in ids:
            named, _, entry_id = entry.rpartition("/")
            by_shard.setdefault(int(named or 0), []).append(entry_id)
        try:
            for shard, entry_ids in by_shard.items():
                await self._client.xack(self._keys[shard], group, *entry_ids)
        except REDIS_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc


DEFAULT_MEMORY_MAX_LEN: Final = 10_000
"""Events the in-memory stream keeps by default: enough to look at the last few thousand
auctions; nothing reads it across processes, and every kept event is heap the garbage
collector walks (app.settings ``events_memory_max_len``)."""


@dataclass(slots=True)
class _Group:
    """A consumer group of the in-memory stream: where it is, what it has not acknowledged."""

    delivered: int
    """Sequence number of the last entry delivered to the group."""
    pending: dict[str, OrderedDict[int, None]] = field(default_factory=dict)
    """Per consumer, the entries delivered to it and not acknowledged, oldest first."""
    pending_after: dict[str, int | None] = field(default_factory=dict)
    """Per consumer, the last pending entry ``read_pending`` returned (None: all read)."""
    dropped: int = 0


class MemoryEventStream:
    """EventStream in one process's memory: a ring of the last ``max_len`` events.

    Consumer groups behave as on Redis: ``read`` delivers each entry once per group and keeps
    it pending for its consumer until ``ack``; ``read_pending`` gives a consumer the entries
    it never acknowledged. An entry that falls off the ring before its group read it, or
    while it is still pending, is gone for that group: it is never returned, and it counts
    in ``dropped`` (per group, and in total) where Redis would skip it without a word. Only
    groups that exist count: an event trimmed before any group was created is not a drop.
    Memory is the ring plus, per group, at most one pending mark per entry in the ring.
    """

    def __init__(self, max_len: int = DEFAULT_MEMORY_MAX_LEN) -> None:
        if max_len <= 0:
            raise ValueError("an in-memory event stream needs max_len > 0")
        self._slots: list[Event | None] = [None] * max_len
        """Entry ``seq`` (ids ``<seq>-0``, from 1) is at ``seq % max_len`` while it is kept."""
        self._last = 0
        """Sequence number of the newest entry (0: none yet)."""
        self._groups: dict[str, _Group] = {}
        self.dropped = 0
        """Entries that fell off the ring unread by a group or unacknowledged, all groups."""

    @property
    def max_len(self) -> int:
        return len(self._slots)

    @property
    def _first(self) -> int:
        """Sequence number of the oldest entry kept (``_last + 1`` when none is)."""
        return max(1, self._last - len(self._slots) + 1)

    def __len__(self) -> int:
        return self._last - self._first + 1

    def dropped_by(self, group: str) -> int:
        """Entries ``group`` lost to the ring (never delivered, or pending when trimmed)."""
        found = self._groups.get(group)
        return found.dropped if found is not None else 0

    async def append(self, events: Sequence[NewEvent]) -> None:
        size = len(self._slots)
        for event in events:
            self._last += 1
            self._slots[self._last % size] = _as_read(event)
        if self._groups and events:
            self._trim_groups()

    def _trim_groups(self) -> None:
        """Count and forget, per group, what fell off the ring since the last append."""
        first = self._first
        for group in self._groups.values():
            lost = 0
            if group.delivered < first - 1:
                lost += first - 1 - group.delivered
                group.delivered = first - 1
            for marks in group.pending.values():
                while marks and next(iter(marks)) < first:
                    marks.popitem(last=False)
                    lost += 1
            group.dropped += lost
            self.dropped += lost

    def _group(self, name: str) -> _Group:
        """The group, created at the oldest entry kept when missing (Redis: id ``0``)."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _Group(delivered=self._first - 1)
        return group

    def _entry(self, seq: int) -> tuple[str, Event]:
        event = self._slots[seq % len(self._slots)]
        assert event is not None
        return f"{seq}-0", event

    async def read(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        found = self._group(group)
        start = found.delivered + 1
        stop = min(start + max(0, count), self._last + 1)
        if start >= stop:
            return []
        marks = found.pending.setdefault(consumer, OrderedDict())
        for seq in range(start, stop):
            marks[seq] = None
        found.delivered = stop - 1
        return [self._entry(seq) for seq in range(start, stop)]

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        found = self._groups.get(group)
        if found is None:
            return
        for entry_id in ids:
            seq = _sequence(entry_id)
            if seq is None:
                continue
            for marks in found.pending.values():
                if seq in marks:
                    del marks[seq]
                    break

    async def read_pending(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        found = self._group(group)
        after = found.pending_after.get(consumer, 0)
        if after is None:
            return []  # this consumer's pending entries were all read (as on Redis)
        seqs: list[int] = []
        for seq in found.pending.get(consumer, ()):
            if len(seqs) >= count:
                break
            if seq > after:
                seqs.append(seq)
        found.pending_after[consumer] = seqs[-1] if seqs else None
        return [self._entry(seq) for seq in seqs]


def _sequence(entry_id: str) -> int | None:
    """The sequence number of an in-memory entry id (``<seq>-0``); None if not one."""
    head, _, tail = entry_id.partition("-")
    if not head.isdigit() or tail != "0":
        return None
    return int(head)
