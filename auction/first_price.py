"""Quality-adjusted first-price auction for one impression (``BidRequest.at = 1``).

Ranking is exactly second price's (:mod:`auction.ranking`): invalid bids (``p <= 0`` or
``q <= 0``) lose with reason 3, bids below the floor with 100, the rest rank by ``p × q``
with the reproducible tie-break, and each loser learns the smallest bid at its own quality
that would have strictly beaten the winner (at least the floor). Only the price differs:
the winner pays exactly its own bid, so no rounding happens at all. Bidders are expected to
shade; the exchange's promise is simply never to charge more than was bid.
"""

from collections.abc import Sequence

from auction.ranking import outbid_losses, rank
from auction.types import Candidate, ImpOutcome

__all__ = ["run_first_price"]


def run_first_price(
    imp_id: str, candidates: Sequence[Candidate], *, floor_micros: int, auction_id: str
) -> ImpOutcome:
    """Run the quality-adjusted first-price auction for impression ``imp_id``.

    The highest adjusted score at or above the floor wins and pays its own bid. Ties go to
    the largest ``tiebreak_key(auction_id, bid_id)``. Every other candidate appears once in
    ``losses``, in input order; with no winner the clearing price is 0. A negative floor
    counts as 0.
    """
    floor = floor_micros if floor_micros > 0 else 0
    lowest_price = floor if floor > 0 else 1
    index, top, _ = rank(candidates, lowest_price, auction_id)
    if index < 0:
        return ImpOutcome(imp_id, None, 0, outbid_losses(candidates, -1, 0, floor, lowest_price))
    winner = candidates[index]
    losses = outbid_losses(candidates, index, top, floor, lowest_price)
    return ImpOutcome(imp_id, winner, winner.price_micros, losses)
