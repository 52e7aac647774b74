"""A lean HTTP/2 client engine behind httpx's transport interface, for the DSP fan-out.

Why it exists: stock httpx + httpcore + h2 spends several hundred µs of CPU per bidder call
(``h2``'s state machine alone costs ~120 µs per request and response here), which caps an
exchange core at a few thousand DSP calls per second. This engine keeps httpx as the client
API (``httpx.AsyncClient(transport=h2_transport())``) and does the HTTP/2 work itself, lean:

- one ``asyncio.Protocol`` per connection, many concurrent streams on it, one future per
  stream; up to ``connections_per_origin`` connections per origin, each request on the
  least-loaded one; no pool machinery, no per-request locks or tasks;
- request header blocks are HPACK-encoded without the dynamic table, so each header field's
  encoding is computed once and cached (the encoder has no state to keep in step);
- response header blocks that only reference table entries (what a server sends for a
  repeated response) are decoded once and cached until the decoder's table changes;
- frames are parsed with one ``struct`` call each; control frames produced while reading are
  written in one go.

It handles flow control both ways, SETTINGS, PING, GOAWAY (refused streams are retried once on
a fresh connection), RST_STREAM, connection loss (the affected requests fail at once with an
``httpx.TransportError``), cancellation (a cancelled request resets its stream and leaves
nothing behind), TLS with ALPN ``h2`` for ``https://`` and prior knowledge (h2c) for
``http://``. Responses report ``http_version`` ``HTTP/2``; trailers follow the header
fields in the response's headers (where gRPC's status is: ``agents.channels``).

A DSP is a peer we do not control, so nothing it sends may cost more than its own calls:

- a response body is counted as it arrives and its stream is credited only up to the
  request's limit (``BODY_LIMIT_EXTENSION``), so a peer can never push more than the limit
  plus one frame; the byte past the limit resets the stream (``BodyTooLarge``);
- a header block is capped at ``max_header_list_size`` bytes and 16 frames,
  its decoded list at the same size (advertised in SETTINGS); fragments are dropped with
  the connection when the stream ends before the block does;
- a PING goes out after a request timeout (at most one per ``ping_timeout_s`` while they
  are answered) and on a connection silent for ``idle_ping_s``; no answer within
  ``ping_timeout_s`` drops the connection;
- a violation of the protocol closes the connection (GOAWAY, every stream on it fails),
  or resets only its stream where RFC 9113 makes it a stream error; a peer that does not
  read what we answer it is dropped.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import struct
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple, cast

import hpack
import httpx
from hpack.table import HeaderTable

from exchange.read_first import call_later_after_a_read

__all__ = ["BODY_LIMIT_EXTENSION", "BodyTooLarge", "H2Transport", "RawResponse", "h2_transport"]

BODY_LIMIT_EXTENSION: Final = "max_response_bytes"
"""Request extension (an int): the most response-body bytes this request may receive."""

_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME: Final = struct.Struct(">HBBBL")
"""Frame header: 24-bit length as (high 16, low 8), type, flags, stream id (with R bit)."""
_WINDOW_FRAME: Final = struct.Struct(">HBBBLL")
"""A whole WINDOW_UPDATE frame, header and increment, in one pack."""
_U32: Final = struct.Struct(">L")
_U64: Final = struct.Struct(">Q")
_SETTING: Final = struct.Struct(">HL")

_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
_PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

_NO_ERROR, _PROTOCOL_ERROR, _FLOW_CONTROL_ERROR = 0x0, 0x1, 0x3
_FRAME_SIZE_ERROR, _REFUSED_STREAM, _CANCEL = 0x6, 0x7, 0x8
_COMPRESSION_ERROR, _ENHANCE_YOUR_CALM = 0x9, 0xB

_DEFAULT_WINDOW: Final = 65_535
_MAX_WINDOW: Final = 2**31 - 1
_MAX_STREAM_ID: Final = 2**31 - 1
_RECV_FRAME_SIZE: Final = 16_384
"""We never raise SETTINGS_MAX_FRAME_SIZE, so a larger frame from the peer is an error."""
_INITIAL_STREAM_WINDOW: Final = _RECV_FRAME_SIZE
"""Our SETTINGS_INITIAL_WINDOW_SIZE: one frame. A stream can never be credited less than
this, so it is what bounds a response to a request with a smaller body limit."""
_STREAM_RECV_WINDOW: Final = 1 << 20
"""Most a stream is credited at a time; a larger body limit is credited as the body comes."""
_CONN_RECV_WINDOW: Final = 16 << 20
_MAX_BLOCK_FRAMES: Final = 16
"""Frames (HEADERS and its CONTINUATIONs) one header block may take: a flood of empty ones
grows no buffer but would still hold the connection (no other frame may come meanwhile)."""
_MAX_UNREAD_BYTES: Final = 1 << 20
"""Our answers (PING and SETTINGS acks) a peer may leave unread before it is dropped."""
_CLOSE_GRACE_S: Final = 1.0
"""How long a closing socket may take to flush before it is aborted."""
_GROW_BACKOFF_S: Final = 1.0
"""After a failed extra connection, how long an origin's pool stays at its size."""
_CACHE_LIMIT: Final = 4096
_DECODE_CACHE_ENTRIES: Final = 64
_DECODE_CACHE_BYTES: Final = 4096
"""Largest header block, and largest decoded list, the decoder's cache keeps: a peer sending
distinct blocks cannot make it hold more than entries × (block + list) per connection."""
_CONNECTION_HEADERS: Final = frozenset(
    {b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_STATIC_FULL: Final[dict[tuple[bytes, bytes], int]] = {}
_STATIC_NAME: Final[dict[bytes, int]] = {}
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FULL.setdefault((_name, _value), _index)
    _STATIC_NAME.setdefault(_name, _index)


class BodyTooLarge(httpx.RemoteProtocolError):
    """The response body passed the request's limit; its stream was reset there."""


def h2_transport(
    *,
    verify: ssl.SSLContext | bool = True,
    connect_timeout: float | None = 5.0,
    max_header_list_size: int = 65_536,
    max_response_bytes: int = 4 << 20,
    connections_per_origin: int = 1,
    ping_timeout_s: float = 1.0,
    idle_ping_s: float | None = 30.0,
) -> H2Transport:
    """The HTTP/2 engine as an httpx transport: ``httpx.AsyncClient(transport=h2_transport())``.

    ``https://`` URLs use TLS and must negotiate ``h2`` by ALPN; ``http://`` URLs speak h2c
    with prior knowledge (the peer must accept HTTP/2 without upgrade). ``verify`` is an
    ``ssl.SSLContext`` (its ALPN protocols are set to ``h2``), True for the system's CA
    store, or False. ``connect_timeout`` applies when the request carries no httpx connect
    timeout. ``max_response_bytes`` is the body limit of requests without the
    ``BODY_LIMIT_EXTENSION``. Further connections to an origin, up to
    ``connections_per_origin``, are opened in the background while every open one is busy.
    ``idle_ping_s`` None: no PING on idle connections (timeouts still send one).
    """
    if connections_per_origin < 1 or max_response_bytes < 0 or max_header_list_size < 1:
        raise ValueError("connections_per_origin and max_header_list_size ≥ 1, a limit ≥ 0")
    limits = _Limits(max_header_list_size, max_response_bytes, ping_timeout_s, idle_ping_s)
    return H2Transport(_ssl_context(verify), connect_timeout, limits, connections_per_origin)


@dataclass(frozen=True, slots=True)
class _Limits:
    """What one connection allows its peer."""

    header_bytes: int
    """Largest header block, encoded (all its frames) and decoded (RFC 9113 list size)."""
    body_bytes: int
    """Body limit of a request that names none."""
    ping_timeout_s: float
    idle_ping_s: float | None


def _ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        context = verify
    else:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


# -- HPACK ------------------------------------------------------------------------------------


def _hpack_int(value: int, prefix_bits: int, flags: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_string(data: bytes) -> bytes:
    return _hpack_int(len(data), 7, 0x00) + data


def _encode_field(name: bytes, value: bytes) -> bytes:
    """One header field, never touching the dynamic table, so its bytes can be cached."""
    index = _STATIC_FULL.get((name, value))
    if index is not None:
        return _hpack_int(index, 7, 0x80)
    name_index = _STATIC_NAME.get(name)
    if name_index is not None:
        return _hpack_int(name_index, 4, 0x00) + _hpack_string(value)
    return b"\x00" + _hpack_string(name) + _hpack_string(value)


class _HeaderEncoder:
    """Request header blocks from cached per-field encodings (stateless HPACK)."""

    __slots__ = ("_fields",)

    def __init__(self) -> None:
        self._fields: dict[tuple[bytes, bytes], bytes] = {}

    def field(self, name: bytes, value: bytes) -> bytes:
        key = (name, value)
        encoded = self._fields.get(key)
        if encoded is None:
            if len(self._fields) >= _CACHE_LIMIT:
                self._fields.clear()
            lower = name.lower()
            encoded = b"" if lower in _CONNECTION_HEADERS else _encode_field(lower, value)
            self._fields[key] = encoded
        return encoded

    def block(
        self, method: str, scheme: bytes, authority: bytes, path: bytes, headers: _Fields
    ) -> bytes:
        field = self.field
        parts = [
            field(b":method", method.encode("ascii")),
            field(b":scheme", scheme),
            field(b":authority", authority),
            field(b":path", path),
        ]
        parts += [field(name, value) for name, value in headers]
        return b"".join(parts)


_Fields = list[tuple[bytes, bytes]]


def _changes_table(block: bytes) -> bool:
    """Whether decoding ``block`` may change the HPACK dynamic table (or is malformed).

    Indexed fields and literals without indexing or never indexed leave it as it is; only
    literals with incremental indexing and table size updates change it.
    """
    pos, size = 0, len(block)
    while pos < size:
        first = block[pos]
        if first & 0x80:
            pos = _skip_int(block, pos, 0x7F)
        elif first & 0xE0:  # 0x40 incremental indexing, 0x20 size update
            return True
        else:  # 0x00 without indexing, 0x10 never indexed: name index in 4 bits
            name_index = first & 0x0F
            pos = _skip_int(block, pos, 0x0F)
            if name_index == 0:
                pos = _skip_string(block, pos)
            pos = _skip_string(block, pos)
        if pos < 0:
            return True
    return False


def _skip_int(block: bytes, pos: int, mask: int) -> int:
    """Position after an HPACK integer with a prefix of ``mask`` bits at ``pos``; -1 if cut."""
    if block[pos] & mask != mask:
        return pos + 1
    pos += 1
    while pos < len(block):
        if not block[pos] & 0x80:
            return pos + 1
        pos += 1
    return -1


def _skip_string(block: bytes, pos: int) -> int:
    if pos < 0 or pos >= len(block):
        return -1
    first = block[pos] & 0x7F
    if first < 0x7F:
        end = pos + 1 + first
    else:
        length, shift, pos = 0x7F, 0, pos + 1
        while pos < len(block):
            byte = block[pos]
            length += (byte & 0x7F) << shift
            shift += 7
            pos += 1
            if not byte & 0x80:
                break
        else:
            return -1
        end = pos + length
    return end if end <= len(block) else -1


class _HeaderDecoder:
    """HPACK decoding with a cache for blocks that leave the dynamic table as it is.

    While no block that changes the table has been decoded, such a block keeps its meaning:
    a server repeating the same response headers hits the cache instead of the decoder. Only
    small blocks are kept, and few: the cache must not be a way to make us hold memory.
    """

    __slots__ = ("_cache", "_decoder")

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._cache: dict[bytes, tuple[int | None, _Fields]] = {}

    def decode(self, block: bytes) -> tuple[int | None, _Fields]:
        """(``:status`` or None, regular fields) of a header block."""
        cached = self._cache.get(block)
        if cached is not None:
            return cached
        status: int | None = None
        fields: _Fields = []
        for name, value in self._decoder.decode(block, raw=True):
            name_b, value_b = bytes(name), bytes(value)
            if name_b == b":status":
                status = int(value_b)
            elif not name_b.startswith(b":"):
                fields.append((name_b, value_b))
        result = (status, fields)
        if _changes_table(block):
            self._cache.clear()
        elif len(block) <= _DECODE_CACHE_BYTES and _list_size(fields) <= _DECODE_CACHE_BYTES:
            if len(self._cache) >= _DECODE_CACHE_ENTRIES:
                self._cache.clear()
            self._cache[block] = result
        return result


def _list_size(fields: _Fields) -> int:
    return sum(len(name) + len(value) for name, value in fields)


# -- one connection ---------------------------------------------------------------------------


class _Refused(Exception):
    """The peer did not process this stream (GOAWAY past it, REFUSED_STREAM): safe to retry."""


class _Stream:
    __slots__ = (
        "allowance",
        "body",
        "done",
        "fields",
        "limit",
        "pending",
        "recv_window",
        "send_window",
        "size",
        "status",
    )

    def __init__(
        self, done: asyncio.Future[None], send_window: int, limit: int, recv_window: int
    ) -> None:
        self.done = done
        self.send_window = send_window
        self.limit = limit
        """Body bytes this stream may receive; one more fails it."""
        self.recv_window = recv_window
        """What the peer may still send on it (flow control, padding included)."""
        self.allowance = max(0, limit + 1 - recv_window)
        """Credit still to be given beyond ``recv_window`` as the body arrives."""
        self.pending: memoryview | None = None
        self.status: int | None = None
        self.fields: _Fields = []
        self.body: list[bytes] = []
        self.size = 0


class _HeaderBlock:
    """A header block still arriving in CONTINUATION frames."""

    __slots__ = ("flags", "frames", "parts", "size", "stream_id")

    def __init__(self, stream_id: int, flags: int, first: bytes) -> None:
        self.stream_id = stream_id
        self.flags = flags
        self.parts = [first]
        self.size = len(first)
        self.frames = 1


def _frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    length = len(payload)
    return _FRAME.pack(length >> 8, length & 0xFF, ftype, flags, stream_id) + payload


def _window_update(stream_id: int, increment: int) -> bytes:
    return _WINDOW_FRAME.pack(0, 4, _WINDOW_UPDATE, 0, stream_id, increment)


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: frames in and out, streams completing futures."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limits: _Limits,
        on_closed: Callable[[_Connection], None] | None = None,
    ) -> None:
        self._loop = loop
        self._limits = limits
        self._on_closed = on_closed
        self._transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        """Done once the socket is really closed (the event loop may then be closed)."""
        self._decoder = _HeaderDecoder(limits.header_bytes)
        self._buffer = b""
        self._awaiting_settings = True
        """The server's preface (a SETTINGS frame) has not come yet."""
        self._streams: dict[int, _Stream] = {}
        self._blocked: dict[int, None] = {}
        """Streams with request body waiting for flow-control window, in order."""
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._next_stream_id = 1
        self._max_frame = 16_384
        self._peer_initial_window = _DEFAULT_WINDOW
        self._max_concurrent = 1 << 31
        self._send_window = _DEFAULT_WINDOW
        self._recv_window = _CONN_RECV_WINDOW
        self._continuation: _HeaderBlock | None = None
        self._out: list[bytes] = []
        self._heard = False
        """Anything received since the last idle check."""
        self._pings = 0
        self._ping_payload = b""
        self._ping_timer: asyncio.TimerHandle | None = None
        self._quiet_until = 0.0
        """Loop time before which no PING is sent: one was answered just now."""
        self._idle_timer: asyncio.TimerHandle | None = None
        self.closed: BaseException | None = None
        """Why the connection can take no new stream (GOAWAY, loss, error), None while open."""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)
        settings = b"".join(
            _SETTING.pack(key, value)
            for key, value in (
                (0x2, 0),
                (0x3, 1000),
                (0x4, _INITIAL_STREAM_WINDOW),
                (0x6, self._limits.header_bytes),
            )
        )
        increment = _U32.pack(_CONN_RECV_WINDOW - _DEFAULT_WINDOW)
        transport.write(
            _PREFACE + _frame(_SETTINGS, 0, 0, settings) + _frame(_WINDOW_UPDATE, 0, 0, increment)
        )
        if self._limits.idle_ping_s:
            self._idle_timer = self._loop.call_later(self._limits.idle_ping_s, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._stop_timers()
        self._continuation = None
        self._buffer = b""
        if not self.lost.done():
            self.lost.set_result(None)
        error = httpx.ReadError(f"HTTP/2 connection lost: {exc or 'closed by peer'}")
        self._mark_closed(error)
        self._fail(self.closed or error, refuse_after=None)

    def eof_received(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return  # given up on: nothing it sends matters any more
        self._heard = True
        if self._buffer:
            data = self._buffer + data
        size = len(data)
        if self._awaiting_settings:
            if size < 9:
                self._buffer = data
                return
            if data[3] != _SETTINGS or data[4] & _ACK:
                self._abort(_PROTOCOL_ERROR, _protocol_error("preface is not SETTINGS"))
                return
            self._awaiting_settings = False
        pos = 0
        unpack = _FRAME.unpack_from
        try:
            while size - pos >= 9:
                high, low, ftype, flags, stream_id = unpack(data, pos)
                length = (high << 8) | low
                end = pos + 9 + length
                if length > _RECV_FRAME_SIZE:
                    raise _ConnectionError(_FRAME_SIZE_ERROR, f"frame of {length} bytes")
                if end > size:
                    break
                payload = data[pos + 9 : end]
                pos = end
                stream_id &= _MAX_STREAM_ID
                if self._continuation is not None and ftype != _CONTINUATION:
                    raise _ConnectionError(_PROTOCOL_ERROR, "expected CONTINUATION")
                if ftype == _DATA:
                    self._on_data(stream_id, flags, payload)
                elif ftype == _HEADERS:
                    self._on_headers(stream_id, flags, payload)
                elif ftype == _WINDOW_UPDATE:
                    self._on_window_update(stream_id, payload)
                elif ftype == _SETTINGS:
                    self._on_settings(stream_id, flags, payload)
                elif ftype == _PING:
                    self._on_ping(stream_id, flags, payload)
                elif ftype == _RST_STREAM:
                    self._on_reset(stream_id, payload)
                elif ftype == _GOAWAY:
                    self._on_goaway(stream_id, payload)
                elif ftype == _CONTINUATION:
                    self._on_continuation(stream_id, flags, payload)
                elif ftype == _PUSH_PROMISE:
                    raise _ConnectionError(_PROTOCOL_ERROR, "PUSH_PROMISE though push is off")
                # PRIORITY and unknown frame types are ignored, as RFC 9113 asks.
        except _ConnectionError as error:
            self._abort(error.code, _protocol_error(str(error)))
            return
        self._buffer = data[pos:] if pos < size else b""
        transport = self._transport
        if self._out and transport is not None:
            transport.write(b"".join(self._out))
            self._out.clear()
            if transport.get_write_buffer_size() > _MAX_UNREAD_BYTES:
                self._abort(_ENHANCE_YOUR_CALM, _protocol_error("peer does not read our frames"))

    # frames in

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        length = len(payload)
        window = self._recv_window - length
        if window < _CONN_RECV_WINDOW // 2:
            if window < 0:
                raise _ConnectionError(_FLOW_CONTROL_ERROR, "connection window exceeded")
            self._out.append(_window_update(0, _CONN_RECV_WINDOW - window))
            window = _CONN_RECV_WINDOW
        self._recv_window = window
        stream = self._streams.get(stream_id)
        if stream is None:
            self._check_opened(stream_id, "DATA")
            return  # reset or finished stream: counted for the connection window only
        window = stream.recv_window - length
        if window < 0:
            raise _ConnectionError(_FLOW_CONTROL_ERROR, f"stream {stream_id} window exceeded")
        stream.recv_window = window
        if flags & _PADDED:
            if not payload or payload[0] >= length:
                raise _ConnectionError(_PROTOCOL_ERROR, "bad DATA padding")
            payload = payload[1 : length - payload[0]]
        if stream.status is None:
            self._reject(stream_id, stream, "DATA before the response headers")
            return
        if payload:
            received = stream.size + len(payload)
            if received > stream.limit:
                self._too_large(stream_id, stream)
                return
            stream.size = received
            stream.body.append(payload)
        if flags & _END_STREAM:
            self._finish(stream_id, stream)
        elif stream.allowance and window < _STREAM_RECV_WINDOW // 2:
            grant = min(stream.allowance, _STREAM_RECV_WINDOW - window)
            stream.allowance -= grant
            stream.recv_window = window + grant
            self._out.append(_window_update(stream_id, grant))

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if not stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & (_PADDED | _PRIORITY_FLAG):
            payload = _header_fragment(flags, payload)
        if not flags & _END_HEADERS:
            self._continuation = _HeaderBlock(stream_id, flags, payload)
            return
        self._on_header_block(stream_id, flags, payload)

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        block = self._continuation
        if block is None or block.stream_id != stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, "unexpected CONTINUATION")
        block.size += len(payload)
        block.frames += 1
        if block.size > self._limits.header_bytes or block.frames > _MAX_BLOCK_FRAMES:
            raise _ConnectionError(
                _ENHANCE_YOUR_CALM,
                f"header block over {self._limits.header_bytes} bytes or "
                f"{_MAX_BLOCK_FRAMES} frames",
            )
        if payload:
            block.parts.append(payload)
        if flags & _END_HEADERS:
            self._continuation = None
            self._on_header_block(stream_id, block.flags, b"".join(block.parts))

    def _on_header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        if len(block) > self._limits.header_bytes:
            raise _ConnectionError(_ENHANCE_YOUR_CALM, f"header block of {len(block)} bytes")
        try:
            status, fields = self._decoder.decode(block)  # always: keeps the HPACK table in step
        except (hpack.HPACKError, ValueError) as exc:
            raise _ConnectionError(_COMPRESSION_ERROR, f"bad header block: {exc}") from exc
        stream = self._streams.get(stream_id)
        if stream is None:
            self._check_opened(stream_id, "HEADERS")
            return
        if stream.status is None:
            if status is None:
                self._reject(stream_id, stream, "response without :status")
                return
            if status < 200:
                if flags & _END_STREAM:
                    self._reject(stream_id, stream, "stream ended on a 1xx response")
                return  # informational (1xx): the final response follows
            stream.status = status
            stream.fields = fields
        elif not flags & _END_STREAM:
            self._reject(stream_id, stream, "trailers without END_STREAM")
            return
        else:  # trailers (gRPC's status): after the headers, in a new list (one may be cached)
            stream.fields = stream.fields + fields
        if flags & _END_STREAM:
            self._finish(stream_id, stream)

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "WINDOW_UPDATE size")
        increment = _U32.unpack(payload)[0] & _MAX_WINDOW
        if stream_id == 0:
            if not increment:
                raise _ConnectionError(_PROTOCOL_ERROR, "connection WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > _MAX_WINDOW:
                raise _ConnectionError(_FLOW_CONTROL_ERROR, "connection window overflow")
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                self._check_opened(stream_id, "WINDOW_UPDATE")
                return
            stream.send_window += increment
            if not increment or stream.send_window > _MAX_WINDOW:
                self._reject(stream_id, stream, "bad WINDOW_UPDATE", _FLOW_CONTROL_ERROR)
                return
        if self._blocked:
            self._flush_blocked()

    def _on_settings(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & _ACK:
            if payload:
                raise _ConnectionError(_FRAME_SIZE_ERROR, "SETTINGS ack with a payload")
            return
        if len(payload) % 6:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "SETTINGS size")
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == 0x2 and value != 0:
                raise _ConnectionError(_PROTOCOL_ERROR, "a server may not enable push")
            if key == 0x3:
                self._max_concurrent = value
            elif key == 0x4:
                self._set_initial_window(value)
            elif key == 0x5:
                if not 16_384 <= value <= 16_777_215:
                    raise _ConnectionError(_PROTOCOL_ERROR, "bad max frame size")
                self._max_frame = value
        self._out.append(_frame(_SETTINGS, _ACK, 0))
        if self._blocked:
            self._flush_blocked()
        self._wake_slot_waiters()

    def _set_initial_window(self, value: int) -> None:
        """Move every stream's send window by the change (it may go negative: RFC 9113 6.9.2)."""
        if value > _MAX_WINDOW:
            raise _ConnectionError(_FLOW_CONTROL_ERROR, "initial window too large")
        delta = value - self._peer_initial_window
        self._peer_initial_window = value
        for stream in self._streams.values():
            stream.send_window += delta
            if stream.send_window > _MAX_WINDOW:
                raise _ConnectionError(_FLOW_CONTROL_ERROR, "stream window overflow")

    def _on_ping(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "PING size")
        if not flags & _ACK:
            self._out.append(_frame(_PING, _ACK, 0, payload))
        elif self._ping_timer is not None and payload == self._ping_payload:
            self._ping_timer.cancel()
            self._ping_timer = None
            self._quiet_until = self._loop.time() + self._limits.ping_timeout_s

    def _on_reset(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "RST_STREAM size")
        stream = self._streams.get(stream_id)
        if stream is None:
            self._check_opened(stream_id, "RST_STREAM")
            return
        code = _U32.unpack(payload)[0]
        self._forget(stream_id)
        if code == _REFUSED_STREAM:
            error: Exception = _Refused(f"stream {stream_id} refused")
        else:
            error = httpx.RemoteProtocolError(f"stream {stream_id} reset by peer (code {code})")
        self._fail_stream(stream, error)

    def _on_goaway(self, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "GOAWAY size")
        last_stream_id = _U32.unpack_from(payload)[0] & _MAX_STREAM_ID
        code = _U32.unpack_from(payload, 4)[0]
        self._mark_closed(httpx.RemoteProtocolError(f"connection closed by peer (GOAWAY {code})"))
        assert self.closed is not None
        self._fail(self.closed, refuse_after=last_stream_id)
        if not self._streams:
            self._close_transport()

    def _check_opened(self, stream_id: int, kind: str) -> None:
        """A frame for a stream we do not track: fine if we opened it once (it was reset or
        finished, frames may cross), a connection error for one never opened (RFC 9113 5.1)."""
        if not stream_id or not stream_id & 1 or stream_id >= self._next_stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, f"{kind} on idle stream {stream_id}")

    # frames out

    async def request(
        self,
        block: bytes,
        body: bytes,
        limit: int,
        read_timeout: float | None,
        pool_timeout: float | None,
    ) -> _Stream:
        """Send one request on a new stream and wait for its whole response (≤ ``limit``)."""
        while len(self._streams) >= self._max_concurrent and self.closed is None:
            waiter = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                async with asyncio.timeout(pool_timeout):
                    await waiter
            except TimeoutError:
                raise httpx.PoolTimeout("no free HTTP/2 stream slot in time") from None
        if self.closed is not None or self._transport is None:
            raise _Refused("connection no longer usable")
        stream_id = self._next_stream_id
        self._next_stream_id += 2
        if self._next_stream_id > _MAX_STREAM_ID:
            self._mark_closed(httpx.RemoteProtocolError("stream ids exhausted"))
        window = min(max(limit + 1, _INITIAL_STREAM_WINDOW), _STREAM_RECV_WINDOW)
        stream = _Stream(self._loop.create_future(), self._peer_initial_window, limit, window)
        self._streams[stream_id] = stream
        credit = b""
        if window > _INITIAL_STREAM_WINDOW:
            credit = _window_update(stream_id, window - _INITIAL_STREAM_WINDOW)
        if body and len(body) <= min(self._send_window, stream.send_window, self._max_frame):
            # The usual case, in one write: HEADERS, credit, all of the body in one DATA frame.
            assert self._transport is not None
            size = len(body)
            self._send_window -= size
            stream.send_window -= size
            if len(block) <= self._max_frame:
                self._transport.write(
                    _frame(_HEADERS, _END_HEADERS, stream_id, block)
                    + credit
                    + _frame(_DATA, _END_STREAM, stream_id, body)
                )
            else:
                self._write_headers(stream_id, block, end_stream=False, then=credit)
                self._transport.write(_frame(_DATA, _END_STREAM, stream_id, body))
        else:
            self._write_headers(stream_id, block, end_stream=not body, then=credit)
            if body:
                stream.pending = memoryview(body)
                self._send_body(stream_id, stream)
        timer = None
        if read_timeout is not None:
            # A busy loop reads the response that came in time before the timeout fails it.
            loop = self._loop
            timer = call_later_after_a_read(loop, read_timeout, self._expire, stream_id, stream)
        try:
            await stream.done
        except asyncio.CancelledError:
            if self._streams.get(stream_id) is stream:
                self._end_early(stream_id)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return stream

    def _write_headers(self, stream_id: int, block: bytes, end_stream: bool, then: bytes) -> None:
        assert self._transport is not None
        flags = _END_STREAM if end_stream else 0
        limit = self._max_frame
        if len(block) <= limit:
            self._transport.write(_frame(_HEADERS, flags | _END_HEADERS, stream_id, block) + then)
            return
        frames = [_frame(_HEADERS, flags, stream_id, block[:limit])]
        for start in range(limit, len(block), limit):
            last = start + limit >= len(block)
            chunk = block[start : start + limit]
            frames.append(_frame(_CONTINUATION, _END_HEADERS if last else 0, stream_id, chunk))
        frames.append(then)
        self._transport.write(b"".join(frames))

    def _send_body(self, stream_id: int, stream: _Stream) -> None:
        """Send what the windows allow; park the rest until a WINDOW_UPDATE."""
        pending = stream.pending
        assert pending is not None
        assert self._transport is not None
        frames = []
        while pending:
            size = min(len(pending), self._max_frame, self._send_window, stream.send_window)
            if size <= 0:
                break
            last = size == len(pending)
            chunk = bytes(pending[:size])
            frames.append(_frame(_DATA, _END_STREAM if last else 0, stream_id, chunk))
            pending = pending[size:]
            self._send_window -= size
            stream.send_window -= size
        if frames:
            self._transport.write(b"".join(frames))
        if pending:
            stream.pending = pending
            self._blocked[stream_id] = None
        else:
            stream.pending = None
            self._blocked.pop(stream_id, None)

    def _flush_blocked(self) -> None:
        for stream_id in list(self._blocked):
            if self._send_window <= 0:
                return
            stream = self._streams.get(stream_id)
            if stream is None or stream.pending is None:
                self._blocked.pop(stream_id, None)
            else:
                self._send_body(stream_id, stream)

    def _reset(self, stream_id: int, code: int) -> None:
        if self._transport is not None:
            self._transport.write(_frame(_RST_STREAM, 0, stream_id, _U32.pack(code)))

    # keeping the peer honest

    def probe(self) -> None:
        """PING the peer (unless a PING is out, or one was answered within the PING bound:
        a hanging peer must not cost a PING per timed-out call); no answer in time drops it."""
        if self._ping_timer is not None or self.closed is not None or self._transport is None:
            return
        if self._loop.time() < self._quiet_until:
            return
        self._pings += 1
        self._ping_payload = _U64.pack(self._pings)
        self._transport.write(_frame(_PING, 0, 0, self._ping_payload))
        self._ping_timer = self._loop.call_later(self._limits.ping_timeout_s, self._ping_unanswered)

    def _ping_unanswered(self) -> None:
        self._ping_timer = None
        timeout = self._limits.ping_timeout_s
        error = httpx.ReadError(f"HTTP/2 peer did not answer a PING within {timeout} s")
        self._abort(_NO_ERROR, error, hard=True)

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._transport is None or self.closed is not None:
            return
        if not self._heard:
            self.probe()
        self._heard = False
        assert self._limits.idle_ping_s
        self._idle_timer = self._loop.call_later(self._limits.idle_ping_s, self._idle_check)

    def _stop_timers(self) -> None:
        for timer in (self._ping_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._idle_timer = None

    def buffered_bytes(self) -> int:
        """Bytes held for the peer: partial frame, header block, bodies (a test hook)."""
        block = self._continuation.size if self._continuation is not None else 0
        bodies = sum(stream.size for stream in self._streams.values())
        return len(self._buffer) + block + bodies

    # stream bookkeeping

    def _finish(self, stream_id: int, stream: _Stream) -> None:
        if stream.status is None:
            self._reject(stream_id, stream, "stream ended without a response")
            return
        if stream.pending is not None:
            # The peer answered before reading the whole body: stop sending it (RFC 9113 8.1).
            self._reset(stream_id, _CANCEL)
        self._forget(stream_id)
        if not stream.done.done():
            stream.done.set_result(None)

    def _reject(
        self, stream_id: int, stream: _Stream, why: str, code: int = _PROTOCOL_ERROR
    ) -> None:
        """A stream error (RFC 9113 5.4.2): reset it and fail its request."""
        self._reset(stream_id, code)
        self._forget(stream_id)
        self._fail_stream(stream, httpx.RemoteProtocolError(f"stream {stream_id}: {why}"))

    def _too_large(self, stream_id: int, stream: _Stream) -> None:
        self._reset(stream_id, _CANCEL)
        self._forget(stream_id)
        self._fail_stream(stream, BodyTooLarge(f"response body over {stream.limit} bytes"))

    def _forget(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        self._blocked.pop(stream_id, None)
        if self._slot_waiters:
            self._wake_slot_waiters()
        if self.closed is not None and not self._streams:
            self._close_transport()

    def _wake_slot_waiters(self) -> None:
        free = self._max_concurrent - len(self._streams)
        while self._slot_waiters and (free > 0 or self.closed is not None):
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def _expire(self, stream_id: int, stream: _Stream) -> None:
        if self._streams.get(stream_id) is stream:
            self._fail_stream(stream, httpx.ReadTimeout("no HTTP/2 response in time"))
            self._end_early(stream_id)

    def _end_early(self, stream_id: int) -> None:
        """A request given up (timeout, cancel): reset it, drop a header block it left half
        sent (the HPACK state cannot be kept without it), and check the peer is alive."""
        self._forget(stream_id)
        self._reset(stream_id, _CANCEL)
        block = self._continuation
        if block is not None and block.stream_id == stream_id:
            error = _protocol_error(f"stream {stream_id} ended inside its header block")
            self._abort(_COMPRESSION_ERROR, error)
        else:
            self.probe()

    @staticmethod
    def _fail_stream(stream: _Stream, error: Exception) -> None:
        stream.body.clear()
        stream.pending = None
        if not stream.done.done():
            stream.done.set_exception(error)

    def _fail(self, error: BaseException, refuse_after: int | None) -> None:
        """Fail every stream (or only those above ``refuse_after``, as retryable)."""
        for stream_id, stream in list(self._streams.items()):
            if refuse_after is not None:
                if stream_id <= refuse_after:
                    continue
                failure: Exception = _Refused(f"stream {stream_id} not processed (GOAWAY)")
            else:
                failure = error if isinstance(error, Exception) else httpx.ReadError(str(error))
            self._streams.pop(stream_id, None)
            self._blocked.pop(stream_id, None)
            self._fail_stream(stream, failure)
        self._wake_slot_waiters()

    def _mark_closed(self, error: BaseException) -> None:
        """No new stream from now on; the first reason given is kept."""
        if self.closed is None:
            self.closed = error
            if self._on_closed is not None:
                self._on_closed(self)

    def _abort(self, code: int, error: httpx.TransportError, hard: bool = False) -> None:
        """GOAWAY with ``code``, close (``hard``: at once) and fail every stream."""
        self._mark_closed(error)
        self._continuation = None
        self._buffer = b""
        self._out.clear()
        transport = self._transport
        if transport is not None:
            if not transport.is_closing():
                transport.write(_frame(_GOAWAY, 0, 0, _U32.pack(0) + _U32.pack(code)))
            if hard:
                transport.abort()
            else:
                self._close_transport()
        self._fail(error, refuse_after=None)

    def _close_transport(self) -> None:
        """Close after what is written; abort if the peer has not taken it after a grace."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        self._loop.call_later(_CLOSE_GRACE_S, self._force_close, transport)

    def _force_close(self, transport: asyncio.Transport) -> None:
        if not self.lost.done():
            transport.abort()

    def close(self) -> None:
        """GOAWAY and close, failing what is still in flight."""
        self._mark_closed(httpx.ReadError("HTTP/2 transport closed"))
        if self._transport is not None and not self._transport.is_closing():
            last = max(self._next_stream_id - 2, 0)
            goaway = _U32.pack(last) + _U32.pack(_NO_ERROR)
            self._transport.write(_frame(_GOAWAY, 0, 0, goaway))
            self._close_transport()
        assert self.closed is not None
        self._fail(self.closed, refuse_after=None)


class _ConnectionError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _protocol_error(message: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(f"HTTP/2 protocol error from peer: {message}")


def _header_fragment(flags: int, payload: bytes) -> bytes:
    """A HEADERS payload without its padding and priority fields (RFC 9113 6.2)."""
    start = pad = 0
    if flags & _PADDED:
        if not payload:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "padded HEADERS without a pad length")
        pad, start = payload[0], 1
    if flags & _PRIORITY_FLAG:
        start += 5
    if start + pad > len(payload):
        raise _ConnectionError(_PROTOCOL_ERROR, "bad HEADERS padding")
    return payload[start : len(payload) - pad]


# -- the transport ----------------------------------------------------------------------------

_Origin = tuple[bytes, bytes]
"""(scheme, host[:port]) as the request URL spells them."""


class _Pool:
    """An origin's open connections and the one attempt at opening another it may have."""

    __slots__ = ("connections", "opening", "retry_at")

    def __init__(self) -> None:
        self.connections: list[_Connection] = []
        """Open ones only: a connection leaves the list as soon as it takes no new stream."""
        self.opening: asyncio.Task[_Connection] | None = None
        self.retry_at = 0.0
        """Loop time before which no extra connection is tried (one just failed)."""

    def least_loaded(self) -> _Connection | None:
        connections = self.connections
        if len(connections) == 1:
            return connections[0]
        best = None
        best_load = _MAX_STREAM_ID
        for connection in connections:
            load = len(connection._streams)
            if load < best_load:
                best, best_load = connection, load
        return best

    def drop(self, connection: _Connection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)


class RawResponse(NamedTuple):
    """A whole response without httpx's models (``H2Transport.send_raw``)."""

    status: int
    fields: _Fields
    """The header fields as received (names lower case), the trailers' after them."""
    body: bytes


class H2Transport(httpx.AsyncBaseTransport):
    """Connections by origin, opened on first use, replaced when closed or GOAWAY'd."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        connect_timeout: float | None,
        limits: _Limits,
        connections_per_origin: int,
    ) -> None:
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._limits = limits
        self.connections_per_origin = connections_per_origin
        """Most connections to one origin; more are opened only while all are busy."""
        self._encoder = _HeaderEncoder()
        self._pools: dict[_Origin, _Pool] = {}
        self._live: set[_Connection] = set()
        """Every connection until its socket is gone, draining ones included (for aclose)."""
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        extensions = request.extensions
        status, fields, body_out = await self.send_raw(
            request.method,
            request.url,
            request.headers.raw,
            body,
            extensions.get(BODY_LIMIT_EXTENSION, self._limits.body_bytes),
            extensions.get("timeout") or {},
        )
        return httpx.Response(
            status,
            headers=fields,
            stream=httpx.ByteStream(body_out),
            extensions={"http_version": b"HTTP/2"},
        )

    async def send_raw(
        self,
        method: str,
        url: httpx.URL,
        headers: _Fields,
        body: bytes,
        limit: int,
        timeouts: Mapping[str, float | None],
    ) -> RawResponse:
        """One request and its whole response, without building httpx's request and
        response objects (a caller that speaks a protocol over HTTP/2 itself: gRPC);
        ``limit``: the most body bytes; ``timeouts``: httpx's ``connect``, ``read``, ``pool``,
        where ``read`` is for the whole response and counts the time spent connecting."""
        if self._closed:
            raise RuntimeError("the HTTP/2 transport is closed")
        scheme, authority = url.raw_scheme, url.netloc
        origin = (scheme, authority)
        block = self._encoder.block(method, scheme, authority, url.raw_path, headers)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool()
        read_s = timeouts.get("read")
        for attempt in range(2):
            connection = pool.least_loaded()
            if connection is None:
                loop = asyncio.get_running_loop()
                connecting = loop.time()
                connection = await self._connect(pool, url, timeouts.get("connect"))
                if read_s is not None:  # the read timeout bounds the request from its start
                    read_s = max(0.0, read_s - (loop.time() - connecting))
            elif connection._streams and len(pool.connections) < self.connections_per_origin:
                self._grow(pool, url, timeouts.get("connect"))
            try:
                stream = await connection.request(block, body, limit, read_s, timeouts.get("pool"))
            except _Refused as refused:
                if attempt == 0:
                    continue
                raise httpx.RemoteProtocolError(str(refused)) from None
            body_out = stream.body[0] if len(stream.body) == 1 else b"".join(stream.body)
            assert stream.status is not None
            return RawResponse(stream.status, stream.fields, body_out)
        raise AssertionError("unreachable")

    def _grow(self, pool: _Pool, url: httpx.URL, limit_s: float | None) -> None:
        """Open one more connection in the background; this request uses an open one."""
        if pool.opening is None and asyncio.get_running_loop().time() >= pool.retry_at:
            self._start_opening(pool, url, limit_s)

    async def _connect(self, pool: _Pool, url: httpx.URL, limit_s: float | None) -> _Connection:
        """A connection of the origin, opened once however many requests wait for it.

        The attempt runs in a task of its own: a caller whose deadline cancels it while it
        waits must not cancel the connection the other callers are waiting for too.
        """
        attempt = pool.opening or self._start_opening(pool, url, limit_s)
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if attempt.cancelled() and (task is None or not task.cancelling()):
                raise httpx.ConnectError("the HTTP/2 transport was closed") from None
            raise

    def _start_opening(
        self, pool: _Pool, url: httpx.URL, limit_s: float | None
    ) -> asyncio.Task[_Connection]:
        loop = asyncio.get_running_loop()
        attempt = loop.create_task(self._open(loop, pool, url, limit_s))
        pool.opening = attempt
        attempt.add_done_callback(functools.partial(self._opened, pool))
        return attempt

    def _opened(self, pool: _Pool, attempt: asyncio.Task[_Connection]) -> None:
        pool.opening = None
        if attempt.cancelled():
            return
        if attempt.exception() is not None:  # retrieved: each waiter gets it from the shield
            pool.retry_at = attempt.get_loop().time() + _GROW_BACKOFF_S
            return
        connection = attempt.result()
        if self._closed:
            connection.close()
        elif connection.closed is None:
            pool.connections.append(connection)

    async def _open(
        self, loop: asyncio.AbstractEventLoop, pool: _Pool, url: httpx.URL, limit_s: float | None
    ) -> _Connection:
        tls = url.scheme == "https"
        hostname = url.host
        port = url.port or (443 if tls else 80)
        limit = limit_s if limit_s is not None else self._connect_timeout
        try:
            async with asyncio.timeout(limit):
                transport, connection = await loop.create_connection(
                    lambda: _Connection(loop, self._limits, pool.drop),
                    hostname,
                    port,
                    ssl=self._ssl_context if tls else None,
                    server_hostname=hostname if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {hostname}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connecting to {hostname}:{port}: {exc}") from exc
        if tls:
            ssl_object = transport.get_extra_info("ssl_object")
            protocol = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            if protocol != "h2":
                transport.close()
                raise httpx.ConnectError(
                    f"{hostname}:{port} did not negotiate h2 (ALPN {protocol})"
                )
        self._live.add(connection)
        connection.lost.add_done_callback(lambda _: self._live.discard(connection))
        return connection

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            if pool.opening is not None:
                pool.opening.cancel()
        self._pools.clear()
        closing = list(self._live)
        for connection in closing:
            connection.close()
        if closing:  # wait for the sockets to go, so the event loop can be closed after us
            await asyncio.wait([c.lost for c in closing], timeout=1.0)
