"""The in-process lane: a router's offers reach the auction as typed micros, a pydantic
``Bid`` is built for the winner only, and every bid rule applies to offers as to any bid."""

import time

import pytest

from exchange.bid_intake import Entry, collect_offers
from exchange.bidders.base import Offer
from exchange.core import Exchange
from exchange.metrics import Metrics
from fraud.brand_safety import BrandSafety
from openrtb.bid_rules import BidRules
from openrtb.enums import LossReason
from openrtb.response import Bid
from tests.bidding.test_router import NOW, campaign, request, router
from tests.exchange.test_exchange import SIGNER, config


def lane_exchange(brand_safety: BrandSafety | None = None) -> tuple[Exchange, Metrics]:
    house = router(
        campaign("dear", 2_345_678, (300, 250)),
        campaign("cheap", 1_000_001, (300, 250), adomain=("cheap.example",)),
    )
    metrics = Metrics()
    bidders = {house.name: house}
    ex = Exchange(bidders, SIGNER, config(), metrics, clock=lambda: NOW, brand_safety=brand_safety)
    return ex, metrics


async def test_offers_compete_as_exact_micros_and_only_the_winner_becomes_a_bid() -> None:
    ex, _ = lane_exchange()
    result = await ex.run(request(), received_at=time.monotonic(), notice_base_url="https://x")
    (winner,) = result.winners
    assert isinstance(winner, Entry)
    assert isinstance(winner.bid, Offer)  # no pydantic copy before the auction
    assert winner.candidate.price_micros == 2_345_678  # no trip through a float CPM
    (outcome,) = result.outcomes
    (loss,) = outcome.losses
    assert loss.candidate.price_micros == 1_000_001
    assert outcome.clearing_price_micros == 1_010_001  # the loser's micros + the increment
    assert result.response is not None
    (seatbid,) = result.response.seatbid
    (bid,) = seatbid.bid
    assert isinstance(bid, Bid)
    assert (bid.cid, bid.id, bid.price) == ("dear", "1-dear", 1.010001)


async def test_the_exchanges_brand_safety_applies_to_offers() -> None:
    blocks = BrandSafety.build(["cheap.example"], [], None)
    ex, metrics = lane_exchange(brand_safety=blocks)
    result = await ex.run(request(), received_at=time.monotonic(), notice_base_url="https://x")
    (outcome,) = result.outcomes
    assert outcome.losses == ()  # the blocked offer never competed
    dropped = metrics.registry.get_sample_value(
        "rtb_invalid_bids_total",
        {"bidder": "house", "reason": str(int(LossReason.CREATIVE_FILTERED_ADVERTISER_EXCLUSIONS))},
    )
    assert dropped == 1


@pytest.mark.parametrize("price_micros", [0, -5])
def test_an_offer_without_a_positive_price_is_refused(price_micros: int) -> None:
    template = Bid(id="t", impid="t", price=1.0, cid="c", adid="a", crid="a")
    offer = Offer("b", "1", "seat", price_micros, None, template)
    intake = collect_offers("house", [offer], {"1"}, BidRules.of(request()), config(), Metrics())
    assert intake.entries == ()
    assert [r.reason for r in intake.rejected] == [LossReason.INVALID_BID_RESPONSE]
