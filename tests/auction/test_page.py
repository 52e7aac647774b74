"""The page auction around VCG: seat screening, and the increment on winners' prices."""

from auction.page import run_page
from auction.types import Candidate, ImpTerms
from openrtb.enums import LossReason


def test_an_uncontested_slot_pays_the_increment_not_nothing() -> None:
    slots = [ImpTerms("1", 0), ImpTerms("2", 0)]
    lone = Candidate("b1", "s1", 2_000_000)
    (first, second) = run_page(slots, {"1": [lone]}, auction_id="a", increment_micros=10_000)
    assert (first.winner, first.clearing_price_micros) == (lone, 10_000)
    assert second.winner is None


def test_the_increment_never_lifts_a_price_above_the_bid() -> None:
    slots = [ImpTerms("1", 1_000_000)]
    at_floor = Candidate("b1", "s1", 1_000_000)
    (outcome,) = run_page(slots, {"1": [at_floor]}, auction_id="a", increment_micros=10_000)
    assert outcome.clearing_price_micros == 1_000_000


def test_the_increment_never_lifts_a_price_above_the_value_for_the_slot() -> None:
    # CTR 0.5, floor 1.00 per impression: a bid of 2.00 is worth exactly the floor there, so
    # it pays 1.00 — not 1.01, which the bid (2.00) would allow but its value does not.
    slots = [ImpTerms("1", 0), ImpTerms("2", 1_000_000, ctr_ppm=500_000)]
    at_value = Candidate("b1", "s1", 2_000_000)
    (_, low) = run_page(slots, {"2": [at_value]}, auction_id="a", increment_micros=10_000)
    assert (low.winner, low.clearing_price_micros) == (at_value, 1_000_000)


def test_blocked_seats_lose_with_104_and_still_appear_once() -> None:
    slots = [ImpTerms("1", 0, blocked_seats=frozenset({"bad"})), ImpTerms("2", 0)]
    bad, good = Candidate("b1", "bad", 3_000_000), Candidate("b2", "good", 1_000_000)
    (first, _) = run_page(slots, {"1": [bad, good]}, auction_id="a", increment_micros=0)
    assert first.winner == good
    assert [(loss.candidate, loss.reason) for loss in first.losses] == [
        (bad, LossReason.BUYER_SEAT_BLOCKED)
    ]
