"""Seat and deal rules, applied to every bid before a mechanism ranks it.

Who may bid on what is decided before how much: a bid that breaks a seat or deal rule would
lose at any price, so it never reaches ranking (and its ``min_to_win_micros`` is 0, "no price
could have won"). The checks run in this order, and a bid gets the first that fails:

1. seat not in ``allowed_seats`` (``BidRequest.wseat``) or in ``blocked_seats`` (``bseat``)
   → 104 BUYER_SEAT_BLOCKED;
2. a ``deal_id`` that is not one of the impression's deals → 4 INVALID_DEAL_ID;
3. seat not in the deal's ``wseat`` → 104 BUYER_SEAT_BLOCKED;
4. advertiser domain not in the deal's ``wadomain`` (a bid without one cannot show it is
   allowed, so it fails too; compared case-insensitively, as domains are)
   → 213 CREATIVE_FILTERED_NOT_ALLOWED_IN_PMP_DEAL;
5. a valid price (``p > 0``, ``q > 0``) below the deal's floor → 101 BELOW_DEAL_FLOOR, with
   the deal floor as ``min_to_win_micros`` (the least that passes; the mechanism refines it
   once it knows the winner). Invalid prices pass on, so the mechanism reports them as 3
   like any other invalid bid;
6. under ``private_auction``, an open bid (no ``deal_id``) → 103 LOST_TO_PMP_DEAL.

Why 103 for open bids in a private auction: the spec says only deal bids are eligible, so
the open bid lost to the PMP arrangement itself, not to a price; 103 is the list's name for
that, and it tells the buyer that bidding more would not help (min-to-win 0). Seat rules
still come first, so a blocked seat learns it is blocked.
"""

from collections.abc import Mapping, Sequence
from typing import Final

from auction.types import Candidate, DealTerms, ImpTerms, Loss
from openrtb.enums import LossReason

__all__ = ["deals_by_id", "screen", "screen_each"]

_SEAT_BLOCKED: Final = LossReason.BUYER_SEAT_BLOCKED
_INVALID_DEAL: Final = LossReason.INVALID_DEAL_ID
_NOT_IN_DEAL: Final = LossReason.CREATIVE_FILTERED_NOT_ALLOWED_IN_PMP_DEAL
_BELOW_DEAL_FLOOR: Final = LossReason.BELOW_DEAL_FLOOR
_LOST_TO_DEAL: Final = LossReason.LOST_TO_PMP_DEAL


def deals_by_id(terms: ImpTerms) -> dict[str, DealTerms]:
    """The impression's deals by id; when an id repeats, the first one listed holds."""
    deals: dict[str, DealTerms] = {}
    for deal in terms.deals:
        deals.setdefault(deal.deal_id, deal)
    return deals


def screen(terms: ImpTerms, candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[Loss]]:
    """Split ``candidates`` into those that pass the seat and deal rules and the losses.

    Both lists keep input order; every candidate is in exactly one of them.
    """
    passed: list[Candidate] = []
    losses: list[Loss] = []
    for candidate, verdict in zip(candidates, screen_each(terms, candidates), strict=True):
        if verdict is None:
            passed.append(candidate)
        else:
            losses.append(verdict)
    return passed, losses


def screen_each(
    terms: ImpTerms,
    candidates: Sequence[Candidate],
    deals: Mapping[str, DealTerms] | None = None,
) -> list[Loss | None]:
    """One verdict per candidate, in input order: None when it passes, else its Loss.

    ``deals`` is :func:`deals_by_id` of ``terms``, passed by callers that already built it.
    """
    if deals is None:
        deals = deals_by_id(terms)
    allowed = terms.allowed_seats
    blocked = terms.blocked_seats
    private = terms.private_auction
    verdicts: list[Loss | None] = []
    append = verdicts.append
    for candidate in candidates:
        seat = candidate.seat
        if (allowed is not None and seat not in allowed) or seat in blocked:
            append(Loss(candidate, _SEAT_BLOCKED, 0))
            continue
        deal_id = candidate.deal_id
        if deal_id is None:
            append(Loss(candidate, _LOST_TO_DEAL, 0) if private else None)
            continue
        deal = deals.get(deal_id)
        if deal is None:
            append(Loss(candidate, _INVALID_DEAL, 0))
        elif deal.wseat is not None and seat not in deal.wseat:
            append(Loss(candidate, _SEAT_BLOCKED, 0))
        elif deal.wadomain is not None and (
            candidate.adomain is None or candidate.adomain.lower() not in deal.wadomain
        ):
            append(Loss(candidate, _NOT_IN_DEAL, 0))
        elif 0 < candidate.price_micros < deal.floor_micros and candidate.quality_ppm > 0:
            append(Loss(candidate, _BELOW_DEAL_FLOOR, deal.floor_micros))
        else:
            append(None)
    return verdicts
