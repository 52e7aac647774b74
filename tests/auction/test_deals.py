"""Seat and deal screening before the mechanism: one worked example per rule and reason."""

import pytest

from auction.deals import deals_by_id, screen, screen_each
from auction.types import Candidate, DealTerms, ImpTerms, Loss
from openrtb.enums import LossReason

DEAL = DealTerms(
    "deal-1",
    floor_micros=2_000_000,
    wseat=frozenset({"seat-a", "seat-b"}),
    wadomain=frozenset({"brand.example"}),
)
OPEN_DEAL = DealTerms("deal-open", floor_micros=1_000_000)
TERMS = ImpTerms("imp-1", floor_micros=500_000, deals=(DEAL, OPEN_DEAL))


def bid(
    bid_id: str,
    price_micros: int = 3_000_000,
    *,
    seat: str = "seat-a",
    deal_id: str | None = "deal-1",
    adomain: str | None = "brand.example",
    quality_ppm: int = 1_000_000,
) -> Candidate:
    return Candidate(bid_id, seat, price_micros, quality_ppm, adomain, deal_id)


def only_loss(terms: ImpTerms, candidate: Candidate) -> Loss:
    passed, losses = screen(terms, [candidate])
    assert passed == []
    (loss,) = losses
    return loss


def test_bids_that_follow_the_rules_pass() -> None:
    good = [bid("a"), bid("b", seat="seat-b", adomain="Brand.Example"), bid("o", deal_id=None)]
    good.append(bid("any", 1_000_000, seat="seat-z", deal_id="deal-open", adomain=None))
    assert screen(TERMS, good) == (good, [])


@pytest.mark.parametrize(
    ("terms", "candidate"),
    [
        (ImpTerms("imp-1", 0, allowed_seats=frozenset({"seat-b"})), bid("x", deal_id=None)),
        (ImpTerms("imp-1", 0, blocked_seats=frozenset({"seat-a"})), bid("x", deal_id=None)),
        (ImpTerms("imp-1", 0, deals=(DEAL,), blocked_seats=frozenset({"seat-a"})), bid("x")),
        (TERMS, bid("x", seat="seat-z")),  # not in the deal's wseat
    ],
)
def test_blocked_seats_lose_with_104_and_no_price_could_win(
    terms: ImpTerms, candidate: Candidate
) -> None:
    assert only_loss(terms, candidate) == Loss(candidate, LossReason.BUYER_SEAT_BLOCKED, 0)


def test_unknown_deal_id_loses_with_4() -> None:
    candidate = bid("x", deal_id="deal-nope")
    assert only_loss(TERMS, candidate) == Loss(candidate, LossReason.INVALID_DEAL_ID, 0)
    no_deals = ImpTerms("imp-1", 0)
    assert only_loss(no_deals, candidate) == Loss(candidate, LossReason.INVALID_DEAL_ID, 0)


@pytest.mark.parametrize("adomain", ["other.example", None])
def test_advertiser_outside_the_deal_loses_with_213(adomain: str | None) -> None:
    candidate = bid("x", adomain=adomain)
    assert only_loss(TERMS, candidate) == Loss(
        candidate, LossReason.CREATIVE_FILTERED_NOT_ALLOWED_IN_PMP_DEAL, 0
    )


def test_below_the_deal_floor_loses_with_101_and_the_floor_to_win() -> None:
    candidate = bid("x", 1_999_999)
    assert only_loss(TERMS, candidate) == Loss(candidate, LossReason.BELOW_DEAL_FLOOR, 2_000_000)
    at_floor = bid("y", 2_000_000)
    assert screen(TERMS, [at_floor]) == ([at_floor], [])


def test_invalid_prices_pass_on_for_the_mechanism_to_report() -> None:
    zero, no_quality = bid("z", 0), bid("q", 1, quality_ppm=0)
    assert screen(TERMS, [zero, no_quality]) == ([zero, no_quality], [])


def test_private_auction_turns_open_bids_away_with_103() -> None:
    private = ImpTerms("imp-1", 500_000, deals=(DEAL,), private_auction=True)
    open_bid, deal_bid = bid("o", deal_id=None), bid("d")
    assert screen(private, [open_bid, deal_bid]) == (
        [deal_bid],
        [Loss(open_bid, LossReason.LOST_TO_PMP_DEAL, 0)],
    )


def test_first_failing_rule_is_reported() -> None:
    # Blocked seat beats everything else, the deal id beats wseat, wseat beats wadomain,
    # wadomain beats the floor.
    blocked = ImpTerms("imp-1", 0, deals=(DEAL,), blocked_seats=frozenset({"seat-z"}))
    candidate = bid("x", 1, seat="seat-z", deal_id="nope", adomain=None)
    assert only_loss(blocked, candidate).reason == LossReason.BUYER_SEAT_BLOCKED
    assert only_loss(TERMS, candidate).reason == LossReason.INVALID_DEAL_ID
    candidate = bid("x", 1, seat="seat-z", adomain=None)
    assert only_loss(TERMS, candidate).reason == LossReason.BUYER_SEAT_BLOCKED
    candidate = bid("x", 1, adomain=None)
    assert (
        only_loss(TERMS, candidate).reason == LossReason.CREATIVE_FILTERED_NOT_ALLOWED_IN_PMP_DEAL
    )


def test_screen_each_keeps_input_order_with_one_verdict_per_candidate() -> None:
    candidates = [bid("a"), bid("b", seat="seat-z"), bid("c", deal_id=None), bid("d", 5)]
    verdicts = screen_each(TERMS, candidates, deals_by_id(TERMS))
    assert [v is None for v in verdicts] == [True, False, True, False]
    assert verdicts == screen_each(TERMS, candidates)


def test_repeated_deal_id_the_first_listed_holds() -> None:
    terms = ImpTerms("imp-1", 0, deals=(DealTerms("d", 5), DealTerms("d", 9)))
    assert deals_by_id(terms)["d"].floor_micros == 5
