"""uvicorn's httptools protocol with the bounds it lacks (``rtb serve`` runs this one).

httptools (llhttp) buffers a header of any size, uvicorn waits for headers and bodies
forever, and it closes at once after an answer with ``connection: close``. So, while parsing:

- the bytes of an unfinished head are counted as they arrive: past ``max_header_bytes`` the
  request gets 431 after about one read beyond the limit, before megabytes are buffered;
  the number of header fields is checked when the head is complete (431);
- one timer per connection bounds the head (``header_timeout_s`` from a new connection or
  from a request's first byte) and then the body (``body_timeout_s``), however slowly
  either trickles in: 408. A connection that never sends a byte is closed silently;
- a request that is not HTTP gets 400 naming the parser's complaint (counted, not logged:
  garbage must not flood the log);
- an answer sent before its request was fully received (413 on a declared length, 431, 408,
  a 503) carries ``connection: close``, and the server then shuts its write side and
  discards what the client still sends, up to ``drain_max_bytes`` for ``drain_timeout_s``,
  before it closes. Closing at once would leave the client's bytes unread, the kernel would
  answer with a reset, and a reset makes the client's kernel drop the answer unread.

Timers are armed only when a head or a body spans several reads: a request that arrives in
one read (an auction request does) costs two counters and no timer.
"""

import asyncio
import time
from typing import Any, Final, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.errors import JSON, error_body
from app.http_limits import limits_in, stamp_arrival

_JSON_TYPE: Final = b"content-type: " + JSON.encode() + b"\r\n"
_CLOSE: Final = b"connection: close\r\n"


class _Refusal(Exception):
    """A request the protocol answers itself; raised inside a parser callback to stop it."""

    def __init__(self, status: int, field: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.reason = reason


class _LingeringTransport(asyncio.Transport):
    """What a request's cycle writes to until its request is fully received: uvicorn closes
    after a ``connection: close`` answer, and here that close is the graceful one."""

    def __init__(self, protocol: "BoundedHttpToolsProtocol", transport: asyncio.Transport):
        super().__init__()
        self._protocol = protocol
        self._transport = transport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def close(self) -> None:
        self._protocol.linger()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with header, timing and draining bounds (``HttpLimits``)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits_in(app_state)
        self.lingering = False
        """The answer is out and the write side shut: what arrives now is discarded."""
        self._in_body = False
        self._head_bytes = 0
        self._drained = 0
        self._keep_alive = False
        """What the client asked for; granted once its request is fully received."""
        self._timer: asyncio.TimerHandle | None = None
        self._cycle_transport: asyncio.Transport | None = None
        self._arrived_at = 0.0
        """Monotonic time the current request's first bytes were read."""

    # -- connection -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._cycle_transport = _LingeringTransport(self, transport)
        self._timer = self.loop.call_later(self.limits.header_timeout_s, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._drain(len(data))
            return
        self._unset_keepalive_if_required()
        if not self._in_body:
            if not self._head_bytes:  # a new request begins
                self._arrived_at = time.monotonic()
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:  # a callback's refusal, or not HTTP
            if isinstance(exc.__context__, _Refusal):
                self._refuse(exc.__context__)
            else:
                self._refuse(_Refusal(400, "request", f"invalid HTTP: {exc}", "invalid_http"))
            return
        except httptools.HttpParserUpgrade:  # as uvicorn does (``ws="none"``: a warning)
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_body:
            if self._timer is None:
                self._arm(self.limits.body_timeout_s)
        elif self._head_bytes:  # a head begun, not finished
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(self._head_too_large())
            elif self._timer is None:
                self._arm(self.limits.header_timeout_s)

    # -- parser callbacks -----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            raise _Refusal(
                431, "headers", f"more than {limits.max_headers} header fields", "too_many_headers"
            )
        if self._head_bytes > limits.max_header_bytes and self._head_size() > (
            limits.max_header_bytes
        ):
            raise self._head_too_large()
        self._in_body = True
        self._head_bytes = 0
        self._disarm()
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:
            stamp_arrival(cast("dict[str, Any]", cycle.scope), self._arrived_at)
        if cycle is not previous and self._cycle_transport is not None:
            # Until the body is in, an answer closes the connection, gracefully.
            self._keep_alive = cycle.keep_alive
            cycle.keep_alive = False
            cycle.transport = self._cycle_transport

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.keep_alive = self._keep_alive
            cycle.transport = self.transport
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self.lingering:  # no keep-alive timer, no pipelined request: the drain decides
            self.server_state.total_requests += 1
            return
        super().on_response_complete()

    # -- bounds ---------------------------------------------------------------------------

    def _head_size(self) -> int:
        """Bytes of the request line and headers (the byte count can include a body)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _head_too_large(self) -> _Refusal:
        limit = self.limits.max_header_bytes
        return _Refusal(
            431,
            "headers",
            f"request line and headers larger than {limit} bytes",
            "header_too_large",
        )

    def _arm(self, delay_s: float) -> None:
        self._timer = self.loop.call_later(delay_s, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        limits = self.limits
        if self._in_body:
            cycle = self.cycle
            if cycle.response_started:  # answering while the body trickles: just end it
                limits.refused("body_timeout")
                self.transport.close()
                return
            cycle.disconnected = True  # the handler waiting for the body gets a disconnect
            cycle.message_event.set()
            self._refuse(
                _Refusal(
                    408, "body", f"not received within {limits.body_timeout_s} s", "body_timeout"
                )
            )
        elif self._head_bytes:
            self._refuse(
                _Refusal(
                    408,
                    "headers",
                    f"not received within {limits.header_timeout_s} s",
                    "header_timeout",
                )
            )
        else:  # a new connection that never sent a byte
            self.transport.close()

    def _refuse(self, refusal: _Refusal) -> None:
        """Answer ``refusal`` and close gracefully; when an earlier answer on this
        connection is still being written, close without one (pipelined attack)."""
        self.limits.refused(refusal.reason)
        cycle = self.cycle
        busy = bool(self.pipeline) or (
            cycle is not None and not (cycle.response_complete or cycle.disconnected)
        )
        if busy or self.transport.is_closing():
            self.transport.close()
            return
        body = error_body(refusal.field, refusal.message)
        head = [STATUS_LINE[refusal.status]]
        for name, value in self.server_state.default_headers:
            head.extend((name, b": ", value, b"\r\n"))
        head.extend((_JSON_TYPE, b"content-length: %d\r\n" % len(body), _CLOSE, b"\r\n", body))
        self.transport.write(b"".join(head))
        self.linger()

    def linger(self) -> None:
        """Close after the answer without resetting the client: shut the write side (the
        client sees the end of the answer), discard what still arrives, then close."""
        if self.lingering:
            return
        self.lingering = True
        self._disarm()
        transport = self.transport
        if transport.is_closing():
            return
        if not transport.can_write_eof():  # TLS: no half-close
            transport.close()
            return
        transport.write_eof()
        self.flow.resume_reading()
        self._timer = self.loop.call_later(self.limits.drain_timeout_s, transport.close)

    def _drain(self, size: int) -> None:
        self._drained += size
        if self._drained > self.limits.drain_max_bytes:
            self.limits.refused("drain_exceeded")
            self.transport.close()
