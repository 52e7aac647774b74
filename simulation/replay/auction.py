"""The protocol's one rule: who wins a logged impression, and what it costs.

A strategy wins an impression when its bid is above the logged market price and the price
is within what is left of its budget (a bidder cannot bid what it cannot pay: the live
router holds its bid on the budget before sending it), and pays the market price. Once the
budget cannot pay for the next impression the strategy keeps only the cheaper ones it can
still afford, so a budget ends spent to within one impression. All money is integer micros.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.replay.logs import AuctionLog

__all__ = ["Outcome", "buy", "replay_bids"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a strategy bought from a log under a budget."""

    won: NDArray[np.intp]
    """Indices of the impressions won, in log order."""
    spent_micros: int
    budget_micros: int

    def clicks(self, log: AuctionLog) -> int:
        return int(log.click[self.won].sum())

    def pctr_sum(self, log: AuctionLog) -> float:
        """Clicks expected by the log's pCTR: what every strategy maximises."""
        return float(log.require_pctr()[self.won].sum())

    @property
    def impressions(self) -> int:
        return len(self.won)


def buy(costs_micros: NDArray[np.int64], remaining_micros: int) -> tuple[NDArray[np.intp], int]:
    """Of impressions won on bid (their costs, in order), the positions the budget pays
    for — each whose cost is within what is left at its turn — and the micros they cost."""
    spent = np.cumsum(costs_micros)
    paid = int(np.searchsorted(spent, remaining_micros, side="right"))
    total = int(spent[paid - 1]) if paid else 0
    if paid == len(costs_micros):
        return np.arange(paid, dtype=np.intp), total
    left = remaining_micros - total
    tail = np.flatnonzero(costs_micros[paid:] <= left) + paid
    taken = list(range(paid))
    for position, cost in zip(tail.tolist(), costs_micros[tail].tolist(), strict=True):
        if cost <= left:
            taken.append(position)
            left -= cost
            total += cost
    return np.array(taken, dtype=np.intp), total


def replay_bids(bid_cpm_micros: NDArray[np.int64], log: AuctionLog, budget_micros: int) -> Outcome:
    """A strategy whose bid does not depend on its own spend (Const, Lin, ORTB) over
    ``log``: its bids are known up front, so one vectorised pass decides it."""
    candidates = np.flatnonzero(bid_cpm_micros > log.price_cpm_micros)
    taken, spent = buy(log.cost_micros[candidates], budget_micros)
    return Outcome(candidates[taken], spent, budget_micros)
