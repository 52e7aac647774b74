"""The report directory: ``report.md`` with the figures, the plots, and a summary for stdout."""

import math
from collections.abc import Sequence
from pathlib import Path

from simulation import plots
from simulation.engine import SimResult
from simulation.measure import (
    SLOT_TARGET,
    TOLERANCE,
    CampaignFigures,
    Headline,
    campaign_figures,
    headline,
    pooled_slot_error,
)
from simulation.versus import Bought, Pooled, Versus, pooled, versus

_MICROS = 1_000_000


def _usd(micros: float) -> str:
    return f"{micros / _MICROS:,.2f}"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f} %"


def _versus_line(pool: Pooled) -> str:
    return (
        f"own strategy vs Lin (b0 tuned on yesterday) at each budget, {pool.campaigns} "
        f"deliverable campaigns pooled: expected clicks {pool.own.expected_clicks:,.1f} vs "
        f"{pool.lin.expected_clicks:,.1f} (×{pool.ratio:.3f}), spend {_usd(pool.own.spent_micros)}"
        f" vs {_usd(pool.lin.spent_micros)} of {_usd(pool.budget_micros)}; Lin with b0 in "
        f"hindsight {pool.lin_hindsight.expected_clicks:,.1f}"
    )


def summary(result: SimResult, head: Headline, pool: Pooled | None = None) -> str:
    """The figures the run is judged by, as a few lines of text (with ``pool``: the line
    of own vs Lin)."""
    cfg = result.config
    verdict = "met" if head.on_budget_share >= 0.95 else "NOT met"
    return "\n".join(
        [
            f"campaigns whose demand allows their budget: {head.deliverable}; within "
            f"±{TOLERANCE:.0%} of budget: {head.on_budget} ({head.on_budget_share:.1%}; "
            f"target ≥ 95 %: {verdict})",
            f"campaigns over 100 % of budget: {head.over_budget} (target 0)",
            f"15-min slot error (RMS of spend − plan ÷ planned per slot), deliverable campaigns: "
            f"median {_pct(head.slot_error_median)}, budget-weighted "
            f"{_pct(head.slot_error_weighted)}, p90 {_pct(head.slot_error_p90)}; "
            f"{head.within_slot_target}/{head.deliverable} ≤ "
            f"{SLOT_TARGET:.0%} (median Poisson floor {_pct(head.poisson_floor_median)}); "
            f"all deliverable campaigns pooled: {_pct(head.pooled_slot_error)}",
            f"{cfg.requests:,} requests today ({cfg.yesterday_requests:,} yesterday), "
            f"{cfg.processes} processes, pacing {cfg.pacing}, {result.events:,} events, "
            f"{result.wall_s:.0f} s",
            *([_versus_line(pool)] if pool is not None else []),
            *([_canary_line(result)] if result.canary is not None else []),
        ]
    )


def _canary_line(result: SimResult) -> str:
    outcome = result.canary
    assert outcome is not None
    canary = result.config.canary
    name = canary.name if canary is not None else "canary"
    arms = ", ".join(
        f"{arm} {counts['requests']:,} requests {counts['bids']:,} bids {counts['wins']:,} wins"
        for arm, counts in outcome.arms.items()
    )
    if outcome.rolled_back_s is None:
        return f"canary {name}: kept all day ({'/'.join(outcome.states)}); {arms}"
    hours = (outcome.rolled_back_s - result.stats.start_s) / 3600
    return f"canary {name}: rolled back {hours:.1f} h into the day: {outcome.reason}; {arms}"


def _header(columns: str, left: int) -> list[str]:
    """A Markdown table's head: ``columns`` separated by ``|``, the first ``left`` of them
    aligned left, the others right (figures)."""
    names = [c.strip() for c in columns.split("|")]
    aligns = ["---"] * left + ["---:"] * (len(names) - left)
    return [f"| {' | '.join(names)} |", f"| {' | '.join(aligns)} |"]


def _name(campaign_id: str, deliverable: bool) -> str:
    return campaign_id if deliverable else f"{campaign_id} (over-budgeted)"


def _table(figures: Sequence[CampaignFigures]) -> list[str]:
    lines = _header(
        "campaign | zone | targeting | budget | spent | delivery | impressions | bids | "
        "win rate | eCPM | CTR | slot error | Poisson floor | mean mult. | mean part.",
        left=3,
    )
    for f in figures:
        lines.append(
            f"| {_name(f.id, f.deliverable)} | {f.time_zone} | {f.summary} | "
            f"{_usd(f.budget_micros)} | {_usd(f.spent_micros)} | {f.delivery:.1%} | "
            f"{f.impressions:,} | {f.bids:,} | "
            f"{f.win_rate:.1%} | {_usd(f.ecpm_micros)} | {f.ctr:.2%} | {_pct(f.slot_error)} | "
            f"{_pct(f.poisson_floor)} | {f.mean_multiplier:.2f} | {f.mean_participation:.2f} |"
        )
    return lines


def _bought(b: Bought | None) -> str:
    if b is None:
        return "– | –"  # the replay of the own strategy, when not asked for
    return f"{_usd(b.spent_micros)} | {b.expected_clicks:.2f} ({b.clicks})"


def _versus_table(rows: Sequence[Versus], pool: Pooled | None) -> list[str]:
    lines = _header(
        "campaign | budget | auctions | own (simulation): spend | exp. clicks (clicks) | "
        "own (replay): spend | exp. clicks (clicks) | Lin: b0 | spend | exp. clicks (clicks) | "
        "own ÷ Lin | Lin, b0 in hindsight: spend | exp. clicks (clicks) | own ÷ hindsight",
        left=1,
    )
    for v in rows:
        lines.append(
            f"| {_name(v.id, v.deliverable)} | {_usd(v.budget_micros)} | {v.rows:,} | "
            f"{_bought(v.own)} | {_bought(v.own_replay)} | "
            f"{v.lin_label.removeprefix('b0 ')} | {_bought(v.lin)} | "
            f"{_ratio(v.own, v.lin)} | {_bought(v.lin_hindsight)} | "
            f"{_ratio(v.own, v.lin_hindsight)} |"
        )
    if pool is not None:
        lines.append(
            f"| **pooled, {pool.campaigns} deliverable** | {_usd(pool.budget_micros)} | | "
            f"{_bought(pool.own)} | {_bought(pool.own_replay)} | | {_bought(pool.lin)} | "
            f"{_ratio(pool.own, pool.lin)} | {_bought(pool.lin_hindsight)} | "
            f"{_ratio(pool.own, pool.lin_hindsight)} |"
        )
    return lines


def _ratio(own: Bought, other: Bought) -> str:
    return f"{own.expected_clicks / other.expected_clicks:.3f}" if other.expected_clicks else "n/a"


def figures_table(result: SimResult) -> str:
    """The per-campaign table of the report, as Markdown."""
    return "\n".join(_table(campaign_figures(result)))


def write_report(result: SimResult, out: Path, command: str) -> str:
    """Write ``out/report.md`` and its plots; the summary text."""
    out.mkdir(parents=True, exist_ok=True)
    figures = campaign_figures(result)
    head = headline(figures, pooled_slot_error(result, figures))
    plots.cumulative_grid(result, figures, out / "cumulative_all.png")
    plots.cumulative_examples(result, figures, out / "cumulative_examples.png")
    plots.hourly(result, out / "hourly.png")
    plots.delivery(figures, out / "delivery.png")
    plots.signals(result, figures, out / "pacing_advice.png")
    plots.slot_errors(figures, out / "slot_error.png")
    against = versus(result)
    pool = pooled(against)
    text = summary(result, head, pool)
    cfg = result.config
    lines = [
        f"# Day simulation {cfg.day} (seed {cfg.seed})",
        "",
        f"Reproduce: `{command}`",
        "",
        "```",
        text,
        "```",
        "",
        "Campaigns marked *over-budgeted* were given more budget than every impression they"
        " want would cost at their highest bid: no pacing can deliver it; they are left out of"
        " the ±2 % and slot-error figures. The slot error's *Poisson floor* is what random"
        " arrival of the campaign's impressions alone would cause at its volume.",
        "",
        "## Cumulative spend vs plan",
        "",
        "![examples](cumulative_examples.png)",
        "",
        "![all campaigns](cumulative_all.png)",
        "",
        "## Delivery",
        "",
        "![delivery](delivery.png)",
        "",
        "## The exchange hour by hour",
        "",
        "![hourly](hourly.png)",
        "",
        "## Pacing advice and slot error",
        "",
        "![advice](pacing_advice.png)",
        "",
        "![slot error](slot_error.png)",
        "",
        "## Campaigns",
        "",
        *_table(figures),
        "",
        "## The strategy against Lin on the same traffic",
        "",
        "Each campaign's auctions today (every imp its targeting made it a candidate for,"
        " with the price it had to beat: the best other bid or the floor, plus the"
        " increment) replayed with the iPinYou protocol at its daily budget: Lin's b0 tuned"
        " on the campaign's auctions of yesterday; *own (replay)* the same controller and bid"
        " formula on the same log, its controller state learnt on yesterday's; *b0 in"
        " hindsight* tuned on today's log itself (not the protocol: the best a single bid"
        " level could do). *Exp. clicks* sum the traffic model's true click probability over"
        " the impressions bought (realised clicks in brackets). The campaigns bid without"
        " models, at one pCTR each, so Lin is a constant bid here. A replay holds everyone"
        " else's bids fixed: had a campaign bid like Lin, its rivals' pacing would have"
        " reacted (docs/pacing.md, *The strategy against Lin*).",
        "",
        *_versus_table(against, pool),
        "",
    ]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return text
