"""``rtb replay``: strategies tuned on a training log, replayed over a test log under budgets."""

import argparse
import sys
from pathlib import Path

from simulation.replay.synthetic import LogSpec


def _fractions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("each fraction n (budget 1/n) must be ≥ 1")
    return values


def _strategies(text: str) -> tuple[str, ...]:
    from simulation.replay.run import STRATEGIES

    names = tuple(part.strip() for part in text.split(","))
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown strategy {', '.join(unknown)}: choose from {', '.join(STRATEGIES)}"
        )
    return names


def _run(args: argparse.Namespace) -> int:
    from simulation.replay.logs import LogError, read_log
    from simulation.replay.pctr import with_model_pctr
    from simulation.replay.report import text
    from simulation.replay.run import replay
    from simulation.replay.synthetic import generate

    if args.synthetic is None and (args.train is None or args.test is None):
        print("rtb replay: give --train and --test logs, or --synthetic ROWS", file=sys.stderr)
        return 2
    if args.synthetic is not None and args.synthetic < 100:
        print("rtb replay: --synthetic must be at least 100 rows a day", file=sys.stderr)
        return 2
    if not (args.test_price_shift > 0 and args.test_pctr_shift > 0):
        print("rtb replay: the test-day shifts must be > 0", file=sys.stderr)
        return 2
    if not args.own_horizon > 0:
        print("rtb replay: --own-horizon must be > 0 seconds", file=sys.stderr)
        return 2
    try:
        if args.synthetic is not None:
            spec = LogSpec(
                rows_per_day=args.synthetic,
                day_price_sd=args.day_price_sd,
                day_pctr_sd=args.day_pctr_sd,
                test_price_shift=args.test_price_shift,
                test_pctr_shift=args.test_pctr_shift,
            )
            logs = generate(spec, args.seed)
            train, test = logs.train, logs.test
        else:
            train = with_model_pctr(read_log(args.train), args.model)
            test = with_model_pctr(read_log(args.test), args.model)
        result = replay(
            train,
            test,
            fractions=args.fractions,
            strategies=args.strategies,
            objective=args.tune_on,
            seed=args.seed,
            own_horizon_s=args.own_horizon,
        )
    except (LogError, ValueError) as exc:
        print(f"rtb replay: {exc}", file=sys.stderr)
        return 2
    report = text(result)
    print(report, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "replay.md").write_text(report, encoding="utf-8")
        written = [args.out / "replay.md"]
        if not args.no_plots:
            from simulation.replay.plots import write_plots

            written += write_plots(result, args.out)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def add_replay_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``replay`` on the ``rtb`` parser."""
    from simulation.replay.own import REPLAY_HORIZON_S
    from simulation.replay.run import FRACTIONS, STRATEGIES

    spec = LogSpec()
    replay = commands.add_parser(
        "replay",
        help="replay bidding strategies over an auction log under budgets (iPinYou protocol)",
        description=(
            "Tune Const, Lin, ORTB, RLB and the project's own strategy on the training log, "
            "then replay each over the test log for every budget (a fraction of the test "
            "log's total cost): a bid above the logged market price wins and pays it, until "
            "the budget is spent. Logs: compact (`click market_price pctr` per line) or raw "
            "(tab-separated, a header naming click, payprice and the other fields). Prints a "
            "table with the hindsight optimum; writes it and plots into --out."
        ),
    )
    replay.add_argument("--train", type=Path, help="training log (parameters are tuned here)")
    replay.add_argument("--test", type=Path, help="test log (replayed once per strategy)")
    replay.add_argument(
        "--synthetic",
        type=int,
        metavar="ROWS",
        help="instead of files: seeded iPinYou-like logs of ROWS impressions a day "
        f"({spec.train_days} training days, {spec.test_days} test days)",
    )
    replay.add_argument(
        "--model",
        type=Path,
        help="a model directory of `rtb train` (the serving schema, or a declared one of the "
        "log's own fields) giving the pCTR of raw logs (default: the log's pctr column)",
    )
    replay.add_argument(
        "--fractions",
        type=_fractions,
        default=",".join(str(f) for f in FRACTIONS),
        help="budgets 1/n of the test log's cost, comma-separated",
    )
    replay.add_argument(
        "--strategies",
        type=_strategies,
        default=",".join(STRATEGIES),
        help=f"comma-separated, of {','.join(STRATEGIES)}",
    )
    replay.add_argument(
        "--tune-on",
        choices=["clicks", "pctr"],
        default="clicks",
        help="what the training replay maximises: the log's clicks (the protocol) or the "
        "clicks its pCTR expects",
    )
    replay.add_argument(
        "--own-horizon",
        type=float,
        default=REPLAY_HORIZON_S,
        help="the project's strategy: its pacing controller's horizon, seconds (live: 120)",
    )
    replay.add_argument("--seed", type=int, default=1, help="synthetic logs; random draws")
    replay.add_argument(
        "--day-price-sd",
        type=float,
        default=spec.day_price_sd,
        help="synthetic: sd of each day's market price level (log scale)",
    )
    replay.add_argument(
        "--day-pctr-sd",
        type=float,
        default=spec.day_pctr_sd,
        help="synthetic: sd of each day's pCTR level (log scale)",
    )
    replay.add_argument(
        "--test-price-shift",
        type=float,
        default=spec.test_price_shift,
        help="synthetic: the test days' market price level over the training days'",
    )
    replay.add_argument(
        "--test-pctr-shift",
        type=float,
        default=spec.test_pctr_shift,
        help="synthetic: the test days' pCTR level over the training days'",
    )
    replay.add_argument("--out", type=Path, help="directory for replay.md and the plots")
    replay.add_argument("--no-plots", action="store_true", help="the table only")
    replay.set_defaults(handler=_run)
