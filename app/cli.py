"""The ``rtb`` command. ``rtb serve`` runs the exchange; later tools add subcommands."""

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from app import config_check
from app.accounts_cli import add_accounts_command
from app.http_limits import server_options
from app.ledger_cli import add_ledger_command
from bidding.quality import QualityBar
from bidding.train_config import TrainConfig
from exchange.settings import Settings
from simulation.cli import add_simulate_command
from simulation.replay.cli import add_replay_command


def _serve(args: argparse.Namespace) -> int:
    settings, problems = config_check.serve_problems()
    if settings is None or problems:
        return config_check.report("rtb serve", problems, sys.stderr)
    if args.workers > 1 and settings.store == "memory":
        print(
            "rtb serve: --workers > 1 needs a shared store: each process would keep its own "
            "budgets and notice markers (double charges). Set RTB_STORE=redis, RTB_REDIS_URL "
            "and RTB_NOTICE_SECRET, or run one worker.",
            file=sys.stderr,
        )
        return 2
    # The worker processes build their settings from the environment: the address they
    # serve on is the one their start-up line names (app.startup).
    with _environment(RTB_HOST=args.host, RTB_PORT=str(args.port)):
        uvicorn.run(
            "app.main:serving_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **server_options(settings),  # the bounded protocol and limits (app.http_limits)
        )
    return 0


@contextmanager
def _environment(**variables: str) -> Iterator[None]:
    """``variables`` set in the environment, and restored afterwards."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- bidding: model tools (`rtb train`, `rtb synth`) --------------------------------------
# The training code is imported lazily: xgboost and numpy cost ~0.5 s to import, which
# `rtb serve` should not pay just to parse its arguments (its defaults come from the light
# bidding.train_config).


def _train(args: argparse.Namespace) -> int:
    from bidding.train import Label, train_command

    problem = _train_problem(args)
    if problem:
        print(f"rtb train: {problem}", file=sys.stderr)
        return 2
    labels: tuple[Label, ...] = ("click", "conversion") if args.label == "both" else (args.label,)
    return train_command(
        input_path=args.input,
        synthetic_rows=args.synthetic,
        events=args.events or (),
        labels=labels,
        out_dir=args.out,
        config=_train_config(args),
    )


def _train_config(args: argparse.Namespace) -> "TrainConfig":
    return TrainConfig(
        seed=args.seed,
        rounds=args.rounds,
        max_depth=args.max_depth,
        eta=args.eta,
        early_stopping_rounds=args.early_stopping_rounds,
        min_child_weight=args.min_child_weight,
        reg_lambda=args.reg_lambda,
        subsample=args.subsample,
        colsample_bytree=args.colsample_bytree,
        test_fraction=args.test_fraction,
        valid_fraction=args.valid_fraction,
        threads=args.threads,
        bar=QualityBar(min_trees=args.min_trees, min_auc=args.min_auc),
        progress=not args.no_progress,
    )


def _train_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the training options, if anything (XGBoost's own errors on such
    values are tracebacks)."""
    at_least_one = ("rounds", "early_stopping_rounds", "max_depth", "threads", "min_trees")
    for name in at_least_one:
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be ≥ 1"
    if args.synthetic is not None and args.synthetic < 1:
        return "--synthetic must be ≥ 1"
    for name in ("min_child_weight", "reg_lambda"):
        if not getattr(args, name) >= 0:
            return f"--{name.replace('_', '-')} must be ≥ 0"
    for name in ("eta", "subsample", "colsample_bytree"):
        if not 0 < getattr(args, name) <= 1:
            return f"--{name.replace('_', '-')} must be in (0, 1]"
    for name in ("test_fraction", "valid_fraction"):
        if not 0 < getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be between 0 and 1"
    if not 0 <= args.min_auc <= 1:
        return "--min-auc must be between 0 and 1"
    return None


def _synth(args: argparse.Namespace) -> int:
    from bidding.synthetic import write_csv
    from bidding.train import synthetic_columns

    write_csv(synthetic_columns(args.rows, args.seed, args.days), args.out)
    print(f"wrote {args.rows:,} labelled impressions to {args.out}")
    return 0


def _add_model_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    defaults = TrainConfig()
    train = commands.add_parser(
        "train",
        help="train the CTR/CVR models from labelled impressions or the event log (time split)",
        description=(
            "Train the CTR and CVR models on the earlier part of the rows (early stopping on "
            "its last slice), evaluate them on the latest part, and write them with their "
            "figures. Nothing is written unless every model clears the quality bar: at least "
            "--min-trees trees, a held-out log loss below the constant predictor's (the "
            "training base rate for every row), a held-out AUC of at least --min-auc. The "
            "exchange applies the default bar again when it loads a model file."
        ),
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="CSV with bidding.features raw columns")
    source.add_argument("--synthetic", type=int, metavar="ROWS", help="generate ROWS in memory")
    source.add_argument(
        "--events",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="`rtb export` files: billed impressions joined with their clicks and conversions",
    )
    train.add_argument(
        "--label", choices=["click", "conversion", "both"], default="both", help="models to train"
    )
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument(
        "--seed", type=int, default=defaults.seed, help="XGBoost's sampling; the synthetic rows"
    )
    booster = train.add_argument_group("boosting (XGBoost parameters)")
    booster.add_argument(
        "--rounds", type=int, default=defaults.rounds, help="maximum boosting rounds"
    )
    booster.add_argument(
        "--early-stopping-rounds",
        type=int,
        default=defaults.early_stopping_rounds,
        help="stop after this many rounds without a better validation log loss",
    )
    booster.add_argument(
        "--max-depth", type=int, default=defaults.max_depth, help="depth of each tree"
    )
    booster.add_argument(
        "--eta",
        "--learning-rate",
        type=float,
        default=defaults.eta,
        help="learning rate: the weight of each new tree",
    )
    booster.add_argument(
        "--min-child-weight",
        type=float,
        default=defaults.min_child_weight,
        help="minimum hessian sum per leaf (a row at a 1%% rate weighs about 0.01)",
    )
    booster.add_argument(
        "--reg-lambda", type=float, default=defaults.reg_lambda, help="L2 penalty on leaf weights"
    )
    booster.add_argument(
        "--subsample", type=float, default=defaults.subsample, help="rows sampled per tree"
    )
    booster.add_argument(
        "--colsample-bytree",
        type=float,
        default=defaults.colsample_bytree,
        help="features sampled per tree",
    )
    booster.add_argument("--threads", type=int, default=defaults.threads, help="XGBoost threads")
    split = train.add_argument_group("time split")
    split.add_argument(
        "--test-fraction", type=float, default=defaults.test_fraction, help="latest part held out"
    )
    split.add_argument(
        "--valid-fraction",
        type=float,
        default=defaults.valid_fraction,
        help="latest part of the rest, for early stopping",
    )
    bar = train.add_argument_group("quality bar (bidding.quality)")
    bar.add_argument(
        "--min-trees", type=int, default=defaults.bar.min_trees, help="fewest trees to write"
    )
    bar.add_argument(
        "--min-auc", type=float, default=defaults.bar.min_auc, help="lowest held-out AUC to write"
    )
    train.add_argument(
        "--no-progress", action="store_true", help="no progress bar of the rounds on stderr"
    )
    train.set_defaults(handler=_train)
    synth = commands.add_parser("synth", help="write synthetic labelled impressions as CSV")
    synth.add_argument("--rows", type=int, required=True, help="impressions to write")
    synth.add_argument("--seed", type=int, default=7, help="the world and its traffic")
    synth.add_argument("--days", type=float, default=14.0, help="days the impressions span")
    synth.add_argument("--out", type=Path, required=True, help="CSV file to write")
    synth.set_defaults(handler=_synth)


# --- end of bidding model tools ------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    import asyncio

    from exchange.export import export_events, open_event_stream

    settings = Settings()
    if settings.store != "redis":
        print("rtb export: events are shared only with RTB_STORE=redis", file=sys.stderr)
        return 2

    async def run() -> int:
        stream = open_event_stream(settings)
        try:
            return await export_events(stream, args.out, group=args.group, max_events=args.max)
        finally:
            await stream.aclose()

    written = asyncio.run(run())
    print(f"wrote {written:,} events to {args.out}")
    return 0


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's ``(default: …)`` after every option's help, except where there is no
    default to tell: None (a required or unset option) and an off flag's False."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _with_defaults_shown(parser: argparse.ArgumentParser) -> None:
    """``HelpWithDefaults`` on ``parser`` and every subcommand under it, also those that
    other packages register (``simulate``, ``ledger``)."""
    parser.formatter_class = HelpWithDefaults
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _with_defaults_shown(sub)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rtb`` with all its subcommands."""
    settings = Settings()
    parser = argparse.ArgumentParser(prog="rtb", description="OpenRTB exchange tools")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the exchange (uvicorn, uvloop, httptools)")
    serve.add_argument("--host", default=settings.host, help="address to listen on (RTB_HOST)")
    serve.add_argument(
        "--port", type=int, default=settings.port, help="port to listen on (RTB_PORT)"
    )
    serve.add_argument("--workers", type=int, default=1, help="processes (one per core)")
    serve.set_defaults(handler=_serve)
    export = commands.add_parser(
        "export", help="write new events of the event stream (Redis) to a CSV file"
    )
    export.add_argument("--out", type=Path, required=True, help="CSV file to write")
    export.add_argument("--group", default="export", help="consumer group (remembers progress)")
    export.add_argument("--max", type=int, default=None, help="at most this many events")
    export.set_defaults(handler=_export)
    add_ledger_command(commands)
    add_accounts_command(commands)
    _add_model_commands(commands)
    add_simulate_command(commands)
    add_replay_command(commands)
    _with_defaults_shown(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtb`` console script."""
    try:
        args = build_parser().parse_args(argv)
        handler = args.handler
        result: int = handler(args)
    except ValidationError as exc:  # the environment's settings: every problem, one line each
        args_given = sys.argv[1:] if argv is None else list(argv)
        if args_given[:1] == ["serve"]:  # and the bidders file's, in the same message
            return config_check.report("rtb serve", config_check.serve_problems()[1], sys.stderr)
        return config_check.report("rtb", config_check.settings_problems(exc), sys.stderr)
    return result
