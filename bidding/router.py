"""The in-process DSP router: answers a bid request for every campaign it hosts.

It speaks the same bidder interface as an external DSP (request in, OpenRTB BidResponse or
None out), so the exchange runs one auction over both. This first router bids each
campaign's fixed CPM on banner impressions whose size one of its creatives fits; value-based
bidding replaces the fixed price later without changing this interface.

A campaign set up for PMP deals (``deal_ids``) bids on an impression offering one of them
with that deal's id, against the deal's floor; private auctions get bids only from such
campaigns.

It never bids what it cannot pay for: before bidding it *holds* the most each bid can cost
(one impression at its bid) on the campaign's budget, atomically with every other process
sharing the store; a campaign whose hold is refused does not bid. The exchange releases
the holds of lost bids (``release_lost``); a won impression's billing notice settles its
hold; a hold nobody settles expires. If the store fails, the error propagates and the
exchange drops this bidder for the auction (no bid is safer than overspend).
"""

import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, Protocol

from bidding.campaigns import Campaign, ConfigError, Creative, RouterSpec
from bidding.index import CampaignIndex
from bidding.targeting import RequestFacts, format_keys
from openrtb.identity import user_key
from openrtb.imp import Deal, Imp
from openrtb.money import cpm_to_micros, impression_cost_micros, micros_to_cpm
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse, SeatBid


class BidHold(NamedTuple):
    """The most one bid can cost, held on its campaign's budget while the bid is out."""

    campaign_id: str
    time_zone: str
    budget_micros: int
    hold_id: str
    """The impression id the exchange will settle it by: ``auction:imp:bid``."""
    amount_micros: int


class BudgetGate(Protocol):
    """Holds on campaign budgets (implemented by budget.ledger.SpendLedger)."""

    async def reserve(self, holds: Sequence[BidHold], ttl_s: float) -> list[bool]: ...

    async def release(self, holds: Sequence[BidHold], bid_time_s: float) -> None: ...

    async def capped(
        self, campaigns: Sequence[tuple[str, str, Sequence[tuple[int, str]]]], user: str
    ) -> set[str]: ...


DEFAULT_HOLD_TTL_S = 900.0
"""A won impression's hold waits this long for its billing notice before it expires."""


class _Offer(NamedTuple):
    campaign: Campaign
    creative: Creative
    imp_id: str
    deal_id: str | None


def _deal_for(campaign: Campaign, imp: Imp) -> Deal | None:
    """The first of the imp's deals this campaign is set up to buy (and whose wseat admits it)."""
    pmp = imp.pmp
    if pmp is None or not pmp.deals or not campaign.deal_ids:
        return None
    for deal in pmp.deals:
        if deal.id in campaign.deal_ids and (not deal.wseat or campaign.seat in deal.wseat):
            return deal
    return None


class CampaignRouter:
    """Bids for the campaigns of one RouterSpec; one instance per router per process."""

    def __init__(
        self,
        spec: RouterSpec,
        budget: BudgetGate,
        currency: str,
        hold_ttl_s: float = DEFAULT_HOLD_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for campaign in spec.campaigns:
            if campaign.currency != currency:
                # Bids and budgets are integer micros of the exchange currency; converting a
                # campaign's money at load time would freeze today's rate into its budget.
                raise ConfigError(
                    f"router {spec.name}: campaign {campaign.id}: currency {campaign.currency} "
                    f"differs from the exchange currency {currency}"
                )
        self.name = spec.name
        self.campaigns = spec.campaigns
        self._by_id = {campaign.id: campaign for campaign in spec.campaigns}
        self._budget = budget
        self._currency = currency
        self._hold_ttl_s = hold_ttl_s
        self._clock = clock
        self._index = CampaignIndex(spec.campaigns)
        self._templates = {
            (campaign.id, creative.id): _template(campaign, creative)
            for campaign in spec.campaigns
            for creative in campaign.creatives
        }

    def ready(self) -> bool:
        """A router with its config loaded is ready; models will add their own state."""
        return True

    def eligible(self, imp: Imp) -> bool:
        """Impressions of a format (media type and size) one of its campaigns has."""
        return self._index.serves(format_keys(imp))

    def _offers(self, request: BidRequest) -> Iterator[tuple[_Offer, int]]:
        """Campaigns whose targeting, flight and creatives fit each imp (via the index), at
        their price, where it clears the imp's (or their deal's) floor."""
        facts = RequestFacts.for_imps(request, int(self._clock()))
        for imp, imp_facts in zip(request.imp, facts, strict=True):
            if imp.bidfloorcur != self._currency:
                continue  # floors in other currencies need the exchange's rates (a later step)
            open_floor_micros = cpm_to_micros(imp.bidfloor)
            private = imp.pmp is not None and imp.pmp.private_auction == 1
            for candidate in self._index.candidates(imp_facts):
                campaign = candidate.campaign
                creative = campaign.creatives[candidate.creatives[0]]
                deal = _deal_for(campaign, imp)
                if deal is None and private:
                    continue
                if deal is not None and deal.bidfloorcur != self._currency:
                    continue
                floor_micros = cpm_to_micros(deal.bidfloor) if deal else open_floor_micros
                if campaign.bid_cpm_micros < floor_micros:
                    continue
                deal_id = deal.id if deal else None
                yield _Offer(campaign, creative, imp.id, deal_id), campaign.bid_cpm_micros

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        """All affordable offers for ``request``; None when there is nothing to bid."""
        offers = list(self._offers(request))
        if offers:
            offers = await self._within_caps(request, offers)
        if not offers:
            return None
        holds = [
            _hold(request.id, offer.imp_id, offer.campaign, price_micros)
            for offer, price_micros in offers
        ]
        placed = await self._budget.reserve(holds, self._hold_ttl_s)
        by_seat: dict[str, list[Bid]] = {}
        for (offer, price_micros), held in zip(offers, placed, strict=True):
            if not held:
                continue
            campaign = offer.campaign
            template = self._templates[campaign.id, offer.creative.id]
            by_seat.setdefault(campaign.seat, []).append(_bid(template, offer, price_micros))
        if not by_seat:
            return None
        return BidResponse(
            id=request.id,
            cur=self._currency,
            seatbid=[SeatBid(seat=seat, bid=bids) for seat, bids in by_seat.items()],
        )

    async def _within_caps(
        self, request: BidRequest, offers: list[tuple[_Offer, int]]
    ) -> list[tuple[_Offer, int]]:
        """Offers of campaigns whose frequency caps still allow this user. A capped campaign
        does not bid to a user nothing identifies (its cap could not be kept)."""
        capped_campaigns = {
            o.campaign.id: o.campaign for o, _ in offers if o.campaign.frequency_caps
        }
        if not capped_campaigns:
            return offers
        user = user_key(request)
        if user is None:
            blocked = set(capped_campaigns)
        else:
            blocked = await self._budget.capped(
                [
                    (c.id, c.time_zone, [(cap.count, cap.window) for cap in c.frequency_caps])
                    for c in capped_campaigns.values()
                ],
                user,
            )
        return [(o, p) for o, p in offers if o.campaign.id not in blocked]

    async def release_lost(self, auction_id: str, lost: Sequence[Bid]) -> None:
        """Give back the holds of this router's bids that did not win ``auction_id``."""
        holds = []
        for bid in lost:
            campaign = self._by_id.get(bid.cid or "")
            if campaign is not None and bid.price is not None:
                holds.append(_hold(auction_id, bid.impid, campaign, cpm_to_micros(bid.price)))
        if holds:
            await self._budget.release(holds, self._clock())


def _bid_id(imp_id: str, campaign: Campaign) -> str:
    return f"{imp_id}-{campaign.id}"


def _hold(auction_id: str, imp_id: str, campaign: Campaign, price_micros: int) -> BidHold:
    return BidHold(
        campaign.id,
        campaign.time_zone,
        campaign.daily_budget_micros,
        f"{auction_id}:{imp_id}:{_bid_id(imp_id, campaign)}",
        impression_cost_micros(price_micros),
    )


def _template(campaign: Campaign, creative: Creative) -> Bid:
    """What every bid of this campaign with this creative has in common, validated once."""
    return Bid(
        id="template",
        impid="template",
        price=micros_to_cpm(campaign.bid_cpm_micros),
        adid=creative.id,
        crid=creative.id,
        cid=campaign.id,
        adomain=list(creative.adomain),
        cat=list(creative.cat),
        w=creative.w,
        h=creative.h,
        adm=creative.adm,
        nurl=campaign.nurl,
        burl=campaign.burl,
        lurl=campaign.lurl,
        # For the exchange's click tracking (${RTB_CLICK_URL}); removed before the SSP sees it.
        ext={"landing_url": creative.landing_url} if creative.landing_url else None,
    )


def _bid(template: Bid, offer: _Offer, price_micros: int) -> Bid:
    """One bid: the template with this imp's ids and price (a shallow copy, no revalidation)."""
    update: dict[str, object] = {
        "id": _bid_id(offer.imp_id, offer.campaign),
        "impid": offer.imp_id,
        "price": micros_to_cpm(price_micros),
    }
    if offer.deal_id is not None:
        update["dealid"] = offer.deal_id
    return template.model_copy(update=update)
