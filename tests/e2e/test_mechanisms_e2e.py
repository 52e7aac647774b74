"""The mechanism a request calls for, over a real socket: first price, PMP deals, a page (VCG)."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_imp, banner_request
from tests.servers import serve


def campaign(cid: str, bid_cpm: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "advertiser": cid,
        "seat": cid,
        "bid_cpm": bid_cpm,
        "daily_budget": "100",
        "creatives": [
            {"id": f"{cid}-cr", "w": 300, "h": 250, "adomain": [f"{cid}.example"], "adm": "<i>"}
        ],
        **extra,
    }


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    path: Path = tmp_path_factory.mktemp("campaigns") / "campaigns.json"
    path.write_bytes(
        orjson.dumps(
            {
                "routers": [
                    {
                        "name": "house",
                        "campaigns": [
                            campaign("alpha", "2.40"),
                            campaign("beta", "1.90"),
                            campaign("gamma", "1.00"),
                            campaign("dealer", "2.00", deal_ids=["deal-1"]),
                        ],
                    }
                ]
            }
        )
    )
    app = create_app(Settings(bidders_file=path, log_json=True))
    with serve(app) as url, httpx.Client(base_url=url, timeout=5) as http:
        yield http


def auction(client: httpx.Client, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Winning bids by imp id (each auction under a fresh id, as an SSP sends them)."""
    request["id"] = uuid.uuid4().hex
    response = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(request),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return {bid["impid"]: bid for sb in response.json()["seatbid"] for bid in sb["bid"]}


def test_second_price_by_default(client: httpx.Client) -> None:
    won = auction(client, banner_request())
    assert (won["1"]["cid"], won["1"]["price"]) == ("alpha", 2.01)  # dealer's open 2.00 + 0.01


def test_first_price_request_pays_the_bid(client: httpx.Client) -> None:
    won = auction(client, banner_request(at=1))
    assert (won["1"]["cid"], won["1"]["price"]) == ("alpha", 2.4)


def test_deal_bid_takes_priority_over_higher_open_bids(client: httpx.Client) -> None:
    imp = banner_imp(pmp={"private_auction": 0, "deals": [{"id": "deal-1", "bidfloor": 1.5}]})
    won = auction(client, banner_request(imp=[imp]))
    bid = won["1"]
    # The only deal bid: pays its deal floor plus the increment, not the open bids' price.
    assert (bid["cid"], bid["dealid"], bid["price"]) == ("dealer", "deal-1", 1.51)


def test_fixed_price_deal_pays_the_agreed_price(client: httpx.Client) -> None:
    deal = {"id": "deal-1", "bidfloor": 1.75, "at": 3}
    won = auction(client, banner_request(imp=[banner_imp(pmp={"deals": [deal]})]))
    assert (won["1"]["cid"], won["1"]["price"]) == ("dealer", 1.75)


def test_unknown_deal_in_private_auction_means_no_bid(client: httpx.Client) -> None:
    imp = banner_imp(pmp={"private_auction": 1, "deals": [{"id": "other", "bidfloor": 1.0}]})
    response = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(banner_request(imp=[imp])),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 204


def test_a_page_of_two_slots_is_sold_by_vcg(client: httpx.Client) -> None:
    imps = [banner_imp("1", ext={"slot_ctr": 1.0}), banner_imp("2", ext={"slot_ctr": 0.5})]
    won = auction(client, banner_request(imp=imps, ext={"page_auction": 1}))
    # Bids are per unit of slot CTR, floors (0.50) and prices per impression. Values above
    # the floor, top / second slot: alpha 2.40 − 0.50 = 1.90 / 1.20 − 0.50 = 0.70, dealer
    # (an open bidder here) 1.50 / 0.50, beta 1.40 / 0.45, gamma 0.50 / 0. Optimum: alpha
    # top, dealer second (2.40). alpha pays 0.50 + [(1.50 + 0.45) − 0.50] = 1.95; dealer
    # pays 0.50 + [(1.90 + 0.45) − 1.90] = 0.95 — it is worth 2.00 × 0.5 = 1.00 there; each
    # plus the 0.01 increment, as in second price.
    assert (won["1"]["cid"], won["1"]["price"]) == ("alpha", 1.96)
    assert (won["2"]["cid"], won["2"]["price"]) == ("dealer", 0.96)


def test_one_winner_per_advertiser_on_a_page(client: httpx.Client) -> None:
    won = auction(client, banner_request(imps=3, ext={"page_auction": True}))
    winners = [bid["cid"] for bid in won.values()]
    assert len(winners) == len(set(winners)) == 3


def test_malformed_page_extension_is_400_naming_the_field(client: httpx.Client) -> None:
    bad = banner_request(imps=2, ext={"page_auction": "yes"})
    response = client.post(
        "/openrtb2/auction", content=orjson.dumps(bad), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "ext.page_auction"
    bad_ctr = banner_request(imp=[banner_imp("1"), banner_imp("2", ext={"slot_ctr": 2})])
    bad_ctr["ext"] = {"page_auction": 1}
    response = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(bad_ctr),
        headers={"content-type": "application/json"},
    )
    assert response.json()["error"]["field"] == "imp[1].ext.slot_ctr"


def test_debug_output_is_off_unless_the_exchange_allows_it(client: httpx.Client) -> None:
    won = client.post(
        "/openrtb2/auction",
        content=orjson.dumps(banner_request(id=uuid.uuid4().hex, ext={"debug": 1})),
        headers={"content-type": "application/json"},
    ).json()
    assert "ext" not in won
