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


def test_blocked_seats_lose_with_104_and_still_appear_once() -> None:
    slots = [ImpTerms("1", 0, blocked_seats=frozenset({"bad"})), ImpTerms("2", 0)]
    bad, good = Candidate("b1", "bad", 3_000_000), Candidate("b2", "good", 1_000_000)
    (first, _) = run_page(slots, {"1": [bad, good]}, auction_id="a", increment_micros=0)
    assert first.winner == good
    assert [(loss.candidate, loss.reason) for loss in first.losses] == [
        (bad, LossReason.BUYER_SEAT_BLOCKED)
    ]
