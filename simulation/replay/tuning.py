"""Every strategy's parameters, chosen on the training log alone.

Each candidate parameter set is replayed over the *training* log with the same budget
fraction of the training log's own cost, and the best by the objective is kept: realised
clicks (the protocol of Zhang et al. 2014), or the clicks expected by pCTR (``pctr``: less
noisy where a short budget buys a few dozen clicks); ties go to the larger expected
clicks, then to the earlier candidate. The test log is never looked at here: the functions
take only the training log (``tests/simulation/test_replay.py`` checks that a test log
changed anywhere leaves every choice as it was).

RLB has no parameters to tune: its tables come from the training log's price and pCTR
distributions. The project's strategy learns its controller state by living the training
day (``simulation.replay.own``); it chooses nothing by clicks.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, TypeVar

import numpy as np

from simulation.replay.auction import Outcome, replay_bids
from simulation.replay.baselines import FixedStrategy
from simulation.replay.logs import AuctionLog
from simulation.replay.own import OwnStrategy

__all__ = ["Objective", "tune_fixed", "tune_own"]

Objective = Literal["clicks", "pctr"]
S = TypeVar("S", bound=FixedStrategy)


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
    strategy: OwnStrategy, train: AuctionLog, budget_micros: int, seed: int
) -> OwnStrategy:
    """``strategy`` after living the training day with ``budget_micros``: it carries the
    controller state that day ended with (what it learned) into the next."""
    cold = replace(strategy, learned=None)
    return cold.after(cold.run(train, budget_micros, np.random.default_rng(seed)))
