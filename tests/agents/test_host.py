"""The agent host against real gRPC peers: what each agent is sent, and how its answer, its
failure or its lateness ends up (outcomes, breaker, prices by bid)."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from agents.config import parse_agents
from agents.host import AgentHost, BidView
from agents.metrics import AgentMetrics
from agents.protos import artf_pb2
from agents.reference.server import REFERENCE_REPO_SERVICE
from auction.currency import CurrencyRates
from budget.breaker import BreakerState
from openrtb.codec import decode_request
from openrtb.privacy import privacy_signals
from openrtb.request import BidRequest
from tests.agents.agent_peers import AgentBehaviour, AgentPeer, AgentPeerServer
from tests.builders import banner_request

RATES = CurrencyRates("USD")


def entry(peer: AgentPeer, **overrides: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": peer.name,
        "target": peer.target,
        "stages": ["bid_request", "bid_response"],
        "intents": ["ACTIVATE_SEGMENTS", "BID_SHADE"],
        "segtax": 4,
        "bidders": ["a", "b"],
        "fields": ["site", "imp.banner"],
        "deadline_ms": 30,
    }
    found.update(overrides)
    return found


@asynccontextmanager
async def host_of(*entries: dict[str, Any]) -> AsyncIterator[AgentHost]:
    data = orjson.dumps({"allowed_segtax": [4], "agents": list(entries)})
    host = AgentHost(parse_agents(data, "agents.json"), AgentMetrics(CollectorRegistry()))
    try:
        yield host
    finally:
        await host.close()


def request(**overrides: Any) -> BidRequest:
    return decode_request(orjson.dumps(banner_request(**overrides)))


def shade(seat: str, bid_id: str, price: float) -> artf_pb2.Mutation:
    return artf_pb2.Mutation(
        intent=artf_pb2.BID_SHADE,
        op=artf_pb2.OPERATION_REPLACE,
        path=f"/seatbid/{seat}/bid/{bid_id}",
        adjust_bid=artf_pb2.AdjustBidPayload(price=price),
    )


def bid(bidder: str, seat: str, bid_id: str, micros: int) -> BidView:
    return BidView(bidder, seat, bid_id, "1", micros, None, None, None)


def auction_calls(peer: AgentPeer) -> Sequence[artf_pb2.RTBRequest]:
    return [seen.request for seen in peer.seen if seen.request.id != "warmup"]


async def test_bids_two_bidders_share_an_id_for_are_shown_to_no_agent() -> None:
    peer = AgentPeer("shader", mutations=[shade("s1", "1", 0.5), shade("s2", "7", 0.5)])
    with AgentPeerServer([peer]):
        async with host_of(entry(peer)) as host:
            bids = [bid("a", "s1", "1", 5_000_000), bid("b", "s1", "1", 1_000_000)]
            bids.append(bid("b", "s2", "7", 2_000_000))
            full = request(at=1)
            prices, reports = await host.on_bids(
                full, privacy_signals(full), bids, "auction-1", 0.05, RATES
            )
    (call,) = auction_calls(peer)
    shown = [(s.seat, b.id) for s in call.bid_response.seatbid for b in s.bid]
    assert shown == [("s2", "7")]
    assert prices == {2: 500_000}  # by the bid's index; the ambiguous pair is nobody's
    assert [d.reason for d in reports[0].decisions] == ["unknown_bid", "applied"]


async def test_an_agent_sees_only_the_bids_of_its_bidders() -> None:
    peer = AgentPeer("shader")
    with AgentPeerServer([peer]):
        async with host_of(entry(peer, bidders=["a"])) as host:
            bids = [bid("a", "s1", "1", 5_000_000), bid("b", "s2", "2", 1_000_000)]
            full = request(at=1)
            await host.on_bids(full, privacy_signals(full), bids, "auction-2", 0.05, RATES)
    (call,) = auction_calls(peer)
    assert call.lifecycle == artf_pb2.LIFECYCLE_DSP_BID_RESPONSE
    assert [(s.seat, [b.price for b in s.bid]) for s in call.bid_response.seatbid] == [
        ("s1", [5.0])
    ]


async def test_a_value_the_proto_cannot_hold_leaves_that_agent_out() -> None:
    peer = AgentPeer("watcher")
    with AgentPeerServer([peer]):
        async with host_of(entry(peer)) as host:
            raw = banner_request()
            raw["imp"][0]["banner"]["topframe"] = 2  # a flag, a bool in the proto
            full = decode_request(orjson.dumps(raw))
            change, reports = await host.on_request(full, privacy_signals(full), "auction-3", 0.05)
    assert [r.outcome for r in reports] == ["unencodable"]
    assert change.request is full
    assert auction_calls(peer) == []


async def test_a_deadline_the_exchange_cut_short_does_not_count_against_the_agent() -> None:
    peer = AgentPeer("slow", AgentBehaviour.SLOW, delay_s=1.0)
    with AgentPeerServer([peer]):
        async with host_of(entry(peer, deadline_ms=40, failure_threshold=1)) as host:
            full = request()
            signals = privacy_signals(full)
            _, reports = await host.on_request(full, signals, "auction-4", 0.005)
            assert [r.outcome for r in reports] == ["timeout"]
            client = host.clients["slow"]
            assert client.breaker.state is BreakerState.CLOSED
            _, reports = await host.on_request(full, signals, "auction-5", 0.05)
            assert [r.outcome for r in reports] == ["timeout"]  # its whole deadline: its fault
            assert client.breaker.state is BreakerState.OPEN
            _, reports = await host.on_request(full, signals, "auction-6", 0.05)
            assert [r.outcome for r in reports] == ["breaker_open"]


async def test_the_agents_request_carries_its_deadline_and_intents() -> None:
    peer = AgentPeer("audience")
    with AgentPeerServer([peer]):
        async with host_of(entry(peer, deadline_ms=20)) as host:
            full = request()
            await host.on_request(full, privacy_signals(full), "auction-7", 0.012)
    (call,) = auction_calls(peer)
    assert call.id == call.bid_request.id == "auction-7"
    assert call.tmax == 12  # the stage's budget, under its own 20 ms
    assert sorted(artf_pb2.Intent.Name(i) for i in call.applicable_intents) == [
        "ACTIVATE_SEGMENTS",
        "BID_SHADE",
    ]
    assert call.originator.type == artf_pb2.Originator.TYPE_EXCHANGE


async def test_an_agent_serving_another_service_name_is_told_apart() -> None:
    peer = AgentPeer("other", services=(REFERENCE_REPO_SERVICE,))
    with AgentPeerServer([peer]):
        async with host_of(entry(peer)) as host:
            full = request()
            _, reports = await host.on_request(full, privacy_signals(full), "auction-8", 0.05)
        assert [r.outcome for r in reports] == ["unimplemented"]
        service = {"service": REFERENCE_REPO_SERVICE}
        async with host_of(entry(peer, **service)) as host:
            _, reports = await host.on_request(full, privacy_signals(full), "auction-9", 0.05)
        assert [r.outcome for r in reports] == ["ok"]
