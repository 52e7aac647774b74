"""The exchange over a real socket as an ARTF host: agents over real gRPC (the reference agent
as its own process, scripted peers), an external DSP over real HTTP/2 that records what it
was sent. What the agents proposed and the policy accepted is what the DSP sees; what was
late, hostile or not allowed changes nothing. Every test runs with both ways of calling an
agent (``agents.channels``: the lean client, grpcio's)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from agents.protos import artf_pb2
from app.main import create_app
from exchange.settings import Settings
from tests.agents.agent_peers import (
    AgentBehaviour,
    AgentPeer,
    AgentPeerServer,
    AgentSeen,
    reference_agent_process,
)
from tests.builders import banner_request
from tests.peers import Peer, PeerServer
from tests.servers import serve

REFERENCE_RULES = Path(__file__).parents[2] / "agents" / "reference" / "demo_rules.json"
JSON_HEADERS = {"content-type": "application/json"}
SLACK_S = 1.0
"""How far past its deadline an auction may end: a bound, not a speed claim."""
REQUEST_FIELDS = ["site", "app", "device.geo", "imp.banner", "imp.video", "imp.pmp"]


@pytest.fixture(params=["lean", "grpcio"], autouse=True)
def agent_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the exchange calls its agents, as an operator would choose it."""
    engine: str = request.param
    monkeypatch.setenv("RTB_AGENT_GRPC_ENGINE", engine)
    return engine


def agent_entry(name: str, target: str, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "target": target,
        "stages": ["bid_request"],
        "intents": ["ACTIVATE_SEGMENTS", "ADJUST_DEAL_FLOOR"],
        "fields": REQUEST_FIELDS,
        "deadline_ms": 20,
        "segtax": 4,
        "gvl_vendor_id": 77,
    }
    entry.update(overrides)
    return entry


@contextmanager
def exchange_with(
    directory: Path, agents: list[dict[str, Any]], **settings: Any
) -> Iterator[tuple[Peer, httpx.Client]]:
    """One DSP peer that bids 2.00 on every imp, and an exchange with ``agents``."""
    dsp = Peer("dsp", price=2.0, seat="dsp-seat")
    with PeerServer([dsp]) as _:
        bidders = directory / "bidders.json"
        bidders.write_bytes(
            orjson.dumps(
                {"routers": [], "dsps": [{"name": "dsp", "endpoint": dsp.url, "protocol": "h2c"}]}
            )
        )
        agents_file = directory / "agents.json"
        agents_file.write_bytes(orjson.dumps({"allowed_segtax": [4], "agents": agents}))
        settings.setdefault("store", "memory")
        app = create_app(
            Settings(
                bidders_file=bidders,
                agents_file=agents_file,
                debug_allowed=True,
                log_json=True,
                **settings,
            )
        )
        with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            yield dsp, client


def sports_request(**overrides: Any) -> dict[str, Any]:
    """A banner request on a sports page with a pmp- deal at 1.00 USD, asking for debug."""
    request = banner_request(ext={"debug": 1}, **overrides)
    request["site"]["cat"] = ["IAB17"]
    request["imp"][0]["pmp"] = {"private_auction": 0, "deals": [{"id": "pmp-1", "bidfloor": 1.0}]}
    return request


def auction(client: httpx.Client, request: dict[str, Any]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post("/openrtb2/auction", content=orjson.dumps(request), headers=JSON_HEADERS)
    return response, time.monotonic() - started


def agent_reports(response: httpx.Response) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = response.json()["ext"]["debug"]["agents"]
    return reports


def metric(client: httpx.Client, name: str, labels: dict[str, str]) -> float:
    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def deal_floors(seen: dict[str, Any]) -> dict[str, float]:
    return {deal["id"]: deal["bidfloor"] for deal in seen["imp"][0]["pmp"]["deals"]}


def segments_of(seen: dict[str, Any], data_id: str) -> list[str]:
    for data in (seen.get("user") or {}).get("data") or []:
        if data.get("id") == data_id:
            return [segment["id"] for segment in data["segment"]]
    return []


def auction_calls(peer: AgentPeer) -> list[AgentSeen]:
    """The calls of auctions (not the start-up's warm-up calls, which carry no request)."""
    return [seen for seen in peer.seen if seen.request.HasField("bid_request")]


def mutation(intent: int, op: int, path: str, **value: Any) -> artf_pb2.Mutation:
    return artf_pb2.Mutation(intent=intent, op=op, path=path, **value)


def segments(*ids: str) -> artf_pb2.Mutation:
    return mutation(
        artf_pb2.ACTIVATE_SEGMENTS,
        artf_pb2.OPERATION_ADD,
        "/user/data/segment",
        ids=artf_pb2.IDsPayload(id=list(ids)),
    )


def deal_floor(path: str, floor: float) -> artf_pb2.Mutation:
    return mutation(
        artf_pb2.ADJUST_DEAL_FLOOR,
        artf_pb2.OPERATION_REPLACE,
        path,
        adjust_deal=artf_pb2.AdjustDealPayload(bidfloor=floor),
    )


def test_the_reference_agent_changes_what_the_bidder_is_sent(tmp_path: Path) -> None:
    with (
        reference_agent_process(REFERENCE_RULES) as target,
        exchange_with(tmp_path, [agent_entry("reference", target)]) as (dsp, client),
    ):
        response, _ = auction(client, sports_request())
        assert response.status_code == 200
        seen = dsp.seen[-1].body
        assert segments_of(seen, "reference") == ["artf-sports"]
        assert deal_floors(seen) == {"pmp-1": 1.5}  # its pmp- rule: at least 1.50
        data = next(d for d in seen["user"]["data"] if d["id"] == "reference")
        assert data["ext"] == {"segtax": 4}  # the taxonomy is the agent's declared one
        (report,) = agent_reports(response)
        assert report["outcome"] == "ok"
        assert [(m["intent"], m["reason"]) for m in report["mutations"]] == [
            ("ACTIVATE_SEGMENTS", "applied"),
            ("ADJUST_DEAL_FLOOR", "applied"),
        ]
        assert metric(client, "rtb_agent_mutations_total", {"reason": "applied"}) == 2
        assert metric(client, "rtb_agent_calls_total", {"agent": "reference", "outcome": "ok"})
        assert client.get("/readyz").json()["agents"] == {"reference": "closed"}


def test_an_agent_sees_only_its_fields_after_the_privacy_rules(tmp_path: Path) -> None:
    peer = AgentPeer("watcher")
    with AgentPeerServer([peer]):
        entry = agent_entry("watcher", peer.target, fields=["site", "device.geo"])
        del entry["gvl_vendor_id"]  # no vendor id: no personal data under GDPR
        with exchange_with(tmp_path, [entry]) as (dsp, client):
            request = sports_request(regs={"gdpr": 1})
            request["device"]["geo"].update({"lat": 40.71, "lon": -74.0})
            response, _ = auction(client, request)
            assert response.status_code == 200
        (call,) = auction_calls(peer)
        shown = call.request.bid_request
        assert call.request.lifecycle == artf_pb2.LIFECYCLE_PUBLISHER_BID_REQUEST
        assert call.request.id == shown.id == dsp.seen[-1].body["id"]  # the auction's id
        assert shown.id != request["id"]
        shown_fields = {f.name for f, _ in shown.ListFields()}
        assert shown_fields <= {"at", "cur", "id", "imp", "site", "tmax", "device"}
        assert {"id", "imp", "site", "device"} <= shown_fields
        assert [f.name for f, _ in shown.imp[0].ListFields()] == ["id"]  # only its id
        geo = shown.device.geo
        assert geo.country == "USA"
        assert not geo.HasField("lat")  # coarse without consent
        assert not geo.HasField("lon")
        assert not shown.device.HasField("ip")  # not among its fields
        assert not shown.device.HasField("ua")
        assert not shown.HasField("user")
        assert not shown.HasField("regs")
        assert sorted(artf_pb2.Intent.Name(i) for i in call.request.applicable_intents) == [
            "ACTIVATE_SEGMENTS",
            "ADJUST_DEAL_FLOOR",
        ]
        assert 0 < call.request.tmax <= 20


def test_segments_are_refused_where_the_user_may_not_be_profiled(tmp_path: Path) -> None:
    peer = AgentPeer("audience", mutations=[segments("seg-1")])
    with (
        AgentPeerServer([peer]),
        exchange_with(tmp_path, [agent_entry("audience", peer.target)]) as (dsp, client),
    ):
        response, _ = auction(client, sports_request(regs={"coppa": 1}))
        (report,) = agent_reports(response)
        assert [m["reason"] for m in report["mutations"]] == ["privacy"]
        assert segments_of(dsp.seen[-1].body, "audience") == []


def test_a_slow_agent_is_left_behind_at_its_deadline(tmp_path: Path) -> None:
    slow = AgentPeer("slow", AgentBehaviour.SLOW, mutations=[segments("late")], delay_s=5.0)
    with (
        AgentPeerServer([slow]),
        exchange_with(tmp_path, [agent_entry("slow", slow.target, deadline_ms=10)]) as (
            dsp,
            client,
        ),
    ):
        response, elapsed_s = auction(client, sports_request())
        assert response.status_code == 200  # the DSP's bid still won
        assert elapsed_s < 0.12 + SLACK_S  # tmax 120 ms: nowhere near the agent's 5 s
        (report,) = agent_reports(response)
        assert report["outcome"] == "timeout"
        assert report["mutations"] == []
        assert segments_of(dsp.seen[-1].body, "slow") == []
        assert deal_floors(dsp.seen[-1].body) == {"pmp-1": 1.0}
        assert metric(client, "rtb_agent_calls_total", {"agent": "slow", "outcome": "timeout"})


def test_a_slow_agent_costs_the_others_nothing(tmp_path: Path) -> None:
    slow = AgentPeer("slow", AgentBehaviour.HANG)
    quick = AgentPeer("quick", mutations=[segments("seg-q")])
    with AgentPeerServer([slow, quick]):
        agents = [
            agent_entry("slow", slow.target, deadline_ms=15),
            agent_entry("quick", quick.target, deadline_ms=15),
        ]
        with exchange_with(tmp_path, agents) as (dsp, client):
            response, elapsed_s = auction(client, sports_request())
            assert elapsed_s < 0.12 + SLACK_S
            outcomes = {r["agent"]: r["outcome"] for r in agent_reports(response)}
            assert outcomes == {"slow": "timeout", "quick": "ok"}
            assert segments_of(dsp.seen[-1].body, "quick") == ["seg-q"]
            assert segments_of(dsp.seen[-1].body, "slow") == []


def test_hostile_agents_change_nothing_and_are_counted(tmp_path: Path) -> None:
    hostile = [
        AgentPeer("garbage", AgentBehaviour.GARBAGE),
        AgentPeer("failing", AgentBehaviour.ERROR),
        AgentPeer("wrong-id", AgentBehaviour.WRONG_ID, mutations=[segments("x")]),
        AgentPeer("many", AgentBehaviour.MANY, many=500),
        AgentPeer(
            "liar",
            mutations=[
                segments("ok", "not/an/id"),  # an id no taxonomy has
                deal_floor("/imp/1/pmp/deals/pmp-1", 0.10),  # below the publisher's 1.00
                deal_floor("/imp/9/pmp/deals/pmp-1", 3.0),  # no such imp
                deal_floor("/site/../../budget", 3.0),  # no such path
                mutation(  # not declared by this agent
                    artf_pb2.BID_SHADE,
                    artf_pb2.OPERATION_REPLACE,
                    "/seatbid/dsp-seat/bid/dsp-0",
                    adjust_bid=artf_pb2.AdjustBidPayload(price=0.01),
                ),
                mutation(  # the wrong op for its intent
                    artf_pb2.ACTIVATE_SEGMENTS,
                    artf_pb2.OPERATION_REMOVE,
                    "/user/data/segment",
                    ids=artf_pb2.IDsPayload(id=["x"]),
                ),
                artf_pb2.Mutation(intent=artf_pb2.INTENT_UNSPECIFIED),
            ],
        ),
    ]
    with AgentPeerServer(hostile):
        entries = [
            agent_entry(peer.name, peer.target, max_mutations=100, deadline_ms=30)
            for peer in hostile
        ]
        with exchange_with(tmp_path, entries) as (dsp, client):
            response, _ = auction(client, sports_request())
            assert response.status_code == 200
            outcomes = {r["agent"]: r["outcome"] for r in agent_reports(response)}
            assert outcomes == {
                "garbage": "garbage",
                "failing": "error",
                "wrong-id": "wrong_id",
                "many": "too_many",
                "liar": "ok",
            }
            liar = next(r for r in agent_reports(response) if r["agent"] == "liar")
            assert [m["reason"] for m in liar["mutations"]] == [
                "bad_value",
                "below_publisher_floor",
                "unknown_imp",
                "bad_path",
                "intent_not_declared",
                "bad_op",
                "unknown_intent",
            ]
            seen = dsp.seen[-1].body
            assert not (seen.get("user") or {}).get("data")
            assert deal_floors(seen) == {"pmp-1": 1.0}
            assert metric(client, "rtb_agent_mutations_total", {"reason": "applied"}) == 0
            assert metric(client, "rtb_agent_calls_total", {"outcome": "garbage"}) == 1


def test_an_answer_over_the_agents_size_limit_is_refused(tmp_path: Path) -> None:
    # 300 KB against the default limit of 64 KB (an 8 MB answer, built in the test's own
    # process, would take longer to make than the deadline).
    huge = AgentPeer("huge", AgentBehaviour.HUGE, huge_bytes=300_000)
    with (
        AgentPeerServer([huge]),
        exchange_with(tmp_path, [agent_entry("huge", huge.target, deadline_ms=50)]) as (
            dsp,
            client,
        ),
    ):
        response, _ = auction(client, sports_request())
        assert response.status_code == 200
        (report,) = agent_reports(response)
        assert report["outcome"] == "too_large"
        assert not (dsp.seen[-1].body.get("user") or {}).get("data")
        assert metric(client, "rtb_agent_calls_total", {"outcome": "too_large"}) == 1


def test_an_agent_that_keeps_failing_is_no_longer_called(tmp_path: Path) -> None:
    failing = AgentPeer("failing", AgentBehaviour.ERROR)
    with (
        AgentPeerServer([failing]),
        exchange_with(
            tmp_path,
            [agent_entry("failing", failing.target, failure_threshold=2, cooldown_s=600)],
        ) as (_, client),
    ):
        outcomes = [agent_reports(auction(client, sports_request())[0])[0]["outcome"]]
        outcomes += [agent_reports(auction(client, sports_request())[0])[0]["outcome"]]
        outcomes += [agent_reports(auction(client, sports_request())[0])[0]["outcome"]]
        assert outcomes == ["error", "error", "breaker_open"]
        assert len(auction_calls(failing)) == 2
        assert client.get("/readyz").json()["agents"] == {"failing": "open"}
        assert client.get("/readyz").status_code == 200  # an agent down is not unreadiness


@pytest.mark.parametrize("service", ["spec", "reference-repo"])
def test_the_reference_agent_shades_a_first_price_bid(tmp_path: Path, service: str) -> None:
    name = (
        "com.iabtechlab.bidstream.mutation.v1.RTBExtensionPoint"
        if service == "spec"
        else "com.iabtechlab.bidstream.mutation.services.v1.RTBExtensionPoint"
    )
    entry = agent_entry(
        "shader",
        "",
        stages=["bid_response"],
        intents=["BID_SHADE"],
        service=name,
        fields=["imp.banner"],
        bidders=["dsp"],
    )
    del entry["segtax"]
    with reference_agent_process(REFERENCE_RULES) as target:
        entry["target"] = target
        with exchange_with(tmp_path, [entry]) as (_, client):
            response, _ = auction(client, sports_request(at=1))
            assert response.status_code == 200
            (bid,) = response.json()["seatbid"][0]["bid"]
            assert bid["price"] == pytest.approx(1.9)  # the default rule: 95 % of 2.00
            (report,) = agent_reports(response)
            assert report["stage"] == "bid_response"
            assert [m["reason"] for m in report["mutations"]] == ["applied"]


@pytest.mark.redis
def test_the_auction_event_keeps_the_agents_audit(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    peer = AgentPeer("audience", mutations=[segments("seg-1"), deal_floor("/imp/1/x", 2.0)])
    with (
        AgentPeerServer([peer]),
        exchange_with(
            tmp_path,
            [agent_entry("audience", peer.target)],
            store="redis",
            ledger_init="auto",
            redis_url=redis_url,
            key_prefix=key_prefix,
            notice_secret="a-notice-secret-of-the-test-32-bytes!",
        ) as (_, client),
    ):
        response, _ = auction(client, sports_request())
        assert response.status_code == 200
        stream = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            found: list[dict[str, str]] = []
            for _poll in range(250):
                entries = stream.xrange(f"{key_prefix}events")
                found = [fields for _, fields in entries if fields.get("kind") == "auction"]
                if found:
                    break
                time.sleep(0.02)
        finally:
            stream.close()
    (event,) = found
    assert orjson.loads(event["agents"]) == [
        [
            "audience",
            "bid_request",
            "ok",
            [
                ["ACTIVATE_SEGMENTS", "/user/data/segment", "applied"],
                ["ADJUST_DEAL_FLOOR", "/imp/1/x", "bad_path"],
            ],
        ]
    ]
