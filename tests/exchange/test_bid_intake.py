"""Bid intake on the wire's own bytes: a price becomes exchange micros rounded down on its
decimal text, and a bid above the exchange's maximum is refused with reason 3."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from auction.currency import CurrencyRates
from exchange.bid_intake import DEFAULT_MAX_BID_MICROS, Intake, collect_bids
from exchange.core import Exchange
from exchange.metrics import Metrics
from openrtb.bid_rules import BidRules
from openrtb.codec import decode_response
from openrtb.enums import LossReason
from openrtb.request import BidRequest
from tests.builders import banner_request
from tests.exchange.test_exchange import SIGNER, Scripted, config, offer

REQUEST = BidRequest.model_validate(banner_request())
RULES = BidRules.of(REQUEST)
RATES = CurrencyRates("USD", {"EUR": Decimal("1.08")})


@dataclass(frozen=True)
class Config:
    rates: CurrencyRates = field(default_factory=lambda: RATES)
    quality_ppm: Mapping[str, int] = field(default_factory=dict)
    bidder_seats: Mapping[str, frozenset[str]] = field(default_factory=dict)
    max_bid_micros: int = DEFAULT_MAX_BID_MICROS


def intake(
    price_text: str, *, currency: str = "USD", cfg: Config | None = None, metrics: Metrics
) -> Intake:
    """One bid whose price is ``price_text`` exactly as it is written on the wire."""
    bid = '{"id": "b", "impid": "1", "price": ' + price_text + "}"
    body = f'{{"id": "r", "cur": "{currency}", "seatbid": [{{"seat": "s", "bid": [{bid}]}}]}}'
    response = decode_response(body.encode())
    return collect_bids("dsp", response, {"1"}, RULES, cfg or Config(), metrics)


def kept_micros(price_text: str, *, currency: str = "USD", cfg: Config | None = None) -> int | None:
    """The bid's price in exchange micros, or None when it was refused (with reason 3)."""
    result = intake(price_text, currency=currency, cfg=cfg, metrics=Metrics())
    if result.rejected:
        assert [r.reason for r in result.rejected] == [LossReason.INVALID_BID_RESPONSE]
        return None
    (entry,) = result.entries
    return entry.candidate.price_micros


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2.675", 2_675_000),  # the decimal text, not the double 2.67499999999999982236431…
        ("2.6750000000000001", 2_675_000),  # parses to that same double, whose text is 2.675
        ("2.0000009", 2_000_000),  # rounded down: half-up would say 2_000_001
        ("0.0000019", 1),
        ("0.000001", 1),
        ("1.25", 1_250_000),
        ("125e-2", 1_250_000),
        ("999.9999999", 999_999_999),
    ],
)
def test_a_bid_price_rounds_down_on_its_decimal_text(text: str, micros: int) -> None:
    assert kept_micros(text) == micros


@pytest.mark.parametrize("text", ["0.0000005", "1e-7", "0.0000009999", "1e-300"])
def test_a_bid_below_one_micro_is_refused_not_rounded_up(text: str) -> None:
    assert kept_micros(text) is None


def test_the_default_maximum_is_1000_cpm() -> None:
    assert DEFAULT_MAX_BID_MICROS == 1_000_000_000
    assert kept_micros("1000") == DEFAULT_MAX_BID_MICROS
    # Compared after rounding down: 0.9 micro above the maximum is the maximum.
    assert kept_micros("1000.0000009") == DEFAULT_MAX_BID_MICROS
    for text in ["1000.000001", "1e9", "1e300", "1.7976931348623157e308"]:
        assert kept_micros(text) is None, text


def test_a_bid_above_the_maximum_is_reason_3_and_counted() -> None:
    metrics = Metrics()
    result = intake("1e9", metrics=metrics)  # the audit's bid
    assert result.entries == ()
    assert [r.reason for r in result.rejected] == [LossReason.INVALID_BID_RESPONSE]
    assert metrics.invalid_bids.labels("dsp", "3")._value.get() == 1
    assert metrics.bids_above_max.labels("dsp")._value.get() == 1
    intake("1e-7", metrics=metrics)  # invalid too, but not for being too high
    assert metrics.invalid_bids.labels("dsp", "3")._value.get() == 2
    assert metrics.bids_above_max.labels("dsp")._value.get() == 1


def test_the_maximum_is_in_the_exchange_currency() -> None:
    # 925 EUR × 1.08 = 999 USD is under 1,000; 926 EUR = 1,000.08 USD is not.
    assert kept_micros("925", currency="EUR") == 999_000_000
    assert kept_micros("926", currency="EUR") is None
    low = Config(max_bid_micros=5_000_000)
    assert kept_micros("5", cfg=low) == 5_000_000
    assert kept_micros("5.000001", cfg=low) is None


async def test_a_refused_bid_cannot_win_and_its_bidder_learns_reason_3() -> None:
    notified: list[str] = []
    greedy = Scripted("greedy", offer("s9", 1e9, lurl="https://dsp.example/loss?r=${AUCTION_LOSS}"))
    honest = Scripted("honest", offer("s1", 2.0))
    exchange = Exchange(
        {b.name: b for b in (greedy, honest)},
        SIGNER,
        config(max_bid_micros=100_000_000),
        Metrics(),
        clock=lambda: 1_000_000.0,
        notify=notified.append,
    )
    result = await exchange.run(
        REQUEST, received_at=time.monotonic(), notice_base_url="https://x.example"
    )
    assert result.response is not None
    (seatbid,) = result.response.seatbid
    # honest wins alone: the floor (0.50) plus the increment, not anything near 1e9.
    assert (seatbid.seat, seatbid.bid[0].price) == ("s1", 0.51)
    assert notified == ["https://dsp.example/loss?r=3"]
