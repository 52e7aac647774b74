"""Campaign exclusions for brand safety: categories, domains, keywords and content ratings
written in a campaigns file refuse the impressions they name, and only those."""

from typing import Any

import pytest

from bidding.campaigns import RouterFile, router_specs
from bidding.targeting import RequestFacts, Why, matches
from openrtb.request import BidRequest
from tests.builders import banner_request

EXCLUSIONS = {
    "category": {"block": ["IAB25", "IAB7-39"]},
    "domain": {"block": ["tabloid.example"]},
    "keyword": {"block": ["shooting", "crash"]},
    "content_rating": {"block": ["TV-MA", "MPAA R", "qag:3"]},
}


def _targeting() -> Any:
    campaign = {
        "id": "careful",
        "advertiser": "Careful Brand",
        "seat": "careful",
        "bid_cpm": "2.00",
        "daily_budget": "100",
        "targeting": EXCLUSIONS,
        "creatives": [
            {"id": "c", "w": 300, "h": 250, "adm": "<img>", "adomain": ["careful.example"]}
        ],
    }
    (spec,) = router_specs([RouterFile.model_validate({"name": "r", "campaigns": [campaign]})], "t")
    return spec.campaigns[0].targeting


def _facts(site: dict[str, Any]) -> RequestFacts:
    body = banner_request()
    body["site"].update(site)
    request = BidRequest.model_validate(body)
    return RequestFacts.of(request, request.imp[0], 1_700_000_000)


@pytest.mark.parametrize(
    ("site", "dimension", "value"),
    [
        ({}, None, None),  # the builder's news site: nothing excluded
        ({"cat": ["IAB25-3"]}, "category", "iab25"),  # tier-1 block covers the sub-category
        ({"pagecat": ["IAB7-39"]}, "category", "iab7-39"),
        ({"domain": "www.celebs.tabloid.example"}, "domain", "tabloid.example"),
        ({"keywords": "markets, Crash ,rates"}, "keyword", "crash"),
        ({"content": {"kwarray": ["range", "shooting"]}}, "keyword", "shooting"),
        ({"content": {"contentrating": "TV-MA"}}, "content_rating", "tv-ma"),
        ({"content": {"contentrating": "TV-PG"}}, None, None),
        ({"content": {"qagmediarating": 3}}, "content_rating", "qag:3"),
        ({"content": {"qagmediarating": 1}}, None, None),
    ],
)
def test_exclusions_refuse_what_they_name(
    site: dict[str, Any], dimension: str | None, value: str | None
) -> None:
    reason = matches(_targeting(), _facts(site))
    if dimension is None:
        assert reason is None
    else:
        assert reason is not None
        assert (reason.dimension, reason.why, reason.value) == (dimension, Why.BLOCKED, value)
