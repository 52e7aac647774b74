"""The exchange over a real socket calling external DSPs over real HTTP/2 sockets: ten that
bid (h2c and TLS) and one that hangs, then the project's own router served as a DSP."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.peers import Behaviour, Peer, PeerServer
from tests.servers import serve

HANG_TIMEOUT_MS = 40
BREAKER_FAILURES = 3
SLACK_S = 1.0
"""How far past the deadline an auction may end: a bound, not a speed claim."""
JSON_HEADERS = {"content-type": "application/json"}


@contextmanager
def exchange_with(
    directory: Path, peers: list[Peer], router_file: Path | None = None, **per_peer: dict[str, Any]
) -> Iterator[tuple[PeerServer, httpx.Client]]:
    """The peers served, and an exchange whose bidders file names them (DSPs only)."""
    with PeerServer(peers, router_file) as server:
        dsps = [
            {
                "name": peer.name,
                "endpoint": peer.url,
                "protocol": "h2" if peer.tls else "h2c",
                **per_peer.get(peer.name, {}),
            }
            for peer in peers
        ]
        path = directory / "bidders.json"
        path.write_bytes(orjson.dumps({"routers": [], "dsps": dsps}))
        settings = Settings(
            store="memory",
            bidders_file=path,
            dsp_ca_file=server.ca_file,
            dsp_breaker_failures=BREAKER_FAILURES,
            dsp_breaker_cooldown_s=600,
            log_json=True,
        )
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
            yield server, client


def auction(client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(
        "/openrtb2/auction", content=orjson.dumps(banner_request()), headers=JSON_HEADERS
    )
    return response, time.monotonic() - started


def metric(client: httpx.Client, name: str, labels: dict[str, str]) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def errors_by_bidder(client: httpx.Client) -> dict[str, float]:
    """Failed calls so far (any kind) per bidder, from the exchange's /metrics."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "rtb_bidder_errors_total":
                bidder = sample.labels["bidder"]
                totals[bidder] = totals.get(bidder, 0.0) + sample.value
    return totals


def test_ten_bidders_and_one_hanging(tmp_path: Path) -> None:
    bidders = [Peer(f"dsp-{n}", price=1.0 + n / 10, tls=n % 2 == 1) for n in range(10)]
    hanging = Peer("hanging", Behaviour.HANG)
    peers = [*bidders, hanging]
    with exchange_with(tmp_path, peers, hanging={"timeout_ms": HANG_TIMEOUT_MS}) as (_, client):
        for _ in range(BREAKER_FAILURES):
            before = errors_by_bidder(client)
            response, elapsed = auction(client)
            after = errors_by_bidder(client)
            assert after.get("hanging", 0) == before.get("hanging", 0) + 1
            # Normally all ten answer; on a starved machine one may miss the 50 ms deadline,
            # and the auction must then be right among those that did answer.
            answered = sorted(
                (peer.price, peer.name)
                for peer in bidders
                if after.get(peer.name, 0) == before.get(peer.name, 0)
            )
            assert len(answered) >= 2
            assert response.status_code == 200, response.text
            (seatbid,) = response.json()["seatbid"]
            (bid,) = seatbid["bid"]
            # The highest bid wins and pays the second-highest plus the increment.
            expected = (answered[-1][1], round(answered[-2][0] + 0.01, 2))
            assert (seatbid["seat"], bid["price"]) == expected
            # It waited for the hanging DSP's deadline, and not much longer.
            assert HANG_TIMEOUT_MS / 1000 <= elapsed <= HANG_TIMEOUT_MS / 1000 + SLACK_S

        assert {peer.seen[-1].http_version for peer in peers if peer.seen} == {"2"}
        # Its own timeout is its tmax, unless what the auction's tmax left (which every bidder
        # of that auction got, capped by its own timeout) was already less.
        for auction_calls in zip(hanging.seen, *(peer.seen for peer in bidders), strict=False):
            hanging_call, *others = auction_calls
            left_ms = max(call.body["tmax"] for call in others)
            assert hanging_call.body["tmax"] == min(HANG_TIMEOUT_MS, left_ms)
        errors = {"bidder": "hanging"}
        assert metric(client, "rtb_bidder_errors_total", {**errors, "kind": "timeout"}) == 3
        assert metric(client, "rtb_bidder_errors_total", {**errors, "kind": "circuit_open"}) == 0
        assert metric(client, "rtb_bidder_circuit_state", errors) == 2
        called = len(hanging.seen)

        response, _ = auction(client)  # the breaker is open: the hanging DSP is not called
        assert response.status_code == 200
        assert metric(client, "rtb_bidder_errors_total", {**errors, "kind": "circuit_open"}) == 1
        assert len(hanging.seen) == called <= BREAKER_FAILURES

        ready = client.get("/readyz").json()
        assert ready["bidders"]["hanging"] is False


def router_file(directory: Path) -> Path:
    """One campaign bidding 2.40 on 300x250: the DSP the router peer serves."""
    spec = {
        "routers": [
            {
                "name": "house",
                "campaigns": [
                    {
                        "id": "house-campaign",
                        "advertiser": "House",
                        "seat": "house",
                        "bid_cpm": "2.40",
                        "daily_budget": "100",
                        "creatives": [
                            {
                                "id": "house-300x250",
                                "w": 300,
                                "h": 250,
                                "adomain": ["house.example"],
                                "adm": '<img src="https://house.example/i.png">',
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = directory / "router.json"
    path.write_bytes(orjson.dumps(spec))
    return path


def test_the_router_served_as_a_dsp_wins(tmp_path: Path) -> None:
    router = Peer("house-dsp", Behaviour.ROUTER, tls=True)
    other = Peer("other", price=1.5)
    with exchange_with(tmp_path, [router, other], router_file(tmp_path)) as (_, client):
        response, _ = auction(client)
    assert response.status_code == 200, response.text
    (seatbid,) = response.json()["seatbid"]
    (bid,) = seatbid["bid"]
    # The router's campaign bids 2.40 and pays the other DSP's 1.50 plus the increment.
    assert (seatbid["seat"], bid["cid"], bid["price"]) == ("house", "house-campaign", 1.51)
    assert len(router.seen) == 1
    assert router.seen[0].http_version == "2"


def test_an_external_dsps_landing_page_is_never_signed_into_a_click_redirect(
    tmp_path: Path,
) -> None:
    """Only the exchange's own creatives get ``${RTB_CLICK_URL}``: a DSP that asks for it
    gets its markup back untouched, so the exchange neither redirects to a page it never
    vetted nor counts clicks it cannot vouch for."""
    dsp = Peer("asks-for-clicks", Behaviour.LANDING_URL)
    with exchange_with(tmp_path, [dsp]) as (_, client):
        response, _ = auction(client)
    assert response.status_code == 200, response.text
    (bid,) = response.json()["seatbid"][0]["bid"]
    assert "/track/click" not in bid["adm"]
    assert "${RTB_CLICK_URL}" in bid["adm"]
    assert bid["ext"] == {"landing_url": "https://phishing.example/login"}
