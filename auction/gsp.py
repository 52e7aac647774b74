"""Generalized second price for a page of positions: for comparison with VCG only.

GSP is what search advertising ran on (Edelman, Ostrovsky and Schwarz 2007): rank the bids,
give the k-th best position to the k-th ranked bid, and charge each the least it could have
bid and kept its rank. It looks like a second-price auction but is not truthful — a bidder
can gain by dropping to a cheaper position — which is why the exchange sells pages with VCG.
It is kept to measure that difference on the same inputs.

The rule, in the position setting (a bid is for the page; the auction picks its slot):

* candidates with ``p <= 0`` or ``q <= 0`` are invalid (loss reason 3); the rest are ranked by
  ``p × q``, ties by :func:`auction.tiebreak.tiebreak_key` (larger first), then input order;
* slots are filled in order of ``ctr_ppm``, highest first (ties: the order given). Each goes
  to the best-ranked remaining candidate with ``p >= floor`` whose seat and adomain have not
  won yet (competitive separation, as in VCG);
* the winner pays ``min(p, max(floor, ⌈a_next ÷ q⌉))``: ``a_next`` is the adjusted bid of the
  next remaining eligible candidate below it (0 if none). Rounded up, as in second price.

Every candidate that wins nothing is reported in the outcome of the *last* slot (lowest ctr),
the one it came closest to, with ``min_to_win_micros`` the least price whose adjusted bid beats
that slot's winner (at least its floor and one micro), reason 100 when it is below the floor
of every slot and 102 otherwise. For a candidate kept out only by separation that price is
not enough; GSP is for comparison, not for production loss notices.
"""

from collections.abc import Sequence
from typing import Final

from auction.tiebreak import tiebreak_key
from auction.types import Candidate, ImpOutcome, ImpTerms, Loss
from openrtb.enums import LossReason

__all__ = ["run_gsp"]

_INVALID: Final = LossReason.INVALID_BID_RESPONSE
_BELOW_FLOOR: Final = LossReason.BELOW_AUCTION_FLOOR
_OUTBID: Final = LossReason.LOST_TO_HIGHER_BID


def run_gsp(
    slots: Sequence[ImpTerms], candidates: Sequence[Candidate], *, auction_id: str
) -> tuple[ImpOutcome, ...]:
    """Run GSP for ``slots``; one outcome per slot, in the order given (see module doc)."""
    ranked = sorted(
        (i for i, c in enumerate(candidates) if c.price_micros > 0 and c.quality_ppm > 0),
        key=lambda i: (
            -candidates[i].adjusted,
            -tiebreak_key(auction_id, candidates[i].bid_id),
            i,
        ),
    )
    order = sorted(range(len(slots)), key=lambda j: -slots[j].ctr_ppm)
    floors = [max(terms.floor_micros, 0) for terms in slots]
    winners = [-1] * len(slots)
    prices = [0] * len(slots)
    seats: set[str] = set()
    domains: set[str] = set()
    placed: set[int] = set()

    def open_to(i: int, floor: int) -> bool:
        candidate = candidates[i]
        return (
            i not in placed
            and candidate.price_micros >= max(floor, 1)
            and candidate.seat not in seats
            and (candidate.adomain is None or candidate.adomain not in domains)
        )

    for j in order:
        eligible = [i for i in ranked if open_to(i, floors[j])]
        if not eligible:
            continue
        winner = candidates[eligible[0]]
        below = candidates[eligible[1]].adjusted if len(eligible) > 1 else 0
        winners[j] = eligible[0]
        prices[j] = min(winner.price_micros, max(floors[j], -(-below // winner.quality_ppm)))
        placed.add(eligible[0])
        seats.add(winner.seat)
        if winner.adomain is not None:
            domains.add(winner.adomain)

    losses: list[Loss] = []
    if order:
        last = order[-1]
        beaten = candidates[winners[last]].adjusted if winners[last] >= 0 else 0
        lowest = max(floors[last], 1)
        for i, candidate in enumerate(candidates):
            if i in placed:
                continue
            if candidate.quality_ppm <= 0:
                losses.append(Loss(candidate, _INVALID, 0))
                continue
            if candidate.price_micros <= 0:
                reason = _INVALID
            elif all(candidate.price_micros < floor for floor in floors):
                reason = _BELOW_FLOOR
            else:
                reason = _OUTBID
            min_to_win = max(lowest, beaten // candidate.quality_ppm + 1 if beaten else lowest)
            losses.append(Loss(candidate, reason, min_to_win))
    return tuple(
        ImpOutcome(
            terms.imp_id,
            candidates[winners[j]] if winners[j] >= 0 else None,
            prices[j],
            tuple(losses) if order and j == order[-1] else (),
        )
        for j, terms in enumerate(slots)
    )
