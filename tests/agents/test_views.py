"""What an agent is shown (``agents.views``): the tree of its fields, and the request cut by
it — nested objects, every element of a list alike, absent fields left out."""

import copy
from typing import Any

import orjson
import pytest

from agents.config import ALWAYS_SHOWN
from agents.views import cut, tree_of
from openrtb.codec import decode_request
from tests.builders import banner_request


@pytest.mark.parametrize(
    ("paths", "tree"),
    [
        ([], {}),
        (["site"], {"site": True}),
        (["site", "site.page"], {"site": True}),
        (["site.page", "site"], {"site": True}),
        (["device.geo.country", "device.geo"], {"device": {"geo": True}}),
        (["device.geo", "device.geo.country"], {"device": {"geo": True}}),
        (
            ["device.geo.country", "device.geo.city"],
            {"device": {"geo": {"country": True, "city": True}}},
        ),
        (["device.geo.country", "device"], {"device": True}),
        (["device", "device.geo.country"], {"device": True}),
        (["device.ua", "device.geo", "device.ua"], {"device": {"ua": True, "geo": True}}),
        (
            ["id", "imp.id", "imp.pmp", "user.data"],
            {"id": True, "imp": {"id": True, "pmp": True}, "user": {"data": True}},
        ),
    ],
    ids=[
        "empty",
        "one-whole-value",
        "whole-then-part",
        "part-then-whole",
        "deep-part-then-whole",
        "whole-then-deep-part",
        "siblings-merge",
        "deep-part-then-top",
        "top-then-deep-part",
        "repeated-path",
        "always-shown-and-fields",
    ],
)
def test_tree_of_merges_paths_and_a_whole_value_wins(
    paths: list[str], tree: dict[str, Any]
) -> None:
    assert tree_of(paths) == tree


def test_cut_keeps_nested_fields_only() -> None:
    data = {
        "id": "r1",
        "device": {"ua": "UA", "ip": "203.0.113.17", "geo": {"country": "USA", "zip": "10001"}},
        "user": {"id": "u1", "data": [{"id": "d"}]},
    }
    before = copy.deepcopy(data)
    kept = cut(data, tree_of(["id", "device.geo.country", "device.ua"]))
    assert kept == {"id": "r1", "device": {"ua": "UA", "geo": {"country": "USA"}}}
    assert data == before  # the input is not changed


def test_cut_cuts_every_element_of_a_list_alike() -> None:
    data = {
        "imp": [
            {"id": "1", "bidfloor": 0.5, "pmp": {"deals": [{"id": "d1", "bidfloor": 2}]}},
            {"id": "2", "bidfloor": 0.7},
            {"id": "3", "pmp": {"private_auction": 1, "deals": []}},
        ]
    }
    kept = cut(data, tree_of(["imp.id", "imp.pmp"]))
    assert kept == {
        "imp": [
            {"id": "1", "pmp": {"deals": [{"id": "d1", "bidfloor": 2}]}},
            {"id": "2"},  # no pmp: skipped, not null
            {"id": "3", "pmp": {"private_auction": 1, "deals": []}},
        ]
    }


def test_cut_cuts_lists_inside_lists() -> None:
    data = {
        "imp": [
            {"id": "1", "pmp": {"deals": [{"id": "d1", "bidfloor": 2, "wseat": ["a"]}]}},
            {"id": "2", "pmp": {"deals": [{"id": "d2"}, {"id": "d3", "bidfloor": 1}]}},
        ]
    }
    kept = cut(data, tree_of(["imp.pmp.deals.bidfloor"]))
    assert kept == {
        "imp": [
            {"pmp": {"deals": [{"bidfloor": 2}]}},
            {"pmp": {"deals": [{}, {"bidfloor": 1}]}},
        ]
    }


def test_cut_skips_absent_and_null_fields_and_keeps_falsy_values() -> None:
    data = {"id": "r1", "at": 0, "cur": [], "site": None, "tmax": ""}
    kept = cut(data, tree_of(["id", "at", "cur", "site", "user.data", "tmax", "app.content"]))
    assert kept == {"id": "r1", "at": 0, "cur": [], "tmax": ""}


def test_cut_keeps_a_present_object_whose_listed_fields_are_absent() -> None:
    # device is there, but without geo: what the agent sees is an empty device
    assert cut({"device": {"ua": "UA"}}, tree_of(["device.geo"])) == {"device": {}}


def test_cut_drops_a_value_that_has_no_fields_where_fields_are_asked_for() -> None:
    data = {"site": "not-an-object", "imp": ["not-an-object", {"id": "1", "tagid": "t"}]}
    assert cut(data, tree_of(["site.page", "imp.id"])) == {"imp": [{"id": "1"}]}


def test_a_request_cut_for_an_agent_keeps_only_what_it_may_see() -> None:
    raw = banner_request(imps=2)
    raw["imp"][0]["pmp"] = {"private_auction": 0, "deals": [{"id": "d1", "bidfloor": 2.0}]}
    request = decode_request(orjson.dumps(raw))
    data = request.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    kept = cut(data, tree_of([*ALWAYS_SHOWN, "imp.pmp", "device.geo.country", "site.page"]))
    assert kept == {
        "id": "req-6f1c2a9e-banner",
        "tmax": 120,
        "at": 2,
        "cur": ["USD"],
        "imp": [
            {"id": "1", "pmp": {"private_auction": 0, "deals": [{"id": "d1", "bidfloor": 2.0}]}},
            {"id": "2"},
        ],
        "device": {"geo": {"country": "USA"}},
        "site": {"page": "https://news.example.com/world/story-123.html"},
    }
