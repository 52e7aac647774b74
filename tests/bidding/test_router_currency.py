"""The router against floors in other currencies: converted with the exchange's current
rates exactly as the auction converts them (``auction.terms``, rounded up), skipped with a
reason when a currency has no rate."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.currency import CurrencyRates
from auction.terms import terms_for
from bidding.campaigns import Campaign, RouterSpec
from bidding.router import CampaignRouter
from openrtb.request import BidRequest
from tests.bidding.test_router import NOW, RecordingLedger, campaign, pmp_imp, request
from tests.builders import banner_imp

RATES = CurrencyRates("USD", {"EUR": Decimal("1.1172"), "GBP": Decimal("1.27")})


def router(*campaigns: Campaign, rates: CurrencyRates | None = RATES) -> CampaignRouter:
    return CampaignRouter(
        RouterSpec("house", campaigns),
        RecordingLedger(),
        "USD",
        clock=lambda: NOW,
        rates=None if rates is None else _constant(rates),
    )


def _constant(rates: CurrencyRates) -> Callable[[], CurrencyRates]:
    return lambda: rates


async def bidders(r: CampaignRouter, req: BidRequest) -> dict[str, str | None]:
    """Campaign id → deal id of each bid the router sends."""
    answer = await r.request_bids(req, 0.05)
    return (
        {} if answer is None else {b.cid or "": b.dealid for sb in answer.seatbid for b in sb.bid}
    )


async def test_an_eur_floor_is_converted_with_the_rate_rounding_up() -> None:
    # 0.123457 EUR × 1.1172 = 0.1379261604 USD: 137_927 micros, rounded up.
    euros = request(imp=[banner_imp(bidfloor=0.123457, bidfloorcur="EUR")])
    at_floor = campaign("at", 137_927, (300, 250))
    below = campaign("below", 137_926, (300, 250))
    above = campaign("above", 2_000_000, (300, 250))
    assert await bidders(router(at_floor, below, above), euros) == {"at": None, "above": None}
    explained = router(at_floor, below, above).explain(euros)["1"]
    assert explained["below"] == "fixed price below the floor"
    assert explained["at"].startswith("bids 0.137927 with ")


async def test_a_higher_eur_floor_keeps_the_cheaper_campaign_out() -> None:
    # 1.50 EUR = 1.6758 USD: 1.90 clears it, 1.25 does not (a 1.50 USD floor both would not).
    euros = request(imp=[banner_imp(bidfloor=1.5, bidfloorcur="EUR")])
    pricey, cheap = (
        campaign("pricey", 1_900_000, (300, 250)),
        campaign("cheap", 1_250_000, (300, 250)),
    )
    assert await bidders(router(pricey, cheap), euros) == {"pricey": None}
    sterling = request(imp=[banner_imp(bidfloor=1.5, bidfloorcur="GBP")])  # 1.905 USD
    assert await bidders(router(pricey, cheap), sterling) == {}


async def test_a_deal_with_a_gbp_floor_is_bid_against_its_converted_floor() -> None:
    # 2.00 GBP = 2.54 USD; the open floor stays 0.50 USD.
    deal = {"id": "d1", "bidfloor": 2.0, "bidfloorcur": "GBP"}
    clears = campaign("clears", 2_600_000, (300, 250), deal_ids=frozenset({"d1"}))
    short = campaign("short", 2_500_000, (300, 250), deal_ids=frozenset({"d1"}), seat="s")
    open_buyer = campaign("open", 1_000_000, (300, 250))
    offered = request(imp=[pmp_imp(0, deal)])
    assert await bidders(router(clears, short, open_buyer), offered) == {
        "clears": "d1",
        "open": None,
    }
    assert router(clears, short, open_buyer).explain(offered)["1"]["short"] == (
        "fixed price below the floor"
    )


async def test_a_floor_in_a_currency_without_a_rate_is_skipped_with_the_reason() -> None:
    buyer = campaign("a", 2_000_000, (300, 250))
    gold = request(imp=[banner_imp(bidfloor=0.5, bidfloorcur="XAU")])
    for r in (router(buyer), router(buyer, rates=None)):
        assert await bidders(r, gold) == {}
        assert r.explain(gold)["1"]["a"] == "no exchange rate for the floor currency XAU"
    deal_buyer = campaign("d", 2_000_000, (300, 250), deal_ids=frozenset({"d1"}))
    gold_deal = request(imp=[pmp_imp(0, {"id": "d1", "bidfloor": 1.0, "bidfloorcur": "XAU"})])
    assert await bidders(router(deal_buyer, buyer), gold_deal) == {"a": None}
    assert router(deal_buyer).explain(gold_deal)["1"]["d"] == (
        "no exchange rate for the deal floor currency XAU"
    )


async def test_an_imp_floor_without_a_rate_keeps_its_deal_buyers_out_too() -> None:
    # As the auction, which refuses such an impression whole (auction.terms raises).
    deal_buyer = campaign("d", 2_000_000, (300, 250), deal_ids=frozenset({"d1"}))
    gold = request(imp=[{**pmp_imp(0, {"id": "d1", "bidfloor": 1.0}), "bidfloorcur": "XAU"}])
    assert await bidders(router(deal_buyer), gold) == {}
    assert router(deal_buyer).explain(gold)["1"]["d"] == (
        "no exchange rate for the floor currency XAU"
    )


async def test_a_zero_floor_needs_no_rate() -> None:
    gold = request(imp=[banner_imp(bidfloor=0, bidfloorcur="XAU")])
    assert await bidders(router(campaign("a", 2_000_000, (300, 250)), rates=None), gold) == {
        "a": None
    }


async def test_the_rates_are_read_at_each_request() -> None:
    current = [RATES]
    r = CampaignRouter(
        RouterSpec("house", (campaign("a", 1_900_000, (300, 250)),)),
        RecordingLedger(),
        "USD",
        clock=lambda: NOW,
        rates=lambda: current[0],
    )
    euros = request(imp=[banner_imp(bidfloor=1.5, bidfloorcur="EUR")])
    assert await bidders(r, euros) == {"a": None}
    current[0] = CurrencyRates("USD", {"EUR": Decimal("1.3")})  # 1.95 USD: above 1.90
    assert await bidders(r, euros) == {}
    assert r.explain(euros)["1"]["a"] == "fixed price below the floor"


async def test_rates_into_another_currency_are_not_used() -> None:
    in_eur = CurrencyRates("EUR", {"USD": Decimal("0.9")})
    euros = request(imp=[banner_imp(bidfloor=0.5, bidfloorcur="GBP")])
    assert await bidders(router(campaign("a", 2_000_000, (300, 250)), rates=in_eur), euros) == {}


def _deal_or_open(amount: float, currency: str, deal: bool) -> dict[str, Any]:
    if deal:
        return pmp_imp(0, {"id": "d1", "bidfloor": amount, "bidfloorcur": currency})
    return banner_imp(bidfloor=amount, bidfloorcur=currency)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    amount=st.decimals(
        min_value=Decimal("0.000002"), max_value=1000, places=8, allow_nan=False
    ).map(float),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=10**4, places=6, allow_nan=False),
    deal=st.booleans(),
)
def test_the_router_floor_is_the_auction_floor(amount: float, rate: Decimal, deal: bool) -> None:
    rates = CurrencyRates("USD", {"XTS": rate})
    req = request(imp=[_deal_or_open(amount, "XTS", deal)])
    terms = terms_for(req, req.imp[0], rates=rates, floor_rules=())
    floor_micros = terms.deals[0].floor_micros if deal else terms.floor_micros
    deal_ids = frozenset({"d1"}) if deal else frozenset()
    at_floor = campaign("at", floor_micros, (300, 250), deal_ids=deal_ids)
    below = campaign("below", floor_micros - 1, (300, 250), deal_ids=deal_ids)
    explained = router(at_floor, below, rates=rates).explain(req)["1"]
    assert explained["at"].startswith("bids ")
    assert explained["below"] == "fixed price below the floor"
