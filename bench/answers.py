"""Reading the exchange's bid response as an SSP does: which notices to fire for what it won.

A load test that never fires the notices of its wins times an exchange nobody pays: no
charge, no frequency count, no forwarded DSP notice, no spend left to pace. An SSP that
takes a bid calls its ``nurl`` when the ad is chosen and its ``burl`` when it is billed,
after replacing the OpenRTB auction macros (2.6 section 4.4) with what it knows:
``${AUCTION_PRICE}`` the price it clears at (here the bid's own ``price``: the exchange
already cleared the auction), ``${AUCTION_ID}`` the request id, the bid, imp, seat and ad
ids, the currency of the response, the DOOH ``qty.multiplier`` of the imp and the time of
the impression. The exchange's own notice URLs carry no macros (they are signed); a DSP's
answer passed through unchanged would, and either is read the same way.

No locust here: this module is imported by tests and must not pull in gevent.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from openrtb.codec import decode_response
from openrtb.macros import AuctionMacros, substitute
from openrtb.money import cpm_to_micros

__all__ = ["Notice", "NoticeKind", "imp_multipliers", "notices"]

NoticeKind = Literal["win", "billing"]


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice URL to call, macros substituted, with the bid it belongs to."""

    kind: NoticeKind
    url: str
    imp_id: str
    bid_id: str
    seat: str | None
    price_cpm: float
    currency: str


def imp_multipliers(request: Mapping[str, Any]) -> dict[str, float]:
    """Each imp's DOOH ``qty.multiplier`` (impressions per ad play) in ``request``, by imp id."""
    found: dict[str, float] = {}
    for imp in request.get("imp", ()):
        multiplier = (imp.get("qty") or {}).get("multiplier")
        if isinstance(multiplier, int | float):
            found[str(imp["id"])] = float(multiplier)
    return found


def notices(
    body: bytes,
    *,
    request_id: str | None = None,
    imp_ts_ms: int | None = None,
    multipliers: Mapping[str, float] | None = None,
) -> list[Notice]:
    """The win then billing notice of every bid in response ``body``, in response order.

    ``request_id`` stands in for ``${AUCTION_ID}`` when the response has no ``id``. An empty
    body (the 204 of no bid) has none. A body that is not a valid bid response raises
    ``openrtb.errors.InvalidResponse`` naming the field: a load test should count it as a
    failure, not skip it.
    """
    if not body.strip():
        return []
    response = decode_response(body)
    auction_id = response.id or request_id
    found: list[Notice] = []
    for seatbid in response.seatbid or ():
        for bid in seatbid.bid:
            macros = AuctionMacros(
                auction_id=auction_id,
                bid_id=bid.id,
                imp_id=bid.impid,
                seat_id=seatbid.seat,
                ad_id=bid.adid,
                price_micros=cpm_to_micros(bid.price),
                currency=response.cur,
                multiplier=(multipliers or {}).get(bid.impid),
                imp_ts_ms=imp_ts_ms,
            )
            pairs: tuple[tuple[NoticeKind, str | None], ...] = (
                ("win", bid.nurl),
                ("billing", bid.burl),
            )
            for kind, template in pairs:
                if template:
                    found.append(
                        Notice(
                            kind=kind,
                            url=substitute(template, macros, url_encode=True),
                            imp_id=bid.impid,
                            bid_id=bid.id,
                            seat=seatbid.seat,
                            price_cpm=bid.price,
                            currency=response.cur,
                        )
                    )
    return found
