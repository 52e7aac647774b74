"""The bidders of one process, built from config, and the campaigns behind in-process ones.

An explicit map from name to bidder: the exchange iterates it for the fan-out, and the
notice handler looks up which campaign to charge for a won impression.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from app.bidders.base import Bidder
from bidding.campaigns import Campaign, RouterSpec, load_routers, parse_routers
from bidding.router import CampaignRouter, SpendReader

DEMO_CAMPAIGNS = "demo_campaigns.json"


@dataclass(frozen=True, slots=True)
class BidderRegistry:
    """Bidders by name, and in-process campaigns by (bidder name, campaign id)."""

    bidders: Mapping[str, Bidder]
    campaigns: Mapping[tuple[str, str], Campaign]
    in_process: frozenset[str]

    def campaign(self, bidder: str, campaign_id: str) -> Campaign | None:
        """The in-process campaign a won bid belongs to, if any."""
        return self.campaigns.get((bidder, campaign_id))


def load_router_specs(campaigns_file: Path | None) -> tuple[RouterSpec, ...]:
    """Routers from ``campaigns_file``, or the demo campaigns shipped with ``bidding``."""
    if campaigns_file is not None:
        return load_routers(campaigns_file)
    demo = resources.files("bidding").joinpath(DEMO_CAMPAIGNS)
    return parse_routers(demo.read_bytes(), f"bidding/{DEMO_CAMPAIGNS}")


def build_registry(
    specs: tuple[RouterSpec, ...], spend: SpendReader, currency: str
) -> BidderRegistry:
    """One CampaignRouter per spec."""
    routers = [CampaignRouter(spec, spend, currency) for spec in specs]
    return BidderRegistry(
        bidders={router.name: router for router in routers},
        campaigns={(r.name, c.id): c for r in routers for c in r.campaigns},
        in_process=frozenset(router.name for router in routers),
    )
