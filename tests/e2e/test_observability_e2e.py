"""What an operator reads from a served exchange, over real sockets: request latency from
the first byte to the last, in-flight requests, event-loop lag, process and build series,
and one sampled log line per refused request or notice. Nothing is timed: a request held
for a delay must land in a bucket above it, counts must move by what was sent."""

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from app.main import create_app
from exchange.metrics import build_version
from exchange.settings import Settings
from tests.builders import banner_request
from tests.servers import serve_like_rtb

AUCTION = "/openrtb2/auction"
DURATION = "rtb_http_request_duration_seconds"
HELD_S = 0.06


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    settings = Settings(store="memory", header_timeout_s=30, body_timeout_s=30)
    with serve_like_rtb(create_app(settings), settings) as base:
        yield base


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def bucket(found: dict[Any, float], route: str, status: str, le: str) -> float:
    key = (f"{DURATION}_bucket", (("le", le), ("route", route), ("status", status)))
    return found.get(key, 0.0)


def one(found: dict[Any, float], name: str) -> float:
    return found[(name, ())]


def open_request(url: str, path: str, body: bytes) -> socket.socket:
    """A request whose head is sent and whose body is not yet."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def finish(sock: socket.socket, body: bytes) -> bytes:
    """Send the body; the whole answer."""
    sock.sendall(body)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    return answer


def test_build_info_and_process_series_are_exposed(url: str) -> None:
    found = samples(url)
    (build,) = [labels for name, labels in found if name == "rtb_build_info"]
    assert dict(build)["version"] == build_version()
    assert dict(build)["python"]
    assert one(found, "process_cpu_seconds_total") > 0
    assert one(found, "process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _ in found)


def test_a_request_held_between_head_and_body_lands_above_its_delay(url: str) -> None:
    before = samples(url)
    body = orjson.dumps(banner_request())
    sock = open_request(url, AUCTION, body)
    time.sleep(HELD_S)  # the latency runs from the head's arrival, not the body's
    answer = finish(sock, body)
    assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 204"))
    after = samples(url)
    for le in ("0.0005", "0.001", "0.002", "0.005", "0.01", "0.02", "0.03", "0.05"):
        assert bucket(after, AUCTION, "2xx", le) == bucket(before, AUCTION, "2xx", le), le
    assert bucket(after, AUCTION, "2xx", "+Inf") == bucket(before, AUCTION, "2xx", "+Inf") + 1
    # the auction's own histogram starts at the same arrival
    fast = ("rtb_auction_latency_seconds_bucket", (("le", "0.05"),))
    assert after[fast] == before[fast]


def test_in_flight_counts_a_held_request_and_returns_when_it_is_answered(url: str) -> None:
    body = orjson.dumps(banner_request())
    sock = open_request(url, AUCTION, body)
    try:
        for _ in range(200):  # until the server has started on it (the scrape is the other)
            if one(samples(url), "rtb_http_requests_in_flight") == 2:
                break
            time.sleep(0.01)
        assert one(samples(url), "rtb_http_requests_in_flight") == 2
    finally:
        finish(sock, body)
    assert one(samples(url), "rtb_http_requests_in_flight") == 1  # the scrape itself


def test_routes_are_labelled_by_template_and_unknown_paths_share_one_label(url: str) -> None:
    before = samples(url)
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/no/such/{time.time_ns()}").status_code == 404
    after = samples(url)
    assert bucket(after, "/healthz", "2xx", "+Inf") == bucket(before, "/healthz", "2xx", "+Inf") + 1
    unmatched = bucket(after, "unmatched", "4xx", "+Inf")
    assert unmatched == bucket(before, "unmatched", "4xx", "+Inf") + 1
    routes = {dict(labels)["route"] for name, labels in after if name == f"{DURATION}_count"}
    assert routes <= {AUCTION, "/healthz", "/metrics", "unmatched"}


def test_the_event_loop_lag_is_sampled(url: str) -> None:
    for _ in range(300):
        found = samples(url)
        if one(found, "rtb_event_loop_lag_seconds_count") >= 2:
            break
        time.sleep(0.05)
    assert one(found, "rtb_event_loop_lag_seconds_count") >= 2
    assert one(found, "rtb_event_loop_lag_last_seconds") >= 0


def test_refused_requests_and_notices_write_one_line_each_without_the_body(url: str) -> None:
    secret = "user-7f3a-private"
    with capture_logs() as logs:
        invalid = {**banner_request(), "imp": [], "user": {"id": secret}}
        answer = httpx.post(
            f"{url}{AUCTION}",
            content=orjson.dumps(invalid),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 400
        xml = {"content-type": "text/xml"}
        assert httpx.post(f"{url}{AUCTION}", content=b"<x/>", headers=xml).status_code == 415
        assert httpx.get(f"{url}/notices/win", params={"t": secret}).status_code == 403
        assert httpx.get(f"{url}/notices/billing").status_code == 400
        assert httpx.get(f"{url}/track/click", params={"t": secret}).status_code == 403
    rejected = [e for e in logs if e["event"] in ("request_rejected", "notice_rejected")]
    summary = [
        (e["event"], e.get("route", e.get("kind")), e["status"], e["reason"], e["field"])
        for e in rejected
    ]
    assert summary == [
        ("request_rejected", AUCTION, 400, "invalid", "imp"),
        ("request_rejected", AUCTION, 415, "unsupported_media_type", "content-type"),
        ("notice_rejected", "win", 403, "malformed", "t"),
        ("notice_rejected", "billing", 400, "missing", "t"),
        ("notice_rejected", "click", 403, "malformed", "t"),
    ]
    assert secret not in repr(logs)


async def test_the_lag_monitor_stops_with_the_lifespan() -> None:
    app = create_app(Settings(store="memory"))
    async with app.router.lifespan_context(app):
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert "loop-lag-monitor" in names
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert "loop-lag-monitor" not in names
