"""Every strategy's parameters, chosen on the training log alone.

Each candidate parameter set is replayed over the *training* log with the same budget
fraction of the training log's own cost, and the best by the objective is kept: realised
clicks (the protocol of Zhang et al. 2014), or the clicks expected by pCTR (``pctr``: less
noisy where a short budget buys a few dozen clicks); ties go to the larger expected
clicks, then to the earlier candidate. The test log is never looked at here: the functions
take only the training log (``tests/simulation/test_replay.py`` checks that a test log
changed anywhere leaves every choice as it was).

RLB has no parameters to tune: its tables come from the training log's price and pCTR
distributions. The project's strategy tunes its controller's horizon and learns its
controller state by living the training day (``simulation.replay.own``).
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, TypeVar

import numpy as np

from simulation.replay.auction import Outcome, replay_bids
from simulation.replay.baselines import FixedStrategy
from simulation.replay.logs import AuctionLog
from simulation.replay.own import OwnStrategy

__all__ = ["OWN_HORIZONS_S", "Objective", "tune_fixed", "tune_own"]

Objective = Literal["clicks", "pctr"]
S = TypeVar("S", bound=FixedStrategy)

OWN_HORIZONS_S = (120.0, 600.0, 3600.0)
"""The controller horizons the project's strategy tries: the live default (tight tracking of
the plan) to an hour (a steadier multiplier)."""


def _score(outcome: Outcome, log: AuctionLog, objective: Objective) -> tuple[float, float]:
    expected = outcome.pctr_sum(log)
    return (outcome.clicks(log) if objective == "clicks" else expected, expected)


def tune_fixed(grid: Sequence[S], train: AuctionLog, budget_micros: int, objective: Objective) -> S:
    """The candidate of ``grid`` that does best on ``train`` with ``budget_micros``."""
    pctr = train.require_pctr()
    best: S | None = None
    best_score = (-np.inf, -np.inf)
    for candidate in grid:
        score = _score(replay_bids(candidate.bids(pctr), train, budget_micros), train, objective)
        if score > best_score:
            best, best_score = candidate, score
    if best is None:
        raise ValueError("an empty parameter grid")
    return best


def tune_own(
    strategy: OwnStrategy,
    train: AuctionLog,
    budget_micros: int,
    objective: Objective,
    seed: int,
    horizons_s: Sequence[float] = OWN_HORIZONS_S,
) -> OwnStrategy:
    """``strategy`` with the horizon that does best on the training day, carrying the
    controller state that day ended with (what it learned) into the next."""
    best: OwnStrategy | None = None
    best_score = (-np.inf, -np.inf)
    for horizon_s in horizons_s:
        controller = replace(strategy.controller, horizon_s=horizon_s)
        candidate = replace(strategy, controller=controller, learned=None)
        day = candidate.run(train, budget_micros, np.random.default_rng(seed))
        score = _score(day.outcome, train, objective)
        if score > best_score:
            best, best_score = candidate.after(day), score
    if best is None:
        raise ValueError("no horizon to try")
    return best
