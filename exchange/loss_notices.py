"""Loss notices: every losing bid that gave an ``lurl`` learns why it lost and what would
have won (``${AUCTION_LOSS}``, ``${AUCTION_MIN_TO_WIN}``), so DSPs can learn their bid
landscape — bids dropped before the auction included, with the reason they were dropped.
Built here, sent off the request path by the notice forwarder."""

from collections.abc import Iterable, Iterator, Mapping, Sequence

from auction.currency import CurrencyRates
from auction.types import ImpOutcome
from exchange.bid_intake import Entry, Rejected
from exchange.bidders.base import BidLike
from openrtb.macros import AuctionMacros, substitute


def _url(
    auction_id: str,
    bid: BidLike,
    seat: str,
    currency: str,
    rates: CurrencyRates,
    reason: int,
    min_to_win: int,
) -> str | None:
    """The bid's lurl with its macros; the price to win in the bid's own currency (rounded
    up: a bid of that much would have been enough)."""
    if not bid.lurl:
        return None
    if min_to_win and currency != rates.exchange_currency:
        min_to_win = rates.from_exchange_micros(min_to_win, currency, rounding="up")
    macros = AuctionMacros(
        auction_id=auction_id,
        bid_id=bid.id,
        imp_id=bid.impid,
        seat_id=seat,
        ad_id=bid.adid,
        currency=currency,
        loss=reason,
        min_to_win_micros=min_to_win or None,
    )
    return substitute(bid.lurl, macros, url_encode=True)


def loss_notice_urls(
    auction_id: str,
    outcomes: Sequence[ImpOutcome],
    entries: Mapping[str, Entry],
    rejected: Iterable[Rejected],
    rates: CurrencyRates,
) -> Iterator[str]:
    """The substituted ``lurl`` of every losing or dropped bid that has one."""
    for outcome in outcomes:
        for loss in outcome.losses:
            entry = entries.get(loss.candidate.bid_id)
            if entry is not None and entry.bid.lurl:
                url = _url(
                    auction_id,
                    entry.bid,
                    entry.seat,
                    entry.currency,
                    rates,
                    int(loss.reason),
                    loss.min_to_win_micros,
                )
                if url is not None:
                    yield url
    for dropped in rejected:
        url = _url(
            auction_id, dropped.bid, dropped.seat, dropped.currency, rates, int(dropped.reason), 0
        )
        if url is not None:
            yield url
