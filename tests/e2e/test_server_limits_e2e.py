"""Every bound of the server over a real socket, served exactly as ``rtb serve`` serves it.

Raw sockets play the hostile clients (slow, oversized, many headers, gone mid-body), httpx
the honest client that sent too much and must still read its 413. Each test asserts what
the client gets and that the server goes on serving; none times anything.
"""

import http.client
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, suppress

import httpx
import orjson
import pytest

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.servers import serve_like_rtb

BIG = 2 * 1024 * 1024
CHUNK = 64 * 1024


class ErrorLog(logging.Handler):
    """Records uvicorn's errors (an unhandled exception in the app is logged there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _serve(errors: ErrorLog, **limits: object) -> Iterator[str]:
    settings = Settings(log_json=True, **limits)  # type: ignore[arg-type]
    with serve_like_rtb(create_app(settings), settings) as url:
        yield url
    assert [r.getMessage() for r in errors.records] == []


@pytest.fixture(scope="module")
def server(errors: ErrorLog) -> Iterator[str]:
    """Short timeouts (so the slow clients are cut off quickly), default size limits."""
    yield from _serve(
        errors, header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=1, drain_timeout_s=2
    )


@pytest.fixture(scope="module")
def patient(errors: ErrorLog) -> Iterator[str]:
    """Long timeouts, two requests in flight at most, uvicorn's backstop at five connections."""
    yield from _serve(
        errors, header_timeout_s=60, body_timeout_s=60, max_in_flight=2, max_connections=5
    )


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server ended the connection (end of stream or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def metric(url: str, line_prefix: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_prefix)
    ]
    return sum(values)


def eventually(check: Callable[[], bool]) -> bool:
    """``check`` became true within a few seconds (it polls: no figure is asserted)."""
    for _poll in range(250):
        if check():
            return True
        time.sleep(0.02)
    return False


def trickle(sock: socket.socket, pieces: Iterable[bytes]) -> bytes:
    """Send ``pieces`` one at a time, a moment apart, until the server answers or closes;
    what it answered."""
    sock.settimeout(0.05)
    answer = b""
    for piece in pieces:
        try:
            sock.sendall(piece)
            answer += sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:  # the server closed: broken pipe or reset
            break
        if b"\r\n\r\n" in answer:
            break
    return answer


def still_serves(url: str) -> None:
    answer = httpx.post(
        f"{url}/openrtb2/auction",
        content=orjson.dumps(banner_request()),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200


# -- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_2_mib_auction_body_gets_a_413_the_client_reads(server: str, declared: bool) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(BIG // CHUNK):
            yield b" " * CHUNK

    for _attempt in range(10):  # a reset would show up within a few
        with httpx.Client(base_url=server, timeout=10) as client:
            answer = client.post(
                "/openrtb2/auction",
                content=b" " * BIG if declared else chunks(),
                headers={"content-type": "application/json"},
            )
        assert answer.status_code == 413
        assert answer.json() == {"error": {"field": "body", "message": "larger than 65536 bytes"}}
        assert answer.headers["connection"] == "close"
    still_serves(server)


def auction_head(size: int, *extra: str) -> bytes:
    lines = [
        "POST /openrtb2/auction HTTP/1.1",
        "host: x",
        "content-type: application/json",
        f"content-length: {size}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_body_sent_apart_from_its_head_keeps_the_connection_alive(server: str) -> None:
    """Until a body is in, an answer would close the connection; once it is in, the
    connection is kept alive as the client asked."""
    body = orjson.dumps(banner_request())
    with closing(connect(server)) as sock:
        for _request in range(3):
            sock.sendall(auction_head(len(body)))
            time.sleep(0.02)  # a separate read on the server
            sock.sendall(body)
            status, headers, _ = read_response(sock)
            assert (status, headers.get("connection")) == (200, None)


def test_expect_100_continue_is_answered(server: str) -> None:
    body = orjson.dumps(banner_request())
    with closing(connect(server)) as sock:
        sock.sendall(auction_head(len(body), "expect: 100-continue"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        status, _, _ = read_response(sock)
        assert status == 200


def test_the_conversion_endpoint_reads_its_body_within_the_limit(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        huge = client.post("/track/conversion", content=b" " * BIG)
        padded = client.post("/track/conversion", json={"click": "c" * 70_000, "sig": "s"})
        small = client.post("/track/conversion", json={"click": "c", "sig": "s"})
    assert huge.status_code == padded.status_code == 413
    assert huge.json()["error"]["field"] == "body"
    assert small.status_code == 400  # within the limit: read, parsed and refused on its fields
    still_serves(server)


def test_a_client_gone_mid_body_ends_quietly(server: str, errors: ErrorLog) -> None:
    before = metric(server, "rtb_client_disconnects_total")
    for path in ("/openrtb2/auction", "/track/conversion"):
        with closing(connect(server)) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                "content-length: 10000\r\n\r\n".encode()
                + b'{"id": "1", '
            )
    assert eventually(lambda: metric(server, "rtb_client_disconnects_total") == before + 2)
    assert errors.records == []
    still_serves(server)


def test_a_trickled_body_is_cut_off_with_408(server: str) -> None:
    with closing(connect(server)) as sock:
        sock.sendall(b"POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n")
        answer = trickle(sock, (b" " for _ in range(400)))
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"field":"body"' in answer
    assert metric(server, 'rtb_http_refused_total{reason="body_timeout"}') >= 1
    still_serves(server)


# -- heads -------------------------------------------------------------------------------------


def test_an_oversized_header_is_refused_before_it_is_buffered(server: str) -> None:
    """A 50 MB header: 431 while it is still being sent, and the server closes the
    connection after its bounded drain, long before the header ends."""
    total = 50 * 1024 * 1024
    sent = 0
    answer = b""
    with closing(connect(server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ")
        sock.settimeout(0.01)
        try:
            while sent < total:
                sock.sendall(b"a" * CHUNK)
                sent += CHUNK
                with suppress(TimeoutError):
                    answer += sock.recv(4096)
        except OSError:  # broken pipe or reset: the server closed it
            pass
    assert sent < total / 2
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"field":"headers"' in answer
    still_serves(server)


def test_too_many_headers_get_431(server: str) -> None:
    with closing(connect(server)) as sock:
        headers = "".join(f"x-h{n}: v\r\n" for n in range(150))
        sock.sendall(f"GET /healthz HTTP/1.1\r\nhost: x\r\n{headers}\r\n".encode())
        status, _, body = read_response(sock)
        assert status == 431
        assert orjson.loads(body) == {
            "error": {"field": "headers", "message": "more than 100 header fields"}
        }
        assert closed_by_server(sock)
    still_serves(server)


def test_headers_within_the_limits_pass(server: str) -> None:
    headers = {f"x-h{n}": "v" * 100 for n in range(90)}
    assert httpx.get(f"{server}/healthz", headers=headers).status_code == 200


def test_a_request_that_is_not_http_gets_400_naming_it(server: str) -> None:
    with closing(connect(server)) as sock:
        sock.sendall(b"HELLO there\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 400
        assert orjson.loads(body)["error"]["field"] == "request"
        assert closed_by_server(sock)
    still_serves(server)


def test_a_slowloris_head_is_cut_off_with_408(server: str) -> None:
    with closing(connect(server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        answer = trickle(sock, (f"x-slow-{n}: 1\r\n".encode() for n in range(400)))
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b'"field":"headers"' in answer
    assert metric(server, 'rtb_http_refused_total{reason="header_timeout"}') >= 1
    still_serves(server)


def test_a_connection_that_sends_nothing_is_closed(server: str) -> None:
    with closing(connect(server)) as sock:
        assert closed_by_server(sock)


def test_an_idle_keep_alive_connection_is_closed(server: str) -> None:
    with closing(connect(server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        status, headers, _ = read_response(sock)
        assert status == 200
        assert "connection" not in headers  # kept alive, until idle too long
        assert closed_by_server(sock)


# -- load --------------------------------------------------------------------------------------


def test_past_max_in_flight_a_bid_request_gets_a_no_bid_and_others_503(patient: str) -> None:
    held = [connect(patient) for _ in range(2)]
    try:
        for sock in held:  # each sits in its handler, waiting for the rest of its body
            sock.sendall(
                b"POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"
            )
        request = orjson.dumps(banner_request())
        conversion = {"click": "x", "sig": "y", "conversion_id": "c"}
        answer = httpx.post(f"{patient}/track/conversion", json=conversion)
        for _poll in range(250):
            if answer.status_code == 503:
                break
            time.sleep(0.02)
            answer = httpx.post(f"{patient}/track/conversion", json=conversion)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error"]["field"] == "server"
        shed = httpx.post(f"{patient}/openrtb2/auction", content=request)
        assert shed.status_code == 204  # the no-bid an SSP expects, at once
        assert shed.headers["x-openrtb-version"] == "2.6"
        assert httpx.get(f"{patient}/healthz").status_code == 200  # liveness is always admitted
        notice = httpx.get(f"{patient}/notices/billing", params={"t": "not-a-token"})
        assert notice.status_code == 403  # handled, not refused: notices are never shed
    finally:
        for sock in held:
            sock.close()
    assert eventually(
        lambda: httpx.post(f"{patient}/openrtb2/auction", content=request).status_code == 200
    )
    assert metric(patient, 'rtb_http_refused_total{reason="overloaded"}') >= 1
    assert metric(patient, 'rtb_nobids_total{reason="overloaded"}') >= 1


def test_past_max_connections_uvicorn_refuses_as_the_backstop(patient: str) -> None:
    idle = [connect(patient) for _ in range(5)]
    try:
        assert eventually(lambda: httpx.get(f"{patient}/readyz").status_code == 503)
        answer = httpx.get(f"{patient}/readyz")
        assert answer.text == "Service Unavailable"  # uvicorn's own, without Retry-After
        assert "retry-after" not in answer.headers
    finally:
        for sock in idle:
            sock.close()
    assert eventually(lambda: httpx.get(f"{patient}/readyz").status_code == 200)
