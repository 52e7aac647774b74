"""The day's figures: delivery per campaign and how closely spend followed the plan.

* **Delivery**: the spend on the campaign's day read back from the store, over its daily
  budget. The target: every campaign whose demand allows it (``Draft.deliverable``) ends
  within ±2 % of its budget, and no campaign spends more than 100 %.
* **Slot error**: per campaign, the root mean square over the day's 15-minute slots of
  (spend in the slot − planned spend in the slot), divided by the mean planned spend per
  slot (budget ÷ slots). Target ≤ 10 %.
* **Poisson floor**: the slot error a campaign would show if it bought exactly at the
  planned rate but its impressions arrived at random (Poisson) at its average price — what
  the number of impressions alone allows. Few impressions per slot make a large floor.
* **Pooled slot error**: the same over the sum of all deliverable campaigns (their spend and
  their plans added per 15 minutes of the simulated span): the exchange's view.
"""

import itertools
import math
import statistics
from dataclasses import dataclass

from simulation.engine import SimResult
from simulation.stats import CampaignTally

TOLERANCE = 0.02
SLOT_TARGET = 0.10


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """One campaign's day in numbers (money in micros)."""

    id: str
    time_zone: str
    summary: str
    deliverable: bool
    budget_micros: int
    spent_micros: int
    impressions: int
    bids: int
    wins: int
    clicks: int
    slot_error: float
    poisson_floor: float
    mean_multiplier: float
    mean_participation: float

    @property
    def delivery(self) -> float:
        """Spend over budget."""
        return self.spent_micros / self.budget_micros

    @property
    def win_rate(self) -> float:
        return self.wins / self.bids if self.bids else 0.0

    @property
    def ecpm_micros(self) -> float:
        return 1000 * self.spent_micros / self.impressions if self.impressions else 0.0

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def on_budget(self) -> bool:
        """Within ±2 % of the budget."""
        return abs(self.delivery - 1.0) <= TOLERANCE


@dataclass(frozen=True, slots=True)
class Headline:
    """The figures the simulation is judged by."""

    deliverable: int
    on_budget: int
    over_budget: int
    slot_error_median: float
    slot_error_weighted: float
    """Mean over deliverable campaigns, weighted by budget."""
    slot_error_p90: float
    poisson_floor_median: float
    within_slot_target: int
    pooled_slot_error: float

    @property
    def on_budget_share(self) -> float:
        return self.on_budget / self.deliverable if self.deliverable else 0.0


def planned_slots(tally: CampaignTally, budget_micros: int) -> list[float]:
    """The plan's spend per 15-minute slot of the campaign's day (micros, float)."""
    plan = tally.plan
    if plan is None:
        return [budget_micros / len(tally.slot_spend)] * len(tally.slot_spend)
    step = (plan.end_s - plan.start_s) / len(tally.slot_spend)
    shares = [plan.share(plan.start_s + i * step) for i in range(len(tally.slot_spend) + 1)]
    return [budget_micros * (b - a) for a, b in itertools.pairwise(shares)]


def _slot_errors(tally: CampaignTally, budget_micros: int) -> tuple[float, float]:
    planned = planned_slots(tally, budget_micros)
    mean_plan = budget_micros / len(planned)
    squares = [(a - p) ** 2 for a, p in zip(tally.slot_spend, planned, strict=True)]
    error = math.sqrt(sum(squares) / len(squares)) / mean_plan
    price = tally.spend_micros / tally.impressions if tally.impressions else 0.0
    floor = math.sqrt(sum(p * price for p in planned) / len(planned)) / mean_plan
    return error, floor


def campaign_figures(result: SimResult) -> list[CampaignFigures]:
    """Per campaign, in id order."""
    out = []
    for draft in result.drafts:
        tally = result.stats.campaigns[draft.id]
        budget = result.campaigns[draft.id].daily_budget_micros
        error, floor = _slot_errors(tally, budget)
        signals = tally.signals
        out.append(
            CampaignFigures(
                id=draft.id,
                time_zone=draft.time_zone,
                summary=draft.summary,
                deliverable=draft.deliverable,
                budget_micros=budget,
                spent_micros=result.final_spend[draft.id],
                impressions=tally.impressions,
                bids=tally.bids,
                wins=tally.wins,
                clicks=tally.clicks,
                slot_error=error,
                poisson_floor=floor,
                mean_multiplier=statistics.fmean(s[1] for s in signals) if signals else 1.0,
                mean_participation=statistics.fmean(s[2] for s in signals) if signals else 1.0,
            )
        )
    return out


def pooled_slot_error(result: SimResult, figures: list[CampaignFigures]) -> float:
    """The slot error of all deliverable campaigns together (see the module's doc)."""
    stats = result.stats
    slots = int((stats.end_s - stats.start_s) // 900) + 1
    spent, planned = [0.0] * slots, [0.0] * slots
    for figure in figures:
        if not figure.deliverable:
            continue
        tally = stats.campaigns[figure.id]
        offset = int((tally.day_start_s - stats.start_s) // 900)
        plan = planned_slots(tally, figure.budget_micros)
        for i, (a, p) in enumerate(zip(tally.slot_spend, plan, strict=True)):
            spent[offset + i] += a
            planned[offset + i] += p
    used = [(a, p) for a, p in zip(spent, planned, strict=True) if p > 0]
    if not used:
        return math.nan
    mean_plan = sum(p for _, p in used) / len(used)
    return math.sqrt(sum((a - p) ** 2 for a, p in used) / len(used)) / mean_plan


def headline(figures: list[CampaignFigures], pooled: float = math.nan) -> Headline:
    """The aggregate figures (slot errors over deliverable campaigns)."""
    deliverable = [f for f in figures if f.deliverable]
    errors = sorted(f.slot_error for f in deliverable) or [math.nan]
    weight = sum(f.budget_micros for f in deliverable) or 1
    return Headline(
        deliverable=len(deliverable),
        on_budget=sum(f.on_budget for f in deliverable),
        over_budget=sum(f.spent_micros > f.budget_micros for f in figures),
        slot_error_median=statistics.median(errors),
        slot_error_weighted=sum(f.slot_error * f.budget_micros for f in deliverable) / weight,
        slot_error_p90=errors[min(len(errors) - 1, int(0.9 * len(errors)))],
        poisson_floor_median=statistics.median(f.poisson_floor for f in deliverable)
        if deliverable
        else math.nan,
        within_slot_target=sum(f.slot_error <= SLOT_TARGET for f in deliverable),
        pooled_slot_error=pooled,
    )
