"""The bidders of one process, built from the bidders file, and the campaigns behind the
in-process ones.

An explicit map from name to bidder: the exchange iterates it for the fan-out, and the
notice handler looks up which campaign to charge for a won impression.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auction.currency import CurrencyRates
from bidding.campaigns import Campaign, RouterSpec
from bidding.canary import Canary
from bidding.creative_choice import CreativeCounts
from bidding.models import ModelHolder
from bidding.router import DEFAULT_HOLD_TTL_S, BudgetGate, CampaignRouter, Pacer
from exchange.bidders.base import Bidder
from openrtb.identity import PROCESS_USER_KEYS, UserKeys


@dataclass(frozen=True, slots=True)
class BidderRegistry:
    """Bidders by name, and in-process campaigns by (bidder name, campaign id)."""

    bidders: Mapping[str, Bidder]
    campaigns: dict[tuple[str, str], Campaign]
    in_process: frozenset[str]

    def campaign(self, bidder: str, campaign_id: str) -> Campaign | None:
        """The in-process campaign a won bid belongs to, if any."""
        return self.campaigns.get((bidder, campaign_id))

    def replace_campaign(self, bidder: str, campaign: Campaign) -> None:
        """Charge and record ``campaign`` (changed by an operator) from now on; the map is
        the one the notices and the auction recorder read, so they all see the change."""
        key = (bidder, campaign.id)
        if key not in self.campaigns:
            raise KeyError(key)
        self.campaigns[key] = campaign


def build_registry(
    routers: Sequence[RouterSpec],
    budget: BudgetGate,
    currency: str,
    external: Sequence[Bidder] = (),
    hold_ttl_s: float = DEFAULT_HOLD_TTL_S,
    *,
    models: ModelHolder | None = None,
    creative_stats: CreativeCounts | None = None,
    pacer: Pacer | None = None,
    seed: int | None = None,
    user_keys: UserKeys = PROCESS_USER_KEYS,
    clock: Callable[[], float] = time.time,
    rates: Callable[[], CurrencyRates] | None = None,
    gvl_vendor_id: int | None = None,
    profile_features: bool = True,
    canary: Canary | None = None,
) -> BidderRegistry:
    """One CampaignRouter per router spec (sharing the models, creative counts, pacer and
    the exchange's current rates, for floors in other currencies, and the exchange's GVL
    vendor id, whose consent lets them read profiles, for the models where
    ``profile_features``, and the canary rollout), then the external bidders, by name."""
    seeds = np.random.SeedSequence(seed).spawn(len(routers))
    in_process = [
        CampaignRouter(
            spec,
            budget,
            currency,
            hold_ttl_s,
            models=models,
            creative_stats=creative_stats,
            pacer=pacer,
            rng=np.random.default_rng(child),
            user_keys=user_keys,
            clock=clock,
            rates=rates,
            gvl_vendor_id=gvl_vendor_id,
            profile_features=profile_features,
            canary=canary,
        )
        for spec, child in zip(routers, seeds, strict=True)
    ]
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
