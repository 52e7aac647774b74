"""The bridge from an OpenRTB request to what the mechanisms need: one ImpTerms per impression.

The mechanisms never see OpenRTB objects; this module reads the few fields they depend on,
converts every floor to exchange-currency micros (rounding up: never sell below a floor)
and applies the exchange's floor rules. Choices made here:

* a zero floor needs no rate: 0 is 0 in every currency, so an impression with the default
  ``bidfloor = 0`` is never refused for its (default "USD") ``bidfloorcur``;
* exchange floor rules raise the open floor only; a deal's floor is a price negotiated with
  the buyer (at ``at = 3`` the price itself), which the exchange does not rewrite;
* ``Deal.at`` absent means the request's ``at`` (the spec's "optional override");
* empty ``wseat``/``wadomain`` lists mean "no restriction", like absent ones; domains are
  lower-cased (compared case-insensitively); an empty ``BidRequest.wseat`` likewise allows
  any seat;
* the publisher is ``site.publisher``, ``app.publisher`` or ``dooh.publisher`` (a valid
  request has at most one); the country is ``device.geo.country``, upper-cased.
"""

from collections.abc import Collection, Sequence

from auction.currency import CurrencyRates
from auction.floors import FloorRule, effective_floor
from auction.types import QUALITY_ONE, DealTerms, ImpTerms
from openrtb.imp import Deal, Imp
from openrtb.request import BidRequest

__all__ = ["imp_media_types", "imp_sizes", "publisher_id", "terms_for"]


def terms_for(
    request: BidRequest,
    imp: Imp,
    *,
    rates: CurrencyRates,
    floor_rules: Sequence[FloorRule],
    ctr_ppm: int = QUALITY_ONE,
) -> ImpTerms:
    """The terms ``imp`` of ``request`` is sold under, in exchange-currency micros.

    Raises :class:`auction.currency.UnknownCurrency` when a non-zero imp or deal floor is
    in a currency without a rate (the caller refuses the impression, naming the currency),
    and ``ValueError`` for a floor that is not a finite decimal.
    """
    request_floor = _floor_micros(rates, imp.bidfloor, imp.bidfloorcur)
    floor = request_floor
    if floor_rules:
        device = request.device
        geo = device.geo if device is not None else None
        country = geo.country if geo is not None else None
        floor = effective_floor(
            request_floor,
            floor_rules,
            publisher_id=publisher_id(request),
            media_types=imp_media_types(imp),
            sizes=imp_sizes(imp),
            country=country.upper() if country is not None else None,
        )
    pmp = imp.pmp
    deals: tuple[DealTerms, ...] = ()
    private_auction = False
    if pmp is not None:
        private_auction = pmp.private_auction == 1
        if pmp.deals:
            deals = tuple(_deal_terms(deal, request.at, rates) for deal in pmp.deals)
    return ImpTerms(
        imp_id=imp.id,
        floor_micros=floor,
        deals=deals,
        private_auction=private_auction,
        allowed_seats=_frozen(request.wseat),
        blocked_seats=frozenset(request.bseat) if request.bseat else frozenset(),
        ctr_ppm=ctr_ppm,
    )


def publisher_id(request: BidRequest) -> str | None:
    """The seller's publisher id from whichever of site, app or dooh carries one."""
    for inventory in (request.site, request.app, request.dooh):
        publisher = inventory.publisher if inventory is not None else None
        if publisher is not None and publisher.id is not None:
            return publisher.id
    return None


def imp_media_types(imp: Imp) -> frozenset[str]:
    """The media types the impression offers: those of banner/video/audio/native present."""
    present = (
        ("banner", imp.banner),
        ("video", imp.video),
        ("audio", imp.audio),
        ("native", imp.native),
    )
    return frozenset(name for name, media in present if media is not None)


def imp_sizes(imp: Imp) -> frozenset[str]:
    """Banner sizes as ``"WxH"``: ``banner.w``/``h`` and every format with both set."""
    banner = imp.banner
    if banner is None:
        return frozenset()
    sizes: set[str] = set()
    if banner.w is not None and banner.h is not None:
        sizes.add(f"{banner.w}x{banner.h}")
    for size in banner.format or ():
        if size.w is not None and size.h is not None:
            sizes.add(f"{size.w}x{size.h}")
    return frozenset(sizes)


def _floor_micros(rates: CurrencyRates, bidfloor: float, currency: str) -> int:
    """A wire floor in exchange micros, rounded up; zero needs no rate."""
    if bidfloor == 0:
        return 0
    return rates.to_exchange_micros(bidfloor, currency, rounding="up")


def _deal_terms(deal: Deal, request_at: int, rates: CurrencyRates) -> DealTerms:
    wadomain = _frozen(deal.wadomain)
    return DealTerms(
        deal_id=deal.id,
        floor_micros=_floor_micros(rates, deal.bidfloor, deal.bidfloorcur),
        at=deal.at if deal.at is not None else request_at,
        wseat=_frozen(deal.wseat),
        wadomain=frozenset(d.lower() for d in wadomain) if wadomain is not None else None,
    )


def _frozen(values: Collection[str] | None) -> frozenset[str] | None:
    """A non-empty list as a frozenset; None when absent or empty (no restriction)."""
    if not values:
        return None
    return frozenset(values)
