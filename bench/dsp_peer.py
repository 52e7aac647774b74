"""Benchmark DSP peers: answer every POST with one pre-encoded OpenRTB bid response, fast.

Why our own server: the fan-out benchmark measures the *client*; the peers (pinned to the
other core) must never be what limits it. hypercorn manages ~5k req/s and closes HTTP/2
connections after 1,000 requests; this server does the least a correct peer must do:

- HTTP/1.1 keep-alive: frame each request by ``Content-Length``, answer with fixed bytes;
- HTTP/2 (h2c with prior knowledge, or TLS with ALPN ``h2``): frames parsed with ``struct``,
  SETTINGS/PING acknowledged, flow control honoured both ways (responses wait for window,
  request bodies are credited back), RST_STREAM and GOAWAY respected. Request header blocks
  are not HPACK-decoded: every request gets the same answer, so their fields are never
  needed, and the client's encoder does not depend on the server's decoder state.

Ports listed with ``--hang-ports`` read requests and never answer (the "hanging bidder").

    python -m bench.dsp_peer --protocol h2c --ports 20001,20002 [--hang-ports 20003]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import ssl
import struct
import sys
from collections.abc import Sequence
from typing import Final, cast

import orjson

__all__ = ["BID_RESPONSE", "PROTOCOLS", "main"]

PROTOCOLS: Final = ("http1", "h2c", "h2tls")


def _bid_response() -> bytes:
    """A realistic one-bid OpenRTB 2.6 BidResponse of about 600 B."""
    adm = (
        '<a href="https://click.dsp.example/c?b=7f3a9c"><img '
        'src="https://cdn.dsp.example/cr/300x250/7f3a9c.jpg" width="300" height="250"></a>'
    )
    return orjson.dumps(
        {
            "id": "bench-4b1d7c0e-9a53-4f0e-8d2a-6c1f0b7e2a91",
            "bidid": "dsp-bid-5e21c9",
            "cur": "USD",
            "seatbid": [
                {
                    "seat": "seat-42",
                    "bid": [
                        {
                            "id": "bid-1",
                            "impid": "1",
                            "price": 1.37,
                            "adid": "ad-7f3a9c",
                            "nurl": "https://win.dsp.example/w?p=${AUCTION_PRICE}&b=7f3a9c",
                            "burl": "https://bill.dsp.example/b?p=${AUCTION_PRICE}&b=7f3a9c",
                            "adm": adm,
                            "adomain": ["brand.example"],
                            "cid": "campaign-118",
                            "crid": "creative-7f3a9c",
                            "cat": ["IAB19"],
                            "attr": [],
                            "w": 300,
                            "h": 250,
                        }
                    ],
                }
            ],
        }
    )


BID_RESPONSE: Final = _bid_response()

_HTTP1_RESPONSE: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BID_RESPONSE)).encode()
    + b"\r\n\r\n"
    + BID_RESPONSE
)

# -- HTTP/1.1 ---------------------------------------------------------------------------------


class _Http1(asyncio.Protocol):
    """Keep-alive HTTP/1.1: requests framed by Content-Length, pipelining tolerated."""

    def __init__(self, hang: bool) -> None:
        self._hang = hang
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        answers = 0
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buffer[:head_end].lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                value_end = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : value_end if value_end >= 0 else None])
            end = head_end + 4 + length
            if len(buffer) < end:
                break
            buffer = buffer[end:]
            answers += 1
        self._buffer = buffer
        if answers and not self._hang and self._transport is not None:
            self._transport.write(_HTTP1_RESPONSE * answers)


# -- HTTP/2 -----------------------------------------------------------------------------------

_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME: Final = struct.Struct(">HBBBL")
_U32: Final = struct.Struct(">L")
_SETTING: Final = struct.Struct(">HL")
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY, _WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4
_RECV_WINDOW: Final = 16 << 20
_STREAM_WINDOW: Final = 1 << 20


def _frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    length = len(payload)
    return _FRAME.pack(length >> 8, length & 0xFF, ftype, flags, stream_id) + payload


# :status 200 is static entry 8; content-type is entry 31, content-length entry 28. Encoded
# without the dynamic table, the block is the same bytes for every response.
_RESPONSE_BLOCK: Final = (
    b"\x88"
    + b"\x0f\x10"
    + bytes((len(b"application/json"),))
    + b"application/json"
    + b"\x0f\x0d"
    + bytes((len(str(len(BID_RESPONSE))),))
    + str(len(BID_RESPONSE)).encode()
)


class _H2(asyncio.Protocol):
    """Server side of HTTP/2, as little as answering every stream correctly takes."""

    def __init__(self, hang: bool) -> None:
        self._hang = hang
        self._buffer = b""
        self._preface_seen = False
        self._transport: asyncio.Transport | None = None
        self._send_window = 65_535
        self._initial_window = 65_535
        self._stream_windows: dict[int, int] = {}
        """Send window of every open stream (request seen, response not yet sent)."""
        self._waiting: dict[int, None] = {}
        """Streams whose request ended and whose response waits for flow-control window."""
        self._recv_unacked = 0
        self._headers_open: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)
        settings = _SETTING.pack(0x3, 10_000) + _SETTING.pack(0x4, _STREAM_WINDOW)
        increment = _U32.pack(_RECV_WINDOW - 65_535)
        transport.write(_frame(_SETTINGS, 0, 0, settings) + _frame(_WINDOW_UPDATE, 0, 0, increment))

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
        pos = 0
        if not self._preface_seen:
            if len(data) < len(_PREFACE):
                self._buffer = data
                return
            if not data.startswith(_PREFACE):
                self._close()
                return
            self._preface_seen = True
            pos = len(_PREFACE)
        out: list[bytes] = []
        size = len(data)
        while size - pos >= 9:
            high, low, ftype, flags, stream_id = _FRAME.unpack_from(data, pos)
            end = pos + 9 + ((high << 8) | low)
            if end > size:
                break
            payload = data[pos + 9 : end]
            pos = end
            stream_id &= 0x7FFFFFFF
            if ftype == _HEADERS or ftype == 0x9:  # HEADERS, CONTINUATION
                if ftype == _HEADERS:
                    self._stream_windows.setdefault(stream_id, self._initial_window)
                    self._headers_open = stream_id
                if flags & _END_HEADERS:
                    self._headers_open = None
                if flags & _END_STREAM and ftype == _HEADERS:
                    self._respond(stream_id, out)
            elif ftype == _DATA:
                self._recv_unacked += len(payload)
                if flags & _END_STREAM:
                    self._respond(stream_id, out)
            elif ftype == _WINDOW_UPDATE:
                increment = _U32.unpack(payload)[0] & 0x7FFFFFFF
                if stream_id == 0:
                    self._send_window += increment
                elif stream_id in self._stream_windows:
                    self._stream_windows[stream_id] += increment
                self._flush(out)
            elif ftype == _SETTINGS:
                if not flags & _ACK:
                    self._apply_settings(payload)
                    out.append(_frame(_SETTINGS, _ACK, 0))
                    self._flush(out)
            elif ftype == _PING:
                if not flags & _ACK:
                    out.append(_frame(_PING, _ACK, 0, payload))
            elif ftype == _RST_STREAM:
                self._stream_windows.pop(stream_id, None)
                self._waiting.pop(stream_id, None)
            elif ftype == _GOAWAY:
                self._close()
                return
        self._buffer = data[pos:] if pos < size else b""
        if self._recv_unacked >= _RECV_WINDOW // 2:
            out.append(_frame(_WINDOW_UPDATE, 0, 0, _U32.pack(self._recv_unacked)))
            self._recv_unacked = 0
        if out and self._transport is not None:
            self._transport.write(b"".join(out))

    def _apply_settings(self, payload: bytes) -> None:
        for offset in range(0, len(payload) - 5, 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == 0x4:
                delta = value - self._initial_window
                self._initial_window = value
                for stream_id in self._stream_windows:
                    self._stream_windows[stream_id] += delta

    def _respond(self, stream_id: int, out: list[bytes]) -> None:
        if self._hang:
            self._stream_windows.pop(stream_id, None)
            return
        self._waiting[stream_id] = None
        self._flush(out)

    def _flush(self, out: list[bytes]) -> None:
        """Send every waiting response the windows allow, in arrival order."""
        need = len(BID_RESPONSE)
        for stream_id in list(self._waiting):
            window = self._stream_windows.get(stream_id)
            if window is None:
                del self._waiting[stream_id]
                continue
            if self._send_window < need or window < need:
                if self._send_window < need:
                    return
                continue
            self._send_window -= need
            del self._waiting[stream_id]
            del self._stream_windows[stream_id]
            out.append(_frame(_HEADERS, _END_HEADERS, stream_id, _RESPONSE_BLOCK))
            out.append(_frame(_DATA, _END_STREAM, stream_id, BID_RESPONSE))

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


# -- process ----------------------------------------------------------------------------------


def _ssl_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    return context


async def _serve(
    protocol: str, ports: Sequence[int], hang_ports: Sequence[int], tls: ssl.SSLContext | None
) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for port in [*ports, *hang_ports]:
        factory = functools.partial(_Http1 if protocol == "http1" else _H2, port in hang_ports)
        servers.append(
            await loop.create_server(
                factory, "127.0.0.1", port, ssl=tls, backlog=1024, reuse_address=True
            )
        )
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    print("ready", flush=True)
    await stop
    for server in servers:
        server.close()


def _ports(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; print ``ready`` once every port listens."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.dsp_peer",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__,
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--ports", type=_ports, required=True, help="comma-separated ports")
    parser.add_argument("--hang-ports", type=_ports, default=[], help="ports that never answer")
    parser.add_argument("--cert", help="PEM certificate chain (h2tls)")
    parser.add_argument("--key", help="PEM private key (h2tls)")
    args = parser.parse_args(argv)
    tls = None
    if args.protocol == "h2tls":
        if not args.cert or not args.key:
            parser.error("h2tls needs --cert and --key")
        tls = _ssl_context(args.cert, args.key)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve(args.protocol, args.ports, args.hang_ports, tls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
