"""The bidders of one process, built from the bidders file, and the campaigns behind the
in-process ones.

An explicit map from name to bidder: the exchange iterates it for the fan-out, and the
notice handler looks up which campaign to charge for a won impression.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.bidders.base import Bidder
from bidding.campaigns import Campaign, RouterSpec
from bidding.router import DEFAULT_HOLD_TTL_S, BudgetGate, CampaignRouter


@dataclass(frozen=True, slots=True)
class BidderRegistry:
    """Bidders by name, and in-process campaigns by (bidder name, campaign id)."""

    bidders: Mapping[str, Bidder]
    campaigns: Mapping[tuple[str, str], Campaign]
    in_process: frozenset[str]

    def campaign(self, bidder: str, campaign_id: str) -> Campaign | None:
        """The in-process campaign a won bid belongs to, if any."""
        return self.campaigns.get((bidder, campaign_id))


def build_registry(
    routers: Sequence[RouterSpec],
    budget: BudgetGate,
    currency: str,
    external: Sequence[Bidder] = (),
    hold_ttl_s: float = DEFAULT_HOLD_TTL_S,
) -> BidderRegistry:
    """One CampaignRouter per router spec, then the external bidders, by name."""
    in_process = [CampaignRouter(spec, budget, currency, hold_ttl_s) for spec in routers]
    bidders: dict[str, Bidder] = {router.name: router for router in in_process}
    for bidder in external:
        if bidder.name in bidders:
            raise ValueError(f"duplicate bidder name {bidder.name!r}")
        bidders[bidder.name] = bidder
    return BidderRegistry(
        bidders=bidders,
        campaigns={(r.name, c.id): c for r in in_process for c in r.campaigns},
        in_process=frozenset(router.name for router in in_process),
    )
