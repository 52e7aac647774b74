"""Clicks and conversions over a real socket: signed, counted once, redirected, deduplicated."""

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import redis

from app.main import create_app
from tests.builders import banner_request, click_tracked_settings
from tests.servers import serve

LANDING = "https://shop.example/running?src=rtb"


@pytest.fixture
def tracked(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[tuple[httpx.Client, str]]:
    settings = click_tracked_settings(tmp_path, LANDING, redis_url, key_prefix)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client, key_prefix


def click_url(client: httpx.Client) -> str:
    answer = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(banner_request()),
        headers={"content-type": "application/json"},
    ).json()
    bid = answer["seatbid"][0]["bid"][0]
    assert "ext" not in bid  # the router's landing-page note never reaches the SSP
    href = bid["adm"].split('href="')[1].split('"')[0]
    assert "/track/click?t=" in href
    return href


def events(redis_url: str, prefix: str, kind: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for _poll in range(250):
            found = [f for _, f in client.xrange(f"{prefix}events") if f["kind"] == kind]
            if found:
                return found
            time.sleep(0.02)
        return []
    finally:
        client.close()


def test_a_click_redirects_to_the_landing_page_and_counts_once(
    tracked: tuple[httpx.Client, str], redis_url: str
) -> None:
    client, prefix = tracked
    path = urlsplit(click_url(client))
    first = client.get(f"{path.path}?{path.query}")
    again = client.get(f"{path.path}?{path.query}")
    assert first.status_code == again.status_code == 302
    location = first.headers["location"]
    assert location.startswith(LANDING + "&rtb_click=")
    assert len(events(redis_url, prefix, "click")) == 1
    forged = client.get(f"{path.path}?{path.query[:-3]}abc")
    assert forged.status_code == 403


def test_conversions_need_a_real_click_id_and_count_once(
    tracked: tuple[httpx.Client, str], redis_url: str
) -> None:
    client, prefix = tracked
    path = urlsplit(click_url(client))
    location = client.get(f"{path.path}?{path.query}").headers["location"]
    ids = parse_qs(urlsplit(location).query)
    postback = {
        "click": ids["rtb_click"][0],
        "sig": ids["rtb_sig"][0],
        "conversion_id": "order-1",
        "value": 59.9,
        "currency": "EUR",
    }
    assert client.post("/track/conversion", json=postback).json() == {"result": "recorded"}
    assert client.post("/track/conversion", json=postback).json() == {"result": "duplicate"}
    (event,) = events(redis_url, prefix, "conversion")
    assert (event["value_micros"], event["currency"]) == ("59900000", "EUR")
    forged = client.post("/track/conversion", json={**postback, "sig": "AAAA"})
    assert forged.status_code == 403
    bad = client.post("/track/conversion", json={**postback, "value": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "value"
    assert client.post("/track/conversion", content=b"{").status_code == 400
