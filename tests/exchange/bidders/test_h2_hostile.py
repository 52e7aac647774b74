"""The lean HTTP/2 engine against hostile peers, over real loopback sockets.

Each peer is a script (``tests/exchange/bidders/h2_peers.py``): raw frames where the peer breaks
the protocol, the ``h2`` library's server where it keeps to it (then our client's frames
are checked by a second implementation too). Every test asserts what the engine does — the
error the request gets, what it buffers (read from its state, never inferred from timing),
what it sends the peer (RST_STREAM, GOAWAY, PING), and whether the connection is dropped or
kept. Timeouts appear only as the mechanism under test (a request given up) or as safety
bounds; nothing asserts how fast anything is.
"""

import asyncio
import dataclasses
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import h2.events
import hpack
import httpx
import pytest

from exchange.bidders.config import DspFile, ExternalBidderSpec
from exchange.bidders.errors import ResponseTooLarge
from exchange.bidders.h2_transport import BODY_LIMIT_EXTENSION, BodyTooLarge, h2_transport
from exchange.bidders.http import HttpBidder
from exchange.bidders.transport import DspTransports, TransportOptions
from openrtb.request import BidRequest
from tests.builders import banner_request
from tests.exchange.bidders.h2_peers import (
    ACK,
    CANCEL,
    COMPRESSION_ERROR,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    INTERNAL_ERROR,
    MAX_FRAME_SIZE,
    MAX_HEADER_LIST_SIZE,
    NO_ERROR,
    PADDED,
    PING,
    PRIORITY,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    REFUSED_STREAM,
    RST_STREAM,
    SAFETY_S,
    SETTINGS,
    WINDOW_UPDATE,
    LibConnection,
    Peer,
    RawConnection,
    eventually,
    frame,
    goaway,
    lib_peer,
    ping,
    raw_peer,
    rst,
    settings_frame,
    window_update,
)


@asynccontextmanager
async def engine(**options: Any) -> AsyncIterator[Any]:
    """An ``h2_transport``, closed at the end (before the peer, so its scripts end)."""
    transport = h2_transport(**options)
    try:
        yield transport
    finally:
        await transport.aclose()


async def call(
    transport: Any,
    url: str,
    body: bytes = b"{}",
    *,
    method: str = "POST",
    limit: int | None = None,
    read_s: float = SAFETY_S,
) -> httpx.Response:
    """One request through the engine; ``read_s`` is httpx's read timeout."""
    timeouts = {"connect": SAFETY_S, "read": read_s, "write": SAFETY_S, "pool": SAFETY_S}
    extensions: dict[str, Any] = {"timeout": timeouts}
    if limit is not None:
        extensions[BODY_LIMIT_EXTENSION] = limit
    request = httpx.Request(method, url, content=body, extensions=extensions)
    async with asyncio.timeout(2 * SAFETY_S):
        response = await transport.handle_async_request(request)
        await response.aread()
    return response


def connections(transport: Any, peer: Peer) -> list[Any]:
    """The engine's open connections to ``peer`` (its state, read directly)."""
    pool = transport._pools.get(peer.origin)
    return [] if pool is None else list(pool.connections)


def only_connection(transport: Any, peer: Peer) -> Any:
    (connection,) = connections(transport, peer)
    return connection


async def fails_and_drops(
    transport: Any,
    peer: Peer,
    match: str,
    *,
    error: type[Exception] = httpx.RemoteProtocolError,
    limit: int | None = None,
) -> Exception:
    """One request fails with ``error`` (matching ``match``), and its connection is gone:
    out of the pool at once, and its socket closed soon after."""
    with pytest.raises(error, match=match) as failure:
        await call(transport, peer.url, limit=limit)
    assert connections(transport, peer) == []
    await eventually(lambda: not transport._live, "the socket is gone")
    return failure.value


async def serve_forever(conn: RawConnection) -> None:
    """Answer every request with 200 ``ok`` until the client closes."""
    while True:
        conn.answer(await conn.request())


# -- header blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "frames_before", "over"),
    [
        pytest.param(1024, 14, b"\x00" * 2048, id="bytes past the cap"),
        pytest.param(0, 15, b"", id="empty CONTINUATION frames past the count"),
    ],
)
async def test_a_continuation_flood_is_cut_at_the_header_block_cap(
    fragment: int, frames_before: int, over: bytes
) -> None:
    """The audit's flood was buffered to 32 MB: now the block is counted frame by frame and
    the connection is closed at the first frame past the cap, with nothing kept."""
    cap = 16_384
    below, go = asyncio.Event(), asyncio.Event()

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        conn.send(frame(HEADERS, 0, stream_id, b"\x00" * fragment))
        for _ in range(frames_before):
            conn.send(frame(CONTINUATION, 0, stream_id, b"\x00" * fragment))
        below.set()
        await go.wait()
        conn.send(frame(CONTINUATION, 0, stream_id, over))
        await conn.rest()

    async with raw_peer(script) as peer, engine(max_header_list_size=cap) as transport:
        request = asyncio.create_task(call(transport, peer.url))
        await asyncio.wait_for(below.wait(), SAFETY_S)
        connection = only_connection(transport, peer)
        expected = fragment * (frames_before + 1)
        await eventually(
            lambda: (
                connection._continuation is not None
                and connection._continuation.frames == frames_before + 1
            ),
            "the block so far is buffered",
        )
        assert connection.buffered_bytes() == expected <= cap
        go.set()
        with pytest.raises(httpx.RemoteProtocolError, match="header block over"):
            await request
        assert connection.buffered_bytes() == 0
        assert connection._continuation is None
        assert connections(transport, peer) == []
    assert peer.connections[0].codes(GOAWAY) == [ENHANCE_YOUR_CALM]


@pytest.mark.parametrize("give_up", ["read timeout", "caller's deadline"])
async def test_a_header_block_left_unfinished_is_dropped_with_its_stream(give_up: str) -> None:
    """A peer that starts a header block and stalls holds the whole connection (no other
    frame may come before the block ends) and the fragments: when the stream is given up,
    both go, and the next request gets a fresh connection."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        if len(peer.connections) > 1:
            await serve_forever(conn)
        stream_id = await conn.request()
        conn.send(frame(HEADERS, 0, stream_id, b"\x00" * 4096))
        conn.send(frame(CONTINUATION, 0, stream_id, b"\x00" * 4096) * 3)
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        request = asyncio.create_task(
            call(transport, peer.url, read_s=0.2 if give_up == "read timeout" else SAFETY_S)
        )
        await eventually(lambda: bool(connections(transport, peer)), "a connection")
        connection = only_connection(transport, peer)
        await eventually(
            lambda: connection.buffered_bytes() == 4 * 4096, "the fragments are buffered"
        )
        if give_up == "read timeout":
            with pytest.raises(httpx.ReadTimeout):
                await request
        else:
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
        assert connection.buffered_bytes() == 0
        assert connection.closed is not None
        assert connections(transport, peer) == []
        assert (await call(transport, peer.url)).content == b"ok"
        assert len(peer.connections) == 2
    first = peer.connections[0]
    assert first.codes(RST_STREAM) == [CANCEL]
    assert first.codes(GOAWAY) == [COMPRESSION_ERROR]


async def test_a_header_list_over_the_limit_once_decoded_closes_the_connection() -> None:
    """A small block can decode to a huge list (one table entry referenced many times): the
    decoded size is capped too, at the limit we advertise in SETTINGS."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        fields = [(b":status", b"200")] + [(b"x-big", b"v" * 3000)] * 30
        block = conn.encoder.encode(fields)
        assert len(block) < 4096  # encoded, it is small
        conn.send(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, block))
        await conn.rest()

    async with raw_peer(script) as peer, engine(max_header_list_size=65_536) as transport:
        await fails_and_drops(transport, peer, "bad header block")
    conn = peer.connections[0]
    assert conn.client_settings[MAX_HEADER_LIST_SIZE] == 65_536
    assert conn.codes(GOAWAY) == [COMPRESSION_ERROR]


async def test_the_header_decoding_cache_stays_small_whatever_the_peer_sends() -> None:
    """Distinct blocks that leave the HPACK table alone are cacheable; a peer sending a new
    one every time must not grow the cache without bound, nor park big blocks in it."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        count = 0
        while True:
            stream_id = await conn.request()
            count += 1
            value = b"v" * 5000 if count == 1 else str(count).encode()
            fields = [(b":status", b"200"), hpack.NeverIndexedHeaderTuple(b"x-id", value)]
            block = conn.encoder.encode(fields)
            conn.send(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, block))

    async with raw_peer(script) as peer, engine() as transport:
        first = await call(transport, peer.url)
        assert first.headers["x-id"] == "v" * 5000
        cache = only_connection(transport, peer)._decoder._cache
        assert cache == {}
        for n in range(2, 202):
            assert (await call(transport, peer.url)).headers["x-id"] == str(n)
            assert 0 < len(cache) <= 64


# -- response bodies --------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_on_the_frame_that_passes_it() -> None:
    """Limit 1,000: the stream is never credited beyond its first 16 KB (one frame), the
    frame that passes the limit resets it, and the connection stays in use."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        conn.send(conn.headers(stream_id) + frame(DATA, 0, stream_id, b"x" * 16_384))
        await conn.until(RST_STREAM, stream_id=stream_id)
        conn.answer(await conn.request(), b"small")
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        with pytest.raises(BodyTooLarge, match="over 1000 bytes") as failure:
            await call(transport, peer.url, limit=1000)
        assert isinstance(failure.value, httpx.TransportError)
        connection = only_connection(transport, peer)
        assert connection._streams == {}
        assert connection.buffered_bytes() == 0
        assert (await call(transport, peer.url, limit=1000)).content == b"small"
        assert only_connection(transport, peer) is connection
    conn = peer.connections[0]
    assert conn.codes(RST_STREAM) == [CANCEL]
    credits = [f for f in conn.received if f.type == WINDOW_UPDATE and f.stream_id == 1]
    assert credits == []  # 1,001 < one frame: the initial window is all it ever got


@pytest.mark.parametrize(
    ("limit", "size", "sent"),
    [
        pytest.param(100_000, 1_000_000, 100_001, id="limit under the stream window"),
        pytest.param(2_000_000, 3_000_000, 2_000_001, id="limit credited as the body comes"),
        pytest.param(3_000_000, 2_500_000, 2_500_000, id="a body within a large limit"),
    ],
)
async def test_a_peer_keeping_to_flow_control_can_send_the_limit_plus_one_byte(
    limit: int, size: int, sent: int
) -> None:
    """The h2 library sends as fast as our windows let it: the limit plus one byte is all
    a body over the limit ever gets out, and a body within it arrives whole."""
    pushed: list[int] = []

    async def script(conn: LibConnection) -> None:
        stream_id = await conn.request()
        conn.h2.send_headers(stream_id, [(b":status", b"200")])
        pushed.append(await conn.push_body(stream_id, b"b" * size))
        await conn.serve_until_closed()

    async with lib_peer(script) as peer, engine() as transport:
        if sent > limit:
            with pytest.raises(BodyTooLarge):
                await call(transport, peer.url, limit=limit)
        else:
            assert len((await call(transport, peer.url, limit=limit)).content) == size
        await eventually(lambda: bool(pushed), "the peer has stopped pushing")
        assert only_connection(transport, peer).buffered_bytes() == 0
    assert pushed == [sent]


async def test_data_past_the_stream_window_is_a_flow_control_error() -> None:
    """A peer ignoring flow control cannot push more than its window either: the frame that
    passes it closes the connection."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        conn.send(conn.headers(stream_id) + frame(DATA, 0, stream_id, b"x" * 16_384) * 7)
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        # window 100,001 < 7 × 16 KB
        failure = await fails_and_drops(transport, peer, "window exceeded", limit=100_000)
        assert not isinstance(failure, BodyTooLarge)
    assert peer.connections[0].codes(GOAWAY) == [FLOW_CONTROL_ERROR]


@pytest.mark.parametrize("length", [16_385, (1 << 24) - 1])
async def test_a_frame_over_our_max_frame_size_is_refused_on_its_header(length: int) -> None:
    """The frame header alone is enough: its payload is never waited for nor buffered."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        header = struct.pack(">HBBBL", length >> 8, length & 0xFF, DATA, 0, stream_id)
        conn.send(conn.headers(stream_id) + header + b"x" * 100)
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        await fails_and_drops(transport, peer, f"frame of {length} bytes")
    assert peer.connections[0].codes(GOAWAY) == [FRAME_SIZE_ERROR]


# -- padding ----------------------------------------------------------------------------------


async def test_padding_is_stripped_from_headers_and_data() -> None:
    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        block = conn.encoder.encode([(b":status", b"200")])
        headers = bytes([10]) + struct.pack(">LB", 0, 16) + block + b"\x00" * 10
        flags = END_HEADERS | PADDED | PRIORITY_FLAG
        data = bytes([200]) + b"ok" + b"\x00" * 200
        conn.send(frame(HEADERS, flags, stream_id, headers))
        conn.send(frame(DATA, PADDED | END_STREAM, stream_id, data))
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        assert (await call(transport, peer.url)).content == b"ok"


@pytest.mark.parametrize(
    "padded",
    [
        pytest.param(
            lambda sid, block: frame(HEADERS, END_HEADERS | PADDED, sid, bytes([200]) + block),
            id="HEADERS padding longer than the frame",
        ),
        pytest.param(
            lambda sid, block: (
                frame(HEADERS, END_HEADERS, sid, block)
                + frame(DATA, PADDED, sid, bytes([10]) + b"\x00" * 9)
            ),
            id="DATA padding as long as the frame",
        ),
        pytest.param(
            lambda sid, block: (
                frame(HEADERS, END_HEADERS, sid, block) + frame(DATA, PADDED, sid, b"")
            ),
            id="DATA padded without a pad length",
        ),
    ],
)
async def test_padding_longer_than_its_frame_is_a_protocol_error(
    padded: Callable[[int, bytes], bytes],
) -> None:
    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        block = conn.encoder.encode([(b":status", b"200")])
        conn.send(padded(stream_id, block) + frame(DATA, END_STREAM, stream_id, b"ok"))
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        await fails_and_drops(transport, peer, "padding")
    assert peer.connections[0].codes(GOAWAY) == [PROTOCOL_ERROR]


async def test_padding_only_data_uses_up_the_window_and_is_never_buffered() -> None:
    """Padding counts against flow control (RFC 9113 6.1) and is dropped on arrival: a
    stream of padding exhausts the window with nothing held, and one more frame is refused."""
    go = asyncio.Event()
    pad = bytes([255]) + b"\x00" * 255  # a 256-byte frame of padding

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        conn.send(conn.headers(stream_id) + frame(DATA, PADDED, stream_id, pad) * 64)
        await go.wait()
        conn.send(frame(DATA, PADDED, stream_id, pad))
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        request = asyncio.create_task(call(transport, peer.url, limit=1000))
        await eventually(lambda: bool(connections(transport, peer)), "a connection")
        connection = only_connection(transport, peer)
        await eventually(
            lambda: [s.recv_window for s in connection._streams.values()] == [0],
            "the window is used up",
        )
        (stream,) = connection._streams.values()
        assert (stream.size, stream.body, connection.buffered_bytes()) == (0, [], 0)
        go.set()
        with pytest.raises(httpx.RemoteProtocolError, match="window exceeded"):
            await request
    assert peer.connections[0].codes(GOAWAY) == [FLOW_CONTROL_ERROR]


# -- our sending side: windows and settings ---------------------------------------------------


async def test_a_window_that_never_opens_stalls_only_its_own_request() -> None:
    """The peer allows 100 bytes per stream and never sends WINDOW_UPDATE (the h2 library
    checks we send no more): the request waits until its timeout, leaves nothing parked,
    the PING that follows is answered, and the connection stays in use."""
    stalled: list[int] = []

    async def script(conn: LibConnection) -> None:
        received = 0
        while True:
            event = await conn.event()
            if isinstance(event, h2.events.DataReceived):
                received += event.flow_controlled_length
            elif isinstance(event, h2.events.StreamReset):
                break
        stalled.append(received)
        conn.respond(await conn.request(), b"fine")
        await conn.serve_until_closed()

    async with (
        lib_peer(script, settings={INITIAL_WINDOW_SIZE: 100}) as peer,
        engine() as transport,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await call(transport, peer.url, b"a" * 1500, read_s=0.2)
        connection = only_connection(transport, peer)
        assert (connection._streams, connection._blocked) == ({}, {})
        lib = peer.connections[0]
        await eventually(
            lambda: (
                connection._ping_timer is None
                and any(isinstance(e, h2.events.PingReceived) for e in lib.events)
            ),
            "the PING after the timeout is answered",
        )
        response = await call(transport, peer.url, b"", method="GET")
        assert response.content == b"fine"
        assert only_connection(transport, peer) is connection
    assert stalled == [100]


async def test_settings_that_shrink_the_window_mid_body_are_honoured_below_zero() -> None:
    """RFC 9113 6.9.2: a smaller INITIAL_WINDOW_SIZE can make a stream's window negative,
    and the sender must wait until WINDOW_UPDATEs bring it above zero again. Each phase
    ends with a PING: DATA sent before its ACK is what the client sent for that phase."""
    phases: list[int] = []

    async def script(conn: RawConnection) -> None:
        await conn.start({INITIAL_WINDOW_SIZE: 30_000})
        conn.answer(await conn.request())  # the client now knows our settings
        stream_id = (await conn.until(HEADERS)).stream_id
        got = [0]

        async def data_until(done: Callable[[Any], bool]) -> int:
            before = got[0]
            while True:
                received = await conn.frame()
                if received.type == DATA and received.stream_id == stream_id:
                    got[0] += len(received.payload)
                if done(received):
                    return got[0] - before

        def fence(opaque: bytes) -> Callable[[Any], bool]:
            conn.send(ping(opaque))
            return lambda f: f.type == PING and f.flags & ACK and f.payload == opaque

        phases.append(await data_until(lambda f: got[0] >= 30_000))
        phases[-1] += await data_until(fence(b"fence-01"))
        conn.send(settings_frame({INITIAL_WINDOW_SIZE: 10_000}))  # window 0 → -20,000
        phases.append(await data_until(fence(b"fence-02")))
        conn.send(window_update(stream_id, 25_000))  # → 5,000
        phases.append(await data_until(fence(b"fence-03")))
        conn.send(settings_frame({INITIAL_WINDOW_SIZE: 100_000}))  # → 90,000
        phases.append(await data_until(lambda f: f.type == DATA and f.flags & END_STREAM))
        conn.answer(stream_id, str(got[0]).encode())
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        assert (await call(transport, peer.url, b"", method="GET")).content == b"ok"
        response = await call(transport, peer.url, b"z" * 60_000)
    assert response.content == b"60000"
    assert phases == [30_000, 0, 5_000, 25_000]


async def test_a_larger_max_frame_size_mid_body_is_used_for_the_rest() -> None:
    sizes: list[int] = []

    async def script(conn: RawConnection) -> None:
        await conn.start({INITIAL_WINDOW_SIZE: 16_384})
        conn.answer(await conn.request())
        stream_id = (await conn.until(HEADERS)).stream_id
        first = await conn.until(DATA, stream_id=stream_id)
        sizes.append(len(first.payload))
        conn.send(settings_frame({MAX_FRAME_SIZE: 65_536}))
        conn.send(window_update(stream_id, 300_000) + window_update(0, 300_000))
        while True:
            received = await conn.until(DATA, stream_id=stream_id)
            sizes.append(len(received.payload))
            if received.flags & END_STREAM:
                break
        conn.answer(stream_id)
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        await call(transport, peer.url, b"", method="GET")
        assert (await call(transport, peer.url, b"m" * 200_000)).content == b"ok"
    assert sizes[0] == 16_384
    assert sum(sizes) == 200_000
    assert max(sizes[1:]) == 65_536


@pytest.mark.parametrize(
    ("hostile", "code"),
    [
        pytest.param(settings_frame({MAX_FRAME_SIZE: 16_383}), PROTOCOL_ERROR, id="frame<16K"),
        pytest.param(settings_frame({MAX_FRAME_SIZE: 1 << 24}), PROTOCOL_ERROR, id="frame≥16M"),
        pytest.param(
            settings_frame({INITIAL_WINDOW_SIZE: 1 << 31}), FLOW_CONTROL_ERROR, id="window≥2³¹"
        ),
        pytest.param(settings_frame({0x2: 1}), PROTOCOL_ERROR, id="server enables push"),
        pytest.param(frame(SETTINGS, 0, 0, b"\x00" * 5), FRAME_SIZE_ERROR, id="settings size"),
        pytest.param(frame(SETTINGS, ACK, 0, b"\x00" * 6), FRAME_SIZE_ERROR, id="ack payload"),
        pytest.param(frame(SETTINGS, 0, 1), PROTOCOL_ERROR, id="settings on a stream"),
        pytest.param(window_update(0, 0), PROTOCOL_ERROR, id="connection credit of 0"),
        pytest.param(window_update(0, (1 << 31) - 1), FLOW_CONTROL_ERROR, id="window overflow"),
        pytest.param(ping(b"short"), FRAME_SIZE_ERROR, id="PING size"),
        pytest.param(frame(PING, 0, 1, b"p" * 8), PROTOCOL_ERROR, id="PING on a stream"),
        pytest.param(rst(101, CANCEL), PROTOCOL_ERROR, id="RST_STREAM on an idle stream"),
        pytest.param(rst(0, CANCEL), PROTOCOL_ERROR, id="RST_STREAM on stream 0"),
        pytest.param(frame(DATA, 0, 99, b"x"), PROTOCOL_ERROR, id="DATA on an idle stream"),
        pytest.param(frame(DATA, 0, 2, b"x"), PROTOCOL_ERROR, id="DATA on a server stream"),
        pytest.param(frame(HEADERS, 0x5, 0, b"\x88"), PROTOCOL_ERROR, id="HEADERS on stream 0"),
        pytest.param(frame(PUSH_PROMISE, 0x4, 1, b"\x00" * 5), PROTOCOL_ERROR, id="push"),
        pytest.param(frame(CONTINUATION, 0x4, 1, b"\x88"), PROTOCOL_ERROR, id="stray CONT"),
        pytest.param(frame(GOAWAY, 0, 1, b"\x00" * 8), PROTOCOL_ERROR, id="GOAWAY on a stream"),
        pytest.param(frame(GOAWAY, 0, 0, b"\x00" * 4), FRAME_SIZE_ERROR, id="GOAWAY size"),
        pytest.param(
            frame(HEADERS, 0, 1, b"\x88") + frame(0xA, 0, 0, b"x"),
            PROTOCOL_ERROR,
            id="unknown frame inside a header block",
        ),
    ],
)
async def test_a_connection_level_violation_closes_the_connection(
    hostile: bytes, code: int
) -> None:
    """Each fails the request in flight at once with a RemoteProtocolError (no deadline
    involved), sends GOAWAY with the RFC's code, and drops the connection."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        await conn.request()
        conn.send(hostile)
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        await fails_and_drops(transport, peer, "protocol error from peer")
    assert peer.connections[0].codes(GOAWAY) == [code]


@pytest.mark.parametrize(
    ("hostile", "why"),
    [
        pytest.param(lambda c, sid: frame(DATA, 0, sid, b"x"), "DATA before", id="data first"),
        pytest.param(
            lambda c, sid: c.headers(sid) + c.headers(sid, 200, [(b"x-t", b"1")]),
            "trailers without END_STREAM",
            id="trailers that do not end the stream",
        ),
        pytest.param(
            lambda c, sid: c.headers(sid, 103, end_stream=True), "1xx", id="ending on a 1xx"
        ),
        pytest.param(
            lambda c, sid: frame(
                HEADERS, END_HEADERS | END_STREAM, sid, c.encoder.encode([(b"x-a", b"1")])
            ),
            "without :status",
            id="no :status",
        ),
        pytest.param(
            lambda c, sid: window_update(sid, (1 << 31) - 1),
            "bad WINDOW_UPDATE",
            id="stream window overflow",
        ),
        pytest.param(lambda c, sid: window_update(sid, 0), "bad WINDOW_UPDATE", id="credit 0"),
    ],
)
async def test_a_stream_level_violation_resets_only_that_stream(
    hostile: Callable[[RawConnection, int], bytes], why: str
) -> None:
    """RFC 9113 5.4.2 stream errors: the stream is reset, its request fails at once, and the
    connection serves the next request."""

    async def script(conn: RawConnection) -> None:
        await conn.start()
        conn.send(hostile(conn, await conn.request()))
        await serve_forever(conn)

    async with raw_peer(script) as peer, engine() as transport:
        with pytest.raises(httpx.RemoteProtocolError, match=why):
            await call(transport, peer.url)
        connection = only_connection(transport, peer)
        assert connection._streams == {}
        assert (await call(transport, peer.url)).content == b"ok"
        assert only_connection(transport, peer) is connection
    conn = peer.connections[0]
    assert len(conn.codes(RST_STREAM)) == 1
    assert conn.codes(GOAWAY) == [NO_ERROR]  # ours, at close


# -- resets and GOAWAY ------------------------------------------------------------------------


async def test_a_reset_storm_fails_each_request_and_leaves_the_connection_usable() -> None:
    """Every stream reset at once, each followed by 20 more resets of the same (now closed)
    stream: 50 requests fail fast, nothing is left of them, and when the peer behaves again
    the same connection answers."""
    resetting = [True]

    async def script(conn: RawConnection) -> None:
        await conn.start()
        while True:
            stream_id = await conn.request()
            if resetting[0]:
                conn.send(rst(stream_id, INTERNAL_ERROR) * 21)
            else:
                conn.answer(stream_id)

    async with raw_peer(script) as peer, engine() as transport:
        failures = await asyncio.gather(
            *[call(transport, peer.url) for _ in range(50)], return_exceptions=True
        )
        assert all(
            isinstance(f, httpx.RemoteProtocolError) and "reset by peer (code 2)" in str(f)
            for f in failures
        )
        connection = only_connection(transport, peer)
        assert (connection._streams, connection.buffered_bytes()) == ({}, 0)
        resetting[0] = False
        assert (await call(transport, peer.url)).content == b"ok"
        assert only_connection(transport, peer) is connection
    assert len(peer.connections) == 1


async def test_refused_streams_are_retried_once_each_then_fail() -> None:
    async def script(conn: RawConnection) -> None:
        await conn.start()
        while True:
            conn.send(rst(await conn.request(), REFUSED_STREAM))

    async with raw_peer(script) as peer, engine() as transport:
        for _ in range(10):
            with pytest.raises(httpx.RemoteProtocolError, match="refused"):
                await call(transport, peer.url)
        assert only_connection(transport, peer).closed is None
    (conn,) = peer.connections
    assert sum(1 for f in conn.received if f.type == HEADERS) == 20


async def test_goaway_mid_response_finishes_that_stream_and_moves_later_ones() -> None:
    """GOAWAY names stream 1 as the last processed while its body is half sent: stream 1
    gets the rest on the old connection, stream 3 is retried on a new one."""
    started = asyncio.Event()

    async def script(conn: RawConnection) -> None:
        await conn.start()
        if len(peer.connections) > 1:
            while True:
                conn.answer(await conn.request(), b"fresh")
        first = await conn.request()
        conn.send(conn.headers(first) + frame(DATA, 0, first, b"part1-"))
        started.set()
        await conn.request()
        conn.send(goaway(first, NO_ERROR) + frame(DATA, END_STREAM, first, b"part2"))
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        old = asyncio.create_task(call(transport, peer.url))
        await asyncio.wait_for(started.wait(), SAFETY_S)
        moved = await call(transport, peer.url)
        assert (await old).content == b"part1-part2"
        assert moved.content == b"fresh"
        assert len(peer.connections) == 2
        await eventually(lambda: len(transport._live) == 1, "the old connection closes")
    assert sum(1 for f in peer.connections[0].received if f.type == HEADERS) == 2


async def test_goaway_mid_response_then_close_fails_that_stream_and_keeps_nothing() -> None:
    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        conn.send(conn.headers(stream_id) + frame(DATA, 0, stream_id, b"x" * 10_000))
        conn.send(goaway(stream_id, INTERNAL_ERROR))

    async with raw_peer(script) as peer, engine() as transport:
        await fails_and_drops(transport, peer, "GOAWAY 2", error=httpx.TransportError)


# -- not HTTP/2 at all ------------------------------------------------------------------------


async def test_a_peer_answering_http1_fails_the_request_at_once() -> None:
    async def script(conn: RawConnection) -> None:
        await conn.reader.read(100)
        conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        await fails_and_drops(transport, peer, "preface is not SETTINGS")
    assert peer.connections[0].codes(GOAWAY) == [PROTOCOL_ERROR]


async def test_garbage_after_the_preface_fails_the_request_and_the_next_reconnects() -> None:
    garbage = random.Random(7).randbytes(4096)

    async def script(conn: RawConnection) -> None:
        await conn.start()
        if len(peer.connections) > 1:
            await serve_forever(conn)
        await conn.request()
        conn.send(garbage)
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        with pytest.raises(httpx.RemoteProtocolError):
            await call(transport, peer.url)
        assert (await call(transport, peer.url)).content == b"ok"
    assert peer.connections[0].codes(GOAWAY) in ([PROTOCOL_ERROR], [FRAME_SIZE_ERROR])


async def test_unknown_frame_types_and_priority_frames_are_ignored() -> None:
    noise = random.Random(3)

    def unknown(stream_id: int) -> bytes:
        kind = noise.choice([0xA, 0xC, 0x10, 0x7F, 0xFF])
        return frame(kind, noise.randrange(256), stream_id, noise.randbytes(noise.randrange(64)))

    async def script(conn: RawConnection) -> None:
        await conn.start()
        stream_id = await conn.request()
        conn.send(unknown(0) + unknown(stream_id) + frame(PRIORITY, 0, stream_id, b"\x00" * 5))
        conn.send(conn.headers(stream_id) + unknown(stream_id) + unknown(0))
        conn.send(frame(DATA, 0, stream_id, b"o") + unknown(stream_id) + unknown(77))
        conn.send(frame(DATA, END_STREAM, stream_id, b"k"))
        await conn.rest()

    async with raw_peer(script) as peer, engine() as transport:
        assert (await call(transport, peer.url)).content == b"ok"
        assert only_connection(transport, peer).closed is None
    assert peer.connections[0].codes(GOAWAY) == [NO_ERROR]  # ours, at close


# -- silent peers and PING --------------------------------------------------------------------


async def test_a_silent_peer_is_dropped_when_the_ping_after_a_timeout_goes_unanswered() -> None:
    """TCP accepted, nothing ever answered: the first request times out, its PING gets no
    ACK, and the connection is dropped — failing at once a request that still had seconds
    to wait — instead of being reused forever."""

    async def script(conn: RawConnection) -> None:
        await conn.reader.readexactly(24)
        await conn.rest()

    async with raw_peer(script) as peer, engine(ping_timeout_s=0.2) as transport:
        patient = asyncio.create_task(call(transport, peer.url))
        await eventually(lambda: bool(connections(transport, peer)), "a connection")
        connection = only_connection(transport, peer)
        with pytest.raises(httpx.ReadTimeout):
            await call(transport, peer.url, read_s=0.1)
        with pytest.raises(httpx.ReadError, match="did not answer a PING"):
            await patient
        await asyncio.wait_for(connection.lost, SAFETY_S)
        assert connections(transport, peer) == []
    pings = [f for f in peer.connections[0].received if f.type == PING and not f.flags & ACK]
    assert len(pings) == 1


async def test_an_idle_connection_whose_peer_went_quiet_is_dropped() -> None:
    async def script(conn: RawConnection) -> None:
        await conn.start()
        conn.answer(await conn.request())
        await conn.rest()  # from now on: reads, never answers (a PING included)

    options = {"idle_ping_s": 0.05, "ping_timeout_s": 0.1}
    async with raw_peer(script) as peer, engine(**options) as transport:
        assert (await call(transport, peer.url)).content == b"ok"
        connection = only_connection(transport, peer)
        await asyncio.wait_for(connection.lost, SAFETY_S)
        assert connections(transport, peer) == []
        assert "PING" in str(connection.closed)
    assert any(f.type == PING for f in peer.connections[0].received)


async def test_a_peer_that_answers_pings_keeps_its_connection() -> None:
    """Idle PINGs and the PING after a timeout, answered (by the h2 library): the same
    connection serves before, between and after."""

    async def script(conn: LibConnection) -> None:
        count = 0
        while True:
            stream_id = await conn.request()
            count += 1
            if count != 2:  # the second request hangs
                conn.respond(stream_id)

    options = {"idle_ping_s": 0.02, "ping_timeout_s": 0.3}
    async with lib_peer(script) as peer, engine(**options) as transport:
        assert (await call(transport, peer.url)).content == b"ok"
        connection = only_connection(transport, peer)
        lib = peer.connections[0]

        def pings() -> int:
            return sum(isinstance(e, h2.events.PingReceived) for e in lib.events)

        await eventually(lambda: pings() >= 3, "three idle PINGs")
        with pytest.raises(httpx.ReadTimeout):
            await call(transport, peer.url, read_s=0.1)
        assert (await call(transport, peer.url)).content == b"ok"
        assert only_connection(transport, peer) is connection
        assert connection.closed is None
    assert len(peer.connections) == 1


async def test_a_peer_flooding_pings_without_reading_the_answers_is_dropped() -> None:
    """Every PING is answered; a peer that never reads the answers would make us queue them
    without end (its receive buffer kept small so the flood stays short)."""

    async def script(conn: RawConnection) -> None:
        conn.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await conn.start()
        await conn.request()
        burst = ping() * 4096
        for _ in range(1000):  # 68 MB at most; the client gives up long before
            conn.send(burst)
            await conn.writer.drain()

    async with raw_peer(script) as peer, engine() as transport:
        await fails_and_drops(transport, peer, "does not read")


# -- several connections per origin -----------------------------------------------------------


async def test_requests_spread_over_the_connections_per_origin_least_loaded_first() -> None:
    """Three allowed: a second and a third open (in the background) only while every open
    one is busy; requests go to the least-loaded; never a fourth."""
    held: list[tuple[LibConnection, int]] = []

    async def script(conn: LibConnection) -> None:
        while True:
            held.append((conn, await conn.request()))

    async with lib_peer(script) as peer, engine(connections_per_origin=3) as transport:
        pool: Any = None
        calls = []
        for n in range(1, 13):
            calls.append(asyncio.create_task(call(transport, peer.url)))
            await eventually(lambda n=n: len(held) == n, f"request {n} arrives")
            pool = transport._pools[peer.origin]
            await eventually(lambda p=pool: p.opening is None, "no connection still opening")
        assert len(pool.connections) == 3
        assert sorted(len(c._streams) for c in pool.connections) == [4, 4, 4]
        for conn, stream_id in held:
            conn.respond(stream_id)
        assert [r.content for r in await asyncio.gather(*calls)] == [b"ok"] * 12
        held.clear()
        for _ in range(5):  # one at a time: the idle connections suffice
            task = asyncio.create_task(call(transport, peer.url))
            await eventually(lambda: bool(held), "the request arrives")
            conn, stream_id = held.pop()
            conn.respond(stream_id)
            await task
        assert len(pool.connections) == 3
    assert len(peer.connections) == 3


def _spec(url: str, **overrides: Any) -> ExternalBidderSpec:
    entry = {"name": "hostile", "endpoint": url, "protocol": "h2c", **overrides}
    spec = DspFile.model_validate(entry).spec()
    return dataclasses.replace(spec, timeout_ms=int(SAFETY_S * 1000))


async def test_dsp_transports_give_the_lean_engine_h2_connections() -> None:
    held: list[tuple[LibConnection, int]] = []

    async def script(conn: LibConnection) -> None:
        while True:
            held.append((conn, await conn.request()))

    async with lib_peer(script) as peer:
        spec = _spec(peer.url)
        transports = DspTransports(
            [spec],
            TransportOptions(h2_connections=2),
            http2_engine=lambda context: h2_transport(verify=context),
        )
        try:
            engine_ = transports.for_spec(spec)
            assert engine_.connections_per_origin == 2  # type: ignore[attr-defined]
            bidder = HttpBidder(spec, engine_)
            request = BidRequest.model_validate(banner_request())
            calls = []
            for n in range(1, 5):
                calls.append(asyncio.create_task(bidder.request_bids(request, SAFETY_S)))
                await eventually(lambda n=n: len(held) == n, f"call {n} arrives")
                pool = engine_._pools[peer.origin]  # type: ignore[attr-defined]
                await eventually(lambda p=pool: p.opening is None, "no connection opening")
            assert sorted(len(c._streams) for c in pool.connections) == [2, 2]
            for conn, stream_id in held:
                conn.respond(stream_id, b"", status=204)
            assert await asyncio.gather(*calls) == [None] * 4
        finally:
            await transports.aclose()
    assert len(peer.connections) == 2


async def test_the_bidders_file_limit_stops_the_body_while_it_is_read() -> None:
    """HttpBidder hands ``max_response_bytes`` to the engine: a body without Content-Length
    is cut after one frame (the limit is under it) and counted as too large, not as a
    transport failure."""
    pushed: list[int] = []

    async def script(conn: LibConnection) -> None:
        stream_id = await conn.request()
        conn.h2.send_headers(stream_id, [(b":status", b"200")])
        pushed.append(await conn.push_body(stream_id, b"{" * 1_000_000))
        await conn.serve_until_closed()

    async with lib_peer(script) as peer:
        spec = _spec(peer.url, max_response_bytes=2000)
        transport = h2_transport()
        try:
            bidder = HttpBidder(spec, transport)
            request = BidRequest.model_validate(banner_request())
            with pytest.raises(ResponseTooLarge, match="over 2000 bytes") as failure:
                await bidder.request_bids(request, SAFETY_S)
            assert failure.value.kind == "too_large"
        finally:
            await transport.aclose()
    assert pushed == [16_384]
