"""bench.answers on the exchange's real answers: the notices of every winning bid, macros
substituted as an SSP would, and the mix of bench.traffic answered without an error."""

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from app.main import create_app
from bench.answers import imp_multipliers, notices
from bench.payloads import AUCTION_PATH
from bench.traffic import TrafficMix, build, configured_deal_ids
from exchange.settings import Settings
from openrtb.errors import InvalidResponse
from tests.builders import banner_request
from tests.servers import serve

DSP_NURL = (
    "https://dsp.example/win?price=${AUCTION_PRICE}&auction=${AUCTION_ID}&imp=${AUCTION_IMP_ID}"
    "&bid=${AUCTION_BID_ID}&seat=${AUCTION_SEAT_ID}&ad=${AUCTION_AD_ID}&cur=${AUCTION_CURRENCY}"
    "&mult=${AUCTION_MULTIPLIER}&ts=${AUCTION_IMP_TS}&other=${NOT_OURS}"
)


@pytest.fixture(scope="module")
def exchange() -> Iterator[httpx.Client]:
    """The exchange as ``make run`` starts it (demo campaigns, in-memory counters)."""
    with serve(create_app(Settings(store="memory"))) as url, httpx.Client(base_url=url) as client:
        yield client


def auction(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post(AUCTION_PATH, content=orjson.dumps(body))


def us_banner(**overrides: Any) -> dict[str, Any]:
    body = banner_request(**overrides)
    body["device"]["geo"]["country"] = "USA"
    return body


def test_each_winning_bid_gives_its_win_then_billing_notice(exchange: httpx.Client) -> None:
    body = us_banner(imps=2)
    answer = auction(exchange, body)
    assert answer.status_code == 200
    bids = [b for sb in answer.json()["seatbid"] for b in sb["bid"]]
    found = notices(answer.content, request_id=body["id"])
    assert [(n.kind, n.url) for n in found] == [
        pair for b in bids for pair in (("win", b["nurl"]), ("billing", b["burl"]))
    ]
    assert {n.imp_id for n in found} == {"1", "2"}
    assert all(n.currency == "USD" and n.price_cpm > 0 for n in found)
    results = [exchange.get(n.url) for n in found]
    assert [r.status_code for r in results] == [204] * len(found)
    assert [r.headers["x-notice-result"] for r in results] == ["recorded"] * len(found)
    assert exchange.get(found[0].url).headers["x-notice-result"] == "duplicate"


def test_macros_in_notice_urls_are_filled_as_an_ssp_would(exchange: httpx.Client) -> None:
    body = us_banner(cur=["EUR", "USD"])  # answered in EUR
    answer = auction(exchange, body)
    assert answer.status_code == 200
    response = answer.json()
    bid = response["seatbid"][0]["bid"][0]
    bid["nurl"] = DSP_NURL  # a DSP's own URL, as an exchange that passes it on would send
    del bid["burl"]
    (notice,) = notices(
        orjson.dumps(response),
        request_id=body["id"],
        imp_ts_ms=1_767_225_600_123,
        multipliers={bid["impid"]: 14.2},
    )
    query = parse_qs(urlsplit(notice.url).query, keep_blank_values=True)
    assert response["cur"] == "EUR"
    assert notice.currency == "EUR"
    assert float(query["price"][0]) == bid["price"]
    assert "e" not in query["price"][0]
    assert query["auction"] == [response["id"]]
    assert query["imp"] == [bid["impid"]]
    assert query["bid"] == [bid["id"]]
    assert query["seat"] == [response["seatbid"][0]["seat"]]
    assert query["ad"] == [bid["adid"]]
    assert query["cur"] == ["EUR"]
    assert query["mult"] == ["14.2"]
    assert query["ts"] == ["1767225600123"]
    assert "other=${NOT_OURS}" in notice.url  # not an auction macro: left alone


def test_no_bid_gives_no_notice_and_garbage_is_an_error() -> None:
    assert notices(b"") == []
    assert notices(b'{"id": "r", "seatbid": []}') == []
    with pytest.raises(InvalidResponse, match="price"):
        notices(b'{"id": "r", "seatbid": [{"bid": [{"id": "1", "impid": "1"}]}]}')


def test_dooh_multipliers_come_from_the_request() -> None:
    dooh = build("dooh", "2.6", random.Random(2))
    assert imp_multipliers(dooh) == {"1": dooh["imp"][0]["qty"]["multiplier"]}
    assert imp_multipliers(us_banner()) == {}


def test_the_mix_gets_answers_not_errors_and_its_wins_are_notified(
    exchange: httpx.Client,
) -> None:
    """What ``make load`` does, at test scale: every request answered 200 or 204, the deals
    of the demo campaigns won, and every notice of a win recorded."""
    statuses: Counter[tuple[str, int]] = Counter()
    deals: Counter[str] = Counter()
    notice_results: Counter[str] = Counter()
    for request in TrafficMix(5, deal_ids=configured_deal_ids()).take(150):
        answer = exchange.post(AUCTION_PATH, content=request.encoded())
        statuses[request.kind, answer.status_code] += 1
        if answer.status_code != 200:
            continue
        response = answer.json()
        deals.update(b["dealid"] for sb in response["seatbid"] for b in sb["bid"] if "dealid" in b)
        for notice in notices(answer.content, request_id=request.body["id"]):
            notice_results[exchange.get(notice.url).headers.get("x-notice-result", "?")] += 1
    assert {status for _, status in statuses} <= {200, 204}, statuses
    assert sum(n for (_, status), n in statuses.items() if status == 200) > 0
    assert deals, "no PMP deal won"
    assert set(deals) <= set(configured_deal_ids()), deals
    assert set(notice_results) == {"recorded"}, notice_results
