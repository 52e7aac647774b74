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
from exchange.settings import Settings
from simulation.cli import add_simulate_command


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
# Imported lazily: xgboost and numpy cost ~0.5 s to import, which `rtb serve` should not pay
# just to parse its arguments.


def _train(args: argparse.Namespace) -> int:
    from bidding.train import Label, TrainConfig, train_command

    labels: tuple[Label, ...] = ("click", "conversion") if args.label == "both" else (args.label,)
    config = TrainConfig(
        seed=args.seed,
        rounds=args.rounds,
        test_fraction=args.test_fraction,
        threads=args.threads,
    )
    return train_command(
        input_path=args.input,
        synthetic_rows=args.synthetic,
        events=args.events or (),
        labels=labels,
        out_dir=args.out,
        config=config,
    )


def _synth(args: argparse.Namespace) -> int:
    from bidding.synthetic import write_csv
    from bidding.train import synthetic_columns

    write_csv(synthetic_columns(args.rows, args.seed, args.days), args.out)
    print(f"wrote {args.rows:,} labelled impressions to {args.out}")
    return 0


def _add_model_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    train = commands.add_parser(
        "train",
        help="train the CTR/CVR models from labelled impressions or the event log (time split)",
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
    train.add_argument("--label", choices=["click", "conversion", "both"], default="both")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--rounds", type=int, default=300, help="maximum boosting rounds")
    train.add_argument("--test-fraction", type=float, default=0.3, help="latest part held out")
    train.add_argument("--threads", type=int, default=2)
    train.set_defaults(handler=_train)
    synth = commands.add_parser("synth", help="write synthetic labelled impressions as CSV")
    synth.add_argument("--rows", type=int, required=True)
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument("--days", type=float, default=14.0)
    synth.add_argument("--out", type=Path, required=True)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rtb`` with all its subcommands."""
    settings = Settings()
    parser = argparse.ArgumentParser(prog="rtb", description="OpenRTB exchange tools")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the exchange (uvicorn, uvloop, httptools)")
    serve.add_argument("--host", default=settings.host)
    serve.add_argument("--port", type=int, default=settings.port)
    serve.add_argument("--workers", type=int, default=1, help="processes (one per core)")
    serve.set_defaults(handler=_serve)
    export = commands.add_parser(
        "export", help="write new events of the event stream (Redis) to a CSV file"
    )
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--group", default="export", help="consumer group (remembers progress)")
    export.add_argument("--max", type=int, default=None, help="at most this many events")
    export.set_defaults(handler=_export)
    add_ledger_command(commands)
    add_accounts_command(commands)
    _add_model_commands(commands)
    add_simulate_command(commands)
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
