"""The report's figures (matplotlib, Agg backend: files only, no display needed)."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # (after the backend is chosen)
from matplotlib.axes import Axes

from simulation.engine import SimResult
from simulation.measure import TOLERANCE, CampaignFigures, planned_slots
from simulation.stats import CampaignTally

_DPI = 110
_MICROS = 1_000_000


def _cumulative(tally: CampaignTally, budget_micros: int) -> tuple[list[float], list[float]]:
    """Hours into the day and the share of the budget spent by then, per 15-minute slot."""
    hours, shares, total = [0.0], [0.0], 0
    for i, spend in enumerate(tally.slot_spend):
        total += spend
        hours.append((i + 1) / 4)
        shares.append(total / budget_micros)
    return hours, shares


def _plan_curve(tally: CampaignTally) -> tuple[list[float], list[float]]:
    plan = tally.plan
    slots = len(tally.slot_spend)
    if plan is None:
        return [0.0, slots / 4], [0.0, 1.0]
    step = (plan.end_s - plan.start_s) / slots
    return [i / 4 for i in range(slots + 1)], [
        plan.share(plan.start_s + i * step) for i in range(slots + 1)
    ]


def _draw_campaign(axes: Axes, result: SimResult, figure: CampaignFigures, small: bool) -> None:
    tally = result.stats.campaigns[figure.id]
    axes.plot(*_plan_curve(tally), color="C1", linewidth=3, alpha=0.45, label="plan")
    axes.plot(*_cumulative(tally, figure.budget_micros), color="C0", linewidth=1, label="spent")
    axes.axhline(1.0, color="C3", linewidth=0.6)
    axes.set_xlim(0, len(tally.slot_spend) / 4)
    axes.set_ylim(0, 1.12)
    marker = "" if figure.deliverable else " (over-budgeted)"
    axes.set_title(f"{figure.id} {figure.delivery:.1%}{marker}", fontsize=7 if small else 9)
    if small:
        axes.tick_params(labelsize=5)
        axes.set_xticks([0, 6, 12, 18, 24])


def cumulative_grid(result: SimResult, figures: Sequence[CampaignFigures], path: Path) -> None:
    """Every campaign's cumulative spend (share of budget) against its plan, local hours."""
    cols = 10
    rows = (len(figures) + cols - 1) // cols
    fig, grid = plt.subplots(rows, cols, figsize=(16, 1.7 * rows), squeeze=False)
    for axes, figure in zip(grid.flat, figures, strict=False):
        _draw_campaign(axes, result, figure, small=True)
    for axes in list(grid.flat)[len(figures) :]:
        axes.axis("off")
    fig.suptitle("Cumulative spend / daily budget (blue) vs plan (dashed), campaign local hours")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _draw_slots(axes: Axes, result: SimResult, figure: CampaignFigures) -> None:
    tally = result.stats.campaigns[figure.id]
    planned = planned_slots(tally, figure.budget_micros)
    hours = [i / 4 for i in range(len(planned))]
    axes.step(
        hours,
        [p / _MICROS for p in planned],
        where="post",
        color="C1",
        linewidth=2.5,
        alpha=0.45,
        label="plan",
    )
    axes.step(
        hours,
        [a / _MICROS for a in tally.slot_spend],
        where="post",
        color="C0",
        linewidth=0.8,
        label="spent",
    )
    axes.set_xlim(0, len(planned) / 4)
    axes.set_title(f"{figure.id}: per 15 min (USD), slot error {figure.slot_error:.0%}", fontsize=9)


def cumulative_examples(
    result: SimResult, figures: Sequence[CampaignFigures], path: Path, count: int = 4
) -> None:
    """A few campaigns large — the biggest budget of each time zone and an over-budgeted
    one: cumulative spend against the plan, and spend per 15 minutes."""
    chosen: list[CampaignFigures] = []
    by_budget = sorted(figures, key=lambda f: -f.budget_micros)
    for zone in sorted({f.time_zone for f in figures}):
        chosen += [f for f in by_budget if f.time_zone == zone and f.deliverable][:1]
    chosen += [f for f in by_budget if not f.deliverable][:1]
    chosen += [f for f in by_budget if f.deliverable and f not in chosen]
    chosen = chosen[:count]
    fig, grid = plt.subplots(2, len(chosen), figsize=(4 * len(chosen), 6.5), squeeze=False)
    for column, figure in enumerate(chosen):
        _draw_campaign(grid[0][column], result, figure, small=False)
        _draw_slots(grid[1][column], result, figure)
        grid[1][column].set_xlabel(f"hours of the day ({figure.time_zone})", fontsize=8)
    grid[0][0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Spend against plan: cumulative share of the daily budget, and per 15 minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def hourly(result: SimResult, path: Path) -> None:
    """The exchange hour by hour (UTC): spend, win rate, eCPM, CTR, fill rate, requests."""
    stats = result.stats
    start = datetime.fromtimestamp(stats.start_s, tz=UTC)
    hours = [start.hour + i for i in range(len(stats.hours))]
    tallies = stats.hours

    def ratio(num: Sequence[float], den: Sequence[float], scale: float = 1.0) -> list[float]:
        return [scale * n / d if d else float("nan") for n, d in zip(num, den, strict=True)]

    panels = [
        ("campaign spend (USD)", [t.spend_micros / _MICROS for t in tallies]),
        (
            "win rate of campaign bids",
            ratio([t.campaign_wins for t in tallies], [t.campaign_bids for t in tallies]),
        ),
        (
            "campaign eCPM (USD)",
            ratio(
                [t.spend_micros / _MICROS for t in tallies], [t.impressions for t in tallies], 1000
            ),
        ),
        ("CTR", ratio([t.clicks for t in tallies], [t.impressions for t in tallies])),
        ("fill rate (imps sold)", ratio([t.filled for t in tallies], [t.imps for t in tallies])),
        ("requests", [float(t.requests) for t in tallies]),
    ]
    fig, grid = plt.subplots(2, 3, figsize=(14, 6.5))
    for axes, (title, values) in zip(grid.flat, panels, strict=True):
        axes.plot(hours, values, marker=".", linewidth=1)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel(f"hours since {start:%Y-%m-%d} 00:00 UTC", fontsize=8)
    fig.suptitle("Hour by hour (UTC)")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def delivery(figures: Sequence[CampaignFigures], path: Path) -> None:
    """Each campaign's delivery, sorted, with the ±2 % band."""
    ordered = sorted(figures, key=lambda f: f.delivery)
    fig, axes = plt.subplots(figsize=(12, 4))
    colors = ["C0" if f.deliverable else "C1" for f in ordered]
    axes.bar([f.id for f in ordered], [100 * f.delivery for f in ordered], color=colors)
    axes.axhspan(100 * (1 - TOLERANCE), 100 * (1 + TOLERANCE), color="C2", alpha=0.2)
    axes.axhline(100, color="C3", linewidth=0.8)
    axes.set_ylabel("spend / daily budget (%)")
    axes.tick_params(axis="x", labelrotation=90, labelsize=7)
    axes.set_title("Budget delivery (orange: budget beyond what the campaign's traffic allows)")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _smooth(values: Sequence[float], window: int = 30) -> list[float]:
    """Running mean over the last ``window`` values (the raw advice moves every tick)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def signals(result: SimResult, figures: Sequence[CampaignFigures], path: Path) -> None:
    """Pacing advice through the day for the largest deliverable and over-budgeted ones."""
    chosen = sorted((f for f in figures if f.deliverable), key=lambda f: -f.budget_micros)[:3]
    chosen += [f for f in figures if not f.deliverable][:1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    for figure in chosen:
        tally = result.stats.campaigns[figure.id]
        hours = [(t - tally.day_start_s) / 3600 for t, _, _ in tally.signals]
        top.plot(hours, _smooth([m for _, m, _ in tally.signals]), linewidth=0.9, label=figure.id)
        bottom.plot(
            hours, _smooth([p for _, _, p in tally.signals]), linewidth=0.9, label=figure.id
        )
    top.set_ylabel("bid multiplier")
    top.set_ylim(0.45, 2.05)
    bottom.set_ylabel("participation")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_xlabel("hours into the campaign's day")
    top.legend(fontsize=8, ncol=len(chosen))
    fig.suptitle("Pacing advice (shared by all processes; running means over 30 ticks)")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def slot_errors(figures: Sequence[CampaignFigures], path: Path) -> None:
    """Slot error against impressions, with each campaign's Poisson floor."""
    fig, axes = plt.subplots(figsize=(8, 4.5))
    chosen = [f for f in figures if f.deliverable and f.impressions]
    axes.scatter(
        [f.impressions for f in chosen],
        [100 * f.slot_error for f in chosen],
        s=14,
        label="slot error",
    )
    axes.scatter(
        [f.impressions for f in chosen],
        [100 * f.poisson_floor for f in chosen],
        s=10,
        marker="x",
        color="0.5",
        label="Poisson floor",
    )
    axes.axhline(10, color="C3", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = [2, 5, 10, 20, 50, 100, 200]
    axes.set_yticks(ticks, labels=[f"{t} %" for t in ticks])
    axes.set_xlabel("impressions in the day")
    axes.set_ylabel("RMS of 15-min spend − plan (% of planned per slot)")
    axes.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
