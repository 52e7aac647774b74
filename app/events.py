"""Where auction and notice events go. Until the Redis Streams writer lands, a log sink.

Events carry ids and money, never personal data (no IP, user id, device id, user agent).
"""

from typing import Any, Protocol

import structlog


class EventSink(Protocol):
    """Accepts one event; must not block the caller on I/O."""

    def emit(self, kind: str, **fields: Any) -> None: ...


class LogEventSink:
    """Writes each event as one structured log line on the ``events`` logger."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("events")

    def emit(self, kind: str, **fields: Any) -> None:
        self._log.info(kind, **fields)
