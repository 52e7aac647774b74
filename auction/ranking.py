"""Ranking shared by the single-impression mechanisms: the winner, the runner-up, the losers.

First price, second price and the deal-aware mechanism differ only in what the winner pays;
who wins, who is runner-up and what each loser would have needed to bid are the same rule,
so they live here once:

* a candidate takes part in ranking when ``p >= lowest_price`` and ``q > 0`` (eligibility is
  decided by the caller: a mechanism with one floor passes ``max(floor, 1)``; one with a floor
  per candidate filters first and passes 1);
* eligible candidates rank by the adjusted score ``p × q`` (exact integers); equal scores go
  to the largest :func:`auction.tiebreak.tiebreak_key`, then the earliest in input order;
* a loser's ``min_to_win_micros`` is the smallest bid at its own quality whose adjusted score
  *strictly* beats the winner's, and at least ``lowest_price``: ``max(lowest, ⌊a_w / q⌋ + 1)``.

Speed matters (the auction's whole budget is a millisecond): one pass finds winner and
runner-up without sorting, tie-break keys are hashed only on an actual tie, and losses are
built with ``tuple.__new__`` (a third cheaper than ``Loss(...)``, which goes through the
NamedTuple's Python-level ``__new__``).
"""

from collections.abc import Sequence
from typing import Final

from auction.tiebreak import tiebreak_key
from auction.types import Candidate, Loss
from openrtb.enums import LossReason

__all__ = ["min_to_win", "outbid_losses", "rank", "second_price"]

_INVALID: Final = LossReason.INVALID_BID_RESPONSE
_BELOW_FLOOR: Final = LossReason.BELOW_AUCTION_FLOOR
_OUTBID: Final = LossReason.LOST_TO_HIGHER_BID
_new_tuple: Final = tuple.__new__


def rank(
    candidates: Sequence[Candidate], lowest_price: int, auction_id: str
) -> tuple[int, int, int]:
    """``(winner index, winner adjusted, runner-up adjusted)`` among the eligible candidates.

    Eligible: ``price >= lowest_price`` and ``quality > 0`` (pass ``lowest_price >= 1``).
    The index is -1 when none is eligible; the runner-up score is 0 when there is none.
    When the top score is tied, the runner-up score equals the winner's (so a second-price
    winner pays its own bid).
    """
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
    if tied > 1:
        runner_adjusted = best_adjusted
        best_index = _break_tie(candidates, best_adjusted, lowest_price, auction_id)
    return best_index, best_adjusted, runner_adjusted


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


def second_price(winner: Candidate, runner_adjusted: int, floor: int, increment: int) -> int:
    """``min(bid, max(floor, ⌈runner-up adjusted ÷ own quality⌉) + increment)``.

    Rounds up to the micro (``⌊a_2 / q_w⌋`` would not have beaten the runner-up) and never
    exceeds the winner's bid, whatever the increment. A runner-up score of 0 means none:
    the price is then ``floor + increment`` (capped at the bid).
    """
    price = -(-runner_adjusted // winner.quality_ppm)
    if price < floor:
        price = floor
    price += increment
    bid = winner.price_micros
    return bid if price > bid else price


def min_to_win(winner_adjusted: int, quality: int, lowest_price: int) -> int:
    """Smallest bid at ``quality`` strictly beating ``winner_adjusted``, at least ``lowest_price``.

    0 when ``quality <= 0``: no price could have won. With no winner pass 0, which gives
    ``lowest_price`` (the floor, at least one micro).
    """
    if quality <= 0:
        return 0
    needed = winner_adjusted // quality + 1
    return needed if needed > lowest_price else lowest_price


def outbid_losses(
    candidates: Sequence[Candidate],
    winner_index: int,
    winner_adjusted: int,
    floor: int,
    lowest_price: int,
) -> tuple[Loss, ...]:
    """One Loss per non-winning candidate under one floor, in input order.

    Reason 3 for ``price <= 0`` or ``quality <= 0``, 100 below ``floor``, 102 otherwise;
    ``min_to_win_micros`` as :func:`min_to_win` (inlined here: this loop is the hot one).
    """
    losses: list[Loss] = []
    append = losses.append
    new = _new_tuple
    for index, candidate in enumerate(candidates):
        if index == winner_index:
            continue
        price = candidate.price_micros
        quality = candidate.quality_ppm
        if quality <= 0:
            append(new(Loss, (candidate, _INVALID, 0)))
            continue
        needed = winner_adjusted // quality + 1
        if needed < lowest_price:
            needed = lowest_price
        if price <= 0:
            reason = _INVALID
        elif price < floor:
            reason = _BELOW_FLOOR
        else:
            reason = _OUTBID
        append(new(Loss, (candidate, reason, needed)))
    return tuple(losses)
