"""A lean HTTP/2 client engine behind httpx's transport interface, for the DSP fan-out.

Why it exists: stock httpx + httpcore + h2 spends several hundred µs of CPU per bidder call
(``h2``'s state machine alone costs ~120 µs per request and response here), which caps an
exchange core at a few thousand DSP calls per second. This engine keeps httpx as the client
API (``httpx.AsyncClient(transport=h2_transport())``) and does the HTTP/2 work itself, lean:

- one ``asyncio.Protocol`` per origin connection, many concurrent streams on it, one future
  per stream; no pool machinery, no per-request locks or tasks;
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
``http://``. Responses report ``http_version`` ``HTTP/2``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import struct
from collections import deque
from typing import Final, cast

import hpack
import httpx
from hpack.table import HeaderTable

__all__ = ["h2_transport"]

_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME: Final = struct.Struct(">HBBBL")
"""Frame header: 24-bit length as (high 16, low 8), type, flags, stream id (with R bit)."""
_U32: Final = struct.Struct(">L")
_SETTING: Final = struct.Struct(">HL")

_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
_PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

_NO_ERROR, _PROTOCOL_ERROR, _FLOW_CONTROL_ERROR = 0x0, 0x1, 0x3
_FRAME_SIZE_ERROR, _REFUSED_STREAM, _CANCEL = 0x6, 0x7, 0x8

_DEFAULT_WINDOW: Final = 65_535
_MAX_WINDOW: Final = 2**31 - 1
_MAX_STREAM_ID: Final = 2**31 - 1
_RECV_FRAME_SIZE: Final = 16_384
"""We never raise SETTINGS_MAX_FRAME_SIZE, so a larger frame from the peer is an error."""
_STREAM_RECV_WINDOW: Final = 1 << 20
_CONN_RECV_WINDOW: Final = 16 << 20
_CACHE_LIMIT: Final = 4096
_CONNECTION_HEADERS: Final = frozenset(
    {b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_STATIC_FULL: Final[dict[tuple[bytes, bytes], int]] = {}
_STATIC_NAME: Final[dict[bytes, int]] = {}
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FULL.setdefault((_name, _value), _index)
    _STATIC_NAME.setdefault(_name, _index)


def h2_transport(
    *,
    verify: ssl.SSLContext | bool = True,
    connect_timeout: float | None = 5.0,
    max_header_list_size: int = 65_536,
) -> httpx.AsyncBaseTransport:
    """The HTTP/2 engine as an httpx transport: ``httpx.AsyncClient(transport=h2_transport())``.

    ``https://`` URLs use TLS and must negotiate ``h2`` by ALPN; ``http://`` URLs speak h2c
    with prior knowledge (the peer must accept HTTP/2 without upgrade). One connection per
    origin is shared by every concurrent request to it. ``verify`` is an ``ssl.SSLContext``
    (its ALPN protocols are set to ``h2``), True for the system's CA store, or False.
    ``connect_timeout`` applies when the request carries no httpx connect timeout.
    """
    return _H2Transport(_ssl_context(verify), connect_timeout, max_header_list_size)


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
    a server repeating the same response headers hits the cache instead of the decoder.
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
        else:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[block] = result
        return result


# -- one connection ---------------------------------------------------------------------------


class _Refused(Exception):
    """The peer did not process this stream (GOAWAY past it, REFUSED_STREAM): safe to retry."""


class _Stream:
    __slots__ = (
        "body",
        "done",
        "fields",
        "pending",
        "recv_unacked",
        "send_window",
        "status",
    )

    def __init__(self, done: asyncio.Future[None], send_window: int) -> None:
        self.done = done
        self.send_window = send_window
        self.pending: memoryview | None = None
        self.status: int | None = None
        self.fields: _Fields = []
        self.body: list[bytes] = []
        self.recv_unacked = 0


def _frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    length = len(payload)
    return _FRAME.pack(length >> 8, length & 0xFF, ftype, flags, stream_id) + payload


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: frames in and out, streams completing futures."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_header_list_size: int) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        """Done once the socket is really closed (the event loop may then be closed)."""
        self._decoder = _HeaderDecoder(max_header_list_size)
        self._buffer = b""
        self._streams: dict[int, _Stream] = {}
        self._blocked: dict[int, None] = {}
        """Streams with request body waiting for flow-control window, in order."""
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._next_stream_id = 1
        self._max_frame = 16_384
        self._peer_initial_window = _DEFAULT_WINDOW
        self._max_concurrent = 1 << 31
        self._send_window = _DEFAULT_WINDOW
        self._recv_unacked = 0
        self._continuation: tuple[int, int, list[bytes]] | None = None
        self._out: list[bytes] = []
        self.closed: BaseException | None = None
        """Why the connection can take no new stream (GOAWAY, loss, error), None while open."""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)
        settings = b"".join(
            _SETTING.pack(key, value)
            for key, value in ((0x2, 0), (0x3, 1000), (0x4, _STREAM_RECV_WINDOW))
        )
        increment = _U32.pack(_CONN_RECV_WINDOW - _DEFAULT_WINDOW)
        transport.write(
            _PREFACE + _frame(_SETTINGS, 0, 0, settings) + _frame(_WINDOW_UPDATE, 0, 0, increment)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.lost.done():
            self.lost.set_result(None)
        if self.closed is None:
            self.closed = httpx.ReadError(f"HTTP/2 connection lost: {exc or 'closed by peer'}")
        self._fail(self.closed, refuse_after=None)

    def eof_received(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
        size = len(data)
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
                    self._on_settings(flags, payload)
                elif ftype == _PING:
                    if not flags & _ACK:
                        self._out.append(_frame(_PING, _ACK, 0, payload))
                elif ftype == _RST_STREAM:
                    self._on_reset(stream_id, payload)
                elif ftype == _GOAWAY:
                    self._on_goaway(payload)
                elif ftype == _CONTINUATION:
                    self._on_continuation(stream_id, flags, payload)
                elif ftype == _PUSH_PROMISE:
                    raise _ConnectionError(_PROTOCOL_ERROR, "PUSH_PROMISE though push is off")
                # PRIORITY and unknown frame types are ignored, as RFC 9113 asks.
        except _ConnectionError as error:
            self._abort(error.code, f"HTTP/2 protocol error from peer: {error}")
            return
        self._buffer = data[pos:] if pos < size else b""
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out))
            self._out.clear()

    # frames in

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        self._recv_unacked += len(payload)
        if self._recv_unacked >= _CONN_RECV_WINDOW // 2:
            self._out.append(_frame(_WINDOW_UPDATE, 0, 0, _U32.pack(self._recv_unacked)))
            self._recv_unacked = 0
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # reset or finished stream: counted for the connection window only
        length = len(payload)
        if flags & _PADDED:
            if not payload or payload[0] >= length:
                raise _ConnectionError(_PROTOCOL_ERROR, "bad DATA padding")
            payload = payload[1 : length - payload[0]]
        if payload:
            stream.body.append(payload)
        if flags & _END_STREAM:
            self._finish(stream_id, stream)
            return
        stream.recv_unacked += length
        if stream.recv_unacked >= _STREAM_RECV_WINDOW // 2:
            self._out.append(_frame(_WINDOW_UPDATE, 0, stream_id, _U32.pack(stream.recv_unacked)))
            stream.recv_unacked = 0

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if flags & _PADDED:
            if not payload or payload[0] >= len(payload):
                raise _ConnectionError(_PROTOCOL_ERROR, "bad HEADERS padding")
            payload = payload[1 : len(payload) - payload[0]]
        if flags & _PRIORITY_FLAG:
            payload = payload[5:]
        if not flags & _END_HEADERS:
            self._continuation = (stream_id, flags, [payload])
            return
        self._on_header_block(stream_id, flags, payload)

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        if self._continuation is None or self._continuation[0] != stream_id:
            raise _ConnectionError(_PROTOCOL_ERROR, "unexpected CONTINUATION")
        self._continuation[2].append(payload)
        if flags & _END_HEADERS:
            _, first_flags, parts = self._continuation
            self._continuation = None
            self._on_header_block(stream_id, first_flags, b"".join(parts))

    def _on_header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        try:
            status, fields = self._decoder.decode(block)  # always: keeps the HPACK table in step
        except (hpack.HPACKError, ValueError) as exc:
            raise _ConnectionError(_PROTOCOL_ERROR, f"bad header block: {exc}") from exc
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.status is None:
            if status is None:
                self._reset(stream_id, _PROTOCOL_ERROR)
                self._fail_stream(stream, httpx.RemoteProtocolError("response without :status"))
                return
            if status < 200:
                return  # informational (1xx): the final response follows
            stream.status = status
            stream.fields = fields
        # else: trailers, which the caller does not need
        if flags & _END_STREAM:
            self._finish(stream_id, stream)

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "WINDOW_UPDATE size")
        increment = _U32.unpack(payload)[0] & _MAX_WINDOW
        if stream_id == 0:
            self._send_window += increment
            if self._send_window > _MAX_WINDOW:
                raise _ConnectionError(_FLOW_CONTROL_ERROR, "connection window overflow")
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            stream.send_window += increment
        if self._blocked:
            self._flush_blocked()

    def _on_settings(self, flags: int, payload: bytes) -> None:
        if flags & _ACK:
            return
        if len(payload) % 6:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "SETTINGS size")
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == 0x3:
                self._max_concurrent = value
            elif key == 0x4:
                if value > _MAX_WINDOW:
                    raise _ConnectionError(_FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
            elif key == 0x5:
                if not 16_384 <= value <= 16_777_215:
                    raise _ConnectionError(_PROTOCOL_ERROR, "bad max frame size")
                self._max_frame = value
        self._out.append(_frame(_SETTINGS, _ACK, 0))
        if self._blocked:
            self._flush_blocked()
        self._wake_slot_waiters()

    def _on_reset(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "RST_STREAM size")
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        code = _U32.unpack(payload)[0]
        self._forget(stream_id)
        if code == _REFUSED_STREAM:
            error: Exception = _Refused(f"stream {stream_id} refused")
        else:
            error = httpx.RemoteProtocolError(f"stream {stream_id} reset by peer (code {code})")
        self._fail_stream(stream, error)

    def _on_goaway(self, payload: bytes) -> None:
        if len(payload) < 8:
            raise _ConnectionError(_FRAME_SIZE_ERROR, "GOAWAY size")
        last_stream_id = _U32.unpack_from(payload)[0] & _MAX_STREAM_ID
        code = _U32.unpack_from(payload, 4)[0]
        if self.closed is None:
            self.closed = httpx.RemoteProtocolError(f"connection closed by peer (GOAWAY {code})")
        self._fail(self.closed, refuse_after=last_stream_id)
        if not self._streams and self._transport is not None:
            self._transport.close()

    # frames out

    async def request(
        self, block: bytes, body: bytes, read_timeout: float | None, pool_timeout: float | None
    ) -> _Stream:
        """Send one request on a new stream and wait for its whole response."""
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
            self.closed = httpx.RemoteProtocolError("stream ids exhausted")
        stream = _Stream(self._loop.create_future(), self._peer_initial_window)
        self._streams[stream_id] = stream
        if body and len(body) <= min(self._send_window, stream.send_window, self._max_frame):
            # The usual case, in one write: HEADERS, then all of the body in one DATA frame.
            assert self._transport is not None
            size = len(body)
            self._send_window -= size
            stream.send_window -= size
            if len(block) <= self._max_frame:
                self._transport.write(
                    _frame(_HEADERS, _END_HEADERS, stream_id, block)
                    + _frame(_DATA, _END_STREAM, stream_id, body)
                )
            else:
                self._write_headers(stream_id, block, end_stream=False)
                self._transport.write(_frame(_DATA, _END_STREAM, stream_id, body))
        else:
            self._write_headers(stream_id, block, end_stream=not body)
            if body:
                stream.pending = memoryview(body)
                self._send_body(stream_id, stream)
        timer = None
        if read_timeout is not None:
            timer = self._loop.call_later(read_timeout, self._expire, stream_id, stream)
        try:
            await stream.done
        except asyncio.CancelledError:
            if self._streams.get(stream_id) is stream:
                self._forget(stream_id)
                self._reset(stream_id, _CANCEL)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return stream

    def _write_headers(self, stream_id: int, block: bytes, end_stream: bool) -> None:
        assert self._transport is not None
        flags = _END_STREAM if end_stream else 0
        limit = self._max_frame
        if len(block) <= limit:
            self._transport.write(_frame(_HEADERS, flags | _END_HEADERS, stream_id, block))
            return
        frames = [_frame(_HEADERS, flags, stream_id, block[:limit])]
        for start in range(limit, len(block), limit):
            last = start + limit >= len(block)
            chunk = block[start : start + limit]
            frames.append(_frame(_CONTINUATION, _END_HEADERS if last else 0, stream_id, chunk))
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

    # stream bookkeeping

    def _finish(self, stream_id: int, stream: _Stream) -> None:
        if stream.status is None:
            self._reset(stream_id, _PROTOCOL_ERROR)
            self._forget(stream_id)
            self._fail_stream(stream, httpx.RemoteProtocolError("stream ended without a response"))
            return
        if stream.pending is not None:
            # The peer answered before reading the whole body: stop sending it (RFC 9113 8.1).
            self._reset(stream_id, _CANCEL)
        self._forget(stream_id)
        if not stream.done.done():
            stream.done.set_result(None)

    def _forget(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        self._blocked.pop(stream_id, None)
        if self._slot_waiters:
            self._wake_slot_waiters()
        if self.closed is not None and not self._streams and self._transport is not None:
            self._transport.close()

    def _wake_slot_waiters(self) -> None:
        free = self._max_concurrent - len(self._streams)
        while self._slot_waiters and (free > 0 or self.closed is not None):
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def _expire(self, stream_id: int, stream: _Stream) -> None:
        if self._streams.get(stream_id) is stream:
            self._forget(stream_id)
            self._reset(stream_id, _CANCEL)
            self._fail_stream(stream, httpx.ReadTimeout("no HTTP/2 response in time"))

    @staticmethod
    def _fail_stream(stream: _Stream, error: Exception) -> None:
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

    def _abort(self, code: int, message: str) -> None:
        self.closed = httpx.RemoteProtocolError(message)
        if self._transport is not None:
            goaway = _U32.pack(0) + _U32.pack(code)
            self._transport.write(_frame(_GOAWAY, 0, 0, goaway))
            self._transport.close()
        self._fail(self.closed, refuse_after=None)

    def close(self) -> None:
        """GOAWAY and close, failing what is still in flight."""
        if self.closed is None:
            self.closed = httpx.ReadError("HTTP/2 transport closed")
        if self._transport is not None:
            last = max(self._next_stream_id - 2, 0)
            goaway = _U32.pack(last) + _U32.pack(_NO_ERROR)
            self._transport.write(_frame(_GOAWAY, 0, 0, goaway))
            self._transport.close()
        self._fail(self.closed, refuse_after=None)


class _ConnectionError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- the transport ----------------------------------------------------------------------------

_Origin = tuple[bytes, bytes]
"""(scheme, host[:port]) as the request URL spells them."""


class _H2Transport(httpx.AsyncBaseTransport):
    """Connections by origin, opened on first use, replaced when closed or GOAWAY'd."""

    def __init__(
        self, ssl_context: ssl.SSLContext, connect_timeout: float | None, max_header_list_size: int
    ) -> None:
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._max_header_list_size = max_header_list_size
        self._encoder = _HeaderEncoder()
        self._connections: dict[_Origin, _Connection] = {}
        self._connecting: dict[_Origin, asyncio.Future[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the HTTP/2 transport is closed")
        url = request.url
        scheme, authority = url.raw_scheme, url.netloc
        origin = (scheme, authority)
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        block = self._encoder.block(
            request.method, scheme, authority, url.raw_path, request.headers.raw
        )
        timeouts = request.extensions.get("timeout") or {}
        for attempt in range(2):
            connection = self._connections.get(origin)
            if connection is None or connection.closed is not None:
                connection = await self._connect(origin, url, timeouts.get("connect"))
            try:
                stream = await connection.request(
                    block, body, timeouts.get("read"), timeouts.get("pool")
                )
            except _Refused as refused:
                if attempt == 0:
                    continue
                raise httpx.RemoteProtocolError(str(refused)) from None
            body_out = stream.body[0] if len(stream.body) == 1 else b"".join(stream.body)
            assert stream.status is not None
            return httpx.Response(
                stream.status,
                headers=stream.fields,
                stream=httpx.ByteStream(body_out),
                extensions={"http_version": b"HTTP/2"},
            )
        raise AssertionError("unreachable")

    async def _connect(self, origin: _Origin, url: httpx.URL, limit_s: float | None) -> _Connection:
        """The origin's connection, opened once however many requests wait for it.

        The attempt runs in a task of its own: a caller whose deadline cancels it while it
        waits must not cancel the connection the other callers are waiting for too.
        """
        attempt = self._connecting.get(origin)
        if attempt is None:
            loop = asyncio.get_running_loop()
            attempt = loop.create_task(self._open(loop, url, limit_s))
            self._connecting[origin] = attempt
            attempt.add_done_callback(functools.partial(self._connected, origin))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if attempt.cancelled() and (task is None or not task.cancelling()):
                raise httpx.ConnectError("the HTTP/2 transport was closed") from None
            raise

    def _connected(self, origin: _Origin, attempt: asyncio.Task[_Connection]) -> None:
        self._connecting.pop(origin, None)
        if attempt.cancelled() or attempt.exception() is not None:
            return  # the exception is retrieved: each waiter gets it from the shield
        connection = attempt.result()
        if self._closed:
            connection.close()
        else:
            self._connections[origin] = connection

    async def _open(
        self, loop: asyncio.AbstractEventLoop, url: httpx.URL, limit_s: float | None
    ) -> _Connection:
        tls = url.scheme == "https"
        hostname = url.host
        port = url.port or (443 if tls else 80)
        limit = limit_s if limit_s is not None else self._connect_timeout
        try:
            async with asyncio.timeout(limit):
                transport, connection = await loop.create_connection(
                    lambda: _Connection(loop, self._max_header_list_size),
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
        return connection

    async def aclose(self) -> None:
        self._closed = True
        for attempt in list(self._connecting.values()):
            attempt.cancel()
        closing = list(self._connections.values())
        for connection in closing:
            connection.close()
        self._connections.clear()
        if closing:  # wait for the sockets to go, so the event loop can be closed after us
            await asyncio.wait([c.lost for c in closing], timeout=1.0)
