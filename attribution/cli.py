"""``rtb attribute``: conversions credited to channels or campaigns by six models."""

import argparse
import sys
from pathlib import Path

from attribution.shapley import EXACT_UP_TO, FORMS


def _run(args: argparse.Namespace) -> int:
    from attribution.journeys import InputError, from_events, read_touchpoints
    from attribution.report import table, write_csv
    from attribution.run import Options, attribute

    if (args.touchpoints is None) == (not args.events):
        print("rtb attribute: give --touchpoints CSV or --events EXPORT.csv …", file=sys.stderr)
        return 2
    try:
        options = Options(
            lookback_days=args.lookback_days,
            half_life_days=args.half_life_days,
            shapley_form=args.shapley_value,
            exact_up_to=args.exact_up_to,
            permutations=args.permutations,
            seed=args.seed,
        )
        if args.touchpoints is not None:
            journeys = read_touchpoints(args.touchpoints, args.key)
        else:
            from bidding.event_log import read_event_csv

            events = read_event_csv(args.events)
            journeys = from_events(events, ", ".join(str(p) for p in args.events))
        result = attribute(journeys, options)
    except (InputError, ValueError, OSError) as exc:
        print(f"rtb attribute: {exc}", file=sys.stderr)
        return 2
    report = table(result)
    print(report, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        written = [args.out / "attribution.md", args.out / "attribution.csv"]
        written[0].write_text(report, encoding="utf-8")
        write_csv(result, written[1])
        if not args.no_plots:
            from attribution.plots import write_plot

            written.append(write_plot(result, args.out / "attribution.png"))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def add_attribute_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``attribute`` on the ``rtb`` parser."""
    attribute = commands.add_parser(
        "attribute",
        help="credit conversions to channels or campaigns: last/first click, linear, time "
        "decay, position based, Shapley",
        description=(
            "Share each conversion's value among the touches of its journey within the "
            "lookback window by last click, first click, linear, time decay, position based "
            "(40/20/40) and data-driven Shapley values (exact up to --exact-up-to channels, "
            "sampled beyond with a standard error). Every model's credits add up to the "
            "conversions' value to the micro. Input: a touchpoint CSV (journey_id, timestamp, "
            "kind=touch|conversion, the --key column on touches, value on conversions) or "
            "`rtb export` files (each conversion is credited to the impression it was "
            "clicked from: the exchange logs no user key; docs/attribution.md). Prints a "
            "table; writes it, a CSV in micros and a plot into --out."
        ),
    )
    attribute.add_argument("--touchpoints", type=Path, help="touchpoint CSV")
    attribute.add_argument(
        "--events", type=Path, nargs="+", default=[], help="`rtb export` CSV files instead"
    )
    attribute.add_argument(
        "--key", default="channel", help="touchpoint CSV: the column credited (e.g. campaign)"
    )
    attribute.add_argument(
        "--lookback-days",
        type=float,
        default=30.0,
        help="touches older than this before a conversion get none of it",
    )
    attribute.add_argument(
        "--half-life-days", type=float, default=7.0, help="time decay: a touch's weight halves"
    )
    attribute.add_argument(
        "--shapley-value",
        choices=FORMS,
        default=FORMS[0],
        help="the coalition's worth: the value of the paths within it (subset), or its "
        "value per path times the paths (rate; needs journeys without a conversion)",
    )
    attribute.add_argument(
        "--exact-up-to",
        type=int,
        default=EXACT_UP_TO,
        help="Shapley: exact over every coalition up to this many channels, sampled beyond",
    )
    attribute.add_argument(
        "--permutations", type=int, default=2_000, help="Shapley, sampled: random orders"
    )
    attribute.add_argument("--seed", type=int, default=1, help="Shapley, sampled: random draws")
    attribute.add_argument("--out", type=Path, help="directory for attribution.md, .csv and .png")
    attribute.add_argument("--no-plots", action="store_true", help="the table and CSV only")
    attribute.set_defaults(handler=_run)
