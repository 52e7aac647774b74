"""Each campaign's auctions as an auction log: what the iPinYou protocol needs to replay them.

For every imp a value-based campaign was a candidate for (the router's targeting index
offered it: targeting, flight, dayparting, creative size — before frequency caps, pacing
and budget, which depend on how the campaign bid), one row of a
``simulation.replay.logs.AuctionLog``:

* **price**: what the campaign had to beat and would have paid, as the second-price auction
  charges it (every quality is 1 in the simulation): the best bid of everyone else on the
  imp (the outside market and the other campaigns, as they actually bid that day) or the
  floor, whichever is higher, plus the exchange's increment. Yesterday has no house bids
  (every campaign was kept out), so its price is the outside market's bid drawn for the
  capacity meter, or the floor, plus the increment;
* **pctr**: the pCTR the router bids with (no models in the simulation: the campaign's
  historical CTR);
* **click**: on an imp the campaign won, whether the simulation's click was drawn
  (``SimResult``'s clicks and the log's agree exactly); elsewhere a draw from the true
  probability;
* columns ``true_ctr`` (the traffic model's click probability: expected clicks are its sum,
  the less noisy figure), ``bid_cpm_micros`` (the campaign's own bid, 0: none) and ``won``
  (yesterday: no bids, nothing won).
"""

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from auction.types import ImpOutcome
from bidding.campaigns import Campaign
from bidding.index import CampaignIndex
from bidding.targeting import RequestFacts
from openrtb.money import MICROS_PER_UNIT, cpm_to_micros
from openrtb.request import BidRequest
from simulation.market import request_site_country
from simulation.replay.logs import AuctionLog, from_arrays
from simulation.traffic import World
from simulation.wiring import INCREMENT_MICROS

__all__ = ["ClickModel", "LogRecorder", "Row"]


@dataclass(frozen=True, slots=True)
class ClickModel:
    """The true click probability of an impression: the campaign's base CTR times the
    site's factor (the same figure the simulation draws its clicks from)."""

    world: World
    base_ctr: Mapping[str, float]
    """Per campaign id (``Draft.base_ctr``)."""

    def probability(self, campaign_id: str, site: int) -> float:
        return self.base_ctr[campaign_id] * float(self.world.site_ctr_factor[site])


Row = tuple[str, int]
"""A log row: campaign id, row index."""


@dataclass(slots=True)
class _Rows:
    price_cpm_micros: "array[int]" = field(default_factory=lambda: array("q"))
    true_ctr: "array[float]" = field(default_factory=lambda: array("d"))
    bid_cpm_micros: "array[int]" = field(default_factory=lambda: array("q"))
    won: bytearray = field(default_factory=bytearray)
    clicked: bytearray = field(default_factory=bytearray)


class LogRecorder:
    """Collects the rows of every value-based campaign of ``campaigns``."""

    def __init__(self, campaigns: Sequence[Campaign], clicks: ClickModel) -> None:
        valued = [c for c in campaigns if c.goal is not None]
        self._index = CampaignIndex(valued)
        self._campaigns = {c.id: c for c in valued}
        self._clicks = clicks
        self._rows = {c.id: _Rows() for c in valued}

    def add(self, campaign_id: str, price_cpm_micros: int, site: int) -> None:
        """One imp a campaign was offered and did not bid on (yesterday's rows)."""
        self._append(campaign_id, price_cpm_micros, site, 0, False)

    def _append(self, cid: str, price: int, site: int, bid: int, won: bool) -> int:
        rows = self._rows[cid]
        rows.price_cpm_micros.append(price)
        rows.true_ctr.append(self._clicks.probability(cid, site))
        rows.bid_cpm_micros.append(bid)
        rows.won.append(won)
        rows.clicked.append(False)
        return len(rows.won) - 1

    def auction(
        self, now_s: float, request: BidRequest, outcomes: Sequence[ImpOutcome]
    ) -> dict[tuple[str, str], Row]:
        """One auction of today (``request`` as the bidders saw it): a row per imp and
        candidate campaign; the rows of the imps campaigns won, by (campaign, imp id)."""
        site, _ = request_site_country(request)
        by_imp = {o.imp_id: o for o in outcomes}
        won: dict[tuple[str, str], Row] = {}
        facts = RequestFacts.for_imps(request, int(now_s))
        for imp, imp_facts in zip(request.imp, facts, strict=True):
            candidates = self._index.candidates(imp_facts)
            if not candidates:
                continue
            bids: dict[str, int] = {}
            outcome = by_imp.get(imp.id)
            winner = outcome.winner.seat if outcome and outcome.winner else None
            if outcome is not None:
                everyone = [loss.candidate for loss in outcome.losses]
                if outcome.winner is not None:
                    everyone.append(outcome.winner)
                for bid in everyone:
                    bids[bid.seat] = max(bids.get(bid.seat, 0), bid.price_micros)
            floor = cpm_to_micros(imp.bidfloor)
            for match in candidates:
                cid = match.campaign.id
                rivals = max((p for seat, p in bids.items() if seat != cid), default=0)
                price = max(floor, rivals) + INCREMENT_MICROS
                row = self._append(cid, price, site, bids.get(cid, 0), winner == cid)
                if winner == cid:
                    won[cid, imp.id] = (cid, row)
        return won

    def clicked(self, row: Row) -> None:
        """The simulation drew a click on a won row's impression (and charged it)."""
        cid, index = row
        self._rows[cid].clicked[index] = True

    def logs(self, rng: np.random.Generator, source: str) -> dict[str, AuctionLog]:
        """Per campaign with rows, its log (see the module's doc)."""
        out = {}
        for cid, rows in self._rows.items():
            if not rows.won:
                continue
            true_ctr = np.frombuffer(rows.true_ctr, np.float64).copy()
            won = np.frombuffer(rows.won, np.uint8).astype(np.bool_)
            drawn = rng.random(len(true_ctr)) < true_ctr
            click = np.where(won, np.frombuffer(rows.clicked, np.uint8) > 0, drawn)
            price = np.frombuffer(rows.price_cpm_micros, np.int64)
            pctr = np.full(len(true_ctr), self._campaigns[cid].historical_ctr)
            log = from_arrays(click, price / MICROS_PER_UNIT, pctr, f"{source} {cid}")
            columns = {
                "true_ctr": true_ctr,
                "bid_cpm_micros": np.frombuffer(rows.bid_cpm_micros, np.int64).copy(),
                "won": won,
            }
            out[cid] = replace(log, columns=columns)
        return out
