"""The simulated advertisers: campaigns with varied targeting, values, caps and budgets.

Campaigns are drafted without a budget; budgets are set after a day of traffic ("yesterday")
has shown what each campaign could buy (``simulation.capacity``), the way a planner sizes
them. Most get 60–100 % of their share of the inventory they want at plain bids (the share
splits every imp among all the campaigns that want it, so it understates what a paced
campaign can buy while its rivals hold back): deliverable. A few get more than every
impression they want would cost at their highest bid — picked among the narrowest
campaigns, whose traffic is scarce: their demand does not allow the budget, and they are
reported apart.

Every campaign is value-based (a CPC goal): the pacing multiplier scales value-based bids
only (fixed prices are paid as agreed), and with ``max_bid`` at twice the value it is never
clipped away. Without trained models the router bids the value at the historical CTR.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from bidding.campaigns import RouterFile, RouterSpec, router_specs
from simulation.capacity import Capacity
from simulation.traffic import COUNTRIES, SITE_CATS, SIZES

__all__ = ["ROUTER_NAME", "Draft", "draft_campaigns", "router_spec", "with_budgets"]

ROUTER_NAME: Final = "house"
_GROUPS: Final = (
    # (share of campaigns, zone, countries to draw from, how many)
    (0.36, "America/New_York", ("USA", "CAN"), (1, 2)),
    (0.32, "Europe/Berlin", ("DEU", "FRA", "GBR"), (1, 3)),
    (0.16, "UTC", COUNTRIES, (2, 4)),
    (0.16, "UTC", ("IND", "JPN", "BRA"), (1, 2)),
)
OVER_BUDGET_SHARE: Final = 0.1
"""Campaigns whose budget is beyond what their traffic can deliver (by design)."""
MIN_IMPRESSIONS: Final = 300
"""No budget buys fewer impressions than this at the campaign's value (a ±2 % target means
little when one impression is 4 % of the budget), even where that is more than the
campaign's share: it still counts as deliverable (its rivals leave it room), and is judged
like the others."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A campaign without its budget: its config entry and a few facts for the report."""

    id: str
    time_zone: str
    entry: dict[str, Any]
    """The ``routers[].campaigns[]`` entry of a bidders file, without ``daily_budget``."""
    base_ctr: float
    value_cpm_micros: int
    """What an impression is worth to it (its plain bid) in CPM micros."""
    summary: str
    """Its targeting in a few words (for the report's table)."""
    budget_micros: int = 0
    deliverable: bool = True
    """Whether the budget was set within what its traffic can deliver."""


def _pick(rng: np.random.Generator, values: Sequence[Any], low: int, high: int) -> list[Any]:
    count = int(rng.integers(low, min(high, len(values)) + 1))
    return [values[i] for i in sorted(rng.choice(len(values), count, replace=False))]


def draft_campaigns(count: int, rng: np.random.Generator) -> list[Draft]:
    """``count`` campaigns across four regions, with varied targeting and values."""
    shares = np.array([g[0] for g in _GROUPS])
    group_of = rng.choice(len(_GROUPS), count, p=shares / shares.sum())
    drafts = []
    for i in range(count):
        _, zone, pool, (low, high) = _GROUPS[int(group_of[i])]
        countries = _pick(rng, pool, low, high)
        targeting: dict[str, Any] = {"country": {"allow": countries}}
        words = ["+".join(countries)]
        narrowing = rng.random()  # at most one of device, category, age: few tiny campaigns
        if narrowing < 0.25:
            devices = [4, 5] if rng.random() < 0.6 else [2]
            targeting["device_type"] = {"allow": devices}
            words.append("mobile" if devices == [4, 5] else "desktop")
        elif narrowing < 0.6:
            cats = _pick(rng, SITE_CATS, 4, 8)
            targeting["category"] = {"allow": cats}
            words.append(f"{len(cats)} cats")
        elif narrowing < 0.75:
            targeting["age"] = {"min": 18, "max": 54}
            words.append("18-54")
        if rng.random() < 0.1:
            targeting["dayparting"] = [
                {
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "from_hour": 6,
                    "to_hour": 24,
                }
            ]
            words.append("6-24h")
        value_cpm = float(rng.uniform(0.9, 3.2))
        ctr = float(rng.uniform(0.001, 0.004))
        cpc = round(value_cpm / (1000 * ctr), 4)
        value_cpm = 1000 * ctr * cpc
        sizes = _pick(rng, range(len(SIZES)), 1, 3)
        cid = f"c{i:02d}"
        entry: dict[str, Any] = {
            "id": cid,
            "advertiser": f"Advertiser {i:02d}",
            "seat": cid,
            "time_zone": zone,
            "goal": {"type": "cpc", "target_cpc": f"{cpc:.4f}"},
            "min_bid": "0.01",
            "max_bid": f"{math.ceil(value_cpm * 205) / 100:.2f}",
            "historical_ctr": ctr,
            "targeting": targeting,
            "creatives": [
                {
                    "id": f"{cid}-{SIZES[s][0]}x{SIZES[s][1]}",
                    "w": SIZES[s][0],
                    "h": SIZES[s][1],
                    "adm": f"<a href='${{RTB_CLICK_URL}}'><img src='https://ads.example/{cid}.png'></a>",
                    "adomain": [f"advertiser{i:02d}.example"],
                    "landing_url": f"https://advertiser{i:02d}.example/",
                }
                for s in sizes
            ],
        }
        if rng.random() < 0.3:
            cap = int(rng.integers(5, 13))
            entry["frequency_cap"] = [{"count": cap, "per": "day"}]
            words.append(f"cap {cap}/day")
        value_micros = round(value_cpm * 1_000_000)
        drafts.append(Draft(cid, zone, entry, ctr, value_micros, ", ".join(words)))
    return drafts


def with_budgets(
    drafts: Sequence[Draft], capacity: dict[str, Capacity], rng: np.random.Generator
) -> list[Draft]:
    """Budgets from capacity: most deliverable with room to spare; a few of the narrowest
    campaigns (the ones whose traffic is scarce) beyond reach."""
    share = {d.id: capacity.get(d.id, Capacity(0, 0)).share_micros for d in drafts}
    narrow = sorted(drafts, key=lambda d: share[d.id])[: max(1, len(drafts) // 3)]
    count = max(1, round(OVER_BUDGET_SHARE * len(drafts)))
    over = {narrow[i].id for i in rng.choice(len(narrow), min(count, len(narrow)), replace=False)}
    out = []
    for draft in drafts:
        cap = capacity.get(draft.id, Capacity(0, 0))
        if draft.id in over:
            budget = cap.ceiling_micros * float(rng.uniform(1.1, 1.5))
        else:
            budget = cap.share_micros * float(rng.uniform(0.6, 1.0))
        smallest = MIN_IMPRESSIONS * draft.value_cpm_micros // 1000
        budget_micros = -(-max(smallest, int(budget)) // 10_000) * 10_000  # whole cents, up
        deliverable = draft.id not in over
        out.append(replace(draft, budget_micros=budget_micros, deliverable=deliverable))
    return out


def router_spec(drafts: Sequence[Draft], *, day: str | None) -> RouterSpec:
    """The router of ``drafts`` (their budgets; a placeholder when not set), flown on ``day``
    only (None: no flight, every day)."""
    entries = []
    for draft in drafts:
        entry = dict(draft.entry)
        budget_micros = draft.budget_micros or 1_000_000  # a placeholder before budgets are set
        entry["daily_budget"] = f"{budget_micros / 1_000_000:.2f}"
        if day is not None:
            entry["flight"] = {"start": day, "end": day}
        entries.append(entry)
    router = RouterFile.model_validate({"name": ROUTER_NAME, "campaigns": entries})
    (spec,) = router_specs([router], "simulation")
    return spec
