"""Real DSP peers for tests: HTTP/2 over real sockets, served by hypercorn in a thread.

One ``PeerServer`` runs one hypercorn server (one thread, one event loop) listening on one
port per peer, so every peer is its own origin — as distinct DSPs are — and gets its own
connection pool in the exchange. A peer is plain h2c (HTTP/2 with prior knowledge) or TLS
with a certificate from a ``trustme`` CA (ALPN offers h2 and http/1.1); ``ca_file`` is
the CA bundle the client must trust. A peer scripted to ``RESET`` is a raw TCP listener
that reads the request and aborts the connection with an RST.

Each peer records what it received (``seen``: headers, decoded body, HTTP version) and
answers according to its ``behaviour``, which a test may change between calls::

    peers = [Peer("a"), Peer("slow", Behaviour.SLOW, tls=True)]
    with PeerServer(peers) as server:
        spec = dsp_spec(peers[0], timeout_ms=40)
"""

import asyncio
import contextlib
import gzip
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from app.dsp_app import create_dsp_app
from exchange.bidders.config import DspFile, ExternalBidderSpec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Behaviour(StrEnum):
    """What a peer does with a bid request."""

    BID = "bid"
    """A valid BidResponse echoing the request id, one bid per imp at ``price``."""
    NO_BID = "no_bid"
    """204."""
    EMPTY = "empty"
    """200 with an empty body."""
    SLOW = "slow"
    """A valid bid after ``delay_s`` (longer than any deadline)."""
    HANG = "hang"
    """Never answers (until the server shuts down)."""
    RESET = "reset"
    """Reads the request, then aborts the TCP connection (RST)."""
    ERROR_500 = "error_500"
    INVALID_JSON = "invalid_json"
    WRONG_ID = "wrong_id"
    """A valid response whose id is not the request's."""
    WRONG_IMPID = "wrong_impid"
    NEGATIVE_PRICE = "negative_price"
    BLOCKED_ADOMAIN = "blocked_adomain"
    """A bid whose adomain is the request's first ``badv`` entry."""
    OVERSIZED = "oversized"
    """A valid response padded past 300 KB (above the default 256 KB limit)."""
    TOO_MANY_BIDS = "too_many_bids"
    """``bids`` bids on the first imp."""
    LANDING_URL = "landing_url"
    """A bid that asks for the exchange's click redirect: ``${RTB_CLICK_URL}`` in its
    markup and a landing page in ``ext.landing_url``, as the in-process routers' bids do."""
    ROUTER = "router"
    """The project's own router, mounted through ``app.dsp_app`` (demo campaigns)."""


@dataclass(frozen=True)
class Seen:
    """One request as a peer received it."""

    http_version: str
    headers: dict[str, str]
    body: dict[str, Any]
    wire_bytes: int
    """Body size on the wire (compressed when gzipped)."""


@dataclass
class Peer:
    """One scripted DSP; ``url`` is its endpoint once the server runs."""

    name: str
    behaviour: Behaviour = Behaviour.BID
    tls: bool = False
    price: float = 1.0
    delay_s: float = 2.0
    bids: int = 150
    gzip_response: bool = False
    """Compress the answer when the request accepts gzip."""
    seat: str = ""
    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    def spec(self, **overrides: Any) -> ExternalBidderSpec:
        """A bidders-file entry for this peer, validated like the real file."""
        entry: dict[str, Any] = {
            "name": self.name,
            "endpoint": self.url,
            "protocol": "h2" if self.tls else "h2c",
        }
        entry.update(overrides)
        return DspFile.model_validate(entry).spec()


def _bid_response(peer: Peer, request: dict[str, Any]) -> dict[str, Any]:
    imps = request.get("imp", [])
    badv = request.get("badv") or ["blocked.example"]
    behaviour = peer.behaviour
    bids = []
    for index, imp in enumerate(imps):
        banner = imp.get("banner") or {}
        bid: dict[str, Any] = {
            "id": f"{peer.name}-{index}",
            "impid": "no-such-imp" if behaviour is Behaviour.WRONG_IMPID else imp["id"],
            "price": -1.0 if behaviour is Behaviour.NEGATIVE_PRICE else peer.price,
            "adid": f"{peer.name}-ad",
            "crid": f"{peer.name}-creative",
            "adomain": [badv[0] if behaviour is Behaviour.BLOCKED_ADOMAIN else "adv.example"],
            "adm": f'<img src="https://{peer.name}.example/ad.png">',
            "w": banner.get("w", 300),
            "h": banner.get("h", 250),
            "mtype": 1,
        }
        if behaviour is Behaviour.LANDING_URL:
            bid["adm"] = '<a href="${RTB_CLICK_URL}"><img src="https://x.example/a.png"></a>'
            bid["ext"] = {"landing_url": "https://phishing.example/login"}
        bids.append(bid)
    if behaviour is Behaviour.TOO_MANY_BIDS and bids:
        bids = [{**bids[0], "id": f"{peer.name}-{n}"} for n in range(peer.bids)]
    response: dict[str, Any] = {
        "id": "not-the-request" if behaviour is Behaviour.WRONG_ID else request.get("id"),
        "cur": "USD",
        "seatbid": [{"seat": peer.seat or peer.name, "bid": bids}],
    }
    if behaviour is Behaviour.OVERSIZED:
        response["ext"] = {"padding": "x" * 300_000}
    return response


class _Dispatch:
    """The ASGI app of the server: finds the peer by the port the request came in on."""

    def __init__(
        self,
        peers: dict[int, Peer],
        release: Callable[[], asyncio.Event],
        router_file: Path | None,
    ) -> None:
        self._peers = peers
        self._release = release
        self._router = create_dsp_app(router_file)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
            return
        peer = self._peers[scope["server"][1]]
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        wire = b"".join(chunks)
        if scope["method"] != "POST":  # the exchange's pre-warm OPTIONS
            await _answer(send, 405, b"")
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        raw = gzip.decompress(wire) if headers.get("content-encoding") == "gzip" else wire
        request = orjson.loads(raw)
        peer.seen.append(Seen(scope["http_version"], headers, request, len(wire)))
        behaviour = peer.behaviour
        if behaviour is Behaviour.ROUTER:
            await self._router(scope, _replay(wire), send)
            return
        if behaviour is Behaviour.HANG:
            await self._release().wait()
            return
        if behaviour is Behaviour.SLOW:  # late, but not past the server's shutdown
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release().wait(), peer.delay_s)
        if behaviour is Behaviour.NO_BID:
            await _answer(send, 204, b"")
        elif behaviour is Behaviour.EMPTY:
            await _answer(send, 200, b"")
        elif behaviour is Behaviour.ERROR_500:
            await _answer(send, 500, b"internal error")
        elif behaviour is Behaviour.INVALID_JSON:
            await _answer(send, 200, b'{"id": "oops", seatbid: [')
        else:
            body = orjson.dumps(_bid_response(peer, request))
            extra = []
            if peer.gzip_response and "gzip" in headers.get("accept-encoding", ""):
                body = gzip.compress(body)
                extra.append((b"content-encoding", b"gzip"))
            await _answer(send, 200, body, extra)


def _replay(body: bytes) -> Receive:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read what the client sends first, then abort with SO_LINGER 0 (an RST, not a FIN)."""
    await reader.read(65536)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _quiet_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Connections still open at shutdown are cancelled; asyncio's stream callback then
    reports the cancellation as an error. Everything else is reported as usual."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class PeerServer:
    """Serves ``peers`` until closed; a context manager. ``ca_file`` signs the TLS peers;
    ``ROUTER`` peers serve the first router of ``router_file`` (the demo routers when None)."""

    def __init__(self, peers: Sequence[Peer], router_file: Path | None = None) -> None:
        self.peers = list(peers)
        self._router_file = router_file
        self._dir = tempfile.TemporaryDirectory(prefix="rtb-peers-")
        directory = Path(self._dir.name)
        self.ca = trustme.CA()
        self.ca_file = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._cert_file = directory / "server.pem"
        self.ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            str(self._cert_file)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._release: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> "PeerServer":
        by_port: dict[int, Peer] = {}
        secure: list[socket.socket] = []
        plain: list[socket.socket] = []
        raw: list[socket.socket] = []
        for peer in self.peers:
            sock = _listening_socket()
            port = sock.getsockname()[1]
            scheme = "https" if peer.tls else "http"
            peer.url = f"{scheme}://127.0.0.1:{port}/openrtb2/bid"
            if peer.behaviour is Behaviour.RESET:
                raw.append(sock)
            else:
                by_port[port] = peer
                (secure if peer.tls else plain).append(sock)
        config = Config()
        config.accesslog = None
        config.errorlog = None
        config.keep_alive_max_requests = 1_000_000  # the default 1,000 would close h2 conns
        config.graceful_timeout = 0.1  # hanging requests are released at shutdown
        config.h2_max_concurrent_streams = 1000
        if secure:
            config.certfile = str(self._cert_file)
            config.keyfile = str(self._cert_file)
            config.bind = [f"fd://{sock.detach()}" for sock in secure]
            config.insecure_bind = [f"fd://{sock.detach()}" for sock in plain]
        else:
            config.bind = [f"fd://{sock.detach()}" for sock in plain]
        app = _Dispatch(by_port, self._release_event, self._router_file)
        self._thread = threading.Thread(
            target=self._run, args=(app, config, raw), name="dsp-peers", daemon=True
        )
        self._thread.start()
        if not self._started.wait(timeout=15):
            raise RuntimeError("peer server did not start")
        if self._error is not None:
            raise RuntimeError("peer server failed to start") from self._error
        self._wait_listening()
        return self

    def _release_event(self) -> asyncio.Event:
        assert self._release is not None
        return self._release

    def _run(self, app: _Dispatch, config: Config, raw: list[socket.socket]) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_quiet_cancellation)
        self._loop = loop
        try:
            loop.run_until_complete(self._main(app, config, raw))
        except BaseException as exc:  # reported to the test thread, never swallowed silently
            self._error = exc
            self._started.set()
        finally:
            loop.close()

    async def _main(self, app: _Dispatch, config: Config, raw: list[socket.socket]) -> None:
        self._stop = asyncio.Event()
        self._release = asyncio.Event()
        servers = [await asyncio.start_server(_reset, sock=sock) for sock in raw]
        self._started.set()
        try:
            await serve(app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()

    def _wait_listening(self) -> None:
        """Poll (bounded) until every hypercorn peer answers an HTTP request: the sockets
        listen from the start, but a request must not wait for the server to come up."""
        deadline = time.monotonic() + 15
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with httpx.Client(verify=context, timeout=1) as client:
            for peer in self.peers:
                if peer.behaviour is Behaviour.RESET:
                    continue
                while True:
                    try:
                        client.options(peer.url)
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"peer {peer.name} does not answer") from None
                        time.sleep(0.01)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = self._loop
        if loop is not None and self._stop is not None and self._release is not None:
            loop.call_soon_threadsafe(self._release.set)
            loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._dir.cleanup()
