"""The lean HTTP/2 engine over real sockets: hypercorn peers (h2c and TLS) and raw peers.

hypercorn runs in the test's own event loop on a free port; the raw peers are tiny asyncio
servers that misbehave on purpose (drop the connection, reset the stream, GOAWAY at once).
"""

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import hpack
import httpx
import orjson
import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from exchange.bidders.h2_transport import _changes_table, _HeaderDecoder, h2_transport

Message = MutableMapping[str, Any]
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _App:
    """An ASGI peer: /echo describes the request, /big sends 1 MB, /slow waits for a cancel."""

    def __init__(self) -> None:
        self.disconnects = 0

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        path = scope["path"]
        if path == "/slow":
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnects += 1
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if path == "/big":
            answer = b"x" * 1_000_000
        else:
            headers = dict(scope["headers"])
            answer = orjson.dumps(
                {
                    "size": len(body),
                    "port": scope["client"][1],
                    "version": scope["http_version"],
                    "x_test": headers.get(b"x-test", b"").decode(),
                }
            )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _hypercorn(app: _App, **settings: Any) -> AsyncIterator[int]:
    config = Config()
    port = _free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    for key, value in settings.items():
        setattr(config, key, value)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        break
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(server, 5)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """(server cert+key PEM, CA PEM, a different CA's PEM)."""
    work: Path = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(work / "server.pem")
    )
    authority.cert_pem.write_to_path(str(work / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(work / "other.pem"))
    return str(work / "server.pem"), str(work / "ca.pem"), str(work / "other.pem")


async def test_h2c_prior_knowledge_round_trip() -> None:
    app = _App()
    async with (
        _hypercorn(app) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        response = await client.post(
            f"http://127.0.0.1:{port}/echo?q=1", content=b"a" * 1500, headers={"X-Test": "yes"}
        )
    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.json() == {
        "size": 1500,
        "port": response.json()["port"],
        "version": "2",
        "x_test": "yes",
    }
    assert response.headers["content-type"] == "application/json"


async def test_tls_negotiates_h2_by_alpn(tls_files: tuple[str, str, str]) -> None:
    server_pem, ca_pem, _ = tls_files
    app = _App()
    context = ssl.create_default_context(cafile=ca_pem)
    async with (
        _hypercorn(app, certfile=server_pem, keyfile=server_pem) as port,
        httpx.AsyncClient(transport=h2_transport(verify=context)) as client,
    ):
        response = await client.post(f"https://127.0.0.1:{port}/echo", content=b"{}")
    assert response.http_version == "HTTP/2"
    assert response.json()["size"] == 2


async def test_tls_with_an_untrusted_certificate_fails_to_connect(
    tls_files: tuple[str, str, str],
) -> None:
    server_pem, _, other_pem = tls_files
    context = ssl.create_default_context(cafile=other_pem)
    async with (
        _hypercorn(_App(), certfile=server_pem, keyfile=server_pem) as port,
        httpx.AsyncClient(transport=h2_transport(verify=context)) as client,
    ):
        with pytest.raises(httpx.ConnectError):
            await client.post(f"https://127.0.0.1:{port}/echo", content=b"{}")


async def test_tls_peer_without_h2_is_refused(tls_files: tuple[str, str, str]) -> None:
    server_pem, ca_pem, _ = tls_files
    context = ssl.create_default_context(cafile=ca_pem)
    async with (
        _hypercorn(
            _App(), certfile=server_pem, keyfile=server_pem, alpn_protocols=["http/1.1"]
        ) as port,
        httpx.AsyncClient(transport=h2_transport(verify=context)) as client,
    ):
        with pytest.raises(httpx.ConnectError, match="h2"):
            await client.post(f"https://127.0.0.1:{port}/echo", content=b"{}")


async def test_concurrent_requests_share_one_connection_and_respect_flow_control() -> None:
    """200 KB bodies × 20 at once exceed every default window, both ways."""
    async with (
        _hypercorn(_App()) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        url = f"http://127.0.0.1:{port}"
        echoes = await asyncio.gather(
            *[client.post(f"{url}/echo", content=b"b" * 200_000) for _ in range(20)]
        )
        bigs = await asyncio.gather(*[client.get(f"{url}/big") for _ in range(3)])
    assert {r.json()["size"] for r in echoes} == {200_000}
    assert len({r.json()["port"] for r in echoes}) == 1
    assert [len(r.content) for r in bigs] == [1_000_000] * 3


async def test_cancelled_request_resets_its_stream_and_leaks_nothing() -> None:
    app = _App()
    transport = h2_transport()
    async with _hypercorn(app) as port, httpx.AsyncClient(transport=transport) as client:
        url = f"http://127.0.0.1:{port}"
        await client.post(f"{url}/echo", content=b"{}")
        for _ in range(5):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await client.post(f"{url}/slow", content=b"{}")
        for _ in range(100):
            if app.disconnects == 5:
                break
            await asyncio.sleep(0.01)
        (pool,) = transport._pools.values()  # type: ignore[attr-defined]
        (connection,) = pool.connections
        assert connection._streams == {}
        assert app.disconnects == 5
        response = await client.post(f"{url}/echo", content=b"{}")
        assert response.status_code == 200


async def test_read_timeout_from_httpx_settings() -> None:
    async with (
        _hypercorn(_App()) as port,
        httpx.AsyncClient(
            transport=h2_transport(), timeout=httpx.Timeout(5.0, read=0.05)
        ) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"http://127.0.0.1:{port}/slow", content=b"{}")


async def test_connection_refused_is_a_connect_error() -> None:
    async with httpx.AsyncClient(transport=h2_transport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{_free_port()}/", content=b"{}")


async def test_a_caller_cancelled_while_connecting_does_not_fail_the_others() -> None:
    """A TLS peer that never answers the handshake: the first caller's deadline passes, the
    second caller still gets its own, proper, connect timeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/"
    async with (
        server,
        httpx.AsyncClient(
            transport=h2_transport(), timeout=httpx.Timeout(5.0, connect=0.3)
        ) as client,
    ):

        async def impatient() -> None:
            async with asyncio.timeout(0.05):
                await client.post(url, content=b"{}")

        first, second = await asyncio.gather(
            impatient(), client.post(url, content=b"{}"), return_exceptions=True
        )
    assert isinstance(first, TimeoutError)
    assert isinstance(second, httpx.ConnectTimeout)


# -- raw peers that misbehave -----------------------------------------------------------------


def _frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(
        ">HBBBL", len(payload) >> 8, len(payload) & 0xFF, ftype, flags, stream_id
    ) + (payload)


@asynccontextmanager
async def _raw_peer(
    on_request: Callable[[asyncio.StreamWriter, int], bytes | None],
) -> AsyncIterator[int]:
    """A peer that answers the preface with SETTINGS, then ``on_request`` for each HEADERS.

    ``on_request`` returns bytes to write, or None to abort the connection.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readexactly(len(_PREFACE))
            writer.write(_frame(0x4, 0, 0))
            while True:
                header = await reader.readexactly(9)
                high, low, ftype, _flags, stream_id = struct.unpack(">HBBBL", header)
                await reader.readexactly((high << 8) | low)
                if ftype == 0x1:
                    answer = on_request(writer, stream_id)
                    if answer is None:
                        writer.transport.abort()
                        return
                    writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port


async def test_connection_loss_fails_the_request_at_once() -> None:
    async with (
        _raw_peer(lambda writer, stream_id: None) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        async with asyncio.timeout(1.0):
            with pytest.raises(httpx.TransportError):
                await client.post(f"http://127.0.0.1:{port}/", content=b"{}")


async def test_stream_reset_by_peer_is_a_protocol_error() -> None:
    def reset(writer: asyncio.StreamWriter, stream_id: int) -> bytes:
        return _frame(0x3, 0, stream_id, struct.pack(">L", 0x2))

    async with (
        _raw_peer(reset) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        async with asyncio.timeout(1.0):
            with pytest.raises(httpx.RemoteProtocolError, match="reset"):
                await client.post(f"http://127.0.0.1:{port}/", content=b"{}")


async def test_goaway_before_processing_is_retried_once_then_fails() -> None:
    calls = []

    def goaway(writer: asyncio.StreamWriter, stream_id: int) -> bytes:
        calls.append(stream_id)
        return _frame(0x7, 0, 0, struct.pack(">LL", 0, 0))

    async with (
        _raw_peer(goaway) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        async with asyncio.timeout(1.0):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
    assert len(calls) == 2


async def test_goaway_after_a_response_moves_later_requests_to_a_new_connection() -> None:
    """The stream named in GOAWAY still gets its answer; the next request reconnects."""
    encoder = hpack.Encoder()
    connections: list[int] = []

    def answer_then_goaway(writer: asyncio.StreamWriter, stream_id: int) -> bytes:
        connections.append(id(writer))
        block = encoder.encode([(b":status", b"200")])
        goaway = _frame(0x7, 0, 0, struct.pack(">LL", stream_id, 0))
        return goaway + _frame(0x1, 0x4, stream_id, block) + _frame(0x0, 0x1, stream_id, b"ok")

    async with (
        _raw_peer(answer_then_goaway) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        for _ in range(3):
            encoder = hpack.Encoder()  # a new connection starts a new HPACK context
            response = await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
            assert response.content == b"ok"
    assert len(set(connections)) == 3


async def test_response_sent_before_the_body_was_read_is_delivered() -> None:
    """A peer may answer and end the stream early; the client stops sending the body."""
    encoder = hpack.Encoder()

    def early(writer: asyncio.StreamWriter, stream_id: int) -> bytes:
        block = encoder.encode([(b":status", b"200"), (b"content-length", b"2")])
        return _frame(0x1, 0x4, stream_id, block) + _frame(0x0, 0x1, stream_id, b"ok")

    async with (
        _raw_peer(early) as port,
        httpx.AsyncClient(transport=h2_transport()) as client,
    ):
        response = await client.post(f"http://127.0.0.1:{port}/", content=b"z" * 300_000)
    assert response.content == b"ok"


# -- HPACK decoding cache ---------------------------------------------------------------------


def test_decoder_cache_follows_the_dynamic_table() -> None:
    encoder = hpack.Encoder()
    decoder = _HeaderDecoder(65_536)
    fields = [(b":status", b"200"), (b"server", b"peer"), (b"x-id", b"1")]
    first = encoder.encode(fields)
    again = encoder.encode(fields)
    assert _changes_table(first)
    assert not _changes_table(again)
    assert decoder.decode(first) == (200, [(b"server", b"peer"), (b"x-id", b"1")])
    assert decoder.decode(again) == decoder.decode(again)
    changed = encoder.encode([(b":status", b"204"), (b"x-id", b"2")])
    assert decoder.decode(changed) == (204, [(b"x-id", b"2")])
    assert decoder.decode(encoder.encode(fields))[1] == [(b"server", b"peer"), (b"x-id", b"1")]
