"""The outside market: one external bidder standing for every DSP that is not in-process.

Its bids are lognormal around the site's price level, a little higher at the local
evening peak, and it skips some impressions. A campaign's chance of winning therefore rises
smoothly with its bid — which is what gives the pacing multiplier something to move (with
no competition every bid would win at the floor, whatever the multiplier).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from budget.days import zone
from openrtb.imp import Imp
from openrtb.money import micros_to_cpm
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse, SeatBid
from simulation.traffic import COUNTRIES, COUNTRY_ZONE, World, diurnal

MARKET_NAME: Final = "market"
_COUNTRY_INDEX: Final = {code: i for i, code in enumerate(COUNTRIES)}


@dataclass(frozen=True, slots=True)
class MarketModel:
    """How the outside market prices one impression."""

    world: World
    bid_probability: float = 0.85
    spread: float = 0.55
    """σ of the log price around the site's level."""

    def draw(self, site: int, country: int, now_s: float, rng: np.random.Generator) -> int | None:
        """The market's CPM bid in micros, or None when it does not bid."""
        if rng.random() >= self.bid_probability:
            return None
        local = datetime.fromtimestamp(now_s, tz=zone(COUNTRY_ZONE[country]))
        peak = 0.85 + 0.25 * diurnal(local.hour + local.minute / 60)
        level = float(self.world.site_price_level[site]) * peak
        return int(level * math.exp(self.spread * rng.standard_normal()) * 1_000_000)


def request_site_country(request: BidRequest) -> tuple[int, int]:
    """The simulation's site and country indexes of a request it generated."""
    site = request.site
    device = request.device
    site_id = site.id if site is not None and site.id else "site-0"
    country = device.geo.country if device and device.geo and device.geo.country else "USA"
    return int(site_id.removeprefix("site-")), _COUNTRY_INDEX.get(country, 0)


class MarketBidder:
    """The outside market as a Bidder of the exchange (in-process, no HTTP)."""

    name = MARKET_NAME

    def __init__(
        self, model: MarketModel, rng: np.random.Generator, clock: Callable[[], float]
    ) -> None:
        self._model = model
        self._rng = rng
        self._clock = clock

    def ready(self) -> bool:
        return True

    def eligible(self, imp: Imp) -> bool:
        return imp.banner is not None

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        site, country = request_site_country(request)
        bids = []
        for imp in request.imp:
            price = self._model.draw(site, country, self._clock(), self._rng)
            if price is None or imp.banner is None:
                continue
            bids.append(
                Bid(
                    id=f"m-{imp.id}",
                    impid=imp.id,
                    price=micros_to_cpm(max(price, 1)),
                    adomain=["market.example"],
                    crid="market",
                    w=imp.banner.w,
                    h=imp.banner.h,
                    adm="<div>market</div>",
                )
            )
        if not bids:
            return None
        return BidResponse(id=request.id, cur="USD", seatbid=[SeatBid(seat="market", bid=bids)])
