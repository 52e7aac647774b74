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
from typing import Final

from auction.tiebreak import tiebreak_key
from auction.types import Candidate, ImpOutcome, Loss
from openrtb.enums import LossReason

__all__ = ["run_second_price"]

_INVALID: Final = LossReason.INVALID_BID_RESPONSE
_BELOW_FLOOR: Final = LossReason.BELOW_AUCTION_FLOOR
_OUTBID: Final = LossReason.LOST_TO_HIGHER_BID


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

    One pass finds the winner and the runner-up score without sorting; a second builds the
    losses. Tie-break keys are hashed only when the top score is actually tied.
    """
    floor = floor_micros if floor_micros > 0 else 0
    increment = increment_micros if increment_micros > 0 else 0
    lowest_price = floor if floor > 0 else 1

    best_index = -1
    best_adjusted = 0
    runner_adjusted = 0
    tied = 1
    for index, candidate in enumerate(candidates):
        price = candidate.price_micros
        quality = candidate.quality_ppm
        if price < lowest_price or quality <= 0:
            continue
        adjusted = price * quality
        if adjusted > best_adjusted:
            runner_adjusted = best_adjusted
            best_adjusted = adjusted
            best_index = index
            tied = 1
        elif adjusted == best_adjusted:
            tied += 1
        elif adjusted > runner_adjusted:
            runner_adjusted = adjusted

    if best_index < 0:
        return ImpOutcome(imp_id, None, 0, _losses(candidates, -1, 0, floor, lowest_price))

    if tied > 1:
        runner_adjusted = best_adjusted
        best_index = _break_tie(candidates, best_adjusted, lowest_price, auction_id)
    winner = candidates[best_index]
    # Valid adjusted scores are >= 1, so 0 means "no runner-up"; ceil(0 / q) = 0 is harmless.
    second_price = -(-runner_adjusted // winner.quality_ppm)
    clearing = min(winner.price_micros, max(floor, second_price) + increment)
    losses = _losses(candidates, best_index, best_adjusted, floor, lowest_price)
    return ImpOutcome(imp_id, winner, clearing, losses)


def _break_tie(
    candidates: Sequence[Candidate], top_adjusted: int, lowest_price: int, auction_id: str
) -> int:
    """Index of the eligible candidate scoring ``top_adjusted`` with the largest tie-break key."""
    best_index = -1
    best_key = -1
    for index, candidate in enumerate(candidates):
        price = candidate.price_micros
        quality = candidate.quality_ppm
        if price < lowest_price or quality <= 0 or price * quality != top_adjusted:
            continue
        key = tiebreak_key(auction_id, candidate.bid_id)
        if key > best_key:
            best_key = key
            best_index = index
    return best_index


def _losses(
    candidates: Sequence[Candidate],
    winner_index: int,
    winner_adjusted: int,
    floor: int,
    lowest_price: int,
) -> tuple[Loss, ...]:
    """One Loss per non-winning candidate, in input order, with reason and min-to-win."""
    losses: list[Loss] = []
    append = losses.append
    for index, candidate in enumerate(candidates):
        if index == winner_index:
            continue
        price = candidate.price_micros
        quality = candidate.quality_ppm
        if quality <= 0:
            append(Loss(candidate, _INVALID, 0))
            continue
        min_to_win = winner_adjusted // quality + 1
        if min_to_win < lowest_price:
            min_to_win = lowest_price
        if price <= 0:
            reason = _INVALID
        elif price < floor:
            reason = _BELOW_FLOOR
        else:
            reason = _OUTBID
        append(Loss(candidate, reason, min_to_win))
    return tuple(losses)
