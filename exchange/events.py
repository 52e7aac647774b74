"""Where auction, notice and tracking events go: a batched writer onto the event stream.

``emit`` only appends to an in-memory queue (no I/O on the request path); a background task
flushes batches to the stream (Redis Streams, or in memory) every ``interval_s`` or when a
batch is full. If the stream is down the batch is kept and retried, up to the queue's bound;
beyond it new events are dropped and counted (``rtb_events_dropped_total``). Shutdown
flushes everything queued, so nothing accepted is lost.

Events carry ids, codes and integer micros, never personal data (no IP, user id, device id,
user agent).
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from budget.store import StoreUnavailable
from budget.stream import EventStream, FieldValue, NewEvent
from exchange.metrics import Metrics

log = structlog.get_logger("exchange.events")


class EventSink(Protocol):
    """Accepts one event; must not block the caller on I/O."""

    def emit(self, kind: str, **fields: Any) -> None: ...


def _flat(kind: str, fields: dict[str, Any]) -> NewEvent:
    """The event's fields as the stream takes them: missing ones left out, texts and numbers
    as they are (no conversion per field on the request path), anything else as text."""
    event: dict[str, FieldValue] = {"kind": kind, "ts_ms": int(time.time() * 1000)}
    for name, value in fields.items():
        kind_of = type(value)
        if kind_of is str or kind_of is int or kind_of is float:
            event[name] = value
        elif value is not None:
            event[name] = str(value)  # bools (Redis refuses them), enums, anything else
    return event


class StreamEventSink:
    """Batches events onto an EventStream from one background task."""

    def __init__(
        self,
        stream: EventStream,
        metrics: Metrics,
        *,
        max_queued: int = 100_000,
        batch_size: int = 500,
        interval_s: float = 0.05,
    ) -> None:
        self._stream = stream
        self._metrics = metrics
        self._queue: deque[NewEvent] = deque()
        self._max_queued = max_queued
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())
        self._listeners: list[Callable[[str, Mapping[str, Any]], None]] = []

    def listen(self, listener: Callable[[str, Mapping[str, Any]], None]) -> None:
        """Call ``listener(kind, fields)`` for every event emitted from now on, before it is
        queued (``exchange.canary_watch`` counts notices and clicks this way); it must be
        quick and must not raise."""
        self._listeners.append(listener)

    def emit(self, kind: str, **fields: Any) -> None:
        for listener in self._listeners:
            try:
                listener(kind, fields)
            except Exception as exc:  # a listener's bug must not fail a notice or an auction
                log.error("event_listener_failed", event=kind, error=repr(exc))
        if len(self._queue) >= self._max_queued:
            self._metrics.events_dropped.inc()
            return
        self._queue.append(_flat(kind, fields))
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    @property
    def queued(self) -> int:
        """Events accepted and not yet written."""
        return len(self._queue)

    async def _flush(self) -> bool:
        """Write queued events in batches; False when the stream failed (they stay queued)."""
        while self._queue:
            batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
            try:
                await self._stream.append(batch)
            except StoreUnavailable as exc:
                log.warning("event_stream_unavailable", error=str(exc), queued=len(self._queue))
                return False
            for _ in batch:
                self._queue.popleft()
            self._metrics.events_written.inc(len(batch))
        return True

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            self._wake.clear()
            if not await self._flush():
                await asyncio.sleep(min(1.0, self._interval_s * 10))

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop the background task, then write what is queued (bounded by ``timeout_s``)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                for _attempt in range(int(timeout_s * 10) + 1):
                    if await self._flush():
                        break
                    await asyncio.sleep(0.1)
        if self._queue:
            log.error("events_lost_at_shutdown", count=len(self._queue))


class LogEventSink:
    """Writes each event as one structured log line (when no event stream is configured)."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("events")

    def emit(self, kind: str, **fields: Any) -> None:
        self._log.info(kind, **fields)
