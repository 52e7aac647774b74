"""The replay's figures (matplotlib, Agg backend: files only, no display needed).

* ``clicks.png``: clicks against the budget fraction, one line per strategy and the
  hindsight optimum; beside it the same for the clicks the pCTR expects.
* ``spend.png``: per budget, the share of the budget spent against the share of the test
  log seen, one line per strategy (a straight diagonal spends evenly and exactly).
"""

from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # (after the backend is chosen)
import numpy as np

from simulation.replay.auction import Outcome
from simulation.replay.logs import AuctionLog
from simulation.replay.run import TITLES, ReplayResult

__all__ = ["write_plots"]

_DPI: Final = 110
_SPEND_POINTS: Final = 400


def _clicks(result: ReplayResult, path: Path) -> None:
    test = result.test
    fractions = [b.fraction for b in result.budgets]
    x = [1 / f for f in fractions]
    figure, (realised, expected) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [row.strategy for row in result.budgets[0].rows]
    for i, name in enumerate(names):
        outcomes = [next(r.outcome for r in b.rows if r.strategy == name) for b in result.budgets]
        style = {"linewidth": 2.2 if name == "own" else 1.2, "marker": "o", "color": f"C{i}"}
        realised.plot(x, [o.clicks(test) for o in outcomes], label=TITLES[name], **style)
        expected.plot(x, [o.pctr_sum(test) for o in outcomes], label=TITLES[name], **style)
    best = [b.optimum.outcome for b in result.budgets]
    for axes, values in (
        (realised, [o.clicks(test) for o in best]),
        (expected, [o.pctr_sum(test) for o in best]),
    ):
        axes.plot(x, values, color="black", linestyle="--", linewidth=1, label="hindsight optimum")
        axes.set_xscale("log", base=2)
        axes.set_xticks(x, [f"1/{f}" for f in fractions])
        axes.set_xlabel("budget (share of the test log's cost)")
        axes.grid(alpha=0.3)
    realised.set_ylabel("clicks (the log's labels)")
    expected.set_ylabel("clicks expected by pCTR")
    expected.legend(fontsize=8)
    figure.suptitle(f"rtb replay: {test.source}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def _spend_curve(outcome: Outcome, log: AuctionLog) -> tuple[np.ndarray, np.ndarray]:
    """The share of the log seen and the share of the budget spent by then."""
    spent = np.zeros(len(log) + 1, np.int64)
    spent[outcome.won + 1] = log.cost_micros[outcome.won]
    cumulative = np.cumsum(spent)
    at = np.linspace(0, len(log), _SPEND_POINTS).astype(np.intp)
    return at / len(log), cumulative[at] / max(outcome.budget_micros, 1)


def _spend(result: ReplayResult, path: Path) -> None:
    test = result.test
    count = len(result.budgets)
    figure, grid = plt.subplots(1, count, figsize=(3.1 * count, 3.2), sharey=True, squeeze=False)
    for axes, budget in zip(grid[0], result.budgets, strict=True):
        for i, row in enumerate(budget.rows):
            seen, share = _spend_curve(row.outcome, test)
            width = 2.0 if row.strategy == "own" else 1.0
            axes.plot(seen, share, color=f"C{i}", linewidth=width, label=TITLES[row.strategy])
        axes.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=0.8)
        axes.set_title(f"budget 1/{budget.fraction}", fontsize=9)
        axes.set_xlabel("share of the test log")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.05)
        axes.grid(alpha=0.3)
    grid[0][0].set_ylabel("share of the budget spent")
    grid[0][-1].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def write_plots(result: ReplayResult, directory: Path) -> list[Path]:
    """Both figures into ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "clicks.png", directory / "spend.png"]
    _clicks(result, paths[0])
    _spend(result, paths[1])
    return paths
