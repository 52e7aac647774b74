"""Profiles as the bidder reads them, audience rules over them, and the router honouring
them: one store round trip with the caps, and nothing read without consent."""

import itertools
from typing import Any

import pytest
from pydantic import ValidationError

from bidding.audience_rules import AudienceRule, AudienceRuleFile, audience_holds
from bidding.campaigns import RouterFile, router_specs
from bidding.profiles import (
    EMPTY_PROFILE,
    KEEP_DAYS,
    ProfileEvent,
    UserProfile,
    event_fields,
    segment_field,
    utc_day,
)
from bidding.router import CampaignRouter
from budget.profile_write import ProfileWrite
from openrtb.identity import PROCESS_USER_KEYS
from openrtb.request import BidRequest
from tests.bidding.test_router import NOW, RecordingLedger
from tests.builders import banner_request
from tests.tcf_strings import tc_string

TODAY = utc_day(NOW)
_AUCTIONS = itertools.count()


def record(
    *events: tuple[int, ProfileEvent, str, tuple[str, ...]], **segments: int
) -> dict[str, str]:
    out: dict[str, str] = {}
    for days_ago, event, campaign, categories in events:
        for field, n in event_fields(event, TODAY - days_ago, campaign, categories):
            out[field] = str(int(out.get(field, "0")) + n)
    out.update({segment_field(name): str(until) for name, until in segments.items()})
    return out


def test_counts_are_per_campaign_and_category_within_the_window() -> None:
    profile = UserProfile.parse(
        record(
            (0, ProfileEvent.CLICK, "a", ("IAB20",)),
            (6, ProfileEvent.CLICK, "b", ("IAB20", "IAB20")),  # a category counts once
            (7, ProfileEvent.CLICK, "a", ("IAB20",)),
            (KEEP_DAYS, ProfileEvent.CLICK, "a", ("IAB20",)),  # past the longest window
            (0, ProfileEvent.IMPRESSION, "a", ()),
        ),
        NOW,
    )
    assert profile.count(ProfileEvent.CLICK, category="IAB20", within_days=7, today=TODAY) == 2
    assert profile.count(ProfileEvent.CLICK, category="IAB20", within_days=8, today=TODAY) == 3
    assert profile.count(ProfileEvent.CLICK, campaign="a", within_days=1, today=TODAY) == 1
    assert profile.count(ProfileEvent.IMPRESSION, campaign="a", within_days=30, today=TODAY) == 1
    assert profile.total(ProfileEvent.CLICK, "cmp", within_days=30, today=TODAY) == 3
    with pytest.raises(ValueError, match="campaign or a category"):
        profile.count(ProfileEvent.CLICK, within_days=1, today=TODAY)


def test_segments_live_until_their_expiry_and_junk_fields_are_skipped() -> None:
    stored = record(alive=int(NOW) + 10, lapsed=int(NOW) - 1)
    stored.update({"e:notaday:click:cmp:a": "1", "e:1:click": "2", "s:bad": "soon", "p": "3"})
    profile = UserProfile.parse(stored, NOW)
    assert profile.segments == {"alive"}
    assert profile.counts == {}


def rule(**fields: Any) -> AudienceRule:
    return AudienceRuleFile.model_validate(fields).rule("me")


def test_rules_hold_on_counts_and_segments_and_never_on_an_unknown_user() -> None:
    profile = UserProfile.parse(
        record(
            (2, ProfileEvent.CLICK, "x", ("IAB2",)),
            (0, ProfileEvent.IMPRESSION, "me", ()),
            auto=int(NOW) + 60,
        ),
        NOW,
    )
    clicked = rule(event="click", category="IAB2", within_days=7)
    fatigued = rule(event="impression", campaign="self", within_days=1, at_most=0)
    segment = rule(segment="auto")
    assert clicked.holds(profile, TODAY)
    assert segment.holds(profile, TODAY)
    assert not fatigued.holds(profile, TODAY)  # "self" is the campaign's own id
    assert audience_holds([clicked, segment], profile, TODAY)
    assert not audience_holds([clicked, fatigued], profile, TODAY)
    assert not rule(event="click", category="IAB2", within_days=2).holds(profile, TODAY)
    assert not audience_holds([fatigued], EMPTY_PROFILE, TODAY)  # unknown: never matches
    assert audience_holds([], EMPTY_PROFILE, TODAY)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"within_days": 7}, "needs an event"),
        ({"event": "click"}, "one campaign or one category"),
        ({"event": "click", "campaign": "a", "category": "IAB1"}, "one campaign or one category"),
        ({"event": "click", "category": "IAB1", "within_days": 31}, "less than or equal to 30"),
        ({"event": "click", "category": "IAB1", "at_least": 3, "at_most": 2}, "at_most"),
        ({"event": "click", "category": "IAB1", "at_least": 0}, "holds for everyone"),
        ({"segment": "s", "event": "click"}, "segment rule takes no"),
        ({"event": "view", "category": "IAB1"}, "Input should be"),
    ],
)
def test_bad_rules_are_refused_naming_the_problem(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AudienceRuleFile.model_validate(fields)


def audience_router(
    audience: list[dict[str, Any]], *, caps: bool = False, vendor: int | None = None
) -> CampaignRouter:
    raw = {
        "name": "house",
        "campaigns": [
            {
                "id": "retarget",
                "advertiser": "R",
                "seat": "r",
                "bid_cpm": "2.00",
                "daily_budget": "100",
                "audience": audience,
                "frequency_cap": [{"count": 3, "per": "day"}] if caps else [],
                "creatives": [
                    {"id": "r1", "w": 300, "h": 250, "adm": "<i>", "adomain": ["r.example"]}
                ],
            },
            {
                "id": "everyone",
                "advertiser": "E",
                "seat": "e",
                "bid_cpm": "1.00",
                "daily_budget": "100",
                "creatives": [
                    {"id": "e1", "w": 300, "h": 250, "adm": "<i>", "adomain": ["e.example"]}
                ],
            },
        ],
    }
    (spec,) = router_specs([RouterFile.model_validate(raw)], "test")
    return CampaignRouter(spec, CountingLedger(), "USD", clock=lambda: NOW, gvl_vendor_id=vendor)


class CountingLedger(RecordingLedger):
    """Counts the user reads the router makes."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def capped(self, campaigns: Any, user: str) -> set[str]:
        self.reads.append("caps")
        return await super().capped(campaigns, user)

    async def capped_with_profile(self, campaigns: Any, user: str) -> tuple[set[str], Any]:
        self.reads.append("caps+profile")
        return await super().capped_with_profile(campaigns, user)


async def give(router: CampaignRouter, request: BidRequest, fields: dict[str, str]) -> None:
    user = PROCESS_USER_KEYS.of(request)
    assert user is not None
    ledger = router._budget
    assert isinstance(ledger, RecordingLedger)
    await ledger.store.write_profile(
        ProfileWrite(
            key=ledger._keys.profile(user),
            day=TODAY,
            now_s=int(NOW),
            keep_days=KEEP_DAYS,
            max_fields=64,
            ttl_s=3_600,
            sets=tuple(fields.items()),
        )
    )


async def bidders(router: CampaignRouter, request: BidRequest) -> set[str | None]:
    auction = f"r{next(_AUCTIONS)}"  # a new id each time: a hold is placed once per auction
    answer = await router.request_bids(request.model_copy(update={"id": auction}), 0.05)
    return set() if answer is None else {b.cid for sb in answer.seatbid for b in sb.bid}


async def test_a_campaign_bids_only_to_users_its_rules_match_in_one_read_with_the_caps() -> None:
    router = audience_router([{"event": "click", "category": "IAB2", "within_days": 7}], caps=True)
    request = BidRequest.model_validate(banner_request())
    assert await bidders(router, request) == {"everyone"}
    await give(router, request, record((3, ProfileEvent.CLICK, "other", ("IAB2",))))
    assert await bidders(router, request) == {"retarget", "everyone"}
    ledger = router._budget
    assert isinstance(ledger, CountingLedger)
    assert ledger.reads == ["caps+profile", "caps+profile"]  # caps and profile together


async def test_no_profile_is_read_without_consent_or_anyone_to_identify() -> None:
    router = audience_router([{"segment": "auto"}], vendor=755)
    request = banner_request()
    await give(router, BidRequest.model_validate(request), record(auto=int(NOW) + 60))
    assert await bidders(router, BidRequest.model_validate(request)) == {"retarget", "everyone"}
    coppa = {**request, "regs": {"coppa": 1}}
    no_consent = {**request, "regs": {"gdpr": 1}, "user": {**request["user"], "consent": ""}}
    us_opt_out = {**request, "regs": {"us_privacy": "1YYN"}}
    consented = {
        **request,
        "regs": {"gdpr": 1},
        "user": {**request["user"], "consent": tc_string(vendors=[755], purposes=[1, 2, 3, 4])},
    }
    ledger = router._budget
    assert isinstance(ledger, CountingLedger)
    ledger.reads.clear()
    for refused in (coppa, no_consent, us_opt_out):
        assert await bidders(router, BidRequest.model_validate(refused)) == {"everyone"}
    assert ledger.reads == []  # not even read
    assert await bidders(router, BidRequest.model_validate(consented)) == {"retarget", "everyone"}
    anonymous = {**request, "user": {}, "device": {"ua": "x"}}
    assert await bidders(router, BidRequest.model_validate(anonymous)) == {"everyone"}
