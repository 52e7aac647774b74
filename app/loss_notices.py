"""Loss notices: every losing bid that gave an ``lurl`` learns why it lost and what would
have won (``${AUCTION_LOSS}``, ``${AUCTION_MIN_TO_WIN}``), so DSPs can learn their bid
landscape. Built here, sent off the request path by the notice forwarder."""

from collections.abc import Iterator, Mapping, Sequence

from app.bid_intake import Entry
from auction.types import ImpOutcome
from openrtb.macros import AuctionMacros, substitute


def loss_notice_urls(
    auction_id: str,
    outcomes: Sequence[ImpOutcome],
    entries: Mapping[str, Entry],
    currency: str,
) -> Iterator[str]:
    """The substituted ``lurl`` of every losing bid that has one."""
    for outcome in outcomes:
        for loss in outcome.losses:
            entry = entries.get(loss.candidate.bid_id)
            if entry is None or not entry.bid.lurl:
                continue
            bid, template = entry.bid, entry.bid.lurl
            macros = AuctionMacros(
                auction_id=auction_id,
                bid_id=bid.id,
                imp_id=bid.impid,
                seat_id=entry.seat,
                ad_id=bid.adid,
                currency=currency,
                loss=int(loss.reason),
                min_to_win_micros=loss.min_to_win_micros or None,
            )
            yield substitute(template, macros, url_encode=True)
