"""What ``rtb attribute`` prints and writes: a markdown table of every channel's credit by
every model (amount and share), and the same as CSV rows in micros."""

import csv
from pathlib import Path
from typing import Final

from attribution.run import MODELS, Attribution

__all__ = ["TITLES", "table", "write_csv"]

TITLES: Final = {
    "last_click": "last click",
    "first_click": "first click",
    "linear": "linear",
    "time_decay": "time decay",
    "position": "position 40/20/40",
    "shapley": "Shapley",
}


def _money(micros: float) -> str:
    return f"{micros / 1_000_000:,.2f}"


def _cell(micros: int, whole: int) -> str:
    share = f" ({micros / whole:.1%})" if whole else ""
    return _money(micros) + share


def _summary(result: Attribution) -> str:
    o = result.options
    shap = result.shapley
    how = (
        f"exact over {len(shap.channels)} channels"
        if shap.std_error is None
        else f"sampled: {shap.permutations:,} random orders (seed {o.seed}), ± one standard error"
    )
    unattributed = result.conversions - result.attributed
    return (
        f"{result.conversions:,} conversions worth {_money(result.value_micros)}; "
        f"{result.attributed:,} with a touch in the {o.lookback_days:g}-day lookback window, "
        f"{unattributed:,} without (worth {_money(result.unattributed_micros)}, unattributed). "
        f"Journeys without a conversion: {result.quiet_paths:,}. Time decay: half-life "
        f"{o.half_life_days:g} days. Shapley: {shap.form} form, {how}.\n"
    )


def table(result: Attribution) -> str:
    """The report in markdown: a summary line and the table, channels as rows."""
    totals = {m: sum(result.credits[m].values()) for m in MODELS}
    sampled = result.shapley.std_error is not None
    error = result.std_errors
    header = ["channel", *(TITLES[m] for m in MODELS)] + (["Shapley ± s.e."] if sampled else [])
    lines = [
        f"# rtb attribute: {result.source}\n",
        _summary(result),
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |",
    ]
    for channel in result.channels:
        cells = [_cell(result.credits[m][channel], totals[m]) for m in MODELS]
        if sampled:
            cells.append("± " + _money(error.get(channel, 0.0)))
        lines.append(f"| {channel} | " + " | ".join(cells) + " |")
    cells = [_money(totals[m]) for m in MODELS] + ([""] if sampled else [])
    lines.append("| **total** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(result: Attribution, path: Path) -> None:
    """One row per model and channel: ``credit_micros`` (whole, each model's add up to the
    attributed value), ``share``, and the sampled Shapley's ``std_error_micros``."""
    error = result.std_errors
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["model", "channel", "credit_micros", "share", "std_error_micros"])
        for model in MODELS:
            credits = result.credits[model]
            whole = sum(credits.values())
            for channel, micros in credits.items():
                share = f"{micros / whole:.6f}" if whole else ""
                se = f"{error[channel]:.1f}" if model == "shapley" and channel in error else ""
                writer.writerow([model, channel, micros, share, se])
