"""Each rounding rule of docs/architecture.md (Money), pinned where the exchange applies it.

Bids (rounded down on their decimal text, sub-micro bids refused, the maximum) are pinned in
``test_bid_intake``; here: floors, clearing prices, charges and configured amounts. The
charged micros of page auctions are read off real spend in ``tests/e2e/test_page_billing_e2e``.
"""

import orjson
import pytest

from auction.currency import CurrencyRates
from auction.mechanism import run_imp
from auction.terms import terms_for
from auction.types import AuctionRules, Candidate, ImpTerms
from auction.vcg import run_vcg
from openrtb.codec import decode_request
from openrtb.money import cpm_to_micros, impression_cost_micros
from tests.builders import banner_imp, banner_request

RATES = CurrencyRates("USD")
M = 1_000_000


def floor_micros(bidfloor_text: str) -> int:
    """The open floor of an imp whose ``bidfloor`` is ``bidfloor_text`` on the wire."""
    template = orjson.dumps(banner_request(imp=[banner_imp(bidfloor="FLOOR")]))
    request = decode_request(template.replace(b'"FLOOR"', bidfloor_text.encode()))
    return terms_for(request, request.imp[0], rates=RATES, floor_rules=()).floor_micros


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2.675", 2_675_000),  # the decimal text: exact, no rounding at all
        ("1.0000001", 1_000_001),  # rounded up: never sell below the floor
        ("0.0000005", 1),
        ("1e-7", 1),
        ("0", 0),
        ("1e9", 10**15),  # large floors are exact (and unreachable for bids under the maximum)
    ],
)
def test_a_floor_rounds_up_on_its_decimal_text(text: str, micros: int) -> None:
    assert floor_micros(text) == micros


def test_a_clearing_price_rounds_up_and_never_exceeds_the_bid() -> None:
    # Runner-up 1.00 at quality 1.0 against a winner at quality 3.0: 0.333333… rounds up.
    winner = Candidate("w", "s1", 2 * M, 3 * M)
    runner = Candidate("r", "s2", M, M)
    rules = AuctionRules(increment_micros=0)
    outcome = run_imp(ImpTerms("1", 0), [winner, runner], at=2, rules=rules, auction_id="a")
    assert outcome.clearing_price_micros == 333_334
    # With a 1.00 increment it would be 1.333334; a bid of 1.20 caps it.
    capped = Candidate("w", "s1", 1_200_000, 3 * M)
    lifted = AuctionRules(increment_micros=M)
    outcome = run_imp(ImpTerms("1", 0), [capped, runner], at=2, rules=lifted, auction_id="a")
    assert outcome.clearing_price_micros == 1_200_000


def test_a_page_price_rounds_up_but_never_above_the_value_for_the_slot() -> None:
    # CTR 0.333333: the runner-up is worth 1_000_001 × 0.333333 = 333_333.33 an impression.
    slot = ImpTerms("1", 0, ctr_ppm=333_333)
    bids = [Candidate("w", "s1", 3 * M), Candidate("r", "s2", 1_000_001)]
    (outcome,) = run_vcg([slot], {"1": bids}, auction_id="a")
    assert outcome.clearing_price_micros == 333_334
    # Tied at 500_000.5 an impression: rounded up would be 500_001, above the value.
    tied = [Candidate("a", "s1", 1_000_001), Candidate("b", "s2", 1_000_001)]
    (outcome,) = run_vcg([ImpTerms("1", 0, ctr_ppm=M // 2)], {"1": tied}, auction_id="a")
    assert outcome.clearing_price_micros == 500_000


@pytest.mark.parametrize(
    ("cpm_micros", "cost"),
    [
        (2_675_000, 2_675),
        (1_999, 1),  # rounded down: never charge more than the price agreed
        (999, 0),
        (1_000_000_000, 1_000_000),  # the default maximum bid: $1 an impression
        (10**18 + 999, 10**15),
    ],
)
def test_a_charge_is_the_cpm_micros_over_1000_rounded_down(cpm_micros: int, cost: int) -> None:
    assert impression_cost_micros(cpm_micros) == cost


def test_configured_amounts_convert_half_up_on_their_decimal_text() -> None:
    # Campaign files and settings write money as decimal strings; with six decimals or
    # fewer (as they are) nothing rounds.
    assert cpm_to_micros("2.675") == 2_675_000
    assert cpm_to_micros("0.0000005") == 1
    assert cpm_to_micros("0.0000004") == 0
