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
from app.landscape_cli import add_landscapes_command
from app.ledger_cli import add_ledger_command
from app.retrain_cli import add_retrain_command
from app.train_cli import add_model_commands
from attribution.cli import add_attribute_command
from exchange.settings import Settings
from experiments.cli import add_experiment_command
from simulation.cli import add_simulate_command
from simulation.replay.cli import add_replay_command
from supply.cli import add_supply_paths_command


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
    add_model_commands(commands)
    add_simulate_command(commands)
    add_replay_command(commands)
    add_experiment_command(commands)
    add_attribute_command(commands)
    add_retrain_command(commands)
    add_landscapes_command(commands)
    add_supply_paths_command(commands)
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
