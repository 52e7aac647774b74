"""When several impressions of a request are sold together as one page (the VCG auction).

A request opts in with ``ext.page_auction = 1`` (or ``true``); the exchange may make it the
default for every multi-imp request. Each imp may state the relative click-through rate of
its slot in ``imp.ext.slot_ctr`` (a number in (0, 1], 1 when absent), which makes the page a
position auction. Billing units (:mod:`auction.vcg` says why):

* a bid on such an imp is the bidder's value *per unit of slot CTR*: its value for one
  impression of the slot is ``bid × slot_ctr``;
* the imp's floor (``bidfloor``) is per impression: a bid is below it when
  ``bid × slot_ctr < bidfloor``;
* the winner's price is per impression — what the impression is charged, and what the
  response's ``price`` and ``${AUCTION_PRICE}`` carry — the Clarke externality plus the
  increment, never more than ``bid × slot_ctr`` (rounded down to the micro).

The page auction is used only where its assumptions hold:

* at least two impressions (one slot is a plain second-price auction);
* second-price requests (``at`` ≠ 1): VCG is a second-price family mechanism; a first-price
  request gets first price per impression;
* no PMP deals or private auctions on any imp: deal terms (fixed prices, priority) are
  contracts per impression that a joint welfare optimum would override.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from auction.deals import screen
from auction.types import QUALITY_ONE, Candidate, ImpOutcome, ImpTerms, Loss
from auction.vcg import run_vcg, slot_value_micros
from openrtb.enums import AuctionType
from openrtb.errors import InvalidRequest
from openrtb.request import BidRequest

__all__ = ["page_slots", "run_page"]


def _flag(ext: Mapping[str, Any] | None) -> bool | None:
    """``ext.page_auction`` as a bool; None when absent; InvalidRequest when malformed."""
    if not ext or "page_auction" not in ext:
        return None
    value = ext["page_auction"]
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise InvalidRequest("ext.page_auction", "must be 0, 1, true or false")


def _slot_ctr_ppm(index: int, ext: Mapping[str, Any] | None) -> int:
    if not ext or "slot_ctr" not in ext:
        return QUALITY_ONE
    value = ext["slot_ctr"]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise InvalidRequest(f"imp[{index}].ext.slot_ctr", "must be a number in (0, 1]")
    return max(1, round(value * QUALITY_ONE))


def page_slots(
    request: BidRequest, terms: Mapping[str, ImpTerms], *, default: bool
) -> list[ImpTerms] | None:
    """The slots of the page auction for ``request``, or None when it is sold per imp.

    ``terms`` are the imps' terms (only imps present there take part). InvalidRequest names
    a malformed ``ext.page_auction`` or ``imp[i].ext.slot_ctr``.
    """
    flag = _flag(request.ext)
    wanted = default if flag is None else flag
    if not wanted or len(terms) < 2 or request.at == AuctionType.FIRST_PRICE:
        return None  # slot CTRs only matter on a page; not read (nor refused) otherwise
    slots = []
    for index, imp in enumerate(request.imp):
        ctr_ppm = _slot_ctr_ppm(index, imp.ext)
        imp_terms = terms.get(imp.id)
        if imp_terms is not None:
            slots.append(replace(imp_terms, ctr_ppm=ctr_ppm))
    if any(slot.deals or slot.private_auction for slot in slots):
        return None
    return slots


def run_page(
    slots: Sequence[ImpTerms],
    candidates_by_imp: Mapping[str, Sequence[Candidate]],
    *,
    auction_id: str,
    increment_micros: int = 0,
) -> tuple[ImpOutcome, ...]:
    """The VCG page auction after the seat rules (``wseat``/``bseat``, loss reason 104).

    Screened-out bids are added to their slot's losses, so every candidate still appears
    exactly once. Each winner pays its VCG price plus ``increment_micros`` per impression,
    capped at its value for the slot (``bid × slot_ctr``, :func:`auction.vcg.slot_value_micros`)
    — as the second-price auction adds it, capped at the bid — so an uncontested slot never
    sells for nothing.
    """
    eligible: dict[str, list[Candidate]] = {}
    screened: dict[str, list[Loss]] = {}
    for slot in slots:
        kept, losses = screen(slot, candidates_by_imp.get(slot.imp_id, ()))
        eligible[slot.imp_id] = kept
        screened[slot.imp_id] = losses
    outcomes = run_vcg(slots, eligible, auction_id=auction_id)
    return tuple(
        _finish(outcome, slot.ctr_ppm, screened[slot.imp_id], increment_micros)
        for slot, outcome in zip(slots, outcomes, strict=True)
    )


def _finish(
    outcome: ImpOutcome, ctr_ppm: int, screened: Sequence[Loss], increment_micros: int
) -> ImpOutcome:
    winner = outcome.winner
    price = outcome.clearing_price_micros
    if winner is not None and increment_micros > 0:
        price = min(slot_value_micros(winner.price_micros, ctr_ppm), price + increment_micros)
    if not screened and price == outcome.clearing_price_micros:
        return outcome
    return replace(outcome, clearing_price_micros=price, losses=outcome.losses + tuple(screened))
