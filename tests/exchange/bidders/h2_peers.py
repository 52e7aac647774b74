"""Scripted HTTP/2 servers for the hostile-peer tests, on real loopback sockets.

``raw_peer`` hands each accepted connection to the test's script with a frame reader and
writer: the script may send anything, valid or not, and sees every frame the client sends.
``lib_peer`` runs the ``h2`` library's server state machine instead: a script that behaves
(flow control, settings, PING) does so by a second implementation, and every frame our
client sends is checked by it — a violation raises in the script, and the peer re-raises
what its scripts raised when the test leaves it, so nothing fails silently.
"""

import asyncio
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x6, 0x7, 0x8, 0x9
ENHANCE_YOUR_CALM = 0xB
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

SAFETY_S = 5.0
"""Bound on any wait in these tests: a hang fails the test instead of the suite."""


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    length = len(payload)
    return struct.pack(">HBBBL", length >> 8, length & 0xFF, ftype, flags, stream_id) + payload


def settings_frame(values: dict[int, int] | None = None) -> bytes:
    payload = b"".join(struct.pack(">HL", k, v) for k, v in (values or {}).items())
    return frame(SETTINGS, 0, 0, payload)


def rst(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">L", code))


def goaway(last_stream_id: int, code: int) -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">LL", last_stream_id, code))


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">L", increment))


def ping(opaque: bytes = b"p" * 8, ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, opaque)


@dataclass(frozen=True)
class Frame:
    """A frame as the client sent it."""

    type: int
    flags: int
    stream_id: int
    payload: bytes

    @property
    def code(self) -> int:
        """The error code of a RST_STREAM or GOAWAY."""
        offset = 4 if self.type == GOAWAY else 0
        code: int = struct.unpack_from(">L", self.payload, offset)[0]
        return code


class RawConnection:
    """One accepted connection, driven frame by frame by a test's script."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[Frame] = []
        """Every frame the client sent, in order."""
        self.client_settings: dict[int, int] = {}
        self.encoder = hpack.Encoder()

    async def start(self, settings: dict[int, int] | None = None) -> None:
        """Read the client's preface and answer with ours (SETTINGS)."""
        assert await self.reader.readexactly(len(PREFACE)) == PREFACE
        self.send(settings_frame(settings))

    async def frame(self) -> Frame:
        """The client's next frame; IncompleteReadError once it has closed."""
        header = await self.reader.readexactly(9)
        high, low, ftype, flags, stream_id = struct.unpack(">HBBBL", header)
        payload = await self.reader.readexactly((high << 8) | low)
        got = Frame(ftype, flags, stream_id & 0x7FFFFFFF, payload)
        self.received.append(got)
        if ftype == SETTINGS and not flags & ACK:
            for offset in range(0, len(payload), 6):
                key, value = struct.unpack_from(">HL", payload, offset)
                self.client_settings[key] = value
        return got

    async def until(self, ftype: int, *, flags: int = 0, stream_id: int | None = None) -> Frame:
        """Read up to the next frame of ``ftype`` (having ``flags``, on ``stream_id``)."""
        while True:
            got = await self.frame()
            if (
                got.type == ftype
                and got.flags & flags == flags
                and (stream_id is None or got.stream_id == stream_id)
            ):
                return got

    async def request(self) -> int:
        """Read one whole request (HEADERS, then DATA up to END_STREAM): its stream id."""
        headers = await self.until(HEADERS)
        if not headers.flags & END_STREAM:
            await self.until(DATA, flags=END_STREAM, stream_id=headers.stream_id)
        return headers.stream_id

    async def rest(self) -> list[Frame]:
        """Every frame until the client closes (a reset counts as closing)."""
        start = len(self.received)
        try:
            while True:
                await self.frame()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        return self.received[start:]

    def headers(
        self,
        stream_id: int,
        status: int = 200,
        fields: Sequence[tuple[bytes, bytes]] = (),
        *,
        end_stream: bool = False,
    ) -> bytes:
        """A response HEADERS frame (one frame, END_HEADERS) from this connection's encoder."""
        block = self.encoder.encode([(b":status", str(status).encode()), *fields])
        return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream_id, block)

    def answer(self, stream_id: int, body: bytes = b"ok") -> None:
        """A plain 200 with ``body``."""
        self.send(self.headers(stream_id) + frame(DATA, END_STREAM, stream_id, body))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def codes(self, ftype: int) -> list[int]:
        """Error codes of every RST_STREAM or GOAWAY received so far."""
        return [f.code for f in self.received if f.type == ftype]


Script = Callable[[RawConnection], Awaitable[None]]


@dataclass
class Peer:
    """A listening scripted server: ``url`` to call, the connections it accepted."""

    port: int = 0
    connections: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def origin(self) -> tuple[bytes, bytes]:
        """The engine's key for this peer's connections."""
        return (b"http", f"127.0.0.1:{self.port}".encode())


@asynccontextmanager
async def _serve(
    run: Callable[[asyncio.StreamReader, asyncio.StreamWriter, Peer], Awaitable[None]],
) -> AsyncIterator[Peer]:
    peer = Peer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer.tasks.add(task)
        try:
            await run(reader, writer, peer)
        except (asyncio.IncompleteReadError, ConnectionError, EOFError):
            pass  # the client went away: the script's assertions are the test's business
        except Exception as exc:  # kept and re-raised on exit: a script must not fail quietly
            peer.errors.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        if peer.tasks:  # scripts end once the client has gone; one still running is stuck
            _, stuck = await asyncio.wait(peer.tasks, timeout=SAFETY_S)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await server.wait_closed()
    if peer.errors:
        raise peer.errors[0]


@asynccontextmanager
async def raw_peer(script: Script) -> AsyncIterator[Peer]:
    """A server running ``script`` on each connection it accepts (``peer.connections``)."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        connection = RawConnection(reader, writer)
        peer.connections.append(connection)
        await script(connection)
        await writer.drain()

    async with _serve(run) as peer:
        yield peer


E = TypeVar("E", bound=h2.events.Event)


class LibConnection:
    """One accepted connection run by the ``h2`` library's server side."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        settings: dict[int, int] | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        if settings:
            codes = {h2.settings.SettingCodes(k): v for k, v in settings.items()}
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=codes)
        self.h2.initiate_connection()
        self.events: list[h2.events.Event] = []
        """Every event so far, in order."""
        self._pending: deque[h2.events.Event] = deque()
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    async def event(self) -> h2.events.Event:
        """The next event; EOFError once the client has closed."""
        while not self._pending:
            data = await self.reader.read(65_536)
            if not data:
                raise EOFError
            received = self.h2.receive_data(data)
            self.events += received
            self._pending += received
            self.flush()
        return self._pending.popleft()

    async def until(self, kind: type[E]) -> E:
        while True:
            got = await self.event()
            if isinstance(got, kind):
                return got

    async def request(self) -> int:
        """The stream id of the next request, once it has ended."""
        received = await self.until(h2.events.RequestReceived)
        assert received.stream_id is not None
        if received.stream_ended is None:
            while True:
                ended = await self.until(h2.events.StreamEnded)
                if ended.stream_id == received.stream_id:
                    break
        return received.stream_id

    async def serve_until_closed(self) -> None:
        """Go on answering what h2 answers by itself (PING, SETTINGS) until the client closes."""
        while True:
            await self.event()

    def respond(self, stream_id: int, body: bytes = b"ok", status: int = 200) -> None:
        """A whole small response (it must fit the client's window)."""
        self.h2.send_headers(stream_id, [(b":status", str(status).encode())])
        self.h2.send_data(stream_id, body, end_stream=True)
        self.flush()

    async def push_body(self, stream_id: int, body: bytes) -> int:
        """Send ``body`` as fast as the client's windows allow, ending the stream at the
        end; stop when the client resets the stream. Returns the bytes sent."""
        sent = 0
        while sent < len(body):
            room = min(
                self.h2.local_flow_control_window(stream_id),
                self.h2.max_outbound_frame_size,
                len(body) - sent,
            )
            if room > 0:
                chunk = body[sent : sent + room]
                sent += room
                self.h2.send_data(stream_id, chunk, end_stream=sent == len(body))
                self.flush()
                continue
            got = await self.event()
            if isinstance(got, h2.events.StreamReset) and got.stream_id == stream_id:
                return sent
        return sent


LibScript = Callable[[LibConnection], Awaitable[None]]


@asynccontextmanager
async def lib_peer(
    script: LibScript, settings: dict[int, int] | None = None
) -> AsyncIterator[Peer]:
    """A server running ``script`` on each connection, on the ``h2`` library's state."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        connection = LibConnection(reader, writer, settings)
        peer.connections.append(connection)
        await script(connection)
        await writer.drain()

    async with _serve(run) as peer:
        yield peer


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition`` holds (a state, not a speed: bounded only for safety)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + SAFETY_S
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.002)
