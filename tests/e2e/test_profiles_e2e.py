"""User profiles over a real socket against a real Redis: notices, clicks and conversions
fill the profile of a consenting user, audience rules read it on the next request, the
admin API declares segments — and nothing is kept for a user who did not consent."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import redis

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request, write_bidders_file
from tests.e2e.test_notices_e2e import token_claim
from tests.servers import serve

SECRET = "e2e-notice-secret-0123456789-abcdef"
TOKEN = "profile-admin-token-0123456789abcdef"
LANDING = "https://travel.example/deals"


def campaign(cid: str, price: str, cat: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "advertiser": cid,
        "seat": cid,
        "bid_cpm": price,
        "daily_budget": "100",
        "creatives": [
            {
                "id": f"{cid}-cr",
                "w": 300,
                "h": 250,
                "cat": [cat],
                "adomain": [f"{cid}.example"],
                "landing_url": LANDING,
                "adm": '<a href="${RTB_CLICK_URL}"><img src="https://t.example/i.png"></a>',
            }
        ],
        **extra,
    }


@pytest.fixture
def exchange(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[httpx.Client]:
    routers = [
        {
            "name": "house",
            "campaigns": [
                campaign("travel", "2.00", "IAB20-3"),
                campaign(
                    "retarget",
                    "3.00",
                    "IAB20-1",
                    audience=[{"event": "click", "category": "IAB20", "within_days": 7}],
                ),
                campaign("vip", "4.00", "IAB3", audience=[{"segment": "vip"}]),
            ],
        }
    ]
    settings = Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        key_prefix=key_prefix,
        bidders_file=write_bidders_file(tmp_path, routers),
        notice_secret=SECRET,  # type: ignore[arg-type]
        admin_token=TOKEN,  # type: ignore[arg-type]
        log_json=True,
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client


def auction(client: httpx.Client, user: str, n: int, **changes: Any) -> dict[str, Any] | None:
    body = banner_request(id=f"{user}-{n}", **changes)
    body["user"] = {**body["user"], "id": user, **changes.get("user", {})}
    response = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204:
        return None
    bid: dict[str, Any] = response.json()["seatbid"][0]["bid"][0]
    return bid


def fire(client: httpx.Client, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def profile(client: httpx.Client, user: str) -> dict[str, Any]:
    answer = client.post(
        "/admin/profiles/lookup",
        json={"user_id": user},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def counts(view: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(c["event"], c["campaign"] or c["category"]): c["last_7_days"] for c in view["counts"]}


def test_notices_clicks_and_conversions_fill_a_profile_that_audience_rules_read(
    exchange: httpx.Client, redis_url: str, key_prefix: str
) -> None:
    first = auction(exchange, "alice", 1)
    assert first is not None
    assert first["cid"] == "travel"  # nobody matches retarget or vip yet
    assert token_claim(first["burl"]).profiled
    assert fire(exchange, first["burl"]).status_code == 204
    assert fire(exchange, first["nurl"]).status_code == 204  # the same impression: counted once
    click = fire(exchange, first["adm"].split('href="')[1].split('"')[0])
    assert click.status_code == 302
    query = parse_qs(urlsplit(click.headers["location"]).query)
    postback = {"click": query["rtb_click"][0], "sig": query["rtb_sig"][0]}
    converted = exchange.post(
        "/track/conversion",
        json={**postback, "conversion_id": "o-1", "value": 120.0, "currency": "USD"},
    )
    assert converted.json() == {"result": "recorded"}
    seen = counts(profile(exchange, "alice"))
    assert seen == {
        ("impression", "travel"): 1,
        ("impression", "IAB20-3"): 1,
        ("impression", "IAB20"): 1,  # a subcategory also counts for its tier-1 parent
        ("click", "travel"): 1,
        ("click", "IAB20-3"): 1,
        ("click", "IAB20"): 1,
        ("conversion", "travel"): 1,
        ("conversion", "IAB20-3"): 1,
        ("conversion", "IAB20"): 1,
    }
    again = auction(exchange, "alice", 2)
    assert again is not None
    assert again["cid"] == "retarget"  # clicked a travel ad this week
    other = auction(exchange, "bob", 1)
    assert other is not None
    assert other["cid"] == "travel"
    client = redis.Redis.from_url(redis_url)
    try:
        stored = b" ".join(
            key + b" " + b" ".join(client.hkeys(key) + client.hvals(key))
            for key in client.scan_iter(f"{key_prefix}profile:*")
        )
    finally:
        client.close()
    assert stored  # the profile is in Redis …
    assert b"alice" not in stored  # … under a keyed hash, never the raw id


def test_declared_segments_reach_the_next_auction_and_can_be_taken_back(
    exchange: httpx.Client,
) -> None:
    admin = {"authorization": f"Bearer {TOKEN}"}
    assert auction(exchange, "carol", 1)["cid"] == "travel"  # type: ignore[index]
    declared = exchange.post(
        "/admin/profiles/segments", json={"user_id": "carol", "add": {"vip": 7}}, headers=admin
    )
    assert declared.status_code == 200, declared.text
    assert declared.json()["segments"] == ["vip"]
    assert "carol" not in declared.text
    assert auction(exchange, "carol", 2)["cid"] == "vip"  # type: ignore[index]
    removed = exchange.post(
        "/admin/profiles/segments", json={"user_id": "carol", "remove": ["vip"]}, headers=admin
    )
    assert removed.json()["segments"] == []
    assert auction(exchange, "carol", 3)["cid"] == "travel"  # type: ignore[index]
    for body, field in [
        ({"user_id": "carol"}, "body"),
        ({"user_id": "carol", "add": {"vip": 31}}, "add.vip"),
        ({"user_id": "carol", "add": {"bad name": 1}}, "add.bad name.[key]"),
        ({"add": {"vip": 1}}, "user_id"),
    ]:
        refused = exchange.post("/admin/profiles/segments", json=body, headers=admin)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["field"] == field, refused.text
    assert exchange.post("/admin/profiles/lookup", json={"user_id": "x"}).status_code == 401


@pytest.mark.parametrize(
    "regs",
    [{"coppa": 1}, {"gdpr": 1}, {"us_privacy": "1YYN"}],
    ids=["coppa", "gdpr-without-consent", "us-opt-out"],
)
def test_no_profile_is_kept_for_a_user_who_did_not_consent(
    exchange: httpx.Client, regs: dict[str, Any]
) -> None:
    bid = auction(exchange, "dave", 1, regs=regs)
    assert bid is not None
    claim = token_claim(bid["burl"])
    assert not claim.profiled
    assert claim.user_key == ""  # no cap either: the token carries no user at all
    assert fire(exchange, bid["burl"]).status_code == 204
    assert fire(exchange, bid["adm"].split('href="')[1].split('"')[0]).status_code == 302
    assert profile(exchange, "dave")["counts"] == []
