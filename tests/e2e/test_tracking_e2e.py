"""Clicks and conversions over a real socket: signed, counted once, redirected, deduplicated."""

import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import redis

from app.main import create_app
from exchange.notice_token import NoticeSigner
from tests.builders import CLICK_SECRET, banner_request, click_tracked_settings
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


def clicked(client: httpx.Client) -> dict[str, str]:
    """Win an auction, click the ad; the click id and tag the advertiser got."""
    path = urlsplit(click_url(client))
    location = client.get(f"{path.path}?{path.query}").headers["location"]
    ids = parse_qs(urlsplit(location).query)
    return {"click": ids["rtb_click"][0], "sig": ids["rtb_sig"][0]}


def conversion(client: httpx.Client, click: dict[str, str], **fields: object) -> httpx.Response:
    body = {**click, "conversion_id": "order-1", "value": 59.9, "currency": "USD", **fields}
    return client.post("/track/conversion", json=body)


def refused(response: httpx.Response, status: int, field: str) -> bool:
    return response.status_code == status and response.json()["error"]["field"] == field


def test_conversions_need_a_real_click_id_and_count_once(
    tracked: tuple[httpx.Client, str], redis_url: str
) -> None:
    client, prefix = tracked
    click = clicked(client)
    assert conversion(client, click, currency="EUR").json() == {"result": "recorded"}
    assert conversion(client, click, currency="EUR").json() == {"result": "duplicate"}
    (event,) = events(redis_url, prefix, "conversion")
    # 59.90 EUR at 1.08: 64.692 USD, in the exchange's currency, rounded down to the micro
    assert (event["value_micros"], event["currency"]) == ("64692000", "USD")
    assert event["campaign_id"] == "clicky"
    assert refused(conversion(client, {**click, "sig": "AAAA"}), 403, "sig")
    forged_id = {"click": click["click"][:-2] + "xx", "sig": click["sig"]}
    assert refused(conversion(client, forged_id), 403, "sig")
    assert refused(conversion(client, click, value=-1), 400, "value")
    assert refused(conversion(client, click, currency="XAU"), 400, "currency")  # no rate
    assert client.post("/track/conversion", content=b"{").status_code == 400


def test_one_click_records_one_conversion_however_many_are_posted(
    tracked: tuple[httpx.Client, str], redis_url: str
) -> None:
    """The audit's attack: one real click, a hundred conversions worth 1e9 each."""
    client, prefix = tracked
    click = clicked(client)
    huge = [conversion(client, click, conversion_id=f"o{n}", value=1e9) for n in range(100)]
    assert all(refused(r, 400, "value") for r in huge)  # over the default cap of 10,000
    many = [conversion(client, click, conversion_id=f"p{n}", value=25.0) for n in range(100)]
    assert many[0].json() == {"result": "recorded"}
    assert all(refused(r, 409, "click") for r in many[1:])
    assert len(events(redis_url, prefix, "conversion")) == 1
    metrics = client.get("/metrics").text
    assert 'rtb_conversions_total{result="recorded"} 1.0' in metrics
    assert 'rtb_conversions_total{result="value_cap"} 100.0' in metrics
    assert 'rtb_conversions_total{result="limit"} 99.0' in metrics


@pytest.fixture
def signed(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[httpx.Client]:
    rules = {"max_per_click": 3, "max_value": "100", "postback_secret": POSTBACK_SECRET}
    settings = click_tracked_settings(tmp_path, LANDING, redis_url, key_prefix, rules)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client


POSTBACK_SECRET = "acme-postback-secret-0123456789"


def signed_conversion(
    client: httpx.Client, click: dict[str, str], secret: str = POSTBACK_SECRET, **fields: object
) -> httpx.Response:
    body = orjson.dumps({**click, "conversion_id": "s-1", "value": 10.0, **fields})
    tag = hmac.new(secret.encode(), body, "sha256").hexdigest()
    return client.post(
        "/track/conversion",
        content=body,
        headers={"content-type": "application/json", "x-rtb-signature": f"sha256={tag}"},
    )


def test_a_campaign_with_a_postback_secret_takes_signed_postbacks_only(
    signed: httpx.Client,
) -> None:
    click = clicked(signed)
    assert refused(conversion(signed, click, value=10.0), 403, "x-rtb-signature")
    wrong = signed_conversion(signed, click, secret="another-secret-0123456789abc")
    assert refused(wrong, 403, "x-rtb-signature")
    assert signed_conversion(signed, click).json() == {"result": "recorded"}


def test_a_campaigns_own_limits_apply(signed: httpx.Client) -> None:
    click = clicked(signed)
    answers = [signed_conversion(signed, click, conversion_id=f"s{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 409, 409]  # three per click
    assert refused(signed_conversion(signed, clicked(signed), value=100.01), 400, "value")


def test_a_conversion_long_after_its_click_is_refused(
    tracked: tuple[httpx.Client, str],
) -> None:
    client, _ = tracked
    click = clicked(client)
    signer = NoticeSigner(CLICK_SECRET.encode())
    ref = signer.read_click(click["click"], click["sig"])
    old_id, old_tag = signer.click_id(ref._replace(clicked_at_s=int(time.time()) - 31 * 86_400))
    assert refused(conversion(client, {"click": old_id, "sig": old_tag}), 409, "click")
    assert conversion(client, click).json() == {"result": "recorded"}
