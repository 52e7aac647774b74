"""Quality-adjusted second-price auction for one impression, in exact integer arithmetic.

Why quality-adjusted: the exchange ranks bids by what they are worth to the publisher, not by
price alone, so a slightly lower bid from a much better ad can win. Why second price: the
winner pays the least it could have bid and still won, which makes bidding one's true value
the best strategy (with a zero increment) and keeps DSPs from having to shade.

The rule, for candidates with price ``p`` (micros) and quality ``q`` (ppm):

* a candidate with ``p <= 0`` or ``q <= 0`` is an invalid bid (loss reason 3); one with
  ``p < floor`` is below the floor (loss reason 100). Neither takes part in ranking;
* the rest are ranked by the adjusted score ``p × q`` (an exact integer); the highest wins;
  equal scores are broken by :func:`auction.tiebreak.tiebreak_key`, seeded by the auction id;
* the winner pays ``min(p_w, max(floor, ⌈a_2 / q_w⌉) + increment)``, where ``a_2`` is the
  runner-up's adjusted score; a lone eligible bid pays ``min(p_w, floor + increment)``.
  With equal qualities this is the classic second price; a winner that ties the runner-up
  pays its own bid.

Rounding: ``a_2 / q_w`` rounds *up* to the micro, because a bid of ``⌊a_2 / q_w⌋`` would not
have beaten the runner-up; the price charged never exceeds the winner's own bid (the ``min``
above), whatever the increment.

Every loser gets ``min_to_win_micros``: the smallest bid at that loser's own quality whose
adjusted score is *strictly* greater than the winner's and that is at least the floor (and at
least one micro). A bid exactly equal in score might also have won, but only through the
tie-break, so it is not what we promise. With no winner it is the floor (at least one micro);
a loser with ``q <= 0`` gets 0, meaning no price could have won.
"""

from collections.abc import Sequence

from auction.ranking import outbid_losses, rank, second_price
from auction.types import Candidate, ImpOutcome

__all__ = ["run_second_price"]


def run_second_price(
    imp_id: str,
    candidates: Sequence[Candidate],
    *,
    floor_micros: int,
    increment_micros: int,
    auction_id: str,
) -> ImpOutcome:
    """Run the quality-adjusted second-price auction for impression ``imp_id``.

    The winner pays ``min(own bid, max(floor, ⌈runner-up adjusted ÷ own quality⌉) +
    increment)`` (``min(own bid, floor + increment)`` when it is alone): clearing prices round
    up to the micro but never exceed the winner's bid. Ties in adjusted score go to the bid
    with the largest ``tiebreak_key(auction_id, bid_id)`` (then the earliest in
    ``candidates``), so the same auction id always gives the same winner.

    Every candidate other than the winner appears once in ``losses``, in input order. With
    no winner, ``clearing_price_micros`` is 0. Total over its inputs: invalid candidates lose
    with reason 3, and a negative floor or increment counts as 0.

    Ranking and losses are :mod:`auction.ranking`'s, shared with first price.
    """
    floor = floor_micros if floor_micros > 0 else 0
    increment = increment_micros if increment_micros > 0 else 0
    lowest_price = floor if floor > 0 else 1
    index, top, runner = rank(candidates, lowest_price, auction_id)
    if index < 0:
        return ImpOutcome(imp_id, None, 0, outbid_losses(candidates, -1, 0, floor, lowest_price))
    winner = candidates[index]
    clearing = second_price(winner, runner, floor, increment)
    losses = outbid_losses(candidates, index, top, floor, lowest_price)
    return ImpOutcome(imp_id, winner, clearing, losses)
