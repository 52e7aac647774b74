"""``rtb landscapes``: the routers' first-price bid landscapes from the event log
(``bidding.landscape_file``), for the exchange to swap in (``RTB_LANDSCAPE_FILE``)."""

import argparse
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog

__all__ = ["add_landscapes_command"]

log = structlog.get_logger("app.landscapes")


def _run(args: argparse.Namespace) -> int:
    from bidding.event_log import read_event_csv
    from bidding.landscape_file import books_from_events, write_landscapes

    if not (math.isfinite(args.hours) and args.hours > 0):
        print("rtb landscapes: --hours must be a number > 0", file=sys.stderr)
        return 2
    newest = args.now if args.now is not None else time.time()
    since = newest - args.hours * 3600
    try:
        books = books_from_events(read_event_csv(args.events), since, newest)
    except (OSError, ValueError) as exc:
        print(f"rtb landscapes: {exc}", file=sys.stderr)
        return 2
    if not books:
        print(f"rtb landscapes: no shading events in the last {args.hours:g} h", file=sys.stderr)
        return 1
    try:
        write_landscapes({name: book for name, (book, _) in books.items()}, args.out)
    except OSError as exc:
        print(f"rtb landscapes: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    at = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{at}: router {name}: {count:,} observations over {args.hours:g} h, "
        f"{len(book):,} buckets → {args.out}"
        for name, (book, count) in sorted(books.items())
    ]
    report = args.out.with_suffix(".md")
    with report.open("a", encoding="utf-8") as out:
        out.writelines(f"- {line}\n" for line in lines)
    for name, (book, count) in sorted(books.items()):
        log.info("landscapes_refreshed", router=name, observations=count, buckets=len(book))
    print("\n".join(lines))
    return 0


def add_landscapes_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> None:
    """``rtb landscapes``."""
    parser = commands.add_parser(
        "landscapes",
        help="rebuild the routers' first-price bid landscapes from the event log",
        description=(
            "Replay the shading events of the last --hours (every process's, in time order) "
            "into one landscape book per router, as the routers learn online, and write them "
            "to --out, where the exchange swaps them in when RTB_LANDSCAPE_FILE names it. "
            "Each run appends a line to the report beside --out (its path with the suffix .md: "
            "landscapes.md for landscapes.npz). Run it hourly after "
            "rtb export (docs/bidding.md, First-price shading)."
        ),
    )
    parser.add_argument(
        "--events", type=Path, nargs="+", required=True, metavar="CSV", help="`rtb export` files"
    )
    parser.add_argument("--out", type=Path, required=True, help="the landscape file (.npz)")
    parser.add_argument("--hours", type=float, default=24.0, help="how much of the log to use")
    parser.add_argument(
        "--now", type=float, default=None, help="the end of the window (Unix s; default now)"
    )
    parser.set_defaults(handler=_run)
