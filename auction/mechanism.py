"""One impression, start to finish: seat and deal rules, then the auction the terms call for.

The rule, for candidates already converted to exchange micros:

1. :func:`auction.deals.screen_each` applies the seat and deal rules (104, 4, 213, 101, and
   103 for open bids in a private auction);
2. which bids compete: with ``rules.deal_priority`` and at least one valid deal bid left
   (``p > 0``, ``q > 0``, at or above its deal floor), only deal bids compete, and every
   valid open bid loses with 103 LOST_TO_PMP_DEAL and ``min_to_win_micros`` 0 — under
   priority no open price can beat a deal, so 0 ("no price could have won") is the honest
   answer, not a price. Otherwise deal and open bids compete together;
3. eligibility is decided *before* ranking, each bid against its own floor: the open floor
   (``terms.floor_micros``) for open bids, the deal's floor for deal bids. Invalid bids lose
   with 3, open bids below the open floor with 100. The eligible pool is then ranked by
   :func:`auction.ranking.rank` (adjusted score, reproducible tie-break);
4. what the winner pays: an open winner follows the request's ``at`` (1 first price, anything
   else second price); a deal winner follows its deal's ``at`` (1 first price; 3 pays the
   deal's fixed price ``floor_micros`` exactly; anything else second price). Second price is
   ``min(bid, max(winner's own floor, ⌈runner-up adjusted ÷ own quality⌉) + increment)``,
   the runner-up taken from the bids that competed — rounded up, never above the bid,
   never below the winner's floor.

Losers are told why: 102 when outbid in the pool (also an open bid outbid by a deal bid when
deals compete on price: it lost on price, not to deal priority). ``min_to_win_micros`` is
the smallest bid at the loser's own quality that would have won outright — strictly beating
the winner's adjusted score and at least its own floor — or 0 when no price could have (seat
and deal rule failures, open bids under deal priority, quality ≤ 0). A deal bid under deal
priority when no valid deal bid was left needs only its deal floor: reaching it would have
made it the one deal bid, which wins.

Every input candidate appears exactly once: as the winner or as one Loss, in input order.
Terms without deals or seat rules take the plain first/second-price path, which gives the
same result as the general one, faster.
"""

from collections.abc import Mapping, Sequence
from typing import Final

from auction.deals import deals_by_id, screen_each
from auction.first_price import run_first_price
from auction.ranking import min_to_win, rank, second_price
from auction.second_price import run_second_price
from auction.types import AuctionRules, Candidate, DealTerms, ImpOutcome, ImpTerms, Loss
from openrtb.enums import AuctionType, LossReason

__all__ = ["run_imp"]

_FIRST_PRICE: Final = AuctionType.FIRST_PRICE
_DEAL_PRICE: Final = AuctionType.DEAL_PRICE
_INVALID: Final = LossReason.INVALID_BID_RESPONSE
_BELOW_FLOOR: Final = LossReason.BELOW_AUCTION_FLOOR
_BELOW_DEAL_FLOOR: Final = LossReason.BELOW_DEAL_FLOOR
_OUTBID: Final = LossReason.LOST_TO_HIGHER_BID
_LOST_TO_DEAL: Final = LossReason.LOST_TO_PMP_DEAL
_new_tuple: Final = tuple.__new__


def run_imp(
    terms: ImpTerms,
    candidates: Sequence[Candidate],
    *,
    at: int,
    rules: AuctionRules,
    auction_id: str,
) -> ImpOutcome:
    """Run the auction for one impression under ``terms`` (the rule is the module's).

    ``at`` is ``BidRequest.at``. Negative floors and increments count as 0. Deterministic
    for a given ``auction_id``; total over its inputs.
    """
    open_floor = terms.floor_micros if terms.floor_micros > 0 else 0
    increment = rules.increment_micros if rules.increment_micros > 0 else 0
    if (
        not terms.deals
        and not terms.private_auction
        and terms.allowed_seats is None
        and not terms.blocked_seats
        and all(candidate.deal_id is None for candidate in candidates)
    ):
        if at == _FIRST_PRICE:
            return run_first_price(
                terms.imp_id, candidates, floor_micros=open_floor, auction_id=auction_id
            )
        return run_second_price(
            terms.imp_id,
            candidates,
            floor_micros=open_floor,
            increment_micros=increment,
            auction_id=auction_id,
        )

    deals = deals_by_id(terms)
    verdicts = screen_each(terms, candidates, deals)
    deal_only = rules.deal_priority and any(
        verdict is None
        and candidate.deal_id is not None
        and candidate.price_micros > 0
        and candidate.quality_ppm > 0
        for candidate, verdict in zip(candidates, verdicts, strict=True)
    )

    # Eligibility before ranking: each bid against its own floor.
    pool: list[Candidate] = []
    pool_floors: list[int] = []
    pool_positions: list[int] = []
    for position, (candidate, verdict) in enumerate(zip(candidates, verdicts, strict=True)):
        if verdict is not None or candidate.quality_ppm <= 0:
            continue
        if candidate.deal_id is None:
            if deal_only:
                continue
            floor = open_floor
        else:
            floor = _floor_of(deals, candidate.deal_id)
        if candidate.price_micros < (floor if floor > 0 else 1):
            continue
        pool.append(candidate)
        pool_floors.append(floor)
        pool_positions.append(position)

    index, top, runner = rank(pool, 1, auction_id)
    winner: Candidate | None = None
    winner_position = -1
    clearing = 0
    if index >= 0:
        winner = pool[index]
        winner_position = pool_positions[index]
        clearing = _price(winner, deals, at, runner, pool_floors[index], increment)

    # Under deal priority with no deal bid winning, a deal bid needs only its floor to win.
    floor_wins_deal = rules.deal_priority and (winner is None or winner.deal_id is None)
    losses = _losses(
        candidates,
        verdicts,
        deals,
        winner_position=winner_position,
        winner_adjusted=top,
        open_floor=open_floor,
        deal_only=deal_only,
        floor_wins_deal=floor_wins_deal,
    )
    return ImpOutcome(terms.imp_id, winner, clearing, losses)


def _floor_of(deals: Mapping[str, DealTerms], deal_id: str) -> int:
    floor = deals[deal_id].floor_micros
    return floor if floor > 0 else 0


def _price(
    winner: Candidate,
    deals: Mapping[str, DealTerms],
    at: int,
    runner_adjusted: int,
    floor: int,
    increment: int,
) -> int:
    """What the winner pays: its deal's ``at`` for a deal bid, the request's otherwise."""
    if winner.deal_id is not None:
        deal = deals[winner.deal_id]
        if deal.at == _DEAL_PRICE:
            return floor
        at = deal.at
    if at == _FIRST_PRICE:
        return winner.price_micros
    return second_price(winner, runner_adjusted, floor, increment)


def _losses(
    candidates: Sequence[Candidate],
    verdicts: Sequence[Loss | None],
    deals: Mapping[str, DealTerms],
    *,
    winner_position: int,
    winner_adjusted: int,
    open_floor: int,
    deal_only: bool,
    floor_wins_deal: bool,
) -> tuple[Loss, ...]:
    """One Loss per non-winner, in input order (reasons and min-to-win as the module says).

    Open bids are most of the work, so their branch is inlined (and builds each Loss with
    ``tuple.__new__``, as :mod:`auction.ranking` does); the rarer deal cases call helpers.
    """
    open_lowest = open_floor if open_floor > 0 else 1
    losses: list[Loss] = []
    append = losses.append
    new = _new_tuple
    for position, (candidate, verdict) in enumerate(zip(candidates, verdicts, strict=True)):
        if position == winner_position:
            continue
        price = candidate.price_micros
        quality = candidate.quality_ppm
        if verdict is None:
            deal_id = candidate.deal_id
            if deal_id is None:
                if quality <= 0:
                    append(new(Loss, (candidate, _INVALID, 0)))
                elif deal_only:
                    reason = _INVALID if price <= 0 else _LOST_TO_DEAL
                    append(new(Loss, (candidate, reason, 0)))
                else:
                    needed = winner_adjusted // quality + 1
                    if needed < open_lowest:
                        needed = open_lowest
                    if price <= 0:
                        reason = _INVALID
                    elif price < open_floor:
                        reason = _BELOW_FLOOR
                    else:
                        reason = _OUTBID
                    append(new(Loss, (candidate, reason, needed)))
                continue
            floor = _floor_of(deals, deal_id)
            lowest = floor if floor > 0 else 1
            if quality <= 0:
                needed = 0
            elif floor_wins_deal:
                needed = lowest
            else:
                needed = min_to_win(winner_adjusted, quality, lowest)
            invalid = price <= 0 or quality <= 0
            append(Loss(candidate, _INVALID if invalid else _OUTBID, needed))
        elif verdict.reason == _BELOW_DEAL_FLOOR:
            needed = verdict.min_to_win_micros
            if not floor_wins_deal:
                needed = min_to_win(winner_adjusted, quality, needed)
            append(Loss(candidate, _BELOW_DEAL_FLOOR, needed))
        else:
            append(verdict)
    return tuple(losses)
