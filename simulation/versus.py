"""The project's strategy against Lin on the simulated traffic, at each campaign's budget.

After the day, each value-based campaign's auction log (``simulation.recording``) is
replayed with the iPinYou protocol (``simulation.replay``): Lin's b0 is tuned on the
campaign's log of *yesterday* (never today's) with the budget scaled to yesterday's volume,
by the clicks pCTR expects (``tune_fixed(..., "pctr")``), with yesterday's expected CTR as
Lin's average CTR (a small campaign's few clicks yesterday would set Lin's scale by chance,
and none would leave it undefined); then Lin runs once over today's log with the campaign's
daily budget. Against it:

* **own, in the simulation**: what the campaign actually bought through the exchange (its
  spend from the store, its impressions and clicks from the notices);
* **own, replayed** (``simulation.replay.own``, the live controller and bid formula on the
  same log, its controller state learnt by living yesterday's log): like compared with like,
  since the simulation's second prices and the log's differ by at most the increment;
* **Lin, b0 in hindsight**: tuned on today's log itself. Not the protocol — the best one
  bid level could have done — so it bounds what better tuning could give Lin.

Clicks are *expected* clicks, the sum of the traffic model's true click probability over
the impressions bought: realised clicks are a few per campaign and mostly noise. The
simulation's campaigns bid without models, at one pCTR each (their historical CTR), so
here Lin is a constant bid: this compares the pacing of the bid level through the day, not
the concentration of a budget on high-pCTR impressions (``rtb replay`` measures that).

A replay is a counterfactual with everyone else's bids held fixed: had the campaign bid
like Lin, the other campaigns' pacers would have reacted (and the second prices with them).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openrtb.money import MICROS_PER_UNIT
from simulation.engine import SimResult
from simulation.replay.auction import Outcome, replay_bids
from simulation.replay.baselines import TrainingFacts, lin_grid
from simulation.replay.logs import AuctionLog
from simulation.replay.own import OwnStrategy
from simulation.replay.tuning import tune_fixed, tune_own

__all__ = ["Bought", "Pooled", "Versus", "pooled", "versus"]


@dataclass(frozen=True, slots=True)
class Bought:
    """What one strategy bought on one campaign's day (money in micros)."""

    spent_micros: int
    impressions: int
    expected_clicks: float
    clicks: int

    @classmethod
    def of(cls, outcome: Outcome, log: AuctionLog) -> "Bought":
        true_ctr = log.columns["true_ctr"]
        return cls(
            outcome.spent_micros,
            outcome.impressions,
            float(true_ctr[outcome.won].sum()),
            outcome.clicks(log),
        )


@dataclass(frozen=True, slots=True)
class Versus:
    """One campaign: its own strategy against Lin at its daily budget."""

    id: str
    deliverable: bool
    budget_micros: int
    rows: int
    """Auctions in its log today (imps it was a candidate for)."""
    own: Bought
    """In the simulation."""
    own_replay: Bought | None
    lin: Bought
    lin_label: str
    """Lin's parameter, as tuned on yesterday."""
    lin_hindsight: Bought

    @property
    def ratio(self) -> float:
        """Own's expected clicks over Lin's."""
        return _ratio(self.own, self.lin)


def _ratio(own: Bought, lin: Bought) -> float:
    return own.expected_clicks / lin.expected_clicks if lin.expected_clicks else float("nan")


def _facts(log: AuctionLog) -> TrainingFacts:
    """What Lin may know of yesterday, its CTR the expected one (the module's doc)."""
    expected = float(log.columns["true_ctr"].mean())
    return TrainingFacts(
        avg_ctr=expected,
        avg_cpm=float(log.price_cpm_micros.mean()) / MICROS_PER_UNIT,
        ecpc_micros=round(log.total_cost_micros / (expected * len(log))),
        price_quantiles_cpm=(),  # for Const, not Lin
    )


def _own_in_simulation(result: SimResult, cid: str, log: AuctionLog) -> Bought:
    won = log.columns["won"]
    tally = result.stats.campaigns[cid]
    return Bought(
        result.final_spend[cid],
        tally.impressions,
        float(log.columns["true_ctr"][won].sum()),
        tally.clicks,
    )


def versus(result: SimResult, *, own_replay: bool = True) -> list[Versus]:
    """Per value-based campaign with a log, in id order (the module's doc)."""
    cfg = result.config
    scale = cfg.yesterday_requests / cfg.requests
    out = []
    for draft in result.drafts:
        today = result.logs.get(draft.id)
        if today is None:
            continue
        campaign = result.campaigns[draft.id]
        budget = campaign.daily_budget_micros
        yesterday = result.yesterday_logs.get(draft.id)
        if yesterday is None:
            continue  # never offered an imp yesterday: nothing to tune on
        train_budget = int(budget * scale)
        pctr = today.require_pctr()
        grid = lin_grid(_facts(yesterday))
        chosen = tune_fixed(grid, yesterday, train_budget, "pctr")
        lin = Bought.of(replay_bids(chosen.bids(pctr), today, budget), today)
        best = tune_fixed(grid, today, budget, "pctr")
        hindsight = Bought.of(replay_bids(best.bids(pctr), today, budget), today)
        replayed = None
        if own_replay and campaign.goal is not None:
            value = round(campaign.goal.value_per_click_micros)
            strategy = OwnStrategy(value, cfg.controller, cfg.tick_s)
            learned = tune_own(strategy, yesterday, train_budget, cfg.seed)
            day = learned.run(today, budget, np.random.default_rng(cfg.seed + 1))
            replayed = Bought.of(day.outcome, today)
        out.append(
            Versus(
                draft.id,
                draft.deliverable,
                budget,
                len(today),
                _own_in_simulation(result, draft.id, today),
                replayed,
                lin,
                chosen.label,
                hindsight,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Pooled:
    """Sums over the deliverable campaigns."""

    campaigns: int
    budget_micros: int
    own: Bought
    own_replay: Bought | None
    lin: Bought
    lin_hindsight: Bought

    @property
    def ratio(self) -> float:
        return _ratio(self.own, self.lin)


def _total(items: Sequence[Bought]) -> Bought:
    return Bought(
        sum(b.spent_micros for b in items),
        sum(b.impressions for b in items),
        sum(b.expected_clicks for b in items),
        sum(b.clicks for b in items),
    )


def pooled(rows: Sequence[Versus]) -> Pooled | None:
    """The deliverable campaigns added up (None: there are none)."""
    kept = [v for v in rows if v.deliverable]
    if not kept:
        return None
    replays = [v.own_replay for v in kept if v.own_replay is not None]
    return Pooled(
        len(kept),
        sum(v.budget_micros for v in kept),
        _total([v.own for v in kept]),
        _total(replays) if len(replays) == len(kept) else None,
        _total([v.lin for v in kept]),
        _total([v.lin_hindsight for v in kept]),
    )
