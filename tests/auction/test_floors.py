"""Exchange floor rules: they raise the request's floor when every set field matches."""

from collections.abc import Collection
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.floors import FloorRule, effective_floor

IMP: dict[str, Any] = {
    "publisher_id": "pub-1",
    "media_types": frozenset({"banner"}),
    "sizes": frozenset({"300x250", "300x600"}),
    "country": "USA",
}


def floor(request_floor: int, *rules: FloorRule, **imp: Any) -> int:
    return effective_floor(request_floor, rules, **{**IMP, **imp})


def test_no_rules_keeps_the_request_floor() -> None:
    assert floor(500_000) == 500_000
    assert floor(-3) == 0


def test_a_matching_rule_raises_the_floor() -> None:
    assert floor(500_000, FloorRule(floor_micros=800_000, publisher_id="pub-1")) == 800_000


def test_a_rule_never_lowers_the_floor() -> None:
    assert floor(500_000, FloorRule(floor_micros=100_000)) == 500_000


def test_the_highest_matching_rule_wins() -> None:
    rules = (
        FloorRule(floor_micros=700_000, country="USA"),
        FloorRule(floor_micros=900_000, media_type="banner"),
        FloorRule(floor_micros=5_000_000, country="DEU"),
    )
    assert floor(500_000, *rules) == 900_000


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        (FloorRule(floor_micros=1), True),  # no field set: matches everything
        (FloorRule(floor_micros=1, publisher_id="pub-1"), True),
        (FloorRule(floor_micros=1, publisher_id="pub-2"), False),
        (FloorRule(floor_micros=1, media_type="banner"), True),
        (FloorRule(floor_micros=1, media_type="video"), False),
        (FloorRule(floor_micros=1, size="300x600"), True),  # any accepted size
        (FloorRule(floor_micros=1, size="728x90"), False),
        (FloorRule(floor_micros=1, country="USA"), True),
        (FloorRule(floor_micros=1, country="GBR"), False),
        (FloorRule(floor_micros=1, publisher_id="pub-1", size="300x250", country="USA"), True),
        (FloorRule(floor_micros=1, publisher_id="pub-1", size="300x250", country="GBR"), False),
    ],
)
def test_a_rule_matches_when_each_set_field_matches(rule: FloorRule, matches: bool) -> None:
    assert rule.matches(**IMP) is matches
    assert floor(0, rule) == (1 if matches else 0)


def test_size_rules_apply_to_banners_only() -> None:
    rule = FloorRule(floor_micros=2_000_000, size="300x250")
    assert floor(0, rule, media_types=frozenset({"video"})) == 0
    assert floor(0, rule, media_types=frozenset({"video", "banner"})) == 2_000_000


def test_unknown_publisher_or_country_matches_only_rules_without_them() -> None:
    rules = (
        FloorRule(floor_micros=3, publisher_id="pub-1"),
        FloorRule(floor_micros=2, country="USA"),
    )
    assert floor(0, *rules, publisher_id=None, country=None) == 0
    assert floor(0, *rules, publisher_id=None) == 2


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"floor_micros": -1}, "floor_micros"),
        ({"floor_micros": 1, "media_type": "print"}, "media_type"),
        ({"floor_micros": 1, "size": "300X250"}, "size"),
        ({"floor_micros": 1, "size": "0x250"}, "size"),
        ({"floor_micros": 1, "country": "US"}, "country"),
        ({"floor_micros": 1, "country": "usa"}, "country"),
    ],
)
def test_bad_rules_fail_at_construction_naming_the_field(
    fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        FloorRule(**fields)


rules_strategy = st.lists(
    st.builds(
        FloorRule,
        floor_micros=st.integers(0, 10**7),
        publisher_id=st.sampled_from([None, "pub-1", "pub-2"]),
        media_type=st.sampled_from([None, "banner", "video", "audio", "native"]),
        size=st.sampled_from([None, "300x250", "728x90"]),
        country=st.sampled_from([None, "USA", "GBR"]),
    ),
    max_size=20,
)
impressions = st.fixed_dictionaries(
    {
        "publisher_id": st.sampled_from([None, "pub-1", "pub-2"]),
        "media_types": st.frozensets(st.sampled_from(["banner", "video", "audio", "native"])),
        "sizes": st.frozensets(st.sampled_from(["300x250", "728x90", "160x600"])),
        "country": st.sampled_from([None, "USA", "GBR"]),
    }
)


def matching(rule: FloorRule, imp: dict[str, Any]) -> bool:
    """The matching rule written out field by field."""
    types: Collection[str] = imp["media_types"]
    return all(
        (
            rule.publisher_id in (None, imp["publisher_id"]),
            rule.media_type is None or rule.media_type in types,
            rule.size is None or ("banner" in types and rule.size in imp["sizes"]),
            rule.country in (None, imp["country"]),
        )
    )


@given(st.integers(-(10**6), 10**7), rules_strategy, rules_strategy, impressions)
def test_effective_floor_is_at_least_the_request_floor_and_monotone_in_rules(
    request_floor: int, rules: list[FloorRule], more: list[FloorRule], imp: dict[str, Any]
) -> None:
    base = effective_floor(request_floor, rules, **imp)
    assert base >= request_floor
    assert base == max([request_floor, 0] + [r.floor_micros for r in rules if matching(r, imp)])
    assert effective_floor(request_floor, rules + more, **imp) >= base
    assert effective_floor(request_floor, more + rules, **imp) >= base
