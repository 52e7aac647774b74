"""``rtb experiment``'s output: a table on stdout, ``report.md`` and ``looks.png``."""

import math
from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # (after the backend is chosen)

from experiments.analysis import METRICS, Analysis
from experiments.stats import Estimate

__all__ = ["render", "write_report"]

_MICROS: Final = 1_000_000
_PERCENT: Final = frozenset({"win_rate", "ctr", "cvr"})


def _value(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.3f} %" if metric in _PERCENT else f"{value:.4f}"


def _with_interval(metric: str, estimate: Estimate, alpha: float) -> str:
    low, high = estimate.interval(alpha)
    if metric in _PERCENT:  # a rate's normal interval, cut to what a rate can be
        low, high = max(low, 0.0), min(high, 1.0)
    if not math.isfinite(estimate.value):
        return "n/a"
    return f"{_value(metric, estimate.value)} [{_value(metric, low)}, {_value(metric, high)}]"


def render(analysis: Analysis) -> str:
    """The report as Markdown (also what is printed)."""
    level = f"{1 - analysis.alpha:.0%}"
    lines = [
        f"## Variants (fixed-horizon {level} intervals; control {analysis.control})",
        "",
        "| variant | units | bids | spend | impressions | clicks | conversions | win rate | CTR | "
        "CVR | eCPC | ROI |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |",
    ]
    for v in analysis.variants:
        metrics = " | ".join(_with_interval(m, v.metrics[m], analysis.alpha) for m in METRICS)
        lines.append(
            f"| {v.name} | {v.units:,} | {v.counts['bids']:,} | "
            f"{v.micros['spend'] / _MICROS:,.2f} | "
            f"{v.counts['impressions']:,} | {v.counts['clicks']:,} | "
            f"{v.counts['conversions']:,} | {metrics} |"
        )
    m = analysis.metric
    lines += [
        "",
        f"## {m.upper()}: each variant against {analysis.control}, always-valid "
        f"(mSPRT, α = {analysis.alpha}, mixture for a {analysis.relative_mde:.0%} effect)",
        "",
        "| variant | looks | difference | always-valid interval | always-valid p | verdict | "
        f"units per arm for {analysis.relative_mde:.0%} at power {analysis.power:.0%} |",
        "| --- | ---: | --- | --- | ---: | --- | ---: |",
    ]
    for c in analysis.comparisons:
        last = c.test.looks[-1]
        low, high = last.interval
        verdict = "different" if c.test.rejected else "no difference found yet"
        lines.append(
            f"| {c.treatment} | {len(c.test.looks)} | {_value(m, last.difference)} | "
            f"[{_value(m, low)}, {_value(m, high)}] | {last.p_value:.4f} | {verdict} | "
            f"{c.needed_per_arm:,} (have {min(last.units):,}) |"
        )
    lines += [
        "",
        "The always-valid figures stay valid however often the report is run as the data "
        "grows; the fixed-horizon intervals only at one look decided in advance.",
    ]
    return "\n".join(lines) + "\n"


def _plot(analysis: Analysis, path: Path) -> None:
    figure, (p_axis, interval_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, c in enumerate(analysis.comparisons):
        units = [sum(look.units) for look in c.test.looks]
        colour = f"C{i}"
        p_axis.plot(units, [look.p_value for look in c.test.looks], color=colour, label=c.treatment)
        interval_axis.plot(units, [look.difference for look in c.test.looks], color=colour,
                           label=c.treatment)  # fmt: skip
        interval_axis.fill_between(
            units,
            [max(look.interval[0], -1e9) for look in c.test.looks],
            [min(look.interval[1], 1e9) for look in c.test.looks],
            color=colour,
            alpha=0.2,
        )
    p_axis.axhline(analysis.alpha, color="grey", linestyle="--", label=f"α = {analysis.alpha}")
    p_axis.set(xlabel="units so far", ylabel="always-valid p", yscale="log", title="p-value")
    interval_axis.axhline(0.0, color="grey", linewidth=0.8)
    interval_axis.set(xlabel="units so far", ylabel=f"{analysis.metric} difference",
                      title="difference and always-valid interval")  # fmt: skip
    bounds = [x for c in analysis.comparisons for look in c.test.looks for x in look.interval]
    finite = [x for x in bounds if math.isfinite(x)]
    if finite:
        span = max(finite) - min(finite) or 1.0
        interval_axis.set_ylim(min(finite) - 0.1 * span, max(finite) + 0.1 * span)
    p_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(analysis: Analysis, directory: Path) -> list[Path]:
    """``report.md`` and ``looks.png`` in ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    report, plot = directory / "report.md", directory / "looks.png"
    report.write_text(f"# Experiment\n\n{render(analysis)}", encoding="utf-8")
    _plot(analysis, plot)
    return [report, plot]
