"""The hindsight optimum: the best any strategy could have bought from the test log.

Knowing every impression's price and pCTR in advance, the most expected clicks a budget
buys is a 0/1 knapsack: items are the impressions, weights their costs, values their
pCTRs. Exact programming over 10⁵–10⁶ items and budgets of 10⁸–10¹⁰ micros is out of
reach, so it is solved greedily: impressions in decreasing pCTR per cost, each taken while
the budget pays for it (then the cheaper ones that still fit). The fractional knapsack's
value (the same order, the last impression taken in part) bounds the exact optimum from
above, and greedy is within one impression's pCTR of it: both are reported, so the gap is
known, not assumed.

The optimum is in *expected* clicks by the log's pCTR: with the click labels in hand the
knapsack would buy exactly the clicked impressions, which says nothing about bidding. Its
realised clicks (labels of the impressions it picks) are reported beside.
"""

from dataclasses import dataclass

import numpy as np

from simulation.replay.auction import Outcome, buy
from simulation.replay.logs import AuctionLog

__all__ = ["Optimum", "hindsight_optimum"]


@dataclass(frozen=True, slots=True)
class Optimum:
    outcome: Outcome
    """The greedy choice (a feasible purchase: the lower bound)."""
    upper_bound: float
    """The fractional knapsack's expected clicks: no purchase can expect more."""


def hindsight_optimum(log: AuctionLog, budget_micros: int) -> Optimum:
    """The greedy knapsack over ``log`` for ``budget_micros`` (module docstring)."""
    pctr = log.require_pctr()
    costs = log.cost_micros
    with np.errstate(divide="ignore"):
        ratio = np.where(costs > 0, pctr / costs, np.inf)
    order = np.argsort(-ratio, kind="stable")
    taken, spent = buy(costs[order], budget_micros)
    won = np.sort(order[taken])
    cumulative = np.cumsum(costs[order])
    whole = int(np.searchsorted(cumulative, budget_micros, side="right"))
    bound = float(pctr[order[:whole]].sum())
    if whole < len(order):
        left = budget_micros - (int(cumulative[whole - 1]) if whole else 0)
        bound += float(pctr[order[whole]]) * left / int(costs[order[whole]])
    return Optimum(Outcome(won, spent, budget_micros), bound)
