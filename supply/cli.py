"""``rtb supply-paths``: per supply path win rate, eCPM, take-rate estimate, IVT share."""

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["add_supply_paths_command"]


def _rows(paths: Sequence[Path]) -> Iterator[tuple[str, Mapping[str, str]]]:
    from bidding.event_log import read_event_csv

    for path in paths:
        for number, event in enumerate(read_event_csv([path]), start=2):  # line 1: header
            yield f"{path} row {number}", event


def _run(args: argparse.Namespace) -> int:
    from supply.report import render, write_csv, write_plot
    from supply.scores import score_paths

    if args.top < 1:
        print("rtb supply-paths: --top must be ≥ 1", file=sys.stderr)
        return 2
    try:
        scores = score_paths(_rows(args.events))
    except (OSError, ValueError) as exc:
        print(f"rtb supply-paths: {exc}", file=sys.stderr)
        return 2
    if not scores:
        print("rtb supply-paths: no auction events in the export", file=sys.stderr)
        return 2
    report = render(scores, ", ".join(str(p) for p in args.events), args.top)
    print(report, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        written = [args.out / "supply_paths.md", write_csv(scores, args.out / "supply_paths.csv")]
        written[0].write_text(f"# Supply paths\n\n{report}", encoding="utf-8")
        if not args.no_plots:
            written.append(write_plot(scores, args.out / "supply_paths.png", args.top))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def add_supply_paths_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> None:
    """Register ``supply-paths`` on the ``rtb`` parser."""
    parser = commands.add_parser(
        "supply-paths",
        help="score supply paths (schain) from an event export: win rate, eCPM, IVT share",
        description=(
            "Per supply path (the request's schain nodes as asi:sid, and its hops): auctions, "
            "bid rate, win rate, eCPM of the wins, the bid–clear gap as a take-rate estimate, "
            "billed share, click rate and the share of auctions the traffic screen flagged or "
            "blocked (docs/supply_paths.md). Prints a table; writes it, a CSV in micros and a "
            "plot into --out."
        ),
    )
    parser.add_argument("--events", type=Path, nargs="+", required=True, metavar="CSV",
                        help="`rtb export` files")  # fmt: skip
    parser.add_argument("--out", type=Path, help="directory for the report, CSV and plot")
    parser.add_argument("--top", type=int, default=20, help="paths in the table and plot")
    parser.add_argument("--no-plots", action="store_true", help="skip supply_paths.png")
    parser.set_defaults(handler=_run)
