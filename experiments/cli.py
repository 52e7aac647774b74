"""``rtb experiment``: an A/B test of bid strategies from a CSV of units."""

import argparse
import sys
from pathlib import Path

__all__ = ["add_experiment_command"]


def _run(args: argparse.Namespace) -> int:
    from experiments.analysis import analyse
    from experiments.report import render, write_report
    from experiments.units import read_units

    problem = (
        "--alpha must be between 0 and 1" if not 0 < args.alpha < 1
        else "--power must be between 0 and 1" if not 0 < args.power < 1
        else "--mde must be > 0" if not args.mde > 0
        else "--looks must be ≥ 1" if args.looks < 1
        else None
    )  # fmt: skip
    if problem:
        print(f"rtb experiment: {problem}", file=sys.stderr)
        return 2
    try:
        if args.events:
            from bidding.event_log import read_event_csv
            from experiments.events import units_from_events

            if not args.experiment:
                raise ValueError("--events needs --experiment NAME (the campaign's experiment)")
            units = units_from_events(read_event_csv(args.events), args.experiment)
        else:
            units = read_units(args.input)
        analysis = analyse(units, args.control, args.metric, alpha=args.alpha,
                           relative_mde=args.mde, power=args.power, looks=args.looks)  # fmt: skip
    except (OSError, ValueError) as exc:
        print(f"rtb experiment: {exc}", file=sys.stderr)
        return 2
    print(render(analysis), end="")
    if args.out is not None:
        for path in write_report(analysis, args.out):
            print(f"wrote {path}")
    return 0


def add_experiment_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> None:
    """``rtb experiment``."""
    from experiments.analysis import METRICS

    parser = commands.add_parser(
        "experiment",
        help="compare the variants of an A/B test with a test valid under repeated looks",
        description=(
            "Per variant: spend, impressions, clicks, conversions, CTR, CVR, eCPC and ROI "
            "with confidence intervals. Each variant against the control on --metric: the "
            "mixture sequential probability ratio test (mSPRT) after each of --looks equal "
            "steps through the units in time order, whose p-value and interval stay valid "
            "however often they are looked at, and the units per arm a fixed-horizon test "
            "would need for an effect of --mde."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--events",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="`rtb export` files: the bids of --experiment's variants (or a canary's arms)",
    )
    parser.add_argument("--experiment", help="with --events: the experiment's name")
    source.add_argument(
        "--input",
        type=Path,
        help="CSV: variant, optional ts (Unix seconds), bids, impressions, clicks, conversions, "
        "spend, value (money in currency units); a row per unit (auction, user, campaign-day)",
    )
    parser.add_argument("--control", default="control", help="the control variant's name")
    parser.add_argument("--metric", choices=sorted(METRICS), default="ctr", help="tested metric")
    parser.add_argument("--alpha", type=float, default=0.05, help="false-positive rate")
    parser.add_argument("--power", type=float, default=0.8, help="for the sample size")
    parser.add_argument(
        "--mde", type=float, default=0.1, help="minimum detectable effect, relative (0.1: 10 %%)"
    )
    parser.add_argument("--looks", type=int, default=20, help="looks at the growing data")
    parser.add_argument("--out", type=Path, help="directory for report.md and looks.png")
    parser.set_defaults(handler=_run)
