"""What each campaign could buy in a day: the yardstick its budget is set against.

For every imp of yesterday's traffic and every campaign the index offers it to (within the
campaign's local day and frequency cap), the imp is priced as the exchange would sell it
against the outside market (second price: the market's bid or the floor, plus the
increment) at the campaign's value (multiplier 1) and at double (2). Two yardsticks follow:

* the *share*: at multiplier 1, each imp's cost divided among all the campaigns that want it
  — what a campaign can count on when its rivals take their part of shared inventory;
* the *ceiling*: every imp it wants, paid at its full doubled bid — more than any pacing
  could ever spend (rival campaigns can push a second price up to the bid, never beyond).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bidding.campaigns import Campaign
from bidding.index import CampaignIndex
from bidding.targeting import RequestFacts
from budget.pacing_plan import day_bounds
from openrtb.money import cpm_to_micros, impression_cost_micros
from openrtb.request import BidRequest
from simulation.market import MarketModel, request_site_country
from simulation.recording import LogRecorder
from simulation.wiring import INCREMENT_MICROS


def _bid(campaign: Campaign, multiplier: int) -> int:
    bid = campaign.bid_cpm_micros * multiplier
    high = campaign.max_bid_cpm_micros
    return bid if high is None else min(bid, high)


@dataclass(frozen=True, slots=True)
class Capacity:
    """Spend (micros) a campaign could buy in a day (see the module's doc)."""

    share_micros: int
    ceiling_micros: int


class CapacityMeter:
    """Accumulates capacities over a day of requests."""

    def __init__(self, campaigns: Sequence[Campaign], day: str, market: MarketModel) -> None:
        self._index = CampaignIndex(campaigns)
        self._days = {c.id: day_bounds(day, c.time_zone) for c in campaigns}
        self._caps = {
            c.id: min((cap.count for cap in c.frequency_caps), default=None) for c in campaigns
        }
        self._market = market
        self._spend = {c.id: [0.0, 0.0] for c in campaigns}
        self._seen: dict[tuple[str, str, int], int] = {}

    def add(
        self,
        request: BidRequest,
        now_s: float,
        rng: np.random.Generator,
        recorder: LogRecorder | None = None,
    ) -> None:
        """Price every imp of one request for the campaigns that want it (and record each
        offer, at the price to beat, in ``recorder``)."""
        site, country = request_site_country(request)
        user = request.user.id if request.user and request.user.id else ""
        for imp, facts in zip(request.imp, RequestFacts.for_imps(request, int(now_s)), strict=True):
            wanting = [
                c.campaign
                for c in self._index.candidates(facts)
                if self._days[c.campaign.id][0] <= now_s < self._days[c.campaign.id][1]
            ]
            if not wanting:
                continue
            floor = cpm_to_micros(imp.bidfloor)
            rival = max(self._market.draw(site, country, now_s, rng) or 0, floor)
            for campaign in wanting:
                if recorder is not None and campaign.goal is not None:
                    recorder.add(campaign.id, rival + INCREMENT_MICROS, site)
                spend = self._spend[campaign.id]
                plain = _bid(campaign, 1)
                if plain > rival and self._within_cap(campaign.id, user, 0):
                    cost = impression_cost_micros(min(plain, rival + INCREMENT_MICROS))
                    spend[0] += cost / len(wanting)
                double = _bid(campaign, 2)
                if double >= floor and self._within_cap(campaign.id, user, 1):
                    spend[1] += impression_cost_micros(double)

    def _within_cap(self, campaign_id: str, user: str, level: int) -> bool:
        cap = self._caps[campaign_id]
        if cap is None:
            return True
        key = (campaign_id, user, level)
        seen = self._seen.get(key, 0)
        self._seen[key] = seen + 1
        return seen < cap

    def capacity(self, scale: float = 1.0) -> dict[str, Capacity]:
        """Per campaign id, scaled (yesterday may be sampled thinner than today)."""
        return {
            cid: Capacity(round(share * scale), round(ceiling * scale))
            for cid, (share, ceiling) in self._spend.items()
        }
