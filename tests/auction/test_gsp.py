"""GSP for a page of positions: rank, next price, floors, separation, losses."""

from auction import Candidate
from auction.gsp import run_gsp
from auction.types import ImpTerms
from openrtb.enums import LossReason

M = 1_000_000
AUCTION_ID = "auction-gsp"


def test_positions_by_ctr_each_paying_the_next_adjusted_bid() -> None:
    # Slots given low ctr first: GSP still fills the highest ctr first.
    slots = [ImpTerms("low", 0, ctr_ppm=M), ImpTerms("top", 0, ctr_ppm=2 * M)]
    bids = [
        Candidate("a", "s1", 5 * M),
        Candidate("b", "s2", 4 * M, 2 * M),  # adjusted 8: ranks first
        Candidate("c", "s3", 3 * M),
    ]
    low, top = run_gsp(slots, bids, auction_id=AUCTION_ID)
    assert (top.winner, top.clearing_price_micros) == (bids[1], 5 * M // 2)  # ⌈5 / 2⌉
    assert (low.winner, low.clearing_price_micros) == (bids[0], 3 * M)
    assert top.losses == ()
    assert low.losses == ((bids[2], LossReason.LOST_TO_HIGHER_BID, 5 * M + 1),)


def test_floor_separation_and_the_last_bid() -> None:
    slots = [ImpTerms("top", 2 * M, ctr_ppm=2 * M), ImpTerms("low", M, ctr_ppm=M)]
    bids = [
        Candidate("a", "seat", 5 * M),
        Candidate("a2", "seat", 4 * M),  # same seat: kept off the page
        Candidate("b", "s2", 3 * M, adomain="x.com"),
        Candidate("c", "s3", M // 2),  # below every floor
        Candidate("d", "s4", 0),
    ]
    top, low = run_gsp(slots, bids, auction_id=AUCTION_ID)
    assert (top.winner, top.clearing_price_micros) == (bids[0], 4 * M)
    assert (low.winner, low.clearing_price_micros) == (bids[2], M)  # nobody eligible below: floor
    reasons = {loss.candidate.bid_id: loss.reason for loss in low.losses}
    assert reasons == {
        "a2": LossReason.LOST_TO_HIGHER_BID,
        "c": LossReason.BELOW_AUCTION_FLOOR,
        "d": LossReason.INVALID_BID_RESPONSE,
    }


def test_a_tie_pays_the_own_bid_and_nothing_to_sell() -> None:
    slot = ImpTerms("imp", 0, ctr_ppm=M)
    bids = [Candidate("a", "s1", 2 * M, M), Candidate("b", "s2", M, 2 * M)]  # both adjusted 2
    (outcome,) = run_gsp([slot], bids, auction_id=AUCTION_ID)
    assert outcome.winner is not None
    assert outcome.clearing_price_micros == outcome.winner.price_micros
    assert run_gsp([], bids, auction_id=AUCTION_ID) == ()
