"""The auction endpoint over a real socket: spec examples, bad input, headers, gzip."""

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.builders import banner_imp, banner_request
from tests.e2e.conftest import Exchange

DATA = Path(__file__).resolve().parents[1] / "data"
JSON_HEADERS = {"content-type": "application/json"}

SPEC_REQUESTS = [
    *sorted(p.name for p in DATA.glob("ortb2*_req_*.json")),
    "ortb26_impl_7-9-6-1_dooh_banner_request.json",
]


def post(exchange: Exchange, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return exchange.client.post(
        "/openrtb2/auction", content=body, headers=headers if headers is not None else JSON_HEADERS
    )


@pytest.mark.parametrize("name", SPEC_REQUESTS)
def test_every_spec_example_gets_200_or_204(exchange: Exchange, name: str) -> None:
    response = post(exchange, (DATA / name).read_bytes())
    assert response.status_code in (200, 204), response.text
    assert response.headers["x-openrtb-version"] == "2.6"
    if response.status_code == 200:
        answer = response.json()
        assert answer["id"] == json.loads((DATA / name).read_text())["id"]
    else:
        assert response.content == b""


def test_banner_request_is_won_at_the_second_price(exchange: Exchange) -> None:
    response = post(exchange, orjson.dumps(banner_request()))
    assert response.status_code == 200
    answer = response.json()
    (seatbid,) = answer["seatbid"]
    (bid,) = seatbid["bid"]
    assert (seatbid["seat"], bid["cid"], bid["price"]) == ("winner", "winner", 1.91)
    assert bid["adm"] == '<img src="https://winner.example/i.png?p=1.91">'
    assert bid["nurl"].startswith(f"{exchange.url}/notices/win?t=")
    assert bid["burl"].startswith(f"{exchange.url}/notices/billing?t=")
    assert answer["cur"] == "USD"


def test_gzip_body_is_accepted(exchange: Exchange) -> None:
    body = gzip.compress(orjson.dumps(banner_request()))
    response = post(exchange, body, {**JSON_HEADERS, "content-encoding": "gzip"})
    assert response.status_code == 200


def test_floor_above_every_bid_gives_204(exchange: Exchange) -> None:
    response = post(exchange, orjson.dumps(banner_request(imp=[banner_imp(bidfloor=5.0)])))
    assert response.status_code == 204
    assert response.content == b""
    metrics = exchange.client.get("/metrics").text
    assert 'rtb_nobids_total{reason="no_bids"} 1.0' in metrics


def nested(depth: int) -> bytes:
    return b'{"id":"1","imp":' + b"[" * depth + b"]" * depth + b"}"


def with_request(**changes: Any) -> bytes:
    return orjson.dumps(banner_request(**changes))


def both_site_and_app() -> bytes:
    request = banner_request()
    request["app"] = {"id": "app-1", "bundle": "com.example.app"}
    return orjson.dumps(request)


BAD_INPUT: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("truncated json", with_request()[:-40], JSON_HEADERS, 400, "body"),
    ("empty body", b"", JSON_HEADERS, 400, "body"),
    ("not an object", b"[1, 2, 3]", JSON_HEADERS, 400, "body"),
    ("invalid utf-8", b'{"id": "\xff\xfe"}', JSON_HEADERS, 400, "body"),
    (
        "NaN literal",
        with_request().replace(b'"bidfloor":0.5', b'"bidfloor":NaN'),
        JSON_HEADERS,
        400,
        "body",
    ),
    (
        "wrong type",
        with_request(imp=[banner_imp(banner={"w": "300", "h": 250})]),
        JSON_HEADERS,
        400,
        "imp[0].banner.w",
    ),
    ("missing imp", orjson.dumps({"id": "r1", "site": {"id": "s"}}), JSON_HEADERS, 400, "imp"),
    ("empty imp", with_request(imp=[]), JSON_HEADERS, 400, "imp"),
    ("missing id", orjson.dumps({"imp": [banner_imp()]}), JSON_HEADERS, 400, "id"),
    (
        "duplicate imp ids",
        with_request(imp=[banner_imp("1"), banner_imp("1")]),
        JSON_HEADERS,
        400,
        "imp[1].id",
    ),
    ("imp without media", with_request(imp=[{"id": "1"}]), JSON_HEADERS, 400, "imp[0]"),
    (
        "negative floor",
        with_request(imp=[banner_imp(bidfloor=-0.5)]),
        JSON_HEADERS,
        400,
        "imp[0].bidfloor",
    ),
    (
        "unknown floor currency",
        with_request(imp=[banner_imp(bidfloorcur="XYZ")]),
        JSON_HEADERS,
        400,
        "imp[0].bidfloorcur",
    ),
    ("unknown request currency", with_request(cur=["US$"]), JSON_HEADERS, 400, "cur[0]"),
    ("tmax zero", with_request(tmax=0), JSON_HEADERS, 400, "tmax"),
    ("tmax absurd", with_request(tmax=10_000_000), JSON_HEADERS, 400, "tmax"),
    ("deeply nested", nested(30_000), JSON_HEADERS, 400, "body"),
    ("1 MiB body", b'{"id":"' + b"x" * (1 << 20) + b'"}', JSON_HEADERS, 413, "body"),
    (
        "gzip bomb",
        gzip.compress(b" " * (16 << 20)),
        {**JSON_HEADERS, "content-encoding": "gzip"},
        413,
        "body",
    ),
    (
        "corrupt gzip",
        b"\x1f\x8b garbage",
        {**JSON_HEADERS, "content-encoding": "gzip"},
        400,
        "body",
    ),
    (
        "unknown encoding",
        with_request(),
        {**JSON_HEADERS, "content-encoding": "br"},
        415,
        "content-encoding",
    ),
    ("wrong content type", with_request(), {"content-type": "text/plain"}, 415, "content-type"),
    (
        "form content type",
        b"id=1",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "content-type",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_gets_4xx_naming_the_field_and_the_server_keeps_serving(
    exchange: Exchange, body: bytes, headers: dict[str, str], status: int, field: str
) -> None:
    response = post(exchange, body, headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field or error["field"].startswith(field), error
    assert error["message"]
    follow_up = post(exchange, with_request())
    assert follow_up.status_code == 200, exchange.client.get("/metrics").text


def test_both_site_and_app_is_refused(exchange: Exchange) -> None:
    response = post(exchange, both_site_and_app())
    assert response.status_code == 400
    assert response.json()["error"]["field"] in ("site", "app")


def test_invalid_requests_change_no_state(exchange: Exchange) -> None:
    before = exchange.client.get("/metrics").text
    post(exchange, b"{")
    after = exchange.client.get("/metrics").text
    assert 'rtb_auction_requests_total{outcome="invalid"} 1.0' in after
    assert "rtb_charged_micros_total{" not in before + after


def test_debug_requests_see_each_bidder_and_every_loss(exchange: Exchange) -> None:
    answer = post(exchange, with_request(ext={"debug": 1})).json()
    debug = answer["ext"]["debug"]
    assert debug["mechanism"] == "second_price"
    assert debug["bidders"]["house"]["status"] == "bid"
    assert debug["bidders"]["house"]["bids_kept"] == 2
    imp = debug["imps"]["1"]
    assert imp["clearing_price"] == 1.91
    assert [(loss["reason"], loss["min_to_win"]) for loss in imp["losses"]] == [(102, 2.400001)]
    reasons = debug["routers"]["house"]["1"]
    assert reasons["winner"].startswith("bids 2.4 with winner-300x250")
    assert reasons["runner-up"].startswith("bids 1.9 ")


def test_debug_output_says_why_a_campaign_did_not_bid(exchange: Exchange) -> None:
    small = banner_imp(bidfloor=2.0)
    small["banner"] = {"w": 728, "h": 90}
    answer = post(exchange, with_request(test=1, imp=[small, banner_imp("2", bidfloor=2.0)]))
    reasons = answer.json()["ext"]["debug"]["routers"]["house"]
    no_fit = "creative: no creative fits"
    assert reasons["1"] == {"winner": no_fit, "runner-up": no_fit}
    assert reasons["2"]["runner-up"] == "fixed price below the floor"


def test_a_debug_request_that_nothing_wins_still_gets_its_debug_object(
    exchange: Exchange,
) -> None:
    response = post(exchange, with_request(test=1, imp=[banner_imp(bidfloor=9.0)]))
    assert response.status_code == 200
    answer = response.json()
    assert answer["seatbid"] == []
    assert answer["ext"]["debug"]["nobid_reason"] == "no_bids"
