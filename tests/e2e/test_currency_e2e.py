"""The request's ``cur`` over HTTP: the answer in the first accepted currency the exchange
converts to, the charge in exchange micros, a refusal naming ``cur`` when none converts; a
floor in another currency bid against by the in-process router."""

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from exchange.settings import Settings
from tests.servers import serve

EXAMPLES = Path(__file__).resolve().parents[2] / "app" / "examples"
DATA = Path(__file__).resolve().parents[1] / "data"
EUR_IN_USD = Decimal("1.1172")  # the shipped ECB table of 2026-10-30


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    settings = Settings(store="memory", router_seed=7, currency_rates_refresh_s=0)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as http:
        yield http


def _banner(**changes: object) -> dict[str, object]:
    request: dict[str, object] = json.loads((EXAMPLES / "request_simple_banner.json").read_text())
    request.update(changes)
    return request


def _charged(client: httpx.Client) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("rtb_charged_micros_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_answer_is_in_the_first_accepted_currency_and_the_charge_in_micros(
    client: httpx.Client,
) -> None:
    in_usd = client.post("/openrtb2/auction", json=_banner(id="usd"))
    assert in_usd.status_code == 200
    usd_bid = in_usd.json()["seatbid"][0]["bid"][0]
    assert in_usd.json()["cur"] == "USD"

    first_listed = client.post("/openrtb2/auction", json=_banner(id="chf", cur=["CHF", "EUR"]))
    assert first_listed.status_code == 200
    assert first_listed.json()["cur"] == "CHF"  # the first listed: the table quotes CHF too

    answer = client.post("/openrtb2/auction", json=_banner(id="eur", cur=["XAU", "EUR"]))
    assert answer.status_code == 200
    body = answer.json()
    bid = body["seatbid"][0]["bid"][0]
    assert body["cur"] == "EUR"
    usd_micros = round(Decimal(str(usd_bid["price"])) * 1_000_000)
    expected = (Decimal(usd_micros) / EUR_IN_USD).to_integral_value(rounding="ROUND_FLOOR")
    assert Decimal(str(bid["price"])) == expected / 1_000_000

    charged = _charged(client)
    assert client.get(bid["nurl"]).status_code == 204
    assert _charged(client) - charged == usd_micros / 1000  # one impression, exchange micros


def test_accepted_currencies_the_exchange_cannot_convert_to_are_refused(
    client: httpx.Client,
) -> None:
    answer = client.post("/openrtb2/auction", json=_banner(id="gold", cur=["XAU", "XPT"]))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "cur"
    assert error["nbr"] == 2
    assert "XAU, XPT" in error["message"]


def test_the_specs_dooh_example_with_a_gbp_floor_is_served(client: httpx.Client) -> None:
    request = json.loads((DATA / "ortb26_impl_7-9-6-1_dooh_banner_request.json").read_text())
    answer = client.post("/openrtb2/auction", json=request)
    assert answer.status_code in (200, 204), answer.text
    if answer.status_code == 200:
        assert answer.json()["cur"] in request["cur"]


def test_an_eur_floor_gets_an_in_process_bid_that_clears_it(client: httpx.Client) -> None:
    # 1.10 EUR = 1.22892 USD: the demo router's 1.25 USD campaign clears it; 1.12 EUR
    # (1.251264 USD) it does not. The router reads the floor in USD, as the auction does.
    def eur_floored(request_id: str, floor_eur: float) -> dict[str, object]:
        imp = {"id": "1", "bidfloor": floor_eur, "bidfloorcur": "EUR"}
        imp["banner"] = {"w": 300, "h": 250, "pos": 0}
        return _banner(id=request_id, cur=["EUR"], imp=[imp])

    answer = client.post("/openrtb2/auction", json=eur_floored("eur-floor", 1.10))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["cur"] == "EUR"
    [bid] = [bid for seatbid in body["seatbid"] for bid in seatbid["bid"]]
    assert bid["cid"] == "pixel-games"  # the in-process router's fixed-price campaign
    usd_micros = 1_250_000  # its fixed price, the first-price clearing price
    eur_micros = (Decimal(usd_micros) / EUR_IN_USD).to_integral_value(rounding="ROUND_FLOOR")
    assert Decimal(str(bid["price"])) * 1_000_000 == eur_micros  # 1.118868 EUR
    assert Decimal(str(bid["price"])) >= Decimal("1.10")

    charged = _charged(client)
    assert client.get(bid["nurl"]).status_code == 204
    assert _charged(client) - charged == usd_micros // 1000  # one impression, USD micros

    above = client.post("/openrtb2/auction", json=eur_floored("eur-floor-above", 1.12))
    assert above.status_code == 204
