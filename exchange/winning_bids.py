"""The exchange's answer: winning bids at their clearing prices, with signed notice URLs.

Each winning bid is the DSP's own bid with three changes: ``price`` is the clearing price,
``nurl``/``burl`` point to the exchange's notice endpoints (the DSP's own URLs travel inside
the signed token and are fired when the notice comes), and the markup's macros are
substituted so the SSP never sees an unresolved ``${AUCTION_PRICE}``.

The clearing price is per impression, also on a page where the bid itself is per unit of
slot CTR: ``price``, the token's ``price_micros`` and ``${AUCTION_PRICE}`` are one number,
what the impression is charged (÷ 1000), so none can disagree with the money.
"""

from collections.abc import Sequence

from auction.currency import CurrencyRates
from exchange.bid_intake import Entry
from exchange.bidders.base import BidLike, Offer
from exchange.notice_token import NoticeClaim, NoticeKind, NoticeSigner
from openrtb.macros import AuctionMacros, substitute
from openrtb.money import micros_to_cpm
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse, SeatBid


def build_response(
    request: BidRequest,
    auction_id: str,
    winners: Sequence[tuple[Entry, int]],
    *,
    signer: NoticeSigner,
    rates: CurrencyRates,
    currency: str | None = None,
    notice_ttl_s: int,
    now_s: int,
    notice_base_url: str,
    user_key: str | None = None,
    capped_campaigns: frozenset[tuple[str, str]] = frozenset(),
    click_trackers: frozenset[str] = frozenset(),
    profiled: bool = False,
) -> BidResponse:
    """The BidResponse to ``request`` for ``winners`` (entry, clearing price micros), grouped
    by seat; ``bidid`` carries the exchange's auction id (what notices and macros use).

    Prices to the SSP are in ``currency`` (the one its request accepted; default the
    exchange currency) and what the bidder sees (markup macros, its own notice URLs) is in
    the currency it bid in, both converted from the exchange micros rounding down: neither
    is ever above the bid. The tokens carry the charge in exchange micros.

    ``user_key`` goes into the tokens of ``capped_campaigns`` (bidder, campaign id), whose
    notices count a frequency cap, and — when the request allowed profiling (``profiled``)
    — into the tokens of the in-process routers' bids (``click_trackers``), whose notices
    and clicks count in the user's profile; no token carries it for anything else.

    Only the bids of ``click_trackers`` (the in-process routers, whose creatives the
    exchange knows) get a signed click redirect: signing a landing page an external DSP
    named would make the exchange an open redirect and count clicks it cannot vouch for.
    """
    own = rates.exchange_currency
    answer = currency or own
    by_seat: dict[str, list[Bid]] = {}
    for entry, price_micros in winners:
        foreign = entry.currency != own
        own_bid = entry.bidder in click_trackers
        profile = profiled and own_bid and bool(user_key)
        bid_price = (
            rates.from_exchange_micros(price_micros, entry.currency, rounding="down")
            if foreign
            else 0
        )
        claim = NoticeClaim(
            kind=NoticeKind.WIN,
            auction_id=auction_id,
            imp_id=entry.bid.impid,
            bid_id=entry.bid.id,
            seat=entry.seat,
            bidder=entry.bidder,
            campaign_id=entry.bid.cid or "",
            ad_id=entry.bid.adid or "",
            price_micros=price_micros,
            currency=own,
            billable=request.test != 1,
            issued_at_s=now_s,
            expires_at_s=now_s + notice_ttl_s,
            forward_url=entry.bid.nurl,
            bid_currency=entry.currency if foreign else "",
            bid_price_micros=bid_price,
            user_key=(user_key or "")
            if profile or (entry.bidder, entry.bid.cid or "") in capped_campaigns
            else "",
            profiled=profile,
        )
        answer_price = (
            price_micros
            if answer == own
            else rates.from_exchange_micros(price_micros, answer, rounding="down")
        )
        by_seat.setdefault(entry.seat, []).append(
            _winning_bid(
                entry.bid,
                claim,
                signer,
                notice_base_url,
                own_bid,
                answer_price,
            )
        )
    return BidResponse(
        id=request.id,
        bidid=auction_id,
        cur=answer,
        seatbid=[SeatBid(seat=seat, bid=bids) for seat, bids in by_seat.items()],
    )


def bidder_macros(claim: NoticeClaim, *, ad_id: str | None) -> AuctionMacros:
    """The auction macros as the bidder of ``claim`` must read them: its price and currency."""
    return AuctionMacros(
        auction_id=claim.auction_id,
        bid_id=claim.bid_id,
        imp_id=claim.imp_id,
        seat_id=claim.seat,
        ad_id=ad_id,
        price_micros=claim.bid_price_micros if claim.bid_currency else claim.price_micros,
        currency=claim.bid_currency or claim.currency,
    )


CLICK_MACRO = "${RTB_CLICK_URL}"
"""In markup: the exchange's signed click-tracking URL, which redirects to the landing page."""


def _winning_bid(
    bid: BidLike,
    claim: NoticeClaim,
    signer: NoticeSigner,
    base_url: str,
    tracks_clicks: bool,
    price_micros: int,
) -> Bid:
    """The bid as the SSP gets it, with one token for its win, billing and click URLs: for
    an in-process offer the one pydantic copy of its template, for a DSP's bid a copy."""
    adm = bid.adm
    ext = bid.ext
    landing = None
    if tracks_clicks and ext and "landing_url" in ext:  # the in-process router's note
        note = ext["landing_url"]
        ext = {key: value for key, value in ext.items() if key != "landing_url"} or None
        if adm and CLICK_MACRO in adm and isinstance(note, str):
            landing = note
    token = signer.sign(
        claim._replace(kind=NoticeKind.IMPRESSION, billing_url=bid.burl, landing_url=landing)
    )
    if landing is not None and adm is not None:
        adm = adm.replace(CLICK_MACRO, f"{base_url}/track/click?t={token}")
    macros = bidder_macros(claim, ad_id=bid.adid)
    update: dict[str, object] = {
        "price": micros_to_cpm(price_micros),
        "nurl": f"{base_url}/notices/win?t={token}",
        "burl": f"{base_url}/notices/billing?t={token}",
        "adm": substitute(adm, macros) if adm and "${" in adm else adm,
        "ext": ext,
    }
    if isinstance(bid, Offer):
        return bid.to_bid(**update)
    return bid.model_copy(update=update)
