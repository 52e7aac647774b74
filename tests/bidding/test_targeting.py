"""Targeting: facts read once per impression, each dimension's allow/block semantics, the
reason a campaign did not match, and dayparting in the campaign's zone across DST."""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bidding.targeting import (
    ALL_HOURS,
    Dimension,
    ListRule,
    Reason,
    RequestFacts,
    Targeting,
    Why,
    format_keys,
    hour_of_week,
    hours_mask,
    matches,
)
from openrtb.imp import Imp
from openrtb.request import BidRequest
from tests.builders import banner_imp, banner_request

NOW_S = int(datetime(2025, 1, 15, 12, tzinfo=UTC).timestamp())  # a Wednesday, 12:00 UTC


def facts(now_s: int = NOW_S, **overrides: Any) -> RequestFacts:
    request = BidRequest.model_validate(banner_request(**overrides))
    return RequestFacts.of(request, request.imp[0], now_s)


def rich_request() -> dict[str, Any]:
    body = banner_request()
    body["site"].update(
        {
            "domain": "www.sport.news.example.com",
            "cat": ["IAB17-12"],
            "pagecat": ["IAB12"],
            "keywords": "Running, marathon ,",
            "content": {"kwarray": ["Shoes"], "cat": ["IAB18"]},
        }
    )
    body["user"].update(
        {
            "yob": 1990,
            "gender": "F",
            "data": [{"id": "dmp.example", "segment": [{"id": "Sports"}, {"name": "no id"}]}],
        }
    )
    body["device"]["os"] = "iOS"
    return body


def test_facts_are_read_and_normalised_once() -> None:
    request = BidRequest.model_validate(rich_request())
    f = RequestFacts.of(request, request.imp[0], NOW_S)
    v = f.values
    assert v(Dimension.COUNTRY) == {"usa"}
    assert v(Dimension.REGION) == {"ny"}
    assert v(Dimension.CITY) == {"new york"}
    assert v(Dimension.DEVICE_TYPE) == {"2"}
    assert v(Dimension.OS) == {"ios"}
    assert v(Dimension.CONNECTION_TYPE) == {"2"}
    assert v(Dimension.DOMAIN) == {"sport.news.example.com", "news.example.com", "example.com"}
    assert v(Dimension.CATEGORY) == {"iab17-12", "iab17", "iab12", "iab18"}
    assert v(Dimension.KEYWORD) == {"running", "marathon", "shoes"}
    assert v(Dimension.SEGMENT) == {"sports", "dmp.example:sports"}
    assert v(Dimension.GENDER) == {"f"}
    assert v(Dimension.BUNDLE) == frozenset()
    assert f.age == 35
    assert f.formats == {("banner", 300, 250), ("banner", 300, 600)}
    assert f.badv == {"blocked.example"}
    assert f.battr == {"banner": {13, 14}}
    assert f.imp_id == "1"


def test_facts_for_every_imp_share_the_request_part() -> None:
    body = banner_request(imps=2)
    body["imp"][1] = {"id": "2", "video": {"mimes": ["video/mp4"], "w": 640, "h": 360}}
    request = BidRequest.model_validate(body)
    first, second = RequestFacts.for_imps(request, NOW_S)
    assert first.lists is second.lists
    assert second.formats == {("video", 0, 0), ("video", 640, 360)}


def test_app_requests_give_bundle_and_app_domain() -> None:
    app = {"bundle": "com.Example.Game", "domain": "game.example", "cat": ["IAB9-30"]}
    v = facts(site=None, app=app).values
    assert v(Dimension.BUNDLE) == {"com.example.game"}
    assert v(Dimension.DOMAIN) == {"game.example"}
    assert v(Dimension.CATEGORY) == {"iab9-30", "iab9"}


def test_format_keys_of_each_media_type() -> None:
    audio = Imp.model_validate({"id": "1", "audio": {"mimes": ["audio/mp4"]}})
    native = Imp.model_validate({"id": "1", "native": {"request": "{}"}})
    video = Imp.model_validate({"id": "1", "video": {"mimes": ["video/mp4"]}})
    assert format_keys(audio) == {("audio", 0, 0)}
    assert format_keys(native) == {("native", 0, 0)}
    assert format_keys(video) == {("video", 0, 0)}


def rule(allow: list[str | int] | None = None, block: list[str | int] | None = None) -> ListRule:
    return ListRule.of(allow, block or ())


CASES: list[tuple[str, str | int, str | int]] = [
    # dimension, a value the rich request has, a value it has not
    ("country", "USA", "DEU"),
    ("region", "ny", "CA"),
    ("city", "New York", "Boston"),
    ("device_type", 2, 4),
    ("os", "IOS", "Android"),
    ("connection_type", 2, 6),
    ("category", "IAB17", "IAB25"),
    ("domain", "example.com", "other.example"),
    ("segment", "dmp.example:sports", "dmp.example:news"),
    ("gender", "f", "m"),
    ("keyword", "marathon", "cooking"),
]


@pytest.mark.parametrize(("dimension", "present", "absent"), CASES)
def test_allow_and_block_per_dimension(
    dimension: str, present: str | int, absent: str | int
) -> None:
    f = RequestFacts.of(
        BidRequest.model_validate(rich_request()),
        Imp.model_validate(banner_imp()),
        NOW_S,
    )

    def check(r: ListRule) -> Reason | None:
        return matches(Targeting.build({dimension: r}), f)

    assert check(rule(allow=[present, absent])) is None
    assert check(rule(block=[absent])) is None
    not_allowed = check(rule(allow=[absent]))
    assert not_allowed is not None
    assert (not_allowed.dimension, not_allowed.why) == (dimension, Why.NOT_ALLOWED)
    blocked = check(rule(allow=[present], block=[present]))
    assert blocked is not None
    assert (blocked.dimension, blocked.why) == (dimension, Why.BLOCKED)
    assert str(blocked).startswith(f"{dimension}: blocked (")


def test_bundle_allow_and_block() -> None:
    f = facts(site=None, app={"bundle": "com.example.game"})
    assert matches(Targeting.build(bundle=rule(allow=["com.example.game"])), f) is None
    reason = matches(Targeting.build(bundle=rule(block=["COM.example.game"])), f)
    assert reason == Reason("bundle", Why.BLOCKED, "com.example.game")


def test_an_allow_list_needs_the_fact_and_a_block_list_does_not() -> None:
    no_geo = facts(device={"devicetype": 2})
    assert matches(Targeting.build(country=rule(allow=["USA"])), no_geo) == Reason(
        "country", Why.UNKNOWN
    )
    assert matches(Targeting.build(country=rule(block=["USA"])), no_geo) is None


def test_user_geo_is_used_when_the_device_has_none() -> None:
    body = banner_request()
    del body["device"]["geo"]
    body["user"]["geo"] = {"country": "CAN"}
    assert facts(**body).values(Dimension.COUNTRY) == {"can"}


def test_age_range() -> None:
    f = facts(user={"yob": 2000})  # 25 in 2025
    assert matches(Targeting.build(min_age=18, max_age=34), f) is None
    assert matches(Targeting.build(min_age=30), f) == Reason("age", Why.OUT_OF_RANGE, "25")
    assert matches(Targeting.build(max_age=20), f) == Reason("age", Why.OUT_OF_RANGE, "25")
    assert matches(Targeting.build(min_age=18), facts(user={})) == Reason("age", Why.UNKNOWN)
    assert facts(user={"yob": 2090}).age is None


def test_flight_is_half_open() -> None:
    t = Targeting.build(flight_start_s=NOW_S, flight_end_s=NOW_S + 10)
    assert matches(t, facts(NOW_S)) is None
    assert matches(t, facts(NOW_S + 9)) is None
    assert matches(t, facts(NOW_S - 1)) == Reason("flight", Why.OUT_OF_FLIGHT)
    assert matches(t, facts(NOW_S + 10)) == Reason("flight", Why.OUT_OF_FLIGHT)


def utc_s(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def test_hours_mask() -> None:
    assert hours_mask(("mon",), 9, 10) == 1 << 9
    assert hours_mask(("sun",), 23, 1) == (1 << 167) | (1 << 0)  # wraps into Monday
    assert (
        bin(hours_mask(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 0, 24)).count("1") == 168
    )
    assert hours_mask(("mon",), 0, 24) | hours_mask(("tue",), 0, 24) == (1 << 48) - 1
    with pytest.raises(ValueError, match="unknown day"):
        hours_mask(("monday",), 0, 1)


def test_dayparting_follows_the_campaign_zone_across_dst() -> None:
    # Mondays 09:00–09:59 in New York: 14:00 UTC in winter (EST), 13:00 UTC in summer (EDT).
    t = Targeting.build(time_zone="America/New_York", hours=hours_mask(("mon",), 9, 10))
    assert matches(t, facts(utc_s(2025, 1, 13, 14, 30))) is None
    assert matches(t, facts(utc_s(2025, 1, 13, 13, 30))) == Reason(
        "dayparting", Why.OUT_OF_HOURS, "hour-of-week 8"
    )
    assert matches(t, facts(utc_s(2025, 7, 14, 13, 30))) is None
    assert matches(t, facts(utc_s(2025, 7, 14, 14, 30))) is not None
    # The same instant is Monday 15:00 in Berlin: another campaign's zone, another answer.
    berlin = Targeting.build(time_zone="Europe/Berlin", hours=hours_mask(("mon",), 15, 16))
    assert matches(berlin, facts(utc_s(2025, 1, 13, 14, 30))) is None


def test_hour_of_week_on_the_dst_switch_days() -> None:
    # 2025-03-09 (a Sunday) 02:00 EST jumps to 03:00 EDT; 07:00 UTC is 03:00 local.
    assert hour_of_week(utc_s(2025, 3, 9, 6, 59), "America/New_York") == 6 * 24 + 1
    assert hour_of_week(utc_s(2025, 3, 9, 7, 0), "America/New_York") == 6 * 24 + 3
    # 2025-11-02 01:00–01:59 happens twice in New York: both are local hour 1.
    assert hour_of_week(utc_s(2025, 11, 2, 5, 30), "America/New_York") == 6 * 24 + 1
    assert hour_of_week(utc_s(2025, 11, 2, 6, 30), "America/New_York") == 6 * 24 + 1


@given(
    st.integers(min_value=0, max_value=2**32),
    st.sampled_from(["UTC", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]),
)
def test_hour_of_week_agrees_with_the_zone_database(now_s: int, zone: str) -> None:
    local = datetime.fromtimestamp(now_s, ZoneInfo(zone))
    assert hour_of_week(now_s, zone) == local.weekday() * 24 + local.hour


def test_untargeted_campaigns_match_everything() -> None:
    assert matches(Targeting(), facts()) is None
    assert Targeting().hours == ALL_HOURS
    with pytest.raises(ValueError, match="unknown targeting dimension"):
        Targeting.build(planet=rule(allow=["earth"]))


def test_the_first_failing_rule_is_reported_in_order() -> None:
    t = Targeting.build(country=rule(allow=["DEU"]), os=rule(allow=["Android"]), min_age=99)
    assert matches(t, facts()) == Reason("country", Why.NOT_ALLOWED, "usa")
