"""The campaign index returns exactly the campaigns a full scan finds, and says why not."""

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.campaigns import Campaign, Creative, MediaType
from bidding.index import CampaignIndex, CampaignMatch, check, eligible_creatives, scan
from bidding.targeting import ANY, Dimension, ListRule, Reason, RequestFacts, Targeting, Why
from openrtb.request import BidRequest
from tests.builders import banner_request

COUNTRIES = ["usa", "can", "deu", "fra"]
DEVICES = ["1", "2", "4", "5"]
OSES = ["ios", "android", "windows"]
SIZES = [(300, 250), (728, 90), (320, 50), (300, 600)]
FORMATS: list[tuple[MediaType, int, int]] = [("banner", w, h) for w, h in SIZES]
FORMATS += [("video", 0, 0), ("video", 640, 360)]
DOMAINS = ["a.example", "b.example"]


def campaign(
    cid: str, *formats: tuple[MediaType, int, int], targeting: Targeting = ANY, **kw: Any
) -> Campaign:
    creatives = tuple(
        Creative(
            f"{cid}-{i}",
            w,
            h,
            "<img>",
            kw.get("adomain", (f"{cid}.example",)),
            kw.get("cat", ()),
            media_type=m,
            attr=kw.get("attr", ()),
        )
        for i, (m, w, h) in enumerate(formats)
    )
    return Campaign(cid, cid, cid, 1_000_000, 10_000_000, "UTC", creatives, targeting=targeting)


def rules(values: list[str]) -> st.SearchStrategy[ListRule | None]:
    subset = st.frozensets(st.sampled_from(values), max_size=3)
    return st.one_of(
        st.none(),
        st.builds(lambda a, b: ListRule(a or None, b), subset, subset),
    )


@st.composite
def campaigns(draw: st.DrawFn) -> Campaign:
    formats = draw(st.lists(st.sampled_from(FORMATS), min_size=1, max_size=3, unique=True))
    picked = {
        "country": draw(rules(COUNTRIES)),
        "device_type": draw(rules(DEVICES)),
        "os": draw(rules(OSES)),
        "domain": draw(rules(DOMAINS)),
    }
    targeting = Targeting.build({k: v for k, v in picked.items() if v is not None})
    adomain = (draw(st.sampled_from(["x.example", "blocked.example"])),)
    attr = tuple(draw(st.lists(st.sampled_from([1, 13]), max_size=1)))
    return campaign("c", *formats, targeting=targeting, adomain=adomain, attr=attr)


def one(values: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values), max_size=2)


@st.composite
def request_facts(draw: st.DrawFn) -> RequestFacts:
    lists = [frozenset[str]()] * len(Dimension)
    lists[Dimension.COUNTRY] = draw(one(COUNTRIES))
    lists[Dimension.DEVICE_TYPE] = draw(one(DEVICES))
    lists[Dimension.OS] = draw(one(OSES))
    lists[Dimension.DOMAIN] = draw(one(DOMAINS))
    return RequestFacts(
        now_s=1_736_942_400,
        lists=tuple(lists),
        formats=draw(st.frozensets(st.sampled_from(FORMATS), max_size=3)),
        badv=draw(st.frozensets(st.just("blocked.example"))),
        battr=draw(st.sampled_from([{}, {"banner": frozenset({13})}])),
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(campaigns(), max_size=25),
    st.lists(request_facts(), min_size=1, max_size=5),
)
def test_the_index_returns_exactly_what_a_full_scan_returns(
    drawn: list[Campaign], many: list[RequestFacts]
) -> None:
    pool = [replace(c, id=f"c{i}") for i, c in enumerate(drawn)]
    index = CampaignIndex(pool)
    for facts in many:
        expected = scan(pool, facts)
        assert index.candidates(facts) == expected
        assert {c.position for c in expected} <= set(index.narrow(facts))
        explained = index.explain(facts)
        assert {cid for cid, why in explained.items() if why is None} == {
            c.campaign.id for c in expected
        }


def real_facts(**overrides: Any) -> RequestFacts:
    request = BidRequest.model_validate(banner_request(**overrides))
    return RequestFacts.of(request, request.imp[0], 1_736_942_400)


def test_narrowing_uses_format_country_and_device() -> None:
    pool = [
        campaign("fits", ("banner", 300, 250)),
        campaign("wrong-size", ("banner", 728, 90)),
        campaign(
            "germany", ("banner", 300, 250), targeting=Targeting.build(country=ListRule.of(["DEU"]))
        ),
        campaign(
            "usa-phones",
            ("banner", 300, 600),
            targeting=Targeting.build(country=ListRule.of(["USA"]), device_type=ListRule.of([4])),
        ),
        campaign(
            "usa-desktops",
            ("banner", 300, 600),
            targeting=Targeting.build(country=ListRule.of(["USA"]), device_type=ListRule.of([2])),
        ),
    ]
    index = CampaignIndex(pool)
    facts = real_facts()
    assert index.narrow(facts) == [0, 4]
    assert [c.campaign.id for c in index.candidates(facts)] == ["fits", "usa-desktops"]
    assert index.candidates(facts)[0] == CampaignMatch(0, pool[0], (0,))
    why = index.explain(facts)
    assert why["wrong-size"] == Reason("creative", Why.NO_CREATIVE)
    assert why["germany"] == Reason("country", Why.NOT_ALLOWED, "usa")
    assert why["usa-phones"] == Reason("device_type", Why.NOT_ALLOWED, "2")


def test_a_block_list_is_checked_after_narrowing() -> None:
    blocked = campaign(
        "no-usa",
        ("banner", 300, 250),
        targeting=Targeting.build(country=ListRule.of(block=["USA"])),
    )
    index = CampaignIndex([blocked])
    assert index.narrow(real_facts()) == [0]
    assert index.candidates(real_facts()) == []


def test_creatives_blocked_by_the_request_are_not_offered() -> None:
    c = campaign("c", ("banner", 300, 250), ("banner", 300, 600), adomain=("Blocked.example",))
    facts = real_facts()
    assert eligible_creatives(c, facts) == ()
    assert check(c, facts) == ((), Reason("creative", Why.NO_CREATIVE))
    animated = campaign("a", ("banner", 300, 250), attr=(13,))  # imp battr [13, 14]
    plain = campaign("p", ("banner", 300, 250), ("banner", 300, 600), cat=("IAB1",))
    assert eligible_creatives(animated, facts) == ()
    assert eligible_creatives(plain, facts) == (0, 1)
    gambling = campaign("g", ("banner", 300, 250), cat=("IAB25",))  # bcat IAB25
    assert eligible_creatives(gambling, facts) == ()


def test_an_empty_router_and_a_request_without_known_formats() -> None:
    assert CampaignIndex([]).candidates(real_facts()) == []
    video_only = CampaignIndex([campaign("v", ("video", 0, 0))])
    assert video_only.candidates(real_facts()) == []
