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

Event fields are flat strings (Redis stream entries are string maps): the writer's callers
pass ids, codes and integer micros; never personal data.
"""

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from redis.exceptions import ResponseError

from budget.redis_store import REDIS_ERRORS, RedisClient, as_text, open_client, ready
from budget.store import StoreUnavailable

Event = Mapping[str, str]


class EventStream(Protocol):
    """Append batches of events; read them back through a consumer group."""

    async def append(self, events: Sequence[Event]) -> None:
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

    async def append(self, events: Sequence[Event]) -> None:
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


class MemoryEventStream:
    """EventStream in one process's memory (capped like the Redis one)."""

    def __init__(self, max_len: int = 100_000) -> None:
        self._entries: list[tuple[str, Event]] = []
        self._max_len = max_len
        self._next = 0
        self._cursors: dict[str, int] = {}

    async def append(self, events: Sequence[Event]) -> None:
        for event in events:
            self._next += 1
            self._entries.append((f"{self._next}-0", dict(event)))
        overflow = len(self._entries) - self._max_len
        if overflow > 0:
            del self._entries[:overflow]

    async def read(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        cursor = self._cursors.get(group, 0)
        fresh = [(i, e) for i, e in self._entries if int(i.split("-")[0]) > cursor][:count]
        if fresh:
            self._cursors[group] = int(fresh[-1][0].split("-")[0])
        return fresh

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        return None

    async def read_pending(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        return []  # delivery is not tracked in memory: nothing is ever pending
