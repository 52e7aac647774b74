"""Worked examples of one impression's auction under deals, seats and the request's ``at``."""

from dataclasses import replace

import pytest

from auction.first_price import run_first_price
from auction.mechanism import run_imp
from auction.second_price import run_second_price
from auction.types import AuctionRules, Candidate, DealTerms, ImpOutcome, ImpTerms, Loss
from openrtb.enums import LossReason
from openrtb.money import cpm_to_micros

OPEN_FLOOR = cpm_to_micros("0.50")
D1 = DealTerms("d1", floor_micros=cpm_to_micros("1.00"), at=2)  # second price
FIXED = DealTerms("fixed", floor_micros=cpm_to_micros("1.50"), at=3)  # fixed deal price
FIRST = DealTerms("first", floor_micros=cpm_to_micros("0.80"), at=1)  # first price
LOW = DealTerms("low", floor_micros=cpm_to_micros("0.20"), at=2)  # below the open floor
TERMS = ImpTerms("imp-1", OPEN_FLOOR, deals=(D1, FIXED, FIRST, LOW))
PRIORITY = AuctionRules(increment_micros=cpm_to_micros("0.01"), deal_priority=True)
NO_PRIORITY = replace(PRIORITY, deal_priority=False)


def bid(
    bid_id: str, price_cpm: str, deal_id: str | None = None, *, quality: str = "1"
) -> Candidate:
    """A candidate from decimal strings; seat and advertiser named after the bid."""
    return Candidate(
        bid_id,
        f"seat-{bid_id}",
        cpm_to_micros(price_cpm),
        cpm_to_micros(quality),
        f"{bid_id}.example",
        deal_id,
    )


def run(
    *candidates: Candidate,
    terms: ImpTerms = TERMS,
    rules: AuctionRules = PRIORITY,
    at: int = 2,
) -> ImpOutcome:
    return run_imp(terms, candidates, at=at, rules=rules, auction_id="auction-1")


def loss_of(outcome: ImpOutcome, bid_id: str) -> Loss:
    (loss,) = (loss for loss in outcome.losses if loss.candidate.bid_id == bid_id)
    return loss


# Open auction ---------------------------------------------------------------------------------


def test_open_auction_at_2_is_second_price() -> None:
    a, b = bid("a", "2.00"), bid("b", "1.50")
    expected = run_second_price(
        "imp-1", (a, b), floor_micros=OPEN_FLOOR, increment_micros=10_000, auction_id="auction-1"
    )
    assert run(a, b) == expected
    assert expected.clearing_price_micros == 1_510_000


def test_open_auction_at_1_is_first_price() -> None:
    a, b = bid("a", "2.00"), bid("b", "1.50")
    outcome = run(a, b, at=1)
    assert outcome == run_first_price(
        "imp-1", (a, b), floor_micros=OPEN_FLOOR, auction_id="auction-1"
    )
    assert outcome.clearing_price_micros == 2_000_000


def test_unknown_at_is_second_price() -> None:
    a, b = bid("a", "2.00"), bid("b", "1.50")
    assert run(a, b, at=500) == run(a, b, at=2)


# Deal priority --------------------------------------------------------------------------------


def test_deal_priority_a_deal_bid_beats_a_higher_open_bid() -> None:
    o, d = bid("o", "5.00"), bid("d", "1.20", "d1")
    outcome = run(o, d)
    assert outcome.winner == d
    assert outcome.clearing_price_micros == 1_010_000  # alone among deal bids: floor + increment
    assert outcome.losses == (Loss(o, LossReason.LOST_TO_PMP_DEAL, 0),)


def test_deal_priority_second_price_among_deal_bids_only() -> None:
    o, d1, d2 = bid("o", "5.00"), bid("d1", "1.20", "d1"), bid("d2", "1.80", "d1")
    outcome = run(o, d1, d2)
    assert outcome.winner == d2
    assert outcome.clearing_price_micros == 1_210_000  # the 5.00 open bid does not count
    assert outcome.losses == (
        Loss(o, LossReason.LOST_TO_PMP_DEAL, 0),
        Loss(d1, LossReason.LOST_TO_HIGHER_BID, 1_800_001),
    )


def test_deal_priority_without_a_valid_deal_bid_runs_the_open_auction() -> None:
    o, d = bid("o", "2.00"), bid("d", "0.90", "d1")  # d is below its deal floor
    outcome = run(o, d)
    assert outcome.winner == o
    assert outcome.clearing_price_micros == 510_000
    # At the deal floor d would have been the one valid deal bid, and won by priority.
    assert outcome.losses == (Loss(d, LossReason.BELOW_DEAL_FLOOR, 1_000_000),)


def test_deal_priority_invalid_bids_still_lose_with_3() -> None:
    o, zero, d = bid("o", "0"), bid("z", "0", "d1"), bid("d", "1.20", "d1")
    outcome = run(o, zero, d)
    assert outcome.winner == d
    assert outcome.losses == (
        Loss(o, LossReason.INVALID_BID_RESPONSE, 0),  # open: no price beats the deal
        Loss(zero, LossReason.INVALID_BID_RESPONSE, 1_200_001),
    )


# Deals and open bids competing on price --------------------------------------------------------


def test_no_priority_a_higher_open_bid_beats_a_deal_bid() -> None:
    o, d = bid("o", "5.00"), bid("d", "1.20", "d1")
    outcome = run(o, d, rules=NO_PRIORITY)
    assert outcome.winner == o
    assert outcome.clearing_price_micros == 1_210_000
    assert outcome.losses == (Loss(d, LossReason.LOST_TO_HIGHER_BID, 5_000_001),)


def test_no_priority_deal_winner_never_pays_below_its_deal_floor() -> None:
    o, d = bid("o", "0.90"), bid("d", "1.20", "d1")
    outcome = run(o, d, rules=NO_PRIORITY)
    assert outcome.winner == d
    assert outcome.clearing_price_micros == 1_010_000  # max(1.00 deal floor, 0.90) + 0.01
    assert outcome.losses == (Loss(o, LossReason.LOST_TO_HIGHER_BID, 1_200_001),)


def test_no_priority_deal_winner_pays_the_open_runner_up_above_its_floor() -> None:
    o, d = bid("o", "1.10"), bid("d", "1.20", "d1")
    assert run(o, d, rules=NO_PRIORITY).clearing_price_micros == 1_110_000


def test_no_priority_each_bid_against_its_own_floor() -> None:
    # o is above the deal floor but below the open floor; d is below the open floor but
    # above its own (0.20), so d competes and wins.
    o, d = bid("o", "0.40"), bid("d", "0.30", "low")
    outcome = run(o, d, rules=NO_PRIORITY)
    assert outcome.winner == d
    assert outcome.clearing_price_micros == 210_000
    assert outcome.losses == (Loss(o, LossReason.BELOW_AUCTION_FLOOR, OPEN_FLOOR),)


def test_no_priority_below_deal_floor_needs_to_beat_the_winner_too() -> None:
    o, d = bid("o", "2.00"), bid("d", "0.90", "d1")
    outcome = run(o, d, rules=NO_PRIORITY)
    assert outcome.winner == o
    assert outcome.clearing_price_micros == 510_000  # d did not compete
    assert outcome.losses == (Loss(d, LossReason.BELOW_DEAL_FLOOR, 2_000_001),)


# The deal's auction type -----------------------------------------------------------------------


@pytest.mark.parametrize("rules", [PRIORITY, NO_PRIORITY])
def test_deal_at_3_pays_the_fixed_price_exactly(rules: AuctionRules) -> None:
    o, d = bid("o", "3.00"), bid("d", "4.00", "fixed")
    outcome = run(o, d, rules=rules)
    assert outcome.winner == d
    assert outcome.clearing_price_micros == 1_500_000


def test_deal_at_3_bid_below_the_fixed_price_is_below_the_deal_floor() -> None:
    d = bid("d", "1.49", "fixed")
    assert run(d).losses == (Loss(d, LossReason.BELOW_DEAL_FLOOR, 1_500_000),)


@pytest.mark.parametrize("at", [1, 2])
def test_deal_at_1_pays_its_bid_whatever_the_request_at(at: int) -> None:
    d, other = bid("d", "2.00", "first"), bid("e", "1.00", "first")
    assert run(d, other, at=at).clearing_price_micros == 2_000_000


def test_deal_at_2_is_second_price_in_a_first_price_request() -> None:
    d, other = bid("d", "2.00", "d1"), bid("e", "1.50", "d1")
    assert run(d, other, at=1).clearing_price_micros == 1_510_000


def test_open_winner_follows_the_request_at_next_to_deal_bids() -> None:
    o, d = bid("o", "5.00"), bid("d", "1.20", "first")
    assert run(o, d, rules=NO_PRIORITY, at=1).clearing_price_micros == 5_000_000
    assert run(o, d, rules=NO_PRIORITY, at=2).clearing_price_micros == 1_210_000


# Private auctions, seats, unknown deals ---------------------------------------------------------


def test_private_auction_only_deal_bids_may_win() -> None:
    private = replace(TERMS, private_auction=True)
    o, d = bid("o", "5.00"), bid("d", "1.20", "d1")
    for rules in (PRIORITY, NO_PRIORITY):
        outcome = run(o, d, terms=private, rules=rules)
        assert outcome.winner == d
        assert outcome.clearing_price_micros == 1_010_000
        assert outcome.losses == (Loss(o, LossReason.LOST_TO_PMP_DEAL, 0),)


def test_private_auction_with_only_open_bids_has_no_winner() -> None:
    private = replace(TERMS, private_auction=True)
    o = bid("o", "5.00")
    assert run(o, terms=private) == ImpOutcome(
        "imp-1", None, 0, (Loss(o, LossReason.LOST_TO_PMP_DEAL, 0),)
    )


def test_unknown_deal_id_loses_with_4() -> None:
    o, x = bid("o", "2.00"), bid("x", "9.00", "no-such-deal")
    outcome = run(o, x)
    assert outcome.winner == o
    assert outcome.losses == (Loss(x, LossReason.INVALID_DEAL_ID, 0),)


def test_deal_bid_without_any_deals_on_the_impression_loses_with_4() -> None:
    o, x = bid("o", "2.00"), bid("x", "9.00", "d1")
    outcome = run(o, x, terms=ImpTerms("imp-1", OPEN_FLOOR))
    assert outcome.winner == o
    assert outcome.clearing_price_micros == 510_000
    assert outcome.losses == (Loss(x, LossReason.INVALID_DEAL_ID, 0),)


def test_blocked_seat_loses_with_104_and_does_not_set_the_price() -> None:
    terms = replace(TERMS, blocked_seats=frozenset({"seat-b"}))
    a, b = bid("a", "2.00"), bid("b", "3.00")
    outcome = run(a, b, terms=terms)
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 510_000
    assert outcome.losses == (Loss(b, LossReason.BUYER_SEAT_BLOCKED, 0),)


def test_deal_wseat_and_wadomain() -> None:
    deal = DealTerms(
        "d1", 1_000_000, wseat=frozenset({"seat-a"}), wadomain=frozenset({"a.example"})
    )
    terms = ImpTerms("imp-1", OPEN_FLOOR, deals=(deal,))
    a, b = bid("a", "1.20", "d1"), bid("b", "3.00", "d1")
    outcome = run(a, b, terms=terms)
    assert outcome.winner == a
    assert outcome.losses == (Loss(b, LossReason.BUYER_SEAT_BLOCKED, 0),)
    stranger = Candidate("c", "seat-a", 3_000_000, adomain="c.example", deal_id="d1")
    outcome = run(a, stranger, terms=terms)
    assert outcome.winner == a
    assert outcome.losses == (
        Loss(stranger, LossReason.CREATIVE_FILTERED_NOT_ALLOWED_IN_PMP_DEAL, 0),
    )


# Totality ----------------------------------------------------------------------------------------


def test_the_same_candidate_twice_appears_twice() -> None:
    d = bid("d", "2.00", "d1")
    outcome = run(d, d)
    assert outcome.winner == d
    assert outcome.clearing_price_micros == 2_000_000  # tied with itself: pays its bid
    assert len(outcome.losses) == 1


def test_negative_floors_and_increment_count_as_zero() -> None:
    terms = ImpTerms("imp-1", -5, deals=(DealTerms("neg", -7, at=3),))
    rules = AuctionRules(increment_micros=-1)
    o, d = bid("o", "1.00"), bid("d", "0.50", "neg")
    assert run(o, terms=terms, rules=rules).clearing_price_micros == 0
    assert run(o, d, terms=terms, rules=rules).clearing_price_micros == 0  # fixed price 0


def test_no_candidates() -> None:
    assert run() == ImpOutcome("imp-1", None, 0, ())
    assert run(terms=ImpTerms("imp-1", 0)) == ImpOutcome("imp-1", None, 0, ())
