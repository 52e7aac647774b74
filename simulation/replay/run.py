"""One replay: every strategy tuned on the training log, then run once over the test log,
for every budget fraction; with the hindsight optimum of each budget beside them."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from budget.pacing_control import ControllerConfig
from simulation.replay.auction import Outcome, replay_bids
from simulation.replay.baselines import (
    FixedStrategy,
    TrainingFacts,
    const_grid,
    lin_grid,
    ortb_grid,
)
from simulation.replay.logs import AuctionLog
from simulation.replay.optimum import Optimum, hindsight_optimum
from simulation.replay.own import REPLAY_HORIZON_S, OwnStrategy
from simulation.replay.rlb import RlbStrategy
from simulation.replay.tuning import Objective, tune_fixed, tune_own

__all__ = [
    "FRACTIONS",
    "STRATEGIES",
    "BudgetResult",
    "ReplayResult",
    "Row",
    "StrategyName",
    "replay",
]

StrategyName = Literal["const", "lin", "ortb", "rlb", "own"]
STRATEGIES: Final[tuple[StrategyName, ...]] = ("const", "lin", "ortb", "rlb", "own")
FRACTIONS: Final = (32, 16, 8, 4, 2)
"""Budgets as 1/n of the test log's total cost (the protocol's 1/32 … 1/2)."""
TITLES: Final[dict[StrategyName, str]] = {
    "const": "Const",
    "lin": "Lin",
    "ortb": "ORTB",
    "rlb": "RLB",
    "own": "own",
}

_GRIDS: Final[dict[str, Callable[[TrainingFacts], Sequence[FixedStrategy]]]] = {
    "const": const_grid,
    "lin": lin_grid,
    "ortb": ortb_grid,
}


@dataclass(frozen=True, slots=True)
class Row:
    strategy: StrategyName
    parameters: str
    """The parameters the training log chose, as text."""
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class BudgetResult:
    fraction: int
    """The budget is 1/fraction of the test log's cost."""
    budget_micros: int
    rows: tuple[Row, ...]
    optimum: Optimum


@dataclass(frozen=True, slots=True)
class ReplayResult:
    train: AuctionLog
    test: AuctionLog
    objective: Objective
    budgets: tuple[BudgetResult, ...]


def replay(
    train: AuctionLog,
    test: AuctionLog,
    *,
    fractions: Sequence[int] = FRACTIONS,
    strategies: Sequence[StrategyName] = STRATEGIES,
    objective: Objective = "clicks",
    seed: int = 0,
    rlb: RlbStrategy | None = None,
    own_horizon_s: float = REPLAY_HORIZON_S,
) -> ReplayResult:
    """The protocol over ``test`` for each budget fraction and strategy (module docstring).

    Parameters come from ``train`` alone; ``seed`` feeds the only random draws (the
    project's strategy's participation, when its bids are at their floor). ``own_horizon_s``:
    the project's strategy's controller horizon (its value per click is the training log's
    eCPC)."""
    facts = TrainingFacts.of(train)
    train.require_pctr()
    test_pctr = test.require_pctr()
    results = []
    for fraction in fractions:
        if fraction < 1:
            raise ValueError(f"budget fraction 1/{fraction}: must be 1/1 or smaller")
        train_budget = train.total_cost_micros // fraction
        budget = test.total_cost_micros // fraction
        rows = []
        for name in strategies:
            rng_seed = seed * 1_000_003 + fraction
            if name in ("const", "lin", "ortb"):
                grid: Sequence[FixedStrategy] = _GRIDS[name](facts)
                chosen = tune_fixed(grid, train, train_budget, objective)
                outcome = replay_bids(chosen.bids(test_pctr), test, budget)
                rows.append(Row(name, chosen.label, outcome))
            elif name == "rlb":
                strategy = rlb or RlbStrategy()
                plan = strategy.plan(train, budget, len(test))
                rows.append(Row(name, f"T0 {plan.horizon}", plan.run(test, budget)))
            else:
                controller = ControllerConfig(horizon_s=own_horizon_s)
                base = OwnStrategy(facts.ecpc_micros, controller)
                learned = tune_own(base, train, train_budget, rng_seed)
                day = learned.run(test, budget, np.random.default_rng(rng_seed + 1))
                rows.append(Row(name, learned.label, day.outcome))
        results.append(BudgetResult(fraction, budget, tuple(rows), hindsight_optimum(test, budget)))
    return ReplayResult(train, test, objective, tuple(results))
