"""The event stream: every auction, win, billing, loss, click and conversion, in order.

A Redis Stream (``XADD`` with an approximate ``MAXLEN`` cap) shared by every exchange
process, read by consumer groups (the exporter that feeds training). Writers batch: events
are queued in memory and flushed in one pipelined round trip, off the request path. An
in-memory stream with the same interface serves the single-process demo and tests.

Event fields are flat strings (Redis stream entries are string maps): the writer's callers
pass ids, codes and integer micros; never personal data.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from budget.store import StoreUnavailable

Event = Mapping[str, str]


class EventStream(Protocol):
    """Append batches of events; read them back through a consumer group."""

    async def append(self, events: Sequence[Event]) -> None:
        """Append ``events`` in order (one round trip)."""
        ...

    async def read(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        """Up to ``count`` new entries for ``group`` (created at the start if missing)."""
        ...

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        """Mark entries of ``group`` as processed."""
        ...


class RedisEventStream:
    """EventStream on a Redis Stream."""

    def __init__(self, client: "Redis", key: str, max_len: int) -> None:
        self._client = client
        self._key = key
        self._max_len = max_len
        self._groups: set[str] = set()

    @classmethod
    def from_url(
        cls, url: str, key: str, max_len: int, timeout_s: float = 1.0
    ) -> "RedisEventStream":
        """A stream with a client of its own (batched writes tolerate a longer timeout than
        the hot-path counters)."""
        client = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, key, max_len)

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for event in events:
                    fields: dict[Any, Any] = dict(event)
                    pipe.xadd(self._key, fields, maxlen=self._max_len, approximate=True)
                await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def _ensure_group(self, group: str) -> None:
        if group in self._groups:
            return
        try:
            await self._client.xgroup_create(self._key, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(group)

    async def read(self, group: str, consumer: str, count: int) -> list[tuple[str, Event]]:
        try:
            await self._ensure_group(group)
            answer: Any = await self._client.xreadgroup(
                group, consumer, {self._key: ">"}, count=count
            )
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        entries: list[tuple[str, Event]] = []
        for _, rows in answer or ():
            for entry_id, fields in rows:
                entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
        return entries

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        if ids:
            try:
                await self._client.xack(self._key, group, *ids)
            except RedisError as exc:
                raise StoreUnavailable(str(exc)) from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
