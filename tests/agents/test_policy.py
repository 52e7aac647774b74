"""The mutation policy (``agents.policy``): every intent of the bid-request stage applied and
rejected for each reason the code has, the documented conflict order, the privacy rules for
audience segments, and bid shading at the bid-response stage (``judge_bids``).

Every accepted case compares the whole resulting request with the request it should be
(decoded from a builder dict changed by hand), and checks that the input was not mutated.
"""

import math
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.config import AgentsConfig, AgentSpec, CuratedDeal, Stage
from agents.policy import (
    MAX_IDS,
    BidTarget,
    RequestChange,
    judge_bids,
    judge_request,
    raise_activated_floors,
)
from agents.proposals import Decision, Metric, Proposal, proposals_of
from agents.protos import artf_pb2
from auction.currency import CurrencyRates
from auction.types import DealTerms, ImpTerms
from openrtb.codec import decode_request
from openrtb.privacy import privacy_signals
from openrtb.request import BidRequest
from tests.builders import banner_request
from tests.tcf_strings import tc_string

# --- agents, deals and requests ----------------------------------------------------------

REQUEST_INTENTS = (
    "ACTIVATE_SEGMENTS",
    "ACTIVATE_DEALS",
    "SUPPRESS_DEALS",
    "ADJUST_DEAL_FLOOR",
    "ADD_METRICS",
    "ADD_CIDS",
)
BOTH_STAGES = frozenset({Stage.BID_REQUEST, Stage.BID_RESPONSE})
AUDIENCE_VENDOR = 1234


def agent(
    name: str,
    *intents: str,
    vendor: str | None = None,
    gvl_vendor_id: int | None = None,
    segtax: int | None = None,
) -> AgentSpec:
    return AgentSpec(
        name=name,
        target="127.0.0.1:50061",
        stages=BOTH_STAGES,
        intents=frozenset(intents),
        fields=(),
        deadline_ms=5,
        gvl_vendor_id=gvl_vendor_id,
        segtax=segtax,
        vendor=vendor or name,
    )


SPECS = {
    spec.name: spec
    for spec in (
        agent("audience", "ACTIVATE_SEGMENTS", gvl_vendor_id=AUDIENCE_VENDOR, segtax=4),
        agent("audience2", "ACTIVATE_SEGMENTS", gvl_vendor_id=5678, segtax=6),
        agent("anonymous", "ACTIVATE_SEGMENTS", segtax=4),
        agent("curator", "ACTIVATE_DEALS", "SUPPRESS_DEALS", "ADJUST_DEAL_FLOOR"),
        agent("floors", "ADJUST_DEAL_FLOOR", "SUPPRESS_DEALS"),
        agent("floors2", "ADJUST_DEAL_FLOOR"),
        agent("measure", "ADD_METRICS", vendor="measure-co"),
        agent("measure2", "ADD_METRICS", vendor="other-co"),
        agent("context", "ADD_CIDS"),
        agent("context2", "ADD_CIDS"),
        agent("everything", *REQUEST_INTENTS, "BID_SHADE", segtax=4),
        agent("shader", "BID_SHADE"),
        agent("shader2", "BID_SHADE"),
        agent("nothing", "ADD_METRICS"),
    )
}
CONFIG = AgentsConfig(
    agents=tuple(SPECS.values()),
    allowed_segtax=frozenset({4, 6}),
    deals=(
        CuratedDeal("sports", 2.5, "USD", ("Agency1", "Agency2"), 1),
        CuratedDeal("open", 0.25, "USD", (), None),
        CuratedDeal("euro", 1.0, "EUR", (), 2),
    ),
)


def raw_request(**overrides: Any) -> dict[str, Any]:
    """The builder's banner request with two imps; imp "1" carries deals d1 (2.00) and d2
    (3.00); imp "2" has no pmp. Both imps are floored at 0.50 USD."""
    raw = banner_request(imps=2, **overrides)
    raw["imp"][0]["pmp"] = {
        "private_auction": 1,
        "deals": [
            {"id": "d1", "bidfloor": 2.0, "bidfloorcur": "USD", "wseat": ["Agency1"], "at": 1},
            {"id": "d2", "bidfloor": 3.0, "bidfloorcur": "USD"},
        ],
    }
    return raw


def decoded(raw: dict[str, Any]) -> BidRequest:
    return decode_request(orjson.dumps(raw))


def dump(request: BidRequest) -> dict[str, Any]:
    """Every field, defaults included: two requests with equal dumps are the same request
    whichever fields were set explicitly."""
    return request.model_dump(mode="json")


def judge(
    request: BidRequest, *proposals: Proposal, config: AgentsConfig = CONFIG
) -> RequestChange:
    """judge_request with the request's own signals; checks the input was not mutated."""
    before = dump(request)
    change = judge_request(request, proposals, SPECS, config, privacy_signals(request))
    assert dump(request) == before
    assert len(change.decisions) == len(proposals)
    return change


def reasons(change: RequestChange | tuple[Decision, ...]) -> list[str]:
    decisions = change.decisions if isinstance(change, RequestChange) else change
    return [decision.reason for decision in decisions]


def ids(agent_name: str, intent: str, path: str, *values: str, op: str = "") -> Proposal:
    default_op = {"SUPPRESS_DEALS": "REMOVE"}.get(intent, "ADD")
    return Proposal(agent_name, intent, op or default_op, path, "ids", ids=values)


def segments(agent_name: str, *values: str, path: str = "/user/data/segment") -> Proposal:
    return ids(agent_name, "ACTIVATE_SEGMENTS", path, *values)


def activate(agent_name: str, imp: str, *deals: str) -> Proposal:
    return ids(agent_name, "ACTIVATE_DEALS", f"/imp/{imp}", *deals)


def suppress(agent_name: str, imp: str, *deals: str) -> Proposal:
    return ids(agent_name, "SUPPRESS_DEALS", f"/imp/{imp}", *deals)


def floor(agent_name: str, imp: str, deal: str, value: float | None) -> Proposal:
    return Proposal(
        agent_name,
        "ADJUST_DEAL_FLOOR",
        "REPLACE",
        f"/imp/{imp}/pmp/deals/{deal}",
        "adjust_deal",
        number=value,
    )


def metrics(agent_name: str, path: str, *items: Metric) -> Proposal:
    return Proposal(agent_name, "ADD_METRICS", "ADD", path, "metrics", metrics=items)


def cids(agent_name: str, *items: dict[str, Any], path: str = "/site/content/data") -> Proposal:
    return Proposal(agent_name, "ADD_CIDS", "ADD", path, "content_data", data=items)


def deal_floors(request: BidRequest) -> dict[tuple[str, str], float]:
    return {
        (imp.id, deal.id): deal.bidfloor
        for imp in request.imp
        if imp.pmp is not None
        for deal in imp.pmp.deals or []
    }


# --- ACTIVATE_SEGMENTS --------------------------------------------------------------------


def test_segments_are_added_as_the_agents_own_data_with_its_segtax() -> None:
    request = decoded(raw_request())
    proposal = segments("audience", "s1", "s-2:x")
    change = judge(request, proposal)
    assert change.decisions == (
        Decision("audience", "ACTIVATE_SEGMENTS", "ADD", "/user/data/segment", True, "applied"),
    )
    assert change.changed
    expected = raw_request()
    expected["user"]["data"] = [
        {
            "id": "audience",
            "name": "audience",
            "segment": [{"id": "s1"}, {"id": "s-2:x"}],
            "ext": {"segtax": 4},
        }
    ]
    assert dump(change.request) == dump(decoded(expected))


def test_segments_join_the_agents_entry_and_leave_other_data_alone() -> None:
    raw = raw_request()
    publisher_data = {"id": "pub", "name": "pub", "segment": [{"id": "p1"}]}
    own = {"id": "audience", "name": "audience", "segment": [{"id": "s1"}], "ext": {"segtax": 4}}
    raw["user"]["data"] = [publisher_data, own]
    request = decoded(raw)
    change = judge(request, segments("audience", "s1", "s2"), segments("audience2", "s1"))
    assert reasons(change) == ["applied", "applied"]
    expected = raw_request()
    expected["user"]["data"] = [
        publisher_data,
        {**own, "segment": [{"id": "s1"}, {"id": "s2"}]},  # only the new one appended
        {"id": "audience2", "name": "audience2", "segment": [{"id": "s1"}], "ext": {"segtax": 6}},
    ]
    assert dump(change.request) == dump(decoded(expected))


def test_segments_create_the_user_when_the_request_has_none() -> None:
    raw = raw_request()
    del raw["user"]
    change = judge(decoded(raw), segments("audience", "s1"))
    assert reasons(change) == ["applied"]
    expected = raw_request()
    expected["user"] = {
        "data": [
            {"id": "audience", "name": "audience", "segment": [{"id": "s1"}], "ext": {"segtax": 4}}
        ]
    }
    assert dump(change.request) == dump(decoded(expected))


def test_segments_all_already_there_are_a_duplicate() -> None:
    request = decoded(raw_request())
    change = judge(request, segments("audience", "s1"), segments("audience", "s1"))
    assert reasons(change) == ["applied", "duplicate"]
    assert change.request.user is not None
    assert change.request.user.data is not None
    assert [s.id for s in change.request.user.data[0].segment or []] == ["s1"]


# --- privacy of segments -------------------------------------------------------------------

GRANTING = tc_string(purposes=[1, 2, 3, 4], vendors=[AUDIENCE_VENDOR])


@pytest.mark.parametrize(
    ("regs", "consent", "agent_name"),
    [
        ({"coppa": 1}, None, "audience"),
        ({"coppa": 0, "us_privacy": "1YYN"}, None, "audience"),
        ({"gdpr": 1}, None, "audience"),
        ({"gdpr": 1}, tc_string(purposes=[1, 2, 3, 4], vendors=[5678]), "audience"),
        ({"gdpr": 1}, tc_string(purposes=[1, 2], vendors=[AUDIENCE_VENDOR]), "audience"),
        ({"gdpr": 1}, "not-a-tc-string", "audience"),
        ({"gdpr": 1}, GRANTING, "anonymous"),
        ({"gdpr": 1, "coppa": 1}, GRANTING, "audience"),
    ],
    ids=[
        "coppa",
        "us-privacy-opt-out",
        "gdpr-without-tc-string",
        "gdpr-consent-for-another-vendor",
        "gdpr-no-profile-purposes",
        "gdpr-undecodable-string",
        "gdpr-agent-without-vendor-id",
        "gdpr-consent-but-coppa",
    ],
)
def test_segments_are_refused_where_no_profile_is_allowed(
    regs: dict[str, Any], consent: str | None, agent_name: str
) -> None:
    raw = raw_request(regs=regs)
    if consent is not None:
        raw["user"]["consent"] = consent
    request = decoded(raw)
    change = judge(request, segments(agent_name, "s1"))
    assert reasons(change) == ["privacy"]
    assert change.request is request
    assert not change.changed


@pytest.mark.parametrize(
    ("regs", "agent_name"),
    [
        ({"gdpr": 1}, "audience"),
        ({"coppa": 0, "gdpr": 0, "us_privacy": "1YNN"}, "anonymous"),
    ],
    ids=["gdpr-with-the-vendors-consent", "no-regulation-no-vendor-id-needed"],
)
def test_segments_are_accepted_where_a_profile_is_allowed(
    regs: dict[str, Any], agent_name: str
) -> None:
    raw = raw_request(regs=regs)
    raw["user"]["consent"] = GRANTING
    change = judge(decoded(raw), segments(agent_name, "s1"))
    assert reasons(change) == ["applied"]
    expected = raw_request(regs=regs)
    expected["user"]["consent"] = GRANTING
    expected["user"]["data"] = [
        {"id": agent_name, "name": agent_name, "segment": [{"id": "s1"}], "ext": {"segtax": 4}}
    ]
    assert dump(change.request) == dump(decoded(expected))


# --- ACTIVATE_DEALS -----------------------------------------------------------------------


def test_a_curated_deal_is_added_to_an_imp_without_pmp() -> None:
    request = decoded(raw_request())
    change = judge(request, activate("curator", "2", "sports"))
    assert change.decisions == (
        Decision("curator", "ACTIVATE_DEALS", "ADD", "/imp/2", True, "applied"),
    )
    expected = raw_request()
    expected["imp"][1]["pmp"] = {
        "deals": [
            {
                "id": "sports",
                "bidfloor": 2.5,
                "bidfloorcur": "USD",
                "wseat": ["Agency1", "Agency2"],
                "at": 1,
            }
        ]
    }
    assert dump(change.request) == dump(decoded(expected))


def test_curated_deals_are_appended_never_below_the_imps_floor() -> None:
    raw = raw_request()
    raw["imp"][0]["pmp"]["private_auction"] = 0
    request = decoded(raw)
    # "open" is curated at 0.25, below imp 1's 0.50: it joins at the imp's floor.
    change = judge(request, activate("curator", "1", "open", "sports"))
    assert reasons(change) == ["applied"]
    assert change.activated == {("1", "open"), ("1", "sports")}
    expected = raw_request()
    expected["imp"][0]["pmp"]["private_auction"] = 0
    expected["imp"][0]["pmp"]["deals"] += [
        {"id": "open", "bidfloor": 0.5, "bidfloorcur": "USD"},
        {
            "id": "sports",
            "bidfloor": 2.5,
            "bidfloorcur": "USD",
            "wseat": ["Agency1", "Agency2"],
            "at": 1,
        },
    ]
    assert dump(change.request) == dump(decoded(expected))


def test_no_deal_is_added_to_a_private_auction() -> None:
    request = decoded(raw_request())  # imp 1 is a private auction of the publisher's deals
    change = judge(request, activate("curator", "1", "sports"))
    assert reasons(change) == ["private_auction"]
    assert change.request is request
    assert change.activated == frozenset()


def test_a_curated_deal_in_another_currency_joins_an_imp_without_floor() -> None:
    raw = raw_request()
    raw["imp"][1].update(bidfloor=0.0, bidfloorcur="GBP")
    change = judge(decoded(raw), activate("curator", "2", "euro"))
    assert reasons(change) == ["applied"]
    expected = raw_request()
    expected["imp"][1].update(bidfloor=0.0, bidfloorcur="GBP")
    expected["imp"][1]["pmp"] = {
        "deals": [{"id": "euro", "bidfloor": 1.0, "bidfloorcur": "EUR", "at": 2}]
    }
    assert dump(change.request) == dump(decoded(expected))


def test_a_curated_deal_against_a_floor_in_another_currency_is_refused() -> None:
    raw = raw_request()
    raw["imp"][1]["bidfloorcur"] = "EUR"  # 0.50 EUR: the USD deal's floor cannot be compared
    request = decoded(raw)
    change = judge(request, activate("curator", "2", "open"), activate("curator", "2", "euro"))
    assert reasons(change) == ["currency", "applied"]
    expected = raw_request()
    expected["imp"][1]["bidfloorcur"] = "EUR"
    expected["imp"][1]["pmp"] = {
        "deals": [{"id": "euro", "bidfloor": 1.0, "bidfloorcur": "EUR", "at": 2}]
    }
    assert dump(change.request) == dump(decoded(expected))


def test_a_deal_already_on_the_imp_is_a_duplicate() -> None:
    request = decoded(raw_request())
    change = judge(
        request,
        activate("curator", "2", "sports"),
        activate("curator", "2", "open", "sports"),  # atomic: "open" is not added either
    )
    assert reasons(change) == ["applied", "duplicate"]
    assert deal_floors(change.request) == {("1", "d1"): 2.0, ("1", "d2"): 3.0, ("2", "sports"): 2.5}


# --- SUPPRESS_DEALS -----------------------------------------------------------------------


def test_suppressed_deals_leave_the_imp() -> None:
    request = decoded(raw_request())
    change = judge(request, suppress("curator", "1", "d1"))
    assert change.decisions == (
        Decision("curator", "SUPPRESS_DEALS", "REMOVE", "/imp/1", True, "applied"),
    )
    expected = raw_request()
    del expected["imp"][0]["pmp"]["deals"][0]
    assert dump(change.request) == dump(decoded(expected))


def test_every_deal_of_an_imp_may_be_suppressed() -> None:
    change = judge(decoded(raw_request()), suppress("curator", "1", "d2", "d1"))
    assert reasons(change) == ["applied"]
    expected = raw_request()
    expected["imp"][0]["pmp"]["deals"] = []
    assert dump(change.request) == dump(decoded(expected))


# --- ADJUST_DEAL_FLOOR --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [("/imp/1/pmp/deals/d1", 4.25), ("/imp/1/deals/d1", 4.25), ("/imp/1/pmp/deals/d1", 2.0)],
    ids=["raise", "raise-short-path", "equal-to-the-publishers"],
)
def test_a_deal_floor_is_replaced(path: str, value: float) -> None:
    request = decoded(raw_request())
    proposal = Proposal("floors", "ADJUST_DEAL_FLOOR", "REPLACE", path, "adjust_deal", number=value)
    change = judge(request, proposal)
    assert change.decisions == (
        Decision("floors", "ADJUST_DEAL_FLOOR", "REPLACE", path, True, "applied"),
    )
    expected = raw_request()
    expected["imp"][0]["pmp"]["deals"][0]["bidfloor"] = value
    assert dump(change.request) == dump(decoded(expected))


def test_a_deal_floor_below_the_publishers_is_refused() -> None:
    request = decoded(raw_request())
    change = judge(request, floor("floors", "1", "d1", 1.99), floor("floors", "1", "d2", 0.0))
    assert reasons(change) == ["below_publisher_floor", "below_publisher_floor"]
    assert change.request is request


# --- ADD_METRICS --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/imp/1", "/imp/1/metric"])
def test_metrics_are_added_under_the_agents_vendor(path: str) -> None:
    request = decoded(raw_request())
    proposal = metrics(
        "measure",
        path,
        Metric("viewability", 0.8, None),
        Metric("attention", 12.5, "measure-co"),
        Metric("click_through_rate", 0.0, None),
    )
    change = judge(request, proposal)
    assert change.decisions == (Decision("measure", "ADD_METRICS", "ADD", path, True, "applied"),)
    expected = raw_request()
    expected["imp"][0]["metric"] += [
        {"type": "viewability", "value": 0.8, "vendor": "measure-co"},
        {"type": "attention", "value": 12.5, "vendor": "measure-co"},
        {"type": "click_through_rate", "value": 0.0, "vendor": "measure-co"},
    ]
    assert dump(change.request) == dump(decoded(expected))


def test_metrics_of_two_vendors_are_a_union_and_a_repeat_is_a_duplicate() -> None:
    request = decoded(raw_request())
    change = judge(
        request,
        metrics("measure", "/imp/2", Metric("viewability", 0.6, None)),
        metrics("measure2", "/imp/2", Metric("viewability", 0.7, None)),
        metrics("measure", "/imp/2", Metric("viewability", 0.9, "measure-co")),
        metrics("measure", "/imp/2", Metric("a", 1.0, None), Metric("a", 2.0, None)),
    )
    assert reasons(change) == ["applied", "applied", "duplicate", "duplicate"]
    expected = raw_request()
    expected["imp"][1]["metric"] += [
        {"type": "viewability", "value": 0.6, "vendor": "measure-co"},
        {"type": "viewability", "value": 0.7, "vendor": "other-co"},
    ]
    assert dump(change.request) == dump(decoded(expected))


# --- ADD_CIDS -----------------------------------------------------------------------------

CONTEXT_DATA = {
    "id": "ctx",
    "name": "context",
    "segment": [{"id": "seg-1", "name": "sports"}],
    "ext": {"cids": ["c1", "c2"]},
}


def test_content_data_is_added_to_the_sites_content() -> None:
    request = decoded(raw_request())
    change = judge(request, cids("context", CONTEXT_DATA, {"ext": {"cids": ["c3"]}}))
    assert change.decisions == (
        Decision("context", "ADD_CIDS", "ADD", "/site/content/data", True, "applied"),
    )
    expected = raw_request()
    expected["site"]["content"] = {"data": [CONTEXT_DATA, {"ext": {"cids": ["c3"]}}]}
    assert dump(change.request) == dump(decoded(expected))


def test_content_data_joins_the_content_already_there() -> None:
    raw = raw_request()
    raw["site"]["content"] = {"title": "Story", "data": [{"id": "pub", "segment": [{"id": "x"}]}]}
    change = judge(decoded(raw), cids("context", CONTEXT_DATA))
    assert reasons(change) == ["applied"]
    expected = raw_request()
    expected["site"]["content"] = {
        "title": "Story",
        "data": [{"id": "pub", "segment": [{"id": "x"}]}, CONTEXT_DATA],
    }
    assert dump(change.request) == dump(decoded(expected))


def test_content_data_of_an_app_goes_to_the_apps_content() -> None:
    raw = raw_request()
    del raw["site"]
    raw["app"] = {"id": "app-1", "bundle": "com.example.news"}
    request = decoded(raw)
    change = judge(request, cids("context", CONTEXT_DATA, path="/site/content/data"))
    assert reasons(change) == ["bad_path"]
    assert change.request is request
    change = judge(request, cids("context", CONTEXT_DATA, path="/app/content/data"))
    assert reasons(change) == ["applied"]
    expected = dict(raw)
    expected["app"] = {**raw["app"], "content": {"data": [CONTEXT_DATA]}}
    assert dump(change.request) == dump(decoded(expected))


def test_the_same_content_data_twice_is_a_duplicate() -> None:
    change = judge(
        decoded(raw_request()), cids("context", CONTEXT_DATA), cids("context2", CONTEXT_DATA)
    )
    assert reasons(change) == ["applied", "duplicate"]
    assert change.request.site is not None
    assert change.request.site.content is not None
    assert len(change.request.site.content.data or []) == 1


# --- several intents at once --------------------------------------------------------------


def test_applied_proposals_of_every_intent_compose() -> None:
    request = decoded(raw_request())
    change = judge(
        request,
        segments("audience", "s1"),
        activate("curator", "2", "sports"),
        suppress("curator", "1", "d2"),
        floor("floors", "1", "d1", 5.0),
        metrics("measure", "/imp/1", Metric("attention", 3.0, None)),
        cids("context", CONTEXT_DATA),
        floor("floors", "1", "d9", 5.0),  # rejected: changes nothing
    )
    assert reasons(change) == ["applied"] * 6 + ["unknown_deal"]
    expected = raw_request()
    expected["user"]["data"] = [
        {"id": "audience", "name": "audience", "segment": [{"id": "s1"}], "ext": {"segtax": 4}}
    ]
    expected["imp"][1]["pmp"] = {
        "deals": [
            {
                "id": "sports",
                "bidfloor": 2.5,
                "bidfloorcur": "USD",
                "wseat": ["Agency1", "Agency2"],
                "at": 1,
            }
        ]
    }
    expected["imp"][0]["pmp"]["deals"] = [
        {"id": "d1", "bidfloor": 5.0, "bidfloorcur": "USD", "wseat": ["Agency1"], "at": 1}
    ]
    expected["imp"][0]["metric"].append({"type": "attention", "value": 3.0, "vendor": "measure-co"})
    expected["site"]["content"] = {"data": [CONTEXT_DATA]}
    assert dump(change.request) == dump(decoded(expected))


# --- every rejection reason ---------------------------------------------------------------

LONG_ID = "x" * 65
REJECTIONS: list[tuple[str, Proposal, str]] = [
    (
        "intent-unspecified",
        Proposal("everything", "INTENT_UNSPECIFIED", "ADD", "/imp/1", "ids", ids=("sports",)),
        "unknown_intent",
    ),
    (
        "deal-margin",
        Proposal("everything", "ADJUST_DEAL_MARGIN", "REPLACE", "/imp/1/pmp/deals/d1", None),
        "unsupported",
    ),
    (
        "made-up-intent",
        Proposal("everything", "MAKE_IT_RAIN", "ADD", "/imp/1", "ids", ids=("a",)),
        "unsupported",
    ),
    ("floor-not-declared", floor("measure", "1", "d1", 4.0), "intent_not_declared"),
    ("segments-not-declared", segments("curator", "s1"), "intent_not_declared"),
    (
        "bid-shade-at-request-stage",
        Proposal("shader", "BID_SHADE", "REPLACE", "/seatbid/s/bid/b", "adjust_bid", number=1.0),
        "wrong_stage",
    ),
    (
        "floor-with-add",
        Proposal(
            "floors", "ADJUST_DEAL_FLOOR", "ADD", "/imp/1/pmp/deals/d1", "adjust_deal", number=4.0
        ),
        "bad_op",
    ),
    (
        "segments-with-remove",
        ids("audience", "ACTIVATE_SEGMENTS", "/user/data/segment", "s1", op="REMOVE"),
        "bad_op",
    ),
    ("suppress-with-add", ids("curator", "SUPPRESS_DEALS", "/imp/1", "d1", op="ADD"), "bad_op"),
    (
        "activate-unspecified-op",
        ids("curator", "ACTIVATE_DEALS", "/imp/1", "open", op="UNSPECIFIED"),
        "bad_op",
    ),
    (
        "floor-with-ids-payload",
        Proposal("floors", "ADJUST_DEAL_FLOOR", "REPLACE", "/imp/1/pmp/deals/d1", "ids"),
        "bad_value",
    ),
    (
        "segments-without-payload",
        Proposal("audience", "ACTIVATE_SEGMENTS", "ADD", "/user/data/segment", None),
        "bad_value",
    ),
    ("segments-empty", segments("audience"), "bad_value"),
    ("segment-id-with-a-space", segments("audience", "s 1"), "bad_value"),
    ("segment-id-too-long", segments("audience", LONG_ID), "bad_value"),
    (
        "too-many-segments",
        segments("audience", *(f"s{n}" for n in range(MAX_IDS + 1))),
        "bad_value",
    ),
    ("floor-absent", floor("floors", "1", "d1", None), "bad_value"),
    ("floor-negative", floor("floors", "1", "d1", -0.01), "bad_value"),
    ("floor-above-1000", floor("floors", "1", "d1", 1000.01), "bad_value"),
    ("floor-infinite", floor("floors", "1", "d1", math.inf), "bad_value"),
    ("no-metrics", metrics("measure", "/imp/1"), "bad_value"),
    (
        "too-many-metrics",
        metrics("measure", "/imp/1", *(Metric(f"m{n}", 1.0, None) for n in range(21))),
        "bad_value",
    ),
    (
        "viewability-above-1",
        metrics("measure", "/imp/1", Metric("viewability", 1.01, None)),
        "bad_value",
    ),
    ("metric-negative", metrics("measure", "/imp/1", Metric("attention", -1.0, None)), "bad_value"),
    ("metric-nan", metrics("measure", "/imp/1", Metric("attention", math.nan, None)), "bad_value"),
    ("metric-huge", metrics("measure", "/imp/1", Metric("attention", 1.1e9, None)), "bad_value"),
    ("metric-type", metrics("measure", "/imp/1", Metric("not a type", 1.0, None)), "bad_value"),
    ("no-content-data", cids("context"), "bad_value"),
    ("content-data-without-cids", cids("context", {"id": "x"}), "bad_value"),
    ("cid-with-a-slash", cids("context", {"ext": {"cids": ["a/b"]}}), "bad_value"),
    (
        "content-segment-without-id",
        cids("context", {"ext": {"cids": ["c"]}, "segment": [{"name": "n"}]}),
        "bad_value",
    ),
    ("too-much-content-data", cids("context", *[{"ext": {"cids": ["c"]}}] * 11), "bad_value"),
    ("segments-path", segments("audience", "s1", path="/user/data"), "bad_path"),
    (
        "floor-path",
        Proposal(
            "floors",
            "ADJUST_DEAL_FLOOR",
            "REPLACE",
            "/imp/1/pmp/deal/d1",
            "adjust_deal",
            number=4.0,
        ),
        "bad_path",
    ),
    ("suppress-path", ids("curator", "SUPPRESS_DEALS", "/imp/1/pmp/deals", "d1"), "bad_path"),
    ("activate-path", ids("curator", "ACTIVATE_DEALS", "/imp", "open"), "bad_path"),
    ("metrics-path", metrics("measure", "/imp/1/metrics", Metric("a", 1.0, None)), "bad_path"),
    ("content-path", cids("context", CONTEXT_DATA, path="/site/content"), "bad_path"),
    (
        "content-of-an-absent-app",
        cids("context", CONTEXT_DATA, path="/app/content/data"),
        "bad_path",
    ),
    ("floor-unknown-imp", floor("floors", "9", "d1", 4.0), "unknown_imp"),
    ("suppress-unknown-imp", suppress("curator", "9", "d1"), "unknown_imp"),
    ("activate-unknown-imp", activate("curator", "9", "open"), "unknown_imp"),
    ("metrics-unknown-imp", metrics("measure", "/imp/9", Metric("a", 1.0, None)), "unknown_imp"),
    ("floor-unknown-deal", floor("floors", "1", "d9", 4.0), "unknown_deal"),
    ("floor-of-a-deal-on-another-imp", floor("floors", "2", "d1", 4.0), "unknown_deal"),
    ("suppress-unknown-deal", suppress("curator", "1", "d1", "d9"), "unknown_deal"),
    ("activate-uncurated-deal", activate("curator", "1", "open", "d1"), "unknown_deal"),
    ("floor-below-publisher", floor("floors", "1", "d2", 2.99), "below_publisher_floor"),
    ("segments-repeated", segments("audience", "s1", "s1"), "duplicate"),
    ("activate-repeated", activate("curator", "2", "open", "open"), "duplicate"),
    ("suppress-repeated", suppress("curator", "1", "d1", "d1"), "duplicate"),
    (
        "metric-of-another-vendor",
        metrics("measure", "/imp/1", Metric("attention", 1.0, "measure"), Metric("b", 1.0, None)),
        "vendor_mismatch",
    ),
]


@pytest.mark.parametrize(
    ("proposal", "reason"),
    [pytest.param(proposal, reason, id=name) for name, proposal, reason in REJECTIONS],
)
def test_a_rejected_proposal_leaves_the_request_as_it_was(proposal: Proposal, reason: str) -> None:
    request = decoded(raw_request())
    change = judge(request, proposal)
    assert change.decisions == (Decision.of(proposal, reason),)
    assert change.decisions[0].applied is False
    assert change.request is request
    assert not change.changed


def test_every_rejection_reason_of_the_request_stage_has_a_case() -> None:
    covered = {reason for _, _, reason in REJECTIONS} | {"conflict", "privacy", "currency"}
    assert covered == {
        "unknown_intent",
        "unsupported",
        "intent_not_declared",
        "wrong_stage",
        "bad_op",
        "bad_value",
        "bad_path",
        "unknown_imp",
        "unknown_deal",
        "below_publisher_floor",
        "conflict",
        "duplicate",
        "privacy",
        "vendor_mismatch",
        "currency",
    }


# --- conflicts ----------------------------------------------------------------------------


def test_a_suppression_beats_a_floor_change_listed_before_it() -> None:
    request = decoded(raw_request())
    change = judge(request, floor("floors2", "1", "d1", 4.0), suppress("curator", "1", "d1"))
    assert reasons(change) == ["conflict", "applied"]
    expected = raw_request()
    del expected["imp"][0]["pmp"]["deals"][0]
    assert dump(change.request) == dump(decoded(expected))


def test_a_suppression_beats_a_floor_change_listed_after_it() -> None:
    request = decoded(raw_request())
    change = judge(request, suppress("curator", "1", "d1"), floor("floors2", "1", "d1", 4.0))
    assert reasons(change) == ["applied", "conflict"]


def test_a_suppression_blocks_only_its_own_deal_on_its_own_imp() -> None:
    request = decoded(raw_request())
    change = judge(
        request,
        floor("floors2", "1", "d2", 4.0),
        suppress("curator", "1", "d1"),
        activate("curator", "2", "open"),
    )
    assert reasons(change) == ["applied", "applied", "applied"]
    assert deal_floors(change.request) == {("1", "d2"): 4.0, ("2", "open"): 0.5}


def test_a_suppression_beats_an_activation_whichever_comes_first() -> None:
    request = decoded(raw_request())
    first = judge(request, activate("curator", "2", "sports"), suppress("floors", "2", "sports"))
    # suppressions are judged first: the deal is not on the imp yet, so the suppression is
    # refused, suppresses nothing, and the activation goes ahead
    assert reasons(first) == ["applied", "unknown_deal"]
    assert [deal.id for deal in first.request.imp[1].pmp.deals] == ["sports"]
    raw = raw_request()
    raw["imp"][1]["pmp"] = {"deals": [{"id": "sports", "bidfloor": 3.0}]}
    with_deal = decoded(raw)
    again = judge(with_deal, suppress("floors", "2", "sports"), activate("curator", "2", "sports"))
    assert reasons(again) == ["applied", "conflict"]
    assert deal_floors(again.request) == {("1", "d1"): 2.0, ("1", "d2"): 3.0}


def test_a_suppression_by_an_agent_not_declaring_it_blocks_nothing() -> None:
    request = decoded(raw_request())
    change = judge(request, floor("floors2", "1", "d1", 4.0), suppress("measure", "1", "d1"))
    assert reasons(change) == ["applied", "intent_not_declared"]
    assert deal_floors(change.request) == {("1", "d1"): 4.0, ("1", "d2"): 3.0}


def test_a_rejected_suppression_blocks_no_floor_change() -> None:
    request = decoded(raw_request())
    change = judge(request, suppress("curator", "1", "d1", "d9"), floor("floors2", "1", "d1", 4.0))
    assert reasons(change) == ["unknown_deal", "applied"]
    assert deal_floors(change.request) == {("1", "d1"): 4.0, ("1", "d2"): 3.0}


def test_the_first_listed_agents_floor_replacement_wins() -> None:
    request = decoded(raw_request())
    change = judge(
        request,
        floor("floors", "1", "d1", 3.0),
        floor("floors2", "1", "d1", 6.0),
        floor("floors", "1", "d1", 7.0),  # the same agent again: the target is taken
    )
    assert reasons(change) == ["applied", "conflict", "conflict"]
    expected = raw_request()
    expected["imp"][0]["pmp"]["deals"][0]["bidfloor"] = 3.0
    assert dump(change.request) == dump(decoded(expected))


def test_a_rejected_floor_change_does_not_take_the_target() -> None:
    request = decoded(raw_request())
    change = judge(request, floor("floors", "1", "d1", 1.0), floor("floors2", "1", "d1", 6.0))
    assert reasons(change) == ["below_publisher_floor", "applied"]
    assert deal_floors(change.request) == {("1", "d1"): 6.0, ("1", "d2"): 3.0}


def test_an_activated_deals_floor_cannot_then_be_lowered() -> None:
    request = decoded(raw_request())
    change = judge(
        request, activate("curator", "2", "sports"), floor("floors2", "2", "sports", 0.1)
    )
    assert reasons(change) == ["applied", "below_publisher_floor"]
    assert deal_floors(change.request)[("2", "sports")] == 2.5


def test_a_nan_floor_is_a_bad_value() -> None:
    request = decoded(raw_request())
    change = judge(request, floor("floors", "1", "d1", math.nan))
    assert reasons(change) == ["bad_value"]
    assert change.request is request


# --- the publisher's floor holds whatever the agents propose ------------------------------

FLOOR_AGENTS = ("floors", "floors2", "curator", "everything")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(FLOOR_AGENTS),
            st.sampled_from(["1", "2"]),
            st.sampled_from(["d1", "d2", "d3"]),
            st.floats(allow_nan=False) | st.floats(min_value=-1, max_value=10) | st.none(),
        ),
        max_size=12,
    )
)
def test_no_deal_floor_ends_below_the_publishers(
    proposed: list[tuple[str, str, str, float | None]],
) -> None:
    raw = raw_request()
    raw["imp"][1]["pmp"] = {"deals": [{"id": "d3", "bidfloor": 0.75}]}
    request = decoded(raw)
    original = deal_floors(request)
    proposals = [floor(name, imp, deal, value) for name, imp, deal, value in proposed]
    change = judge(request, *proposals)
    result = deal_floors(change.request)
    assert result.keys() == original.keys()
    for key, value in result.items():
        assert value >= original[key]
    applied = [p for p, d in zip(proposals, change.decisions, strict=True) if d.applied]
    targets = [p.path for p in applied]
    assert len(targets) == len(set(targets))  # one replacement per deal at most
    for proposal in applied:
        _, _, imp, _, _, deal = proposal.path.split("/")
        assert result[(imp, deal)] == proposal.number
    if not applied:
        assert change.request is request


# --- the bid-response stage ---------------------------------------------------------------

RATES = CurrencyRates("USD", {"EUR": Decimal("1.1")})
SHOWN = {
    "shader": {
        ("seat-42", "bid-1"): BidTarget("seat-42", "bid-1", 2_000_000),
        ("seat-42", "bid-2"): BidTarget("seat-42", "bid-2", 1_500_000),
    },
    "shader2": {("seat-42", "bid-1"): BidTarget("seat-42", "bid-1", 2_000_000)},
    "everything": {("seat-42", "bid-1"): BidTarget("seat-42", "bid-1", 2_000_000)},
    "nothing": {("seat-42", "bid-1"): BidTarget("seat-42", "bid-1", 2_000_000)},
}


def shade(agent_name: str, price: float | None, *, bid: str = "bid-1", path: str = "") -> Proposal:
    return Proposal(
        agent_name,
        "BID_SHADE",
        "REPLACE",
        path or f"/seatbid/seat-42/bid/{bid}",
        "adjust_bid",
        number=price,
    )


def bids(
    *proposals: Proposal, rates: CurrencyRates = RATES
) -> tuple[dict[tuple[str, str], int], tuple[Decision, ...]]:
    prices, decisions = judge_bids(proposals, SPECS, SHOWN, rates)
    assert len(decisions) == len(proposals)
    return prices, decisions


@pytest.mark.parametrize(
    ("price", "micros"),
    [(1.2345678, 1_234_567), (1.5, 1_500_000), (1.9999999, 1_999_999), (0.000001, 1)],
)
def test_a_shade_below_the_bid_is_applied_rounded_down_to_whole_micros(
    price: float, micros: int
) -> None:
    proposal = shade("shader", price)
    prices, decisions = bids(proposal)
    assert prices == {("seat-42", "bid-1"): micros}
    assert decisions == (
        Decision("shader", "BID_SHADE", "REPLACE", "/seatbid/seat-42/bid/bid-1", True, "applied"),
    )


def test_the_shade_is_in_the_exchange_currency_whatever_the_rates() -> None:
    in_euros = CurrencyRates("EUR", {"USD": Decimal("0.9")})
    prices, decisions = bids(shade("shader", 1.75), rates=in_euros)
    assert prices == {("seat-42", "bid-1"): 1_750_000}
    assert reasons(decisions) == ["applied"]


def test_shades_of_several_bids_are_each_applied() -> None:
    prices, decisions = bids(shade("shader", 1.0), shade("shader", 1.25, bid="bid-2"))
    assert prices == {("seat-42", "bid-1"): 1_000_000, ("seat-42", "bid-2"): 1_250_000}
    assert reasons(decisions) == ["applied", "applied"]


@pytest.mark.parametrize("price", [2.0, 2.0000001, 2.5, 1000.0])
def test_a_shade_not_below_the_bid_is_refused(price: float) -> None:
    prices, decisions = bids(shade("shader", price))
    assert prices == {}
    assert reasons(decisions) == ["not_lower"]


def test_two_agents_shading_one_bid_the_first_wins() -> None:
    prices, decisions = bids(shade("shader", 1.8), shade("shader2", 1.0))
    assert prices == {("seat-42", "bid-1"): 1_800_000}
    assert reasons(decisions) == ["applied", "conflict"]


def test_a_refused_shade_does_not_take_the_bid() -> None:
    prices, decisions = bids(shade("shader", 2.5), shade("shader2", 1.0))
    assert prices == {("seat-42", "bid-1"): 1_000_000}
    assert reasons(decisions) == ["not_lower", "applied"]


BID_REJECTIONS: list[tuple[str, Proposal, str]] = [
    ("zero", shade("shader", 0.0), "bad_value"),
    ("negative", shade("shader", -1.0), "bad_value"),
    ("absent", shade("shader", None), "bad_value"),
    ("below-a-micro", shade("shader", 0.0000009), "bad_value"),
    (
        "ids-payload",
        Proposal("shader", "BID_SHADE", "REPLACE", "/seatbid/seat-42/bid/bid-1", "ids"),
        "bad_value",
    ),
    ("not-shown-to-it", shade("shader2", 1.0, bid="bid-2"), "unknown_bid"),
    ("unknown-seat", shade("shader", 1.0, path="/seatbid/seat-7/bid/bid-1"), "unknown_bid"),
    (
        "agent-shown-nothing",
        Proposal(
            "everything",
            "BID_SHADE",
            "REPLACE",
            "/seatbid/seat-42/bid/bid-2",
            "adjust_bid",
            number=1.0,
        ),
        "unknown_bid",
    ),
    ("path-without-bid", shade("shader", 1.0, path="/seatbid/seat-42/bid"), "bad_path"),
    ("path-of-an-imp", shade("shader", 1.0, path="/imp/1"), "bad_path"),
    (
        "add",
        Proposal(
            "shader", "BID_SHADE", "ADD", "/seatbid/seat-42/bid/bid-1", "adjust_bid", number=1.0
        ),
        "bad_op",
    ),
    ("not-declared", shade("nothing", 1.0), "intent_not_declared"),
    ("request-intent", floor("everything", "1", "d1", 4.0), "wrong_stage"),
    (
        "unspecified",
        Proposal(
            "shader",
            "INTENT_UNSPECIFIED",
            "REPLACE",
            "/seatbid/seat-42/bid/bid-1",
            "adjust_bid",
            number=1.0,
        ),
        "unknown_intent",
    ),
    (
        "margin",
        Proposal(
            "shader",
            "ADJUST_DEAL_MARGIN",
            "REPLACE",
            "/seatbid/seat-42/bid/bid-1",
            "adjust_bid",
            number=1.0,
        ),
        "unsupported",
    ),
]


@pytest.mark.parametrize(
    ("proposal", "reason"),
    [pytest.param(proposal, reason, id=name) for name, proposal, reason in BID_REJECTIONS],
)
def test_a_refused_shade_changes_no_price(proposal: Proposal, reason: str) -> None:
    prices, decisions = bids(proposal)
    assert prices == {}
    assert decisions == (Decision.of(proposal, reason),)


@pytest.mark.parametrize("price", [math.inf, -math.inf, math.nan])
def test_a_non_finite_shade_from_the_wire_is_a_bad_value(price: float) -> None:
    mutation = artf_pb2.Mutation(
        intent=artf_pb2.BID_SHADE,
        op=artf_pb2.OPERATION_REPLACE,
        path="/seatbid/seat-42/bid/bid-1",
        adjust_bid=artf_pb2.AdjustBidPayload(price=price),
    )
    prices, decisions = bids(*proposals_of("shader", [mutation]))
    assert prices == {}
    assert reasons(decisions) == ["bad_value"]


@pytest.mark.parametrize("price", [math.inf, math.nan])
def test_a_non_finite_shade_is_a_bad_value(price: float) -> None:
    prices, decisions = bids(shade("shader", price))
    assert prices == {}
    assert reasons(decisions) == ["bad_value"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["shader", "shader2"]),
            st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=1e7)
            | st.floats(min_value=0, max_value=0.00001)
            | st.decimals(min_value=0, max_value=5, places=9).map(float),
        ),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=10**10),
)
def test_no_accepted_shade_is_at_or_above_the_bid_or_below_a_micro(
    proposed: list[tuple[str, float]], original: int
) -> None:
    shown = {name: {("s", "b"): BidTarget("s", "b", original)} for name in ("shader", "shader2")}
    proposals = [shade(name, price, path="/seatbid/s/bid/b") for name, price in proposed]
    prices, decisions = judge_bids(proposals, SPECS, shown, RATES)
    assert len(decisions) == len(proposals)
    taken = False
    for proposal, decision in zip(proposals, decisions, strict=True):
        if not _lower(proposal.number, original):
            assert decision.reason in {"not_lower", "bad_value"}
        elif taken:
            assert decision.reason == "conflict"
        else:
            assert decision.reason == "applied"
            taken = True
            assert proposal.number is not None
            exact = (Decimal(str(proposal.number)) * 10**6).to_integral_value(ROUND_FLOOR)
            assert prices == {("s", "b"): exact}  # rounded down: never more than it said
    if not taken:
        assert prices == {}
    for micros in prices.values():
        assert 1 <= micros < original


def _lower(price: float | None, original: int) -> bool:
    """Whether ``price`` CPM would be an acceptable shade of ``original`` micros alone."""
    if price is None or price <= 0:
        return False
    micros = int((Decimal(str(price)) * 10**6).to_integral_value(ROUND_FLOOR))
    return 1 <= micros < original


def test_an_agent_adds_at_most_its_allowance_per_auction() -> None:
    request = decoded(raw_request())
    hundred = [f"s{n}" for n in range(100)]
    change = judge(
        request,
        segments("audience", *hundred[:60]),
        segments("audience", *hundred[60:]),  # 100 in all: still within the allowance
        segments("audience", "one-more"),
        segments("audience", "and-another"),
        segments("audience2", "theirs"),  # another agent has an allowance of its own
    )
    assert reasons(change) == ["applied", "applied", "limit", "limit", "applied"]
    data = {d.id: [s.id for s in d.segment or []] for d in change.request.user.data or []}
    assert data["audience"] == hundred
    assert data["audience2"] == ["theirs"]


def test_an_id_with_a_trailing_newline_is_refused() -> None:
    request = decoded(raw_request())
    change = judge(request, segments("audience", "seg\n"))
    assert reasons(change) == ["bad_value"]
    viewability = Metric("viewability\n", 55.0, None)
    change = judge(request, metrics("measure", "/imp/1/metric", viewability))
    assert reasons(change) == ["bad_value"]


def test_content_data_with_overlong_text_or_twice_in_one_mutation_is_refused() -> None:
    request = decoded(raw_request())
    item = {"name": "x" * 129, "ext": {"cids": ["c1"]}}
    assert reasons(judge(request, cids("context", item))) == ["bad_value"]
    twice = {"name": "ctx", "ext": {"cids": ["c1"]}}
    assert reasons(judge(request, cids("context", twice, twice))) == ["duplicate"]


def test_activated_deals_are_floored_at_the_imps_open_floor() -> None:
    terms = {
        "1": ImpTerms("1", 900_000, (DealTerms("pub", 100_000), DealTerms("cur", 250_000))),
        "2": ImpTerms("2", 100_000, (DealTerms("cur", 2_500_000),)),
    }
    raised = raise_activated_floors(terms, {("1", "cur"), ("2", "cur"), ("9", "cur")})
    assert [d.floor_micros for d in raised["1"].deals] == [100_000, 900_000]  # only "cur"
    assert [d.floor_micros for d in raised["2"].deals] == [2_500_000]  # already above
    assert terms["1"].deals[1].floor_micros == 250_000  # the input is left alone
