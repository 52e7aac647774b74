"""The project's own strategy, replayed with the live code on a virtual day.

Nothing here decides a bid: the live pacing controller (``budget.pacing_control.step``)
turns spend against the day's plan into a control level, ``bidding.strategy.advice_at``
turns the level into a multiplier (and, at its floor, participation), and
``bidding.valuation.value_bids`` prices each impression at pCTR × value per click ×
multiplier, exactly as the router does for a CPC campaign. The replay only supplies what
the exchange would: the clock, the spend, and the auction's outcome.

* **Time.** The log's impressions are spread evenly over one virtual day (an even plan, so
  the plan at any instant is the share of the log's impressions seen), and the controller
  steps every ``tick_s`` of it, as ``StorePacer`` does every ``RTB_PACING_INTERVAL_S``.
* **Controller settings**: the live ones, except the horizon: ``REPLAY_HORIZON_S``.
* **Learning on the training log.** The campaign first lives one virtual day on the
  training log with the budget fraction of *its* cost, starting cold; the controller state
  it ends with (control level and the learned plant offset, which ``StorePacer`` carries
  from day to day as well) is where the test day starts. That is the strategy's only
  tuning, and it never sees the test log.
* **Value per click**: the training log's eCPC, what a click cost there when buying
  everything; the multiplier (the budget's dual variable) does the rest.
"""

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bidding.strategy import advice_at, takes_part
from bidding.valuation import Goal, GoalKind, ValuationTable, value_bids
from budget.pacing_control import ControllerConfig, ControllerState, step
from budget.pacing_plan import DayPlan, TrafficProfile
from simulation.replay.auction import Outcome, buy
from simulation.replay.logs import AuctionLog

__all__ = ["REPLAY_DAY", "REPLAY_HORIZON_S", "OwnRun", "OwnStrategy"]

REPLAY_DAY = "2026-01-01"
"""The virtual day a log is spread over (UTC, 24 hours)."""


@dataclass(frozen=True, slots=True)
class _Campaign:
    """What ``bidding.valuation`` needs of a CPC campaign (``Priced``)."""

    goal: Goal
    bid_cpm_micros: int = 0
    min_bid_cpm_micros: int = 0
    max_bid_cpm_micros: int | None = None


@dataclass(frozen=True, slots=True)
class OwnRun:
    """A day of the strategy: what it bought, where its controller ended, its levels."""

    outcome: Outcome
    state: ControllerState
    levels: NDArray[np.float64]
    """The control level at each tick (log₂ of the multiplier above the floor)."""


REPLAY_HORIZON_S = 3600.0
"""The controller's horizon in the replay (docs/bidding.md: the live 120 s moves the
multiplier on every few purchases of a small campaign and costs it clicks at short budgets;
``rtb replay --own-horizon 120`` shows how many)."""


@dataclass(frozen=True, slots=True)
class OwnStrategy:
    value_per_click_micros: int
    controller: ControllerConfig = field(
        default_factory=lambda: ControllerConfig(horizon_s=REPLAY_HORIZON_S)
    )
    tick_s: float = 5.0
    learned: ControllerState | None = None
    """The state a previous day (the training log) ended with; None: a cold start."""

    @property
    def label(self) -> str:
        horizon = f"H {self.controller.horizon_s:g} s"
        if self.learned is None:
            return f"{horizon}, cold start"
        return f"{horizon}, learned u {self.learned.u:+.2f}"

    def valuation(self) -> ValuationTable:
        """The bid formula's table of the one CPC campaign this strategy bids for."""
        goal = Goal(GoalKind.CPC, target_cpc_micros=self.value_per_click_micros)
        return ValuationTable.of([_Campaign(goal)])

    def after(self, day: OwnRun) -> "OwnStrategy":
        """This strategy the next day, carrying what ``day`` taught its controller."""
        s = day.state
        carried = ControllerState(0.0, 0, s.u, s.spend_sum, s.model_sum)
        return OwnStrategy(self.value_per_click_micros, self.controller, self.tick_s, carried)

    def run(self, log: AuctionLog, budget_micros: int, rng: np.random.Generator) -> OwnRun:
        """One virtual day over ``log`` with ``budget_micros``."""
        pctr = log.require_pctr()
        price = log.price_cpm_micros
        costs = log.cost_micros
        n = len(log)
        plan = DayPlan(REPLAY_DAY, "UTC", TrafficProfile.even())
        day_s = plan.end_s - plan.start_s
        ticks = int(np.ceil(day_s / self.tick_s))
        # Impression i is at (i + 0.5) / n of the day; tick k takes those before its end.
        ends = np.minimum(
            np.ceil(np.arange(1, ticks + 1) * self.tick_s / day_s * n - 0.5), n
        ).astype(np.intp)
        table = self.valuation()
        with np.errstate(divide="ignore"):  # the multiplier each impression needs to be won
            needed = price / (1000.0 * pctr * self.value_per_click_micros) * (1 - 1e-9)
        state = self.learned or ControllerState(0.0, 0)
        levels = np.empty(ticks)
        won: list[NDArray[np.intp]] = []
        spent = 0
        start = 0
        for k in range(ticks):
            state = step(
                state,
                now_s=plan.start_s + k * self.tick_s,
                spent_micros=spent,
                budget_micros=budget_micros,
                plan=plan,
                config=self.controller,
            )
            levels[k] = state.u
            end = int(ends[k])
            if end <= start:
                continue
            chunk = slice(start, end)
            start = end
            advice = advice_at(state.u)
            if advice.participation <= 0.0:
                continue
            # Only impressions whose price is below value × multiplier can be won: the
            # others need no pricing (``value_bids`` rounds the value down, never up).
            maybe = np.flatnonzero(needed[chunk] < advice.multiplier) + chunk.start
            if len(maybe) == 0:
                continue
            valued = value_bids(
                table,
                np.zeros(len(maybe), np.intp),
                pctr[maybe],
                pctr[maybe],
                0,
                advice.multiplier,
            )
            bidding = valued.sent & (valued.bid_cpm_micros > price[maybe])
            if advice.participation < 1.0:
                drawn = takes_part([advice.participation] * len(maybe), rng)
                bidding &= np.array(drawn, dtype=np.bool_)
            candidates = maybe[bidding]
            if len(candidates):
                taken, cost = buy(costs[candidates], budget_micros - spent)
                won.append(candidates[taken])
                spent += cost
        bought = np.concatenate(won) if won else np.empty(0, np.intp)
        return OwnRun(Outcome(bought, spent, budget_micros), state, levels)
