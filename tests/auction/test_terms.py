"""From an OpenRTB request to ImpTerms: floors converted and raised, deals, seats."""

from decimal import Decimal
from typing import Any

import pytest

from auction.currency import CurrencyRates, UnknownCurrency
from auction.floors import FloorRule
from auction.terms import imp_media_types, imp_sizes, publisher_id, terms_for
from auction.types import QUALITY_ONE, DealTerms, ImpTerms
from openrtb.request import BidRequest
from tests.builders import banner_imp, banner_request

RATES = CurrencyRates("USD", {"EUR": Decimal("1.0834567"), "GBP": Decimal("1.25")})


def parse(**overrides: Any) -> BidRequest:
    return BidRequest.model_validate(banner_request(**overrides))


def terms(request: BidRequest, *rules: FloorRule, rates: CurrencyRates = RATES) -> ImpTerms:
    return terms_for(request, request.imp[0], rates=rates, floor_rules=rules)


def test_plain_banner_request() -> None:
    assert terms(parse()) == ImpTerms(
        imp_id="1",
        floor_micros=500_000,
        deals=(),
        private_auction=False,
        allowed_seats=None,
        blocked_seats=frozenset(),
        ctr_ppm=QUALITY_ONE,
    )


def test_ctr_is_passed_through() -> None:
    request = parse()
    assert terms_for(request, request.imp[0], rates=RATES, floor_rules=(), ctr_ppm=7).ctr_ppm == 7


def test_foreign_floor_converts_rounding_up() -> None:
    request = parse(imp=[banner_imp(bidfloor=1.0, bidfloorcur="EUR")])
    assert terms(request).floor_micros == 1_083_457  # 1_083_456.7 rounded up


def test_floor_in_a_currency_without_a_rate_is_refused() -> None:
    request = parse(imp=[banner_imp(bidfloor=1.0, bidfloorcur="CHF")])
    with pytest.raises(UnknownCurrency, match="CHF"):
        terms(request)


def test_zero_floor_needs_no_rate() -> None:
    request = parse(imp=[banner_imp(bidfloor=0, bidfloorcur="CHF")])
    assert terms(request).floor_micros == 0
    eur_exchange = CurrencyRates("EUR")
    assert terms(parse(imp=[banner_imp(bidfloor=0)]), rates=eur_exchange).floor_micros == 0


def test_floor_rules_raise_the_floor_from_publisher_media_size_and_country() -> None:
    request = parse()
    rules = (
        FloorRule(floor_micros=600_000, publisher_id="pub-8953"),
        FloorRule(floor_micros=700_000, media_type="banner", size="300x600"),
        FloorRule(floor_micros=800_000, country="USA", media_type="banner"),
        FloorRule(floor_micros=9_000_000, media_type="video"),
        FloorRule(floor_micros=9_000_000, country="GBR"),
        FloorRule(floor_micros=9_000_000, publisher_id="pub-other"),
        FloorRule(floor_micros=100_000),  # matches, but never lowers
    )
    assert terms(request, *rules).floor_micros == 800_000


def test_request_fields_the_rules_read() -> None:
    request = parse()
    imp = request.imp[0]
    assert publisher_id(request) == "pub-8953"
    assert imp_media_types(imp) == {"banner"}
    assert imp_sizes(imp) == {"300x250", "300x600"}


def test_app_and_dooh_publishers() -> None:
    body = banner_request()
    site = body.pop("site")
    assert publisher_id(BidRequest.model_validate(body)) is None
    body["app"] = {"bundle": "com.example", "publisher": site["publisher"]}
    assert publisher_id(BidRequest.model_validate(body)) == "pub-8953"
    del body["app"]
    body["dooh"] = {"publisher": {"id": "screens-1"}}
    assert publisher_id(BidRequest.model_validate(body)) == "screens-1"


def test_lower_case_country_still_matches() -> None:
    body = banner_request()
    body["device"]["geo"]["country"] = "usa"
    rule = FloorRule(floor_micros=2_000_000, country="USA")
    assert terms(BidRequest.model_validate(body), rule).floor_micros == 2_000_000
    del body["device"]
    assert terms(BidRequest.model_validate(body), rule).floor_micros == 500_000


def test_multi_format_imp_and_sizes_without_banner() -> None:
    video = {"mimes": ["video/mp4"], "w": 640, "h": 360}
    request = parse(imp=[banner_imp(video=video)])
    assert imp_media_types(request.imp[0]) == {"banner", "video"}
    (video_only,) = parse(imp=[{"id": "1", "video": video, "native": {"request": "{}"}}]).imp
    assert imp_media_types(video_only) == {"video", "native"}
    assert imp_sizes(video_only) == frozenset()
    rule = FloorRule(floor_micros=2_000_000, size="640x360")  # sizes are banner sizes
    assert terms(parse(imp=[banner_imp(video=video)]), rule).floor_micros == 500_000


def test_flex_formats_without_both_sides_are_not_sizes() -> None:
    banner = {"format": [{"w": 300, "h": 250}, {"wratio": 16, "hratio": 9, "wmin": 320}]}
    (imp,) = parse(imp=[banner_imp(banner=banner)]).imp
    assert imp_sizes(imp) == {"300x250"}


def test_deals_are_converted_with_their_own_currency_and_auction_type() -> None:
    pmp = {
        "private_auction": 1,
        "deals": [
            {"id": "usd", "bidfloor": 2.5},  # bidfloorcur absent means USD, not the imp's
            {"id": "eur", "bidfloor": 1.0, "bidfloorcur": "EUR", "at": 3},
            {
                "id": "seats",
                "bidfloor": 0,
                "at": 1,
                "wseat": ["seat-1", "seat-2"],
                "wadomain": ["Brand.Example"],
            },
            {"id": "empty", "wseat": [], "wadomain": []},
        ],
    }
    request = parse(imp=[banner_imp(bidfloorcur="GBP", bidfloor=0.4, pmp=pmp)], at=1)
    result = terms(request)
    assert result.floor_micros == 500_000  # 0.40 GBP × 1.25
    assert result.private_auction is True
    assert result.deals == (
        DealTerms("usd", 2_500_000, at=1),  # at absent: the request's
        DealTerms("eur", 1_083_457, at=3),
        DealTerms(
            "seats",
            0,
            at=1,
            wseat=frozenset({"seat-1", "seat-2"}),
            wadomain=frozenset({"brand.example"}),
        ),
        DealTerms("empty", 0, at=1, wseat=None, wadomain=None),
    )


def test_deal_floor_in_a_currency_without_a_rate_is_refused() -> None:
    pmp = {"deals": [{"id": "d", "bidfloor": 3, "bidfloorcur": "SEK"}]}
    with pytest.raises(UnknownCurrency, match="SEK"):
        terms(parse(imp=[banner_imp(pmp=pmp)]))


def test_exchange_floor_rules_do_not_touch_deal_floors() -> None:
    pmp = {"private_auction": 0, "deals": [{"id": "d", "bidfloor": 0.1}]}
    result = terms(parse(imp=[banner_imp(pmp=pmp)]), FloorRule(floor_micros=3_000_000))
    assert result.floor_micros == 3_000_000
    assert result.deals == (DealTerms("d", 100_000, at=2),)
    assert result.private_auction is False


def test_request_seat_lists() -> None:
    result = terms(parse(wseat=["seat-1", "seat-2"], bseat=["seat-9"]))
    assert result.allowed_seats == frozenset({"seat-1", "seat-2"})
    assert result.blocked_seats == frozenset({"seat-9"})
    assert terms(parse(wseat=[], bseat=[])).allowed_seats is None
