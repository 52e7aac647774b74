"""HttpBidder against real HTTP/2 peers (hypercorn, h2c and TLS): protocol, deadlines, every
scripted failure, gzip, headers, breaker, throttling, the shared encoded body; each through
both HTTP/2 engines (httpcore behind httpx's interface, and the exchange's own, called
without httpx's objects)."""

import asyncio
import contextlib
import dataclasses
import gzip
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from budget.breaker import BreakerState
from exchange.bidders.config import ExternalBidderSpec
from exchange.bidders.errors import (
    BidderError,
    BidderHTTPError,
    BidderResponseError,
    BidderTransportError,
    CircuitOpen,
    ResponseTooLarge,
    Throttled,
)
from exchange.bidders.h2_transport import h2_transport
from exchange.bidders.http import BodyCache, HttpBidder, HttpBidderMetrics
from exchange.bidders.transport import DspTransports, TransportOptions
from openrtb.codec import encode_request
from openrtb.imp import Imp
from openrtb.request import BidRequest
from tests.builders import banner_imp, banner_request
from tests.peers import Behaviour, Peer, PeerServer

AMPLE_S = 5.0
"""Deadline for calls whose timing is not under test: success must not depend on speed."""
SLACK_S = 1.0
"""Bound on how far past its deadline a call may end: generous (no speed claim), and still
far below the slow peer's 2 s and the hanging peer's forever."""

PEERS = [
    Peer("bid"),
    Peer("bid-tls", tls=True),
    Peer("gzip", gzip_response=True),
    Peer("gzip-tls", tls=True, gzip_response=True),
    Peer("nobid", Behaviour.NO_BID),
    Peer("empty", Behaviour.EMPTY),
    Peer("slow", Behaviour.SLOW),
    Peer("hang", Behaviour.HANG),
    Peer("hang-tls", Behaviour.HANG, tls=True),
    Peer("reset", Behaviour.RESET),
    Peer("error", Behaviour.ERROR_500),
    Peer("invalid", Behaviour.INVALID_JSON),
    Peer("wrong-id", Behaviour.WRONG_ID),
    Peer("too-many", Behaviour.TOO_MANY_BIDS),
    Peer("oversized", Behaviour.OVERSIZED),
    Peer("oversized-gzip", Behaviour.OVERSIZED, gzip_response=True),
    Peer("wrong-impid", Behaviour.WRONG_IMPID),
    Peer("negative", Behaviour.NEGATIVE_PRICE),
    Peer("blocked", Behaviour.BLOCKED_ADOMAIN),
    Peer("router", Behaviour.ROUTER),
    Peer("flaky"),
    Peer("second"),
]
BY_NAME = {peer.name: peer for peer in PEERS}
ENGINE = {"h2": "httpcore"}
"""The HTTP/2 engine ``bidders`` builds its pools with (``h2_engine`` sets it)."""


@pytest.fixture(scope="module", params=["httpcore", "lean"], autouse=True)
def h2_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    ENGINE["h2"] = request.param
    yield request.param
    ENGINE["h2"] = "httpcore"


def _lean(tls: ssl.SSLContext) -> httpx.AsyncBaseTransport:
    return h2_transport(verify=tls, connect_timeout=1.0)


def state_of(bidder: HttpBidder) -> BreakerState:
    """Read through a call, so that mypy does not narrow the property between reads."""
    return bidder.breaker.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server(h2_engine: str) -> Iterator[PeerServer]:
    """Peers of their own for each engine (the router peer remembers what it bid on)."""
    with PeerServer(PEERS) as peers:
        yield peers


@pytest.fixture(autouse=True)
def fresh_peers() -> None:
    for peer in PEERS:
        peer.seen.clear()


def view(**overrides: Any) -> BidRequest:
    return BidRequest.model_validate(banner_request(**overrides))


def ample(spec: ExternalBidderSpec) -> ExternalBidderSpec:
    """``spec`` with a timeout beyond the file's 50 ms cap, for calls not about timing."""
    return dataclasses.replace(spec, timeout_ms=int(AMPLE_S * 1000))


@asynccontextmanager
async def bidders(
    server: PeerServer, *specs: dict[str, Any], **options: Any
) -> AsyncIterator[list[HttpBidder]]:
    """HttpBidders for peers by name (``{"peer": name, **spec overrides}``), one BodyCache."""
    dsp_specs = [
        ample(BY_NAME[entry["peer"]].spec(**{k: v for k, v in entry.items() if k != "peer"}))
        if "timeout_ms" not in entry
        else BY_NAME[entry["peer"]].spec(**{k: v for k, v in entry.items() if k != "peer"})
        for entry in specs
    ]
    transports = DspTransports(
        dsp_specs,
        TransportOptions(ca_file=server.ca_file),
        http2_engine=_lean if ENGINE["h2"] == "lean" else None,
    )
    cache = options.pop("bodies", BodyCache())
    try:
        yield [
            HttpBidder(spec, transports.for_spec(spec), bodies=cache, **options)
            for spec in dsp_specs
        ]
    finally:
        await transports.aclose()


async def seen_by(peer: Peer, count: int) -> None:
    """Wait (bounded) until ``peer`` has received ``count`` requests."""
    deadline = time.monotonic() + 10
    while len(peer.seen) < count:
        assert time.monotonic() < deadline, f"{peer.name} saw {len(peer.seen)} of {count}"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("name", ["bid", "bid-tls"])
async def test_http2_is_negotiated_and_the_bid_comes_back(server: PeerServer, name: str) -> None:
    async with bidders(server, {"peer": name}) as (bidder,):
        request = view(imp=[banner_imp("1"), banner_imp("2")])
        response = await bidder.request_bids(request, AMPLE_S)
    assert bidder.last_http_version == b"HTTP/2"
    assert [seen.http_version for seen in BY_NAME[name].seen] == ["2"]
    assert response is not None
    assert response.id == request.id
    assert [bid.impid for seat in response.seatbid or () for bid in seat.bid] == ["1", "2"]


async def test_http1_keep_alive_when_configured(server: PeerServer) -> None:
    async with bidders(server, {"peer": "bid", "protocol": "http1.1"}) as (bidder,):
        for _ in range(2):
            assert await bidder.request_bids(view(), AMPLE_S) is not None
    assert bidder.last_http_version == b"HTTP/1.1"
    assert [seen.http_version for seen in BY_NAME["bid"].seen] == ["1.1", "1.1"]


async def test_prewarm_opens_one_connection_per_origin(server: PeerServer) -> None:
    specs = [BY_NAME[name].spec() for name in ("bid", "bid-tls", "reset")]
    transports = DspTransports(
        [*specs, BY_NAME["bid"].spec(name="bid-again")], TransportOptions(ca_file=server.ca_file)
    )
    try:
        assert len(transports.pools) == 3
        assert transports.for_spec(specs[0]) is transports.for_spec(
            BY_NAME["bid"].spec(name="bid-again")
        )
        outcome = await transports.prewarm(timeout_s=5)
    finally:
        await transports.aclose()
    assert outcome["bid"] is None
    assert outcome["bid-tls"] is None
    assert outcome["reset"] is not None
    assert BY_NAME["bid"].seen == [], "the pre-warm request is not a bid request"


class CountingEngine(httpx.AsyncBaseTransport):
    """Stands in for an alternative HTTP/2 engine: httpx with prior knowledge, counted."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=context, http1=False, http2=True)
        self.requests = 0
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed += 1
        await self.inner.aclose()


async def test_an_alternative_http2_engine_carries_every_h2c_origin(server: PeerServer) -> None:
    engines: list[CountingEngine] = []

    def engine(context: ssl.SSLContext) -> CountingEngine:
        engines.append(CountingEngine(context))
        return engines[-1]

    specs = [ample(BY_NAME[name].spec()) for name in ("bid", "second")]
    transports = DspTransports(specs, http2_engine=engine)
    try:
        for spec in specs:
            bidder = HttpBidder(spec, transports.for_spec(spec))
            assert await bidder.request_bids(view(), AMPLE_S) is not None
            assert bidder.last_http_version == b"HTTP/2"
    finally:
        await transports.aclose()
    (only,) = engines
    assert (only.requests, only.closed) == (2, 1)


async def test_tls_peer_with_an_unknown_ca_is_a_transport_error(server: PeerServer) -> None:
    spec = BY_NAME["bid-tls"].spec()
    transports = DspTransports([spec])  # the certifi bundle does not know the test CA
    try:
        bidder = HttpBidder(spec, transports.for_spec(spec))
        with pytest.raises(BidderTransportError):
            await bidder.request_bids(view(), AMPLE_S)
    finally:
        await transports.aclose()


@pytest.mark.parametrize(
    ("name", "error", "kind"),
    [
        ("error", BidderHTTPError, "http_status"),
        ("invalid", BidderResponseError, "bad_response"),
        ("wrong-id", BidderResponseError, "bad_response"),
        ("too-many", BidderResponseError, "bad_response"),
        ("oversized", ResponseTooLarge, "too_large"),
        ("oversized-gzip", ResponseTooLarge, "too_large"),
        ("reset", BidderTransportError, "transport"),
    ],
)
async def test_each_failure_has_its_kind(
    server: PeerServer, name: str, error: type[BidderError], kind: str
) -> None:
    async with bidders(server, {"peer": name, "gzip": name.endswith("gzip")}) as (bidder,):
        with pytest.raises(error) as raised:
            await bidder.request_bids(view(), AMPLE_S)
    assert type(raised.value) is error
    assert raised.value.kind == kind
    assert bidder.breaker.failures == 1


@pytest.mark.parametrize("name", ["slow", "hang", "hang-tls"])
async def test_a_late_peer_times_out_at_the_deadline(server: PeerServer, name: str) -> None:
    async with bidders(server, {"peer": name, "timeout_ms": 30}) as (bidder,):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await bidder.request_bids(view(), AMPLE_S)
        elapsed = time.monotonic() - started
    assert 0.029 <= elapsed <= 0.03 + SLACK_S
    assert bidder.breaker.failures == 1


async def test_the_exchange_deadline_counts_as_a_failure_too(server: PeerServer) -> None:
    """The exchange wraps the call in its own timeout of the same length, set a moment
    earlier: the bidder's own fires first, so the breaker sees the timeout."""
    async with bidders(server, {"peer": "hang"}) as (bidder,):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await bidder.request_bids(view(), 0.02)
    assert bidder.breaker.failures == 1


@pytest.mark.parametrize("name", ["nobid", "empty"])
async def test_no_bid_is_an_answer_not_a_failure(server: PeerServer, name: str) -> None:
    async with bidders(server, {"peer": name}) as (bidder,):
        bidder.breaker.record_failure()
        assert await bidder.request_bids(view(), AMPLE_S) is None
    assert bidder.breaker.failures == 0


@pytest.mark.parametrize("name", ["wrong-impid", "negative", "blocked"])
async def test_bid_content_is_left_to_the_exchange(server: PeerServer, name: str) -> None:
    """A well-formed answer with bad bids is passed on: the exchange drops the bids with
    their loss reasons (and counts them) while the rest of the answer still counts."""
    async with bidders(server, {"peer": name}) as (bidder,):
        response = await bidder.request_bids(view(), AMPLE_S)
    assert response is not None
    assert response.seatbid
    bid = response.seatbid[0].bid[0]
    assert (bid.impid, bid.price, bid.adomain) != ("1", 1.0, ["adv.example"])


async def test_the_router_peer_bids_from_its_campaigns(server: PeerServer) -> None:
    async with bidders(server, {"peer": "router"}) as (bidder,):
        response = await bidder.request_bids(view(), AMPLE_S)
    assert response is not None
    assert {seat.seat for seat in response.seatbid or ()} >= {"acme"}


async def test_tmax_is_the_deadline_and_headers_are_sent(server: PeerServer) -> None:
    auth = {"name": "authorization", "value": "Bearer s3cret"}
    async with bidders(server, {"peer": "bid", "timeout_ms": 40, "auth_header": auth}) as (b,):
        for timeout_s in (AMPLE_S, 0.025):  # the answer may be late: only the body matters
            with contextlib.suppress(TimeoutError):
                await b.request_bids(view(tmax=500), timeout_s)
        await seen_by(BY_NAME["bid"], 2)
    first, second = BY_NAME["bid"].seen
    assert (first.body["tmax"], second.body["tmax"]) == (40, 25)
    assert first.headers["authorization"] == "Bearer s3cret"
    assert first.headers["x-openrtb-version"] == "2.6"
    assert first.headers["content-type"] == "application/json"
    assert "content-encoding" not in first.headers
    expected = orjson.loads(encode_request(view()))
    assert {**first.body, "tmax": 120} == expected


@pytest.mark.parametrize("name", ["gzip", "gzip-tls"])
async def test_gzip_both_ways(server: PeerServer, name: str) -> None:
    async with bidders(server, {"peer": name, "gzip": True}, {"peer": "bid"}) as (zipped, plain):
        request = view()
        response = await zipped.request_bids(request, AMPLE_S)
        await plain.request_bids(request, AMPLE_S)
    seen = BY_NAME[name].seen[0]
    assert seen.headers["content-encoding"] == "gzip"
    assert seen.headers["accept-encoding"] == "gzip"
    assert seen.wire_bytes < len(encode_request(request))
    assert seen.body["id"] == request.id
    assert response is not None
    assert response.id == request.id
    assert BY_NAME["bid"].seen[0].headers["accept-encoding"] == "identity"


async def test_one_encoding_per_view_shared_by_bidders(server: PeerServer) -> None:
    cache = BodyCache()
    async with bidders(server, {"peer": "bid"}, {"peer": "second"}, bodies=cache) as pair:
        request = view()
        await asyncio.gather(*(bidder.request_bids(request, AMPLE_S) for bidder in pair))
        assert len(cache) == 1
        assert cache.body(request, 50, False) is cache.body(request, 50, False)
        await pair[0].request_bids(view(), AMPLE_S)
        assert len(cache) == 2, "another view object is encoded on its own"
    assert BY_NAME["bid"].seen[0].body == BY_NAME["second"].seen[0].body


def test_body_cache_splices_tmax_and_stays_bounded() -> None:
    cache = BodyCache(size=4)
    views = [view(tmax=999) for _ in range(6)]
    for index, request in enumerate(views):
        assert orjson.loads(cache.body(request, 10 + index, False))["tmax"] == 10 + index
    assert len(cache) == 4
    untimed = banner_request()
    del untimed["tmax"]
    assert orjson.loads(cache.body(BidRequest.model_validate(untimed), 7, False)) == {
        **untimed,
        "tmax": 7,
    }
    zipped = cache.body(views[-1], 33, True)
    assert orjson.loads(gzip.decompress(zipped)) == {
        **orjson.loads(encode_request(views[-1])),
        "tmax": 33,
    }


async def test_breaker_opens_then_a_probe_closes_it(server: PeerServer) -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    flaky = BY_NAME["flaky"]
    flaky.behaviour = Behaviour.ERROR_500
    try:
        async with bidders(
            server,
            {"peer": "flaky"},
            failure_threshold=3,
            cooldown_s=10,
            clock=clock,
            metrics=HttpBidderMetrics(registry),
        ) as (bidder,):
            for _ in range(3):
                with pytest.raises(BidderHTTPError):
                    await bidder.request_bids(view(), AMPLE_S)
            assert state_of(bidder) is BreakerState.OPEN
            assert not bidder.ready()
            with pytest.raises(CircuitOpen):
                await bidder.request_bids(view(), AMPLE_S)
            assert len(flaky.seen) == 3, "an open circuit does not call"
            assert registry.get_sample_value("rtb_bidder_circuit_state", {"bidder": "flaky"}) == 2

            clock.now += 10
            with pytest.raises(BidderHTTPError):  # the probe fails: open again
                await bidder.request_bids(view(), AMPLE_S)
            with pytest.raises(CircuitOpen):
                await bidder.request_bids(view(), AMPLE_S)

            flaky.behaviour = Behaviour.BID
            clock.now += 10
            assert await bidder.request_bids(view(), AMPLE_S) is not None
            assert state_of(bidder) is BreakerState.CLOSED
            assert bidder.ready()
            assert len(flaky.seen) == 5
    finally:
        flaky.behaviour = Behaviour.BID
    transitions = {
        state: registry.get_sample_value(
            "rtb_bidder_circuit_transitions_total", {"bidder": "flaky", "state": state}
        )
        for state in ("open", "half_open", "closed")
    }
    assert transitions == {"open": 2.0, "half_open": 2.0, "closed": 1.0}
    assert registry.get_sample_value("rtb_bidder_call_seconds_count", {"bidder": "flaky"}) == 5


async def test_timeouts_open_the_breaker(server: PeerServer) -> None:
    async with bidders(server, {"peer": "hang", "timeout_ms": 30}, failure_threshold=2) as (b,):
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await b.request_bids(view(), AMPLE_S)
        with pytest.raises(CircuitOpen):
            await b.request_bids(view(), AMPLE_S)
    assert state_of(b) is BreakerState.OPEN
    assert len(BY_NAME["hang"].seen) <= 2, "the open circuit did not call"


async def test_throttled_beyond_its_qps(server: PeerServer) -> None:
    clock = FakeClock()
    async with bidders(server, {"peer": "bid", "qps": 20}, clock=clock, burst=2) as (bidder,):
        assert await bidder.request_bids(view(), AMPLE_S) is not None
        assert await bidder.request_bids(view(), AMPLE_S) is not None
        with pytest.raises(Throttled):
            await bidder.request_bids(view(), AMPLE_S)
        clock.now += 0.05
        assert await bidder.request_bids(view(), AMPLE_S) is not None
    assert len(BY_NAME["bid"].seen) == 3
    assert bidder.breaker.failures == 0


@pytest.mark.parametrize(
    ("spec", "imp", "eligible"),
    [
        ({}, banner_imp(), True),
        ({"media_types": ["video"]}, banner_imp(), False),
        ({"sizes": ["728x90"]}, banner_imp(), False),
        ({"sizes": ["300x600"]}, banner_imp(), True),  # one of the imp's formats
        ({"sizes": ["728x90"], "media_types": ["banner", "video"]}, banner_imp(), False),
        (
            {"sizes": ["728x90"], "media_types": ["banner", "video"]},
            banner_imp(video={"mimes": ["video/mp4"]}),
            True,
        ),
        ({"media_types": ["native"]}, {"id": "1", "native": {"request": "{}"}}, True),
        ({"media_types": ["audio"]}, {"id": "1", "native": {"request": "{}"}}, False),
    ],
)
def test_eligible(spec: dict[str, Any], imp: dict[str, Any], eligible: bool) -> None:
    bidder = HttpBidder(BY_NAME["bid"].spec(endpoint="http://127.0.0.1:9/b", **spec), _NoCall())
    assert bidder.eligible(Imp.model_validate(imp)) is eligible


class _NoCall(httpx.AsyncBaseTransport):
    """A transport for bidders that are never called."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError("not called")
