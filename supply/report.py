"""``rtb supply-paths``' output: a table on stdout, ``supply_paths.md``, ``supply_paths.csv``
(money in micros) and ``supply_paths.png``."""

import csv
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Final

from supply.paths import NO_SCHAIN
from supply.scores import PathScore

__all__ = ["render", "write_csv", "write_plot"]

_MICROS: Final = 1_000_000
_PATH_WIDTH: Final = 60
COLUMNS: Final = (
    "path", "hops", "complete", "auctions", "bid_rate", "win_rate", "wins", "ecpm_micros",
    "bid_clear_gap", "billed", "billed_share", "clicks", "click_rate", "ivt_share", "blocked",
)  # fmt: skip


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _cell(text: str) -> str:
    text = "(no schain)" if text == NO_SCHAIN else text
    short = text if len(text) <= _PATH_WIDTH else text[: _PATH_WIDTH - 1] + "…"
    return short.replace("|", "\\|")


def render(scores: Sequence[PathScore], source: str, top: int) -> str:
    """The report as Markdown: the ``top`` paths by auctions (also what is printed)."""
    shown = scores[:top]
    lines = [
        f"## Supply paths ({source}: {len(scores)} paths, "
        f"{sum(s.auctions for s in scores):,} auctions)",
        "",
        "| path (asi:sid > …) | hops | complete | auctions | bid rate | win rate | wins | "
        "eCPM | bid–clear gap | billed | click rate | IVT share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in shown:
        ecpm = "n/a" if s.ecpm_micros is None else f"{s.ecpm_micros / _MICROS:,.4f}"
        lines.append(
            f"| {_cell(s.path)} | {'' if s.hops is None else s.hops} | "
            f"{'' if s.complete is None else s.complete} | {s.auctions:,} | {_pct(s.bid_rate)} | "
            f"{_pct(s.win_rate)} | {s.wins:,} | {ecpm} | {_pct(s.gap)} | "
            f"{_pct(s.billed_share)} | {_pct(s.click_rate)} | {_pct(s.ivt_share)} |"
        )
    if len(scores) > top:
        lines += ["", f"{len(scores) - top} more paths in the CSV."]
    lines += [
        "",
        "eCPM: mean clearing CPM of the wins. Bid–clear gap: 1 − Σ clearing ÷ Σ winning bid, "
        "an estimate of the room a reseller could take, not a measured fee. Billed: winning "
        "imps with a billing notice (the render proxy). Click rate: clicks ÷ billed. IVT "
        "share: auctions the screen flagged or blocked (docs/supply_paths.md).",
    ]
    return "\n".join(lines) + "\n"


def write_csv(scores: Sequence[PathScore], path: Path) -> Path:
    """Every path, one row, money in micros; ``path``."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows(astuple(s) for s in scores)  # COLUMNS is PathScore's field order
    return path


def write_plot(scores: Sequence[PathScore], path: Path, top: int) -> Path:
    """Win rate, eCPM, billed and IVT share per path (the ``top`` by auctions), hops as
    the colour; ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = scores[:top]
    labels = [f"{s.hops if s.hops is not None else '?'} · {_cell(s.path)[:40]}" for s in shown]
    colours = [f"C{min(s.hops or 0, 9)}" for s in shown]
    panels = [
        ("win rate (%)", [100 * s.win_rate for s in shown]),
        ("eCPM of wins", [(s.ecpm_micros or 0) / _MICROS for s in shown]),
        ("billed share (%)", [100 * (s.billed_share or 0) for s in shown]),
        ("IVT share (%)", [100 * s.ivt_share for s in shown]),
    ]
    height = 1.2 + 0.35 * max(len(shown), 3)
    figure, axes = plt.subplots(1, len(panels), figsize=(15, height), sharey=True)
    rows = list(range(len(shown)))
    for (title, values), panel in zip(panels, axes, strict=True):
        panel.barh(rows, values, color=colours)
        panel.set(xlabel=title)
        panel.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(rows, labels, fontsize=7)
    axes[0].invert_yaxis()
    figure.suptitle("supply paths (label: hops · path; colour: hops)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
