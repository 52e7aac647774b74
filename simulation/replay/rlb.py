"""RLB: bidding as a Markov decision process (Cai et al. 2017, "Real-Time Bidding by
Reinforcement Learning in Display Advertising").

The state is (t auctions left, b budget left). With m(δ) the market price distribution and
θ the impression's pCTR, the value of a state obeys

    V(t, b) = V(t−1, b) + Σ_θ p(θ) Σ_{δ ≤ a*} m(δ) (θ − (V(t−1, b) − V(t−1, b−δ)))

and the optimal bid is a* = the largest δ ≤ b with V(t−1, b) − V(t−1, b−δ) ≤ θ: bid up to
the price whose spending costs no more future clicks than this impression brings. Both
distributions come from the training log; prices and budget are counted in grid units.

Exact programming over a whole log (10⁵–10⁶ auctions, budgets of 10⁵ units) is out of
reach, so this uses the paper's large-scale approximation: the value is programmed up to
``T0`` auctions and, for t > T0, the marginal value of a unit of budget is read at the same
budget *per auction*, D(t, b) ≈ D(T0, b × T0 / t); the bid is then θ ÷ D (for small δ,
V(t−1, b) − V(t−1, b−δ) ≈ δ × D). The last ``T0`` auctions use the exact table. The grid
unit is chosen per budget so that the table covers up to ``ratio_cover`` times the starting
budget per auction with ``budget_cells`` cells; prices finer than a unit are rounded to the
nearest unit.

E over θ is exact over the training log's pCTRs: E[(θ − g)⁺] from their sorted suffix
sums, one ``searchsorted`` per step over every (b, δ).
"""

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from simulation.replay.auction import Outcome
from simulation.replay.logs import AuctionLog

__all__ = ["RlbPlan", "RlbStrategy"]

_BID_CAP_CPM_MICROS: Final = 10**15


@dataclass(frozen=True, slots=True)
class RlbStrategy:
    """The DP's settings; ``plan`` builds its tables from a training log for one budget."""

    horizon_impressions: float = 32.0
    """T0 is chosen so that the starting budget per auction buys this many training
    impressions of average price over T0 auctions: enough purchases for the programme to
    see the budget as a flow, at any budget fraction (between 50 and 2,000 auctions)."""
    budget_cells: int = 1600
    ratio_cover: float = 4.0
    """The table covers budgets up to this many times the starting budget per auction."""
    price_levels: int = 128
    """Market prices are rounded to at most this many levels (multiples of a stride of
    grid units)."""
    pctr_points: int = 512
    """p(θ) is the training pCTRs' distribution at this many quantiles."""

    @property
    def label(self) -> str:
        return f"{self.horizon_impressions:g} impressions in T0"

    def plan(self, train: AuctionLog, budget_micros: int, auctions: int) -> "RlbPlan":
        """Tables for ``budget_micros`` over ``auctions`` auctions, from ``train`` alone."""
        if auctions <= 0 or budget_micros <= 0:
            raise ValueError("RLB needs a positive budget and at least one auction")
        per_auction = budget_micros / auctions
        mean_cost = float(train.cost_micros.mean())
        horizon = round(self.horizon_impressions * mean_cost / per_auction)
        horizon = min(max(horizon, 50), 2000, auctions)
        unit = max(1.0, self.ratio_cover * per_auction * horizon / self.budget_cells)
        cells = self.budget_cells
        top = int(np.rint(train.cost_micros.max() / unit))
        stride = max(1, math.ceil(top / self.price_levels))
        levels = np.rint(train.cost_micros / (unit * stride)).astype(np.intp)
        market = np.zeros(int(levels.max()) * stride + 1)
        market[::stride] = np.bincount(levels) / len(levels)  # mass only on the levels
        points = (np.arange(self.pctr_points) + 0.5) / self.pctr_points
        theta = np.quantile(train.require_pctr(), points)
        suffix = np.concatenate([np.cumsum(theta[::-1])[::-1], [0.0]])
        values = _program(horizon, cells, market, stride, theta, suffix)
        marginal = np.diff(values[horizon])
        return RlbPlan(unit, horizon, values, marginal, top)


@dataclass(frozen=True, slots=True)
class RlbPlan:
    """The programmed tables of one budget, and the bidding that reads them."""

    unit_micros: float
    """Micros of budget per grid unit."""
    horizon: int
    values: NDArray[np.float64]
    """V(t, b) for t ≤ T0 and b in grid units."""
    marginal: NDArray[np.float64]
    """D(T0, b) = V(T0, b + 1) − V(T0, b)."""
    top_price: int
    """The highest training price, in grid units."""

    def run(self, log: AuctionLog, budget_micros: int) -> Outcome:
        """The log replayed: each bid from the state, the state after each win."""
        pctr = log.require_pctr().tolist()
        price = log.price_cpm_micros.tolist()
        cost = log.cost_micros.tolist()
        n = len(pctr)
        unit, horizon = self.unit_micros, self.horizon
        marginal = self.marginal.tolist()
        last = len(marginal) - 1
        to_cpm = unit * 1000.0
        left = budget_micros
        won: list[int] = []
        for i in range(n - horizon):
            if cost[i] > left:
                continue
            at = left / unit * horizon / (n - i)
            cell = int(at)
            if cell >= last:
                d = marginal[last]
            else:
                d = marginal[cell] + (at - cell) * (marginal[cell + 1] - marginal[cell])
            bid = _BID_CAP_CPM_MICROS if d <= 0 else math.floor(pctr[i] / d * to_cpm)
            if bid > price[i]:
                won.append(i)
                left -= cost[i]
        for i in range(max(0, n - horizon), n):
            if cost[i] > left:
                continue
            a = self._exact_bid(n - i, min(int(left / unit), self.values.shape[1] - 1), pctr[i])
            if (a + 0.5) * to_cpm > price[i]:
                won.append(i)
                left -= cost[i]
        return Outcome(np.array(won, dtype=np.intp), budget_micros - left, budget_micros)

    def _exact_bid(self, t: int, b: int, theta: float) -> int:
        """a* in grid units with t auctions left (this one included) and b units."""
        row = self.values[t - 1]
        here = row[b]
        top = min(b, self.top_price)
        low, high = 0, top  # the largest δ with row[b] − row[b − δ] ≤ θ (increasing in δ)
        while low < high:
            mid = (low + high + 1) // 2
            if here - row[b - mid] <= theta:
                low = mid
            else:
                high = mid - 1
        return low


def _program(
    horizon: int,
    cells: int,
    market: NDArray[np.float64],
    stride: int,
    theta: NDArray[np.float64],
    suffix: NDArray[np.float64],
) -> NDArray[np.float64]:
    """V(t, b) for t in 0..horizon, b in 0..cells, by the recursion of the module docstring
    (prices only at multiples of ``stride``, where ``market`` has its mass)."""
    b = np.arange(cells + 1)[:, None]
    delta = np.arange(0, len(market), stride)[None, :]
    below = b - delta
    feasible = below >= 0
    below = np.where(feasible, below, 0)
    weight = np.where(feasible, market[delta], 0.0)
    n = len(theta)
    values = np.zeros((horizon + 1, cells + 1))
    for t in range(1, horizon + 1):
        previous = values[t - 1]
        gap = previous[:, None] - previous[below]
        first = np.searchsorted(theta, gap, side="right")
        expected_gain = (suffix[first] - gap * (n - first)) / n  # E[(θ − gap)⁺]
        values[t] = previous + (weight * expected_gain).sum(axis=1)
    return values
