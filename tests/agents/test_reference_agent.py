"""The reference ARTF agent: its rules language and rules -> mutations logic (pure, no gRPC),
the agent process over real gRPC under both service names, and the agent test peers."""

import json
import math
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from agents.protos import artf_pb2, openrtb_pb2
from agents.protos.artf_services_pb2_grpc import RTBExtensionPointStub
from agents.reference.rules import (
    FIELDS,
    DealFloorRule,
    Rules,
    RulesError,
    evaluate,
    field_values,
    load_rules,
    mutations_for,
    parse_rules,
    raised_floor,
)
from agents.reference.server import (
    REFERENCE_REPO_SERVICE,
    SPEC_SERVICE,
    ReferenceAgent,
    budget_s,
)
from tests.agents.agent_peers import (
    GARBAGE_BYTES,
    AgentBehaviour,
    AgentPeer,
    AgentPeerServer,
    method_path,
    reference_agent_process,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_RULES = REPO_ROOT / "agents" / "reference" / "demo_rules.json"
MiB = 1024 * 1024

BidRequest = openrtb_pb2.BidRequest


# --- builders ----------------------------------------------------------------------------


def bid_request(**fields: Any) -> openrtb_pb2.BidRequest:
    """A BidRequest with one banner imp unless ``imp`` is given."""
    fields.setdefault("id", "br-1")
    fields.setdefault("imp", [BidRequest.Imp(id="1", banner=BidRequest.Banner(w=300, h=250))])
    return BidRequest(**fields)


def rtb_request(
    request: openrtb_pb2.BidRequest | None = None,
    *,
    lifecycle: artf_pb2.Lifecycle = artf_pb2.LIFECYCLE_PUBLISHER_BID_REQUEST,
    intents: tuple[artf_pb2.Intent, ...] = (),
    response: openrtb_pb2.BidResponse | None = None,
    tmax: int = 0,
) -> artf_pb2.RTBRequest:
    message = artf_pb2.RTBRequest(
        lifecycle=lifecycle, id="ext-1", applicable_intents=list(intents), tmax=tmax
    )
    if request is not None:
        message.bid_request.CopyFrom(request)
    if response is not None:
        message.bid_response.CopyFrom(response)
    return message


def deal_imp(imp_id: str, *deals: tuple[str, float] | tuple[str, float, str]) -> BidRequest.Imp:
    """An imp with a pmp of ``(deal id, floor[, currency])`` deals."""
    pmp = BidRequest.Pmp()
    for deal in deals:
        entry = pmp.deals.add(id=deal[0], bidfloor=deal[1])
        if len(deal) == 3:
            entry.bidfloorcur = deal[2]
    return BidRequest.Imp(id=imp_id, banner=BidRequest.Banner(), pmp=pmp)


def bid_response(*seatbids: tuple[str, list[tuple[str, float]]]) -> openrtb_pb2.BidResponse:
    response = openrtb_pb2.BidResponse(id="br-1", cur="USD")
    for seat, bids in seatbids:
        seatbid = response.seatbid.add(seat=seat)
        for bid_id, price in bids:
            seatbid.bid.add(id=bid_id, impid="1", price=price)
    return response


def segments_of(mutations: list[artf_pb2.Mutation]) -> list[str]:
    """The segment ids of the (single) ACTIVATE_SEGMENTS mutation, [] when none."""
    found = [m for m in mutations if m.intent == artf_pb2.ACTIVATE_SEGMENTS]
    assert len(found) <= 1
    if not found:
        return []
    (mutation,) = found
    assert mutation.op == artf_pb2.OPERATION_ADD
    assert mutation.path == "/user/data/segment"
    assert mutation.WhichOneof("value") == "ids"
    return list(mutation.ids.id)


def floors_of(mutations: list[artf_pb2.Mutation]) -> dict[str, float]:
    found = {}
    for m in mutations:
        if m.intent == artf_pb2.ADJUST_DEAL_FLOOR:
            assert m.op == artf_pb2.OPERATION_REPLACE
            assert m.WhichOneof("value") == "adjust_deal"
            found[m.path] = m.adjust_deal.bidfloor
    return found


def shades_of(mutations: list[artf_pb2.Mutation]) -> dict[str, float]:
    found = {}
    for m in mutations:
        if m.intent == artf_pb2.BID_SHADE:
            assert m.op == artf_pb2.OPERATION_REPLACE
            assert m.WhichOneof("value") == "adjust_bid"
            found[m.path] = m.adjust_bid.price
    return found


def segment_rules(*rules: tuple[str, dict[str, Any], list[str]]) -> Rules:
    return parse_rules({"segments": [{"name": n, "when": w, "activate": a} for n, w, a in rules]})


# --- segments ----------------------------------------------------------------------------


def test_matching_segment_rules_are_unioned_into_one_mutation() -> None:
    rules = segment_rules(
        ("sports", {"site.cat": {"contains": "IAB17"}}, ["sports", "shared"]),
        ("german", {"device.geo.country": {"equals": "DEU"}}, ["shared", "de"]),
        ("apps", {"app": {"present": True}}, ["never"]),
        ("always", {}, ["base"]),
    )
    request = bid_request(
        site=BidRequest.Site(domain="a.example", cat=["IAB1", "IAB17"]),
        device=BidRequest.Device(geo=BidRequest.Geo(country="DEU")),
    )
    mutations = mutations_for(rtb_request(request), rules)
    assert len(mutations) == 1
    assert segments_of(mutations) == ["sports", "shared", "de", "base"]


def test_no_mutation_when_no_segment_rule_matches() -> None:
    rules = segment_rules(("sports", {"site.cat": {"contains": "IAB17"}}, ["sports"]))
    assert mutations_for(rtb_request(bid_request(site=BidRequest.Site(cat=["IAB1"]))), rules) == []
    assert mutations_for(rtb_request(bid_request()), rules) == []  # no site at all


VIDEO_AND_BANNER = [
    BidRequest.Imp(id="1", banner=BidRequest.Banner(), tagid="top"),
    BidRequest.Imp(id="2", video=BidRequest.Video(), tagid="mid"),
]


@pytest.mark.parametrize(
    ("condition", "request_fields", "holds"),
    [
        ({"site.domain": {"equals": "news.example"}}, {"site": {"domain": "news.example"}}, True),
        ({"site.domain": {"equals": "news.example"}}, {"site": {"domain": "News.example"}}, False),
        (
            {"site.domain": {"in": ["a.example", "b.example"]}},
            {"site": {"domain": "b.example"}},
            True,
        ),
        ({"site.domain": {"suffix": ".example"}}, {"site": {"domain": "x.example"}}, True),
        ({"site.domain": {"suffix": ".example"}}, {"site": {"domain": "x.test"}}, False),
        ({"app.bundle": {"prefix": "com.example."}}, {"app": {"bundle": "com.example.app"}}, True),
        ({"app.bundle": {"prefix": "com.example."}}, {"site": {"domain": "com.example.x"}}, False),
        ({"site.cat": {"contains_any": ["IAB2", "IAB3"]}}, {"site": {"cat": ["IAB3"]}}, True),
        ({"site.cat": {"contains_any": ["IAB2", "IAB3"]}}, {"site": {"cat": ["IAB4"]}}, False),
        ({"site.cat": {"present": False}}, {"site": {"cat": []}}, True),
        ({"site.domain": {"present": False}}, {"site": {"domain": ""}}, True),
        (
            {"site.publisher.id": {"equals": "pub-1"}},
            {"site": {"publisher": {"id": "pub-1"}}},
            True,
        ),
        ({"site.publisher.id": {"present": True}}, {"site": {}}, False),
        ({"device.devicetype": {"in": [4, 5]}}, {"device": {"devicetype": 4}}, True),
        ({"device.devicetype": {"equals": 4}}, {"device": {"devicetype": 2}}, False),
        ({"device.devicetype": {"present": True}}, {"device": {}}, False),
        ({"imp.video": {"present": True}}, {"imp": VIDEO_AND_BANNER}, True),
        ({"imp.video": {"present": False}}, {"imp": VIDEO_AND_BANNER}, False),
        ({"imp.audio": {"present": False}}, {"imp": VIDEO_AND_BANNER}, True),
        ({"imp.tagid": {"equals": "mid"}}, {"imp": VIDEO_AND_BANNER}, True),
        ({"imp.tagid": {"equals": "low"}}, {"imp": VIDEO_AND_BANNER}, False),
        ({"imp.banner": {"present": True}}, {"imp": []}, False),
    ],
)
def test_each_condition(
    condition: dict[str, Any], request_fields: dict[str, Any], holds: bool
) -> None:
    rules = segment_rules(("rule", condition, ["hit"]))
    request = bid_request(**request_fields)
    assert segments_of(mutations_for(rtb_request(request), rules)) == (["hit"] if holds else [])


def test_all_conditions_of_a_rule_must_hold() -> None:
    rules = segment_rules(
        (
            "news-de",
            {"site.domain": {"suffix": "news.example"}, "device.geo.country": {"in": ["DEU"]}},
            ["news-de"],
        )
    )
    site = BidRequest.Site(domain="daily.news.example")
    german = BidRequest.Device(geo=BidRequest.Geo(country="DEU"))
    french = BidRequest.Device(geo=BidRequest.Geo(country="FRA"))
    assert segments_of(mutations_for(rtb_request(bid_request(site=site, device=german)), rules))
    assert not mutations_for(rtb_request(bid_request(site=site, device=french)), rules)


def test_every_rule_field_exists_in_the_openrtb_bid_request() -> None:
    """FIELDS names real proto fields: reading each one from a full request must not fail."""
    request = bid_request(
        site=BidRequest.Site(
            domain="d",
            cat=["c"],
            publisher=BidRequest.Publisher(id="p"),
            content=BidRequest.Content(cat=["c"]),
        ),
        device=BidRequest.Device(os="ios", devicetype=4, geo=BidRequest.Geo(country="USA")),
    )
    for name, spec in FIELDS.items():
        values = field_values(request, name)
        assert len(values) == (len(request.imp) if spec.per_imp else 1), name
    assert field_values(request, "site.publisher.id") == ["p"]
    assert field_values(request, "device.devicetype") == [4]
    assert field_values(request, "app.bundle") == [None]


# --- deal floors -------------------------------------------------------------------------

DEAL_RULES = {
    "deal_floors": [
        {"name": "premium", "deal_id": "premium-1", "multiplier": 1.1},
        {"name": "pmp", "deal_prefix": "pmp-", "min_floor": 1.5},
        {"name": "pmp-gold", "deal_prefix": "pmp-gold-", "multiplier": 2},
        {"name": "pmp-exact", "deal_id": "pmp-gold-x", "min_floor": 9},
        {
            "name": "eur",
            "deal_prefix": "eur-",
            "multiplier": 1.5,
            "min_floor": 4,
            "currency": "EUR",
        },
    ]
}


def test_deal_floors_are_raised_per_rule_with_the_imp_and_deal_in_the_path() -> None:
    request = bid_request(
        imp=[
            deal_imp("1", ("premium-1", 2.0), ("pmp-a", 1.0), ("pmp-b", 3.0), ("other", 1.0)),
            deal_imp("2", ("pmp-gold-1", 1.0), ("pmp-gold-x", 1.0)),
            deal_imp("3", ("eur-1", 2.0, "EUR"), ("eur-2", 2.0, "USD")),
            BidRequest.Imp(id="4", banner=BidRequest.Banner()),  # no pmp
        ]
    )
    floors = floors_of(mutations_for(rtb_request(request), parse_rules(DEAL_RULES)))
    assert floors == {
        "/imp/1/pmp/deals/premium-1": 2.2,  # x 1.1, rounded: not 2.2000000000000002
        "/imp/1/pmp/deals/pmp-a": 1.5,  # the minimum; pmp-b is above it, so untouched
        "/imp/2/pmp/deals/pmp-gold-1": 2.0,  # the longest prefix wins over "pmp-"
        "/imp/2/pmp/deals/pmp-gold-x": 9.0,  # an exact id wins over every prefix
        "/imp/3/pmp/deals/eur-1": 4.0,  # min_floor in EUR for an EUR deal
        "/imp/3/pmp/deals/eur-2": 3.0,  # a USD deal: the EUR minimum is not applied
    }


def test_deals_that_cannot_be_addressed_are_skipped() -> None:
    request = bid_request(imp=[deal_imp("", ("pmp-a", 1.0)), deal_imp("1", ("pmp-a/b", 1.0))])
    assert mutations_for(rtb_request(request), parse_rules(DEAL_RULES)) == []


@given(
    current=st.floats(min_value=0, max_value=1e6) | st.just(0.0),
    multiplier=st.none() | st.floats(min_value=1, max_value=100),
    min_floor=st.none() | st.floats(min_value=1e-6, max_value=1e6),
)
def test_a_floor_is_never_lowered(
    current: float, multiplier: float | None, min_floor: float | None
) -> None:
    if multiplier is None and min_floor is None:
        multiplier = 1.0
    rule = DealFloorRule("r", "d", None, multiplier, min_floor, "USD")
    floor = raised_floor(current, "USD", rule)
    assert floor is None or floor > current
    request = bid_request(imp=[deal_imp("1", ("d", current))])
    rules = Rules("v", deal_floors=(rule,))
    for mutation in mutations_for(rtb_request(request), rules):
        assert mutation.adjust_deal.bidfloor > current


def test_broken_floors_are_left_to_the_host() -> None:
    rule = DealFloorRule("r", "d", None, 2.0, 1.0, "USD")
    assert raised_floor(-1.0, "USD", rule) is None
    assert raised_floor(math.nan, "USD", rule) is None


# --- stages, intents, time ---------------------------------------------------------------


def demo_request() -> artf_pb2.RTBRequest:
    """A request the demo rules give segments and deal floors."""
    return rtb_request(
        bid_request(
            site=BidRequest.Site(domain="daily.news.example", cat=["IAB17"]),
            device=BidRequest.Device(geo=BidRequest.Geo(country="AUT"), ip="203.0.113.7"),
            user=BidRequest.User(id="user-secret-42"),
            imp=[deal_imp("1", ("premium-1", 2.0), ("pmp-7", 1.0))],
        )
    )


def test_applicable_intents_are_honoured() -> None:
    rules = load_rules(DEMO_RULES)
    everything = mutations_for(demo_request(), rules)
    assert segments_of(everything)
    assert floors_of(everything)

    request = demo_request()
    request.applicable_intents.append(artf_pb2.ADJUST_DEAL_FLOOR)
    only_floors = mutations_for(request, rules)
    assert {m.intent for m in only_floors} == {artf_pb2.ADJUST_DEAL_FLOOR}

    request = demo_request()
    request.applicable_intents.extend([artf_pb2.ADD_METRICS, artf_pb2.SUPPRESS_DEALS])
    assert mutations_for(request, rules) == []


def test_intents_unknown_to_this_proto_are_not_read_as_all_intents() -> None:
    """A host that allows only intent 9 (newer than this proto's closed enum) must get
    nothing: the parser moves 9 to the unknown fields and leaves the list empty."""
    intent_9 = b"\x3a\x01\x09"  # field 7, packed, one value: 9
    request = artf_pb2.RTBRequest.FromString(demo_request().SerializeToString() + intent_9)
    assert list(request.applicable_intents) == []
    assert mutations_for(request, load_rules(DEMO_RULES)) == []
    with_known = artf_pb2.RTBRequest.FromString(
        demo_request().SerializeToString() + b"\x3a\x02\x09\x04"  # 9 and ADJUST_DEAL_FLOOR
    )
    assert {m.intent for m in mutations_for(with_known, load_rules(DEMO_RULES))} == {
        artf_pb2.ADJUST_DEAL_FLOOR
    }


def test_bid_shading_only_at_the_bid_response_stage() -> None:
    rules = load_rules(DEMO_RULES)
    response = bid_response(
        ("demo-dsp", [("b1", 2.0), ("free", 0.0)]), ("other", [("b2", 1.0)]), ("", [("b3", 1.0)])
    )
    stage = rtb_request(
        demo_request().bid_request, lifecycle=artf_pb2.LIFECYCLE_DSP_BID_RESPONSE, response=response
    )
    mutations = mutations_for(stage, rules)
    assert shades_of(mutations) == {"/seatbid/demo-dsp/bid/b1": 1.8, "/seatbid/other/bid/b2": 0.95}
    assert {m.intent for m in mutations} == {artf_pb2.BID_SHADE}  # no segments at this stage

    request_stage = rtb_request(demo_request().bid_request, response=response)
    assert shades_of(mutations_for(request_stage, rules)) == {}

    unspecified = rtb_request(
        demo_request().bid_request, lifecycle=artf_pb2.LIFECYCLE_UNSPECIFIED, response=response
    )
    both = {m.intent for m in mutations_for(unspecified, rules)}
    assert both == {artf_pb2.ACTIVATE_SEGMENTS, artf_pb2.ADJUST_DEAL_FLOOR, artf_pb2.BID_SHADE}


def test_a_spent_budget_answers_what_is_ready() -> None:
    rules = segment_rules(("a", {}, ["a"]), ("b", {}, ["b"]), ("c", {}, ["c"]))
    request = rtb_request(bid_request())
    assert evaluate(request, rules, stop=lambda: True).mutations == []
    checks = iter([False, False, True])
    partial = evaluate(request, rules, stop=lambda: next(checks))
    assert not partial.complete
    assert segments_of(partial.mutations) == ["a", "b"]
    full = evaluate(request, rules, stop=lambda: False)
    assert full.complete
    assert segments_of(full.mutations) == ["a", "b", "c"]


class FakeClock:
    """Each reading advances ``step`` seconds: work "takes" time without sleeping."""

    def __init__(self, step: float) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_agent_answers_with_the_request_id_metadata_and_within_tmax() -> None:
    rules = segment_rules(*((f"r{n}", {}, [f"s{n}"]) for n in range(10)))
    agent = ReferenceAgent(rules, clock=FakeClock(step=0.001))  # 1 ms per rule
    request = rtb_request(bid_request(), tmax=5)  # budget: 80 % of 5 ms = 4 ms
    response = agent.answer(request)
    assert response.id == "ext-1"
    assert response.metadata.api_version == "1.0"
    assert response.metadata.model_version == rules.version
    assert 0 < len(segments_of(list(response.mutations))) < 10
    unlimited = agent.answer(rtb_request(bid_request()))
    assert len(segments_of(list(unlimited.mutations))) == 10


def test_budget_is_a_share_of_the_tighter_limit() -> None:
    assert budget_s(0, None) is None
    assert budget_s(100, None) == pytest.approx(0.08)
    assert budget_s(100, 0.05) == pytest.approx(0.04)
    assert budget_s(-5, 1.0) == pytest.approx(0.8)
    assert budget_s(10, -1.0) == 0.0


# --- the rules file ----------------------------------------------------------------------


def test_the_demo_rules_load_and_name_their_version(tmp_path: Path) -> None:
    rules = load_rules(DEMO_RULES)
    assert rules.version == "demo-1"
    assert rules.segments
    assert rules.deal_floors
    assert rules.bid_shading
    unversioned = tmp_path / "rules.json"
    unversioned.write_text(json.dumps({"segments": [{"name": "a", "activate": ["x"]}]}))
    version = load_rules(unversioned).version
    assert version.startswith("sha256:")
    assert version == load_rules(unversioned).version
    unversioned.write_text(json.dumps({"segments": [{"name": "a", "activate": ["y"]}]}))
    assert load_rules(unversioned).version != version


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ([], ["must be a JSON object"]),
        ({"segment": []}, ['field "segment"', "unknown"]),
        ({"version": ""}, ['field "version"']),
        ({"segments": {}}, ['field "segments"', "list"]),
        ({"segments": [{"activate": ["x"]}]}, ["segments[0]", 'field "name"']),
        (
            {"segments": [{"name": "a", "activate": ["x"]}, {"name": "a", "activate": ["y"]}]},
            ['rule "a"', "segments[1]", "duplicate"],
        ),
        ({"segments": [{"name": "s", "activate": []}]}, ['rule "s"', 'field "activate"']),
        ({"segments": [{"name": "s", "activate": [""]}]}, ['rule "s"', 'field "activate"']),
        (
            {
                "segments": [
                    {"name": "s", "when": {"site.dmain": {"equals": "x"}}, "activate": ["x"]}
                ]
            },
            ['rule "s"', 'field "when.site.dmain"', "unknown request field", "site.domain"],
        ),
        (
            {"segments": [{"name": "s", "when": {"user.id": {"equals": "x"}}, "activate": ["x"]}]},
            ['rule "s"', 'field "when.user.id"', "unknown request field"],
        ),
        (
            {"segments": [{"name": "s", "when": {"site.cat": {"equals": "x"}}, "activate": ["x"]}]},
            ['rule "s"', 'field "when.site.cat"', "'equals'", "contains"],
        ),
        (
            {"segments": [{"name": "s", "when": {"site.cat": "IAB1"}, "activate": ["x"]}]},
            ['rule "s"', 'field "when.site.cat"', "one operator"],
        ),
        (
            {
                "segments": [
                    {
                        "name": "s",
                        "when": {"site.domain": {"equals": "a", "suffix": "b"}},
                        "activate": ["x"],
                    }
                ]
            },
            ['field "when.site.domain"', "one operator"],
        ),
        (
            {"segments": [{"name": "s", "when": {"site.domain": {"in": []}}, "activate": ["x"]}]},
            ['field "when.site.domain.in"', "non-empty list of strings"],
        ),
        (
            {
                "segments": [
                    {
                        "name": "s",
                        "when": {"device.devicetype": {"equals": True}},
                        "activate": ["x"],
                    }
                ]
            },
            ['field "when.device.devicetype.equals"', "an integer"],
        ),
        (
            {"segments": [{"name": "s", "when": {"imp.video": {"present": 1}}, "activate": ["x"]}]},
            ['field "when.imp.video.present"', "true or false"],
        ),
        (
            {
                "segments": [
                    {"name": "s", "when": {"site.domain": {"prefix": ""}}, "activate": ["x"]}
                ]
            },
            ['field "when.site.domain.prefix"', "non-empty"],
        ),
        ({"segments": [{"name": "s", "activate": ["x"], "segs": 1}]}, ['rule "s"', 'field "segs"']),
        ({"deal_floors": [{"name": "d", "multiplier": 2}]}, ['rule "d"', 'field "deal_id"']),
        (
            {"deal_floors": [{"name": "d", "deal_id": "a", "deal_prefix": "a", "multiplier": 2}]},
            ['rule "d"', 'field "deal_id"', "exactly one"],
        ),
        ({"deal_floors": [{"name": "d", "deal_id": "a"}]}, ['rule "d"', 'field "multiplier"']),
        (
            {"deal_floors": [{"name": "d", "deal_id": "a", "multiplier": 0.9}]},
            ['rule "d"', 'field "multiplier"', "at least 1"],
        ),
        (
            {"deal_floors": [{"name": "d", "deal_id": "a", "multiplier": "2"}]},
            ['rule "d"', 'field "multiplier"', "number"],
        ),
        (
            {"deal_floors": [{"name": "d", "deal_id": "a", "min_floor": 0}]},
            ['rule "d"', 'field "min_floor"'],
        ),
        (
            {"deal_floors": [{"name": "d", "deal_id": "a", "min_floor": 1, "currency": "usd"}]},
            ['rule "d"', 'field "currency"'],
        ),
        (
            {
                "deal_floors": [
                    {"name": "d1", "deal_prefix": "a", "multiplier": 2},
                    {"name": "d2", "deal_prefix": "a", "min_floor": 1},
                ]
            },
            ['rule "d2"', 'field "deal_prefix"', 'rule "d1"'],
        ),
        ({"bid_shading": [{"name": "b", "fraction": 1}]}, ['rule "b"', 'field "fraction"']),
        (
            {"deal_floors": [{"name": "d", "deal_id": "a", "multiplier": 10**400}]},
            ['rule "d"', 'field "multiplier"', "finite"],
        ),
        ({"description": 3}, ["top level", 'field "description"']),
        (
            {"segments": [{"name": "s", "activate": ["x"], "description": ["x"]}]},
            ['rule "s"', 'field "description"'],
        ),
        ({"bid_shading": [{"name": "b"}]}, ['rule "b"', 'field "fraction"']),
        (
            {"bid_shading": [{"name": "b1", "fraction": 0.9}, {"name": "b2", "fraction": 0.8}]},
            ['rule "b2"', 'field "seat"', 'rule "b1"'],
        ),
    ],
)
def test_a_bad_rules_file_names_the_rule_and_field(data: object, fragments: list[str]) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(data, source="bad.json")
    message = str(caught.value)
    assert message.startswith("bad.json: ")
    for fragment in fragments:
        assert fragment in message


def test_a_rules_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text("{'segments': []}")
    with pytest.raises(RulesError, match="not JSON"):
        load_rules(path)
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.json")


# --- the agent process over gRPC ---------------------------------------------------------


@pytest.fixture(scope="module")
def agent_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_file = tmp_path_factory.mktemp("agent") / "agent.log"
    with reference_agent_process(DEMO_RULES, "--log-level", "debug", log_file=log_file) as target:
        yield target
    log = log_file.read_text(encoding="utf-8")
    assert '"event": "answered"' in log  # the calls below were logged...
    assert "user-secret-42" not in log
    assert "203.0.113.7" not in log


@pytest.fixture
async def channel(agent_target: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(agent_target) as channel:
        yield channel


def other_name_call(channel: grpc.aio.Channel) -> Any:
    """GetMutations under the reference repository's service name (the stub has the spec's)."""
    return channel.unary_unary(
        method_path(REFERENCE_REPO_SERVICE),
        request_serializer=artf_pb2.RTBRequest.SerializeToString,
        response_deserializer=artf_pb2.RTBResponse.FromString,
    )


async def test_the_agent_process_answers_under_both_service_names(
    channel: grpc.aio.Channel,
) -> None:
    request = demo_request()
    request.tmax = 1000
    response = await RTBExtensionPointStub(channel).GetMutations(request, timeout=10)
    assert response.id == "ext-1"
    assert response.metadata.api_version == "1.0"
    assert response.metadata.model_version == "demo-1"
    mutations = list(response.mutations)
    assert segments_of(mutations) == ["artf-sports", "artf-news", "artf-dach"]
    assert floors_of(mutations) == {
        "/imp/1/pmp/deals/premium-1": 2.5,
        "/imp/1/pmp/deals/pmp-7": 1.5,
    }
    other = await other_name_call(channel)(request, timeout=10)
    assert other == response


async def test_the_agent_process_shades_bids(channel: grpc.aio.Channel) -> None:
    request = rtb_request(
        lifecycle=artf_pb2.LIFECYCLE_DSP_BID_RESPONSE,
        response=bid_response(("demo-dsp", [("b1", 3.0)])),
        intents=(artf_pb2.BID_SHADE,),
    )
    response = await RTBExtensionPointStub(channel).GetMutations(request, timeout=10)
    assert shades_of(list(response.mutations)) == {"/seatbid/demo-dsp/bid/b1": 2.7}


async def test_the_agent_serves_only_the_names_it_is_given() -> None:
    with reference_agent_process(DEMO_RULES, "--service", REFERENCE_REPO_SERVICE) as target:
        async with grpc.aio.insecure_channel(target) as channel:
            answered = await other_name_call(channel)(demo_request(), timeout=10)
            assert answered.id == "ext-1"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await RTBExtensionPointStub(channel).GetMutations(demo_request(), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_the_agent_stops_cleanly_on_sigint() -> None:
    with reference_agent_process(DEMO_RULES, stop_signal=signal.SIGINT) as target:
        async with grpc.aio.insecure_channel(target) as channel:
            response = await RTBExtensionPointStub(channel).GetMutations(demo_request(), timeout=10)
            assert response.id == "ext-1"


def test_a_port_in_use_stops_the_agent_with_status_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "agents.reference",
                "--listen",
                f"127.0.0.1:{port}",
                "--rules",
                str(DEMO_RULES),
            ],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.reference", "--listen", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def test_a_bad_rules_file_stops_the_agent_with_status_2(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    bad = {
        "segments": [
            {"name": "sports", "when": {"site.catt": {"contains": "x"}}, "activate": ["s"]}
        ]
    }
    path.write_text(json.dumps(bad))
    result = run_agent("--rules", str(path))
    assert result.returncode == 2
    assert result.stdout == ""  # never "listening on"
    assert 'rule "sports"' in result.stderr
    assert 'field "when.site.catt"' in result.stderr


def test_the_process_helper_fails_with_the_agents_stderr(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"segments": [{"name": "x"}]}')
    with pytest.raises(pytest.fail.Exception) as caught, reference_agent_process(path):
        pass
    assert "did not start (exit 2" in str(caught.value)
    assert 'rule "x"' in str(caught.value)


def test_bad_arguments_stop_the_agent_with_status_2() -> None:
    result = run_agent("--rules", str(DEMO_RULES), "--service", "not a name")
    assert result.returncode == 2
    assert "--service" in result.stderr
    result = run_agent("--rules", str(DEMO_RULES), "--listen", "nowhere")
    assert result.returncode == 2
    assert "--listen" in result.stderr


# --- the agent peers ---------------------------------------------------------------------


def segment_mutation(*ids: str) -> artf_pb2.Mutation:
    return artf_pb2.Mutation(
        intent=artf_pb2.ACTIVATE_SEGMENTS,
        op=artf_pb2.OPERATION_ADD,
        path="/user/data/segment",
        ids=artf_pb2.IDsPayload(id=list(ids)),
    )


async def call(
    peer: AgentPeer,
    request: artf_pb2.RTBRequest | None = None,
    *,
    deadline_s: float = 10,
    service: str = SPEC_SERVICE,
    options: list[tuple[str, Any]] | None = None,
) -> artf_pb2.RTBResponse:
    async with grpc.aio.insecure_channel(peer.target, options=options) as channel:
        method = channel.unary_unary(
            method_path(service),
            request_serializer=artf_pb2.RTBRequest.SerializeToString,
            response_deserializer=artf_pb2.RTBResponse.FromString,
        )
        response: artf_pb2.RTBResponse = await method(request or demo_request(), timeout=deadline_s)
        return response


async def status_of(peer: AgentPeer, **kwargs: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(peer, **kwargs)
    return caught.value


async def test_answer_peers_record_requests_and_can_be_rescripted() -> None:
    fixed = AgentPeer("fixed", mutations=[segment_mutation("a")])
    echo = AgentPeer("echo", mutations=lambda r: [segment_mutation(r.bid_request.id)])
    with AgentPeerServer([fixed, echo]):
        assert fixed.target != echo.target
        response = await call(fixed, deadline_s=5)
        assert response.id == "ext-1"
        assert segments_of(list(response.mutations)) == ["a"]
        assert response.metadata.model_version == "peer-1"
        (seen,) = fixed.seen
        assert seen.service == SPEC_SERVICE
        assert seen.request == demo_request()
        assert seen.time_remaining_s is not None
        # the caller's 5 s, as the server sees it: gRPC rounds the timeout header up, so
        # it may arrive slightly above 5 s (10.099 s was seen for 10 s)
        assert 0 < seen.time_remaining_s < 6
        assert segments_of(list((await call(echo)).mutations)) == ["br-1"]

        fixed.behaviour = AgentBehaviour.ERROR
        assert (await status_of(fixed)).code() == grpc.StatusCode.INTERNAL
        fixed.behaviour = AgentBehaviour.ANSWER
        fixed.mutations = []
        assert list((await call(fixed)).mutations) == []
        assert len(fixed.seen) == 3


async def test_slow_and_hanging_peers_run_into_the_deadline() -> None:
    slow = AgentPeer("slow", AgentBehaviour.SLOW, delay_s=0.2, mutations=[segment_mutation("a")])
    hang = AgentPeer("hang", AgentBehaviour.HANG)
    with AgentPeerServer([slow, hang]):
        late = await call(slow, deadline_s=30)
        assert segments_of(list(late.mutations)) == ["a"]
        slow.delay_s = 60
        assert (await status_of(slow, deadline_s=0.1)).code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert (await status_of(hang, deadline_s=0.1)).code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert len(hang.seen) == 1


async def test_error_peers_abort_with_their_status() -> None:
    peer = AgentPeer(
        "down", AgentBehaviour.ERROR, status=grpc.StatusCode.UNAVAILABLE, details="down"
    )
    with AgentPeerServer([peer]):
        error = await status_of(peer)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "down"


async def test_garbage_peers_send_bytes_the_client_cannot_decode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """grpc.aio does not fail such a call: its deserializer's exception is logged and the
    awaited call gives None with status OK (the sync API raises INTERNAL instead)."""
    with pytest.raises(DecodeError):
        artf_pb2.RTBResponse.FromString(GARBAGE_BYTES)
    peer = AgentPeer("garbage", AgentBehaviour.GARBAGE)
    with AgentPeerServer([peer]):
        async with grpc.aio.insecure_channel(peer.target) as channel:
            decoded = channel.unary_unary(
                method_path(),
                request_serializer=artf_pb2.RTBRequest.SerializeToString,
                response_deserializer=artf_pb2.RTBResponse.FromString,
            )(demo_request(), timeout=10)
            assert await decoded is None
            assert await decoded.code() == grpc.StatusCode.OK
            assert "Exception deserializing" in caplog.text
            raw = channel.unary_unary(
                method_path(), request_serializer=artf_pb2.RTBRequest.SerializeToString
            )
            assert await raw(demo_request(), timeout=10) == GARBAGE_BYTES


async def test_huge_peers_exceed_the_default_receive_limit() -> None:
    huge = AgentPeer("huge", AgentBehaviour.HUGE)
    many = AgentPeer("many", AgentBehaviour.MANY, many=20_000)
    with AgentPeerServer([huge, many]):
        error = await status_of(huge)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        roomy = [("grpc.max_receive_message_length", 16 * MiB)]
        response = await call(huge, options=roomy)
        assert response.ByteSize() > 4 * MiB
        assert response.id == "ext-1"

        response = await call(many)
        assert len(response.mutations) == 20_000
        assert response.ByteSize() < 4 * MiB


async def test_wrong_id_peers_answer_another_request() -> None:
    peer = AgentPeer("wrong", AgentBehaviour.WRONG_ID, mutations=[segment_mutation("a")])
    with AgentPeerServer([peer]):
        response = await call(peer)
        assert response.id != "ext-1"
        assert segments_of(list(response.mutations)) == ["a"]


async def test_peers_serve_under_the_names_they_are_given() -> None:
    repo_only = AgentPeer("repo", services=(REFERENCE_REPO_SERVICE,))
    both = AgentPeer("both", services=(SPEC_SERVICE, REFERENCE_REPO_SERVICE))
    with AgentPeerServer([repo_only, both]):
        assert (await status_of(repo_only)).code() == grpc.StatusCode.UNIMPLEMENTED
        assert (await call(repo_only, service=REFERENCE_REPO_SERVICE)).id == "ext-1"
        assert (await call(both)).id == "ext-1"
        assert (await call(both, service=REFERENCE_REPO_SERVICE)).id == "ext-1"
        assert [s.service for s in both.seen] == [SPEC_SERVICE, REFERENCE_REPO_SERVICE]
        assert [s.service for s in repo_only.seen] == [REFERENCE_REPO_SERVICE]
