"""The replay's table: per budget and strategy, what it bought, against the optimum.

Money is shown in the log's currency unit (iPinYou: fen), from the integer micros the
replay counted in; eCPC is spend per click, CTR clicks per impression. "pCTR clicks" are
the clicks the log's pCTR expects of what was bought (what every strategy maximises), and
"of opt." is that against the hindsight optimum's (``simulation.replay.optimum``).
"""

from typing import Final

from openrtb.money import MICROS_PER_UNIT
from simulation.replay.auction import Outcome
from simulation.replay.logs import AuctionLog, describe
from simulation.replay.run import TITLES, BudgetResult, ReplayResult

__all__ = ["table", "text"]

_HEADER: Final = (
    "| budget | strategy | clicks | impressions | spend | eCPC | CTR | pCTR clicks "
    "| of opt. | parameters (from training) |"
)
_RULE: Final = "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"


def _cells(log: AuctionLog, outcome: Outcome, optimum: float) -> str:
    clicks = outcome.clicks(log)
    spend = outcome.spent_micros / MICROS_PER_UNIT
    impressions = outcome.impressions
    ecpc = f"{spend / clicks:,.1f}" if clicks else "–"
    ctr = f"{clicks / impressions:.3%}" if impressions else "–"
    expected = outcome.pctr_sum(log)
    share = f"{expected / optimum:.1%}" if optimum > 0 else "–"
    return (
        f"{clicks:,} | {impressions:,} | {spend:,.0f} | {ecpc} | {ctr} | {expected:,.1f} | {share}"
    )


def _budget_rows(log: AuctionLog, result: BudgetResult) -> list[str]:
    best = result.optimum.outcome.pctr_sum(log)
    label = f"1/{result.fraction}"
    lines = [
        f"| {label} | {TITLES[row.strategy]} | {_cells(log, row.outcome, best)} | "
        f"{row.parameters} |"
        for row in result.rows
    ]
    bound = result.optimum.upper_bound
    lines.append(
        f"| {label} | hindsight optimum | {_cells(log, result.optimum.outcome, best)} | "
        f"greedy knapsack; exact optimum ≤ {bound:,.1f} pCTR clicks |"
    )
    return lines


def table(result: ReplayResult) -> str:
    """The Markdown table of every budget and strategy."""
    lines = [_HEADER, _RULE]
    for budget in result.budgets:
        lines += _budget_rows(result.test, budget)
    return "\n".join(lines)


def text(result: ReplayResult) -> str:
    """The whole report: the logs, how parameters were chosen, the table, the shift from
    training to test."""
    train, test = result.train, result.test
    shift_cpm = test.price_cpm_micros.mean() / train.price_cpm_micros.mean()
    shift_pctr = test.require_pctr().mean() / train.require_pctr().mean()
    objective = {"clicks": "training clicks", "pctr": "training pCTR clicks"}[result.objective]
    lines = [
        f"train: {describe(train)}",
        f"test:  {describe(test)}",
        f"test vs train: market price ×{shift_cpm:.3f}, mean pCTR ×{shift_pctr:.3f}",
        f"parameters chosen by {objective}; budgets are fractions of the test log's cost",
        "",
        table(result),
    ]
    return "\n".join(lines) + "\n"
