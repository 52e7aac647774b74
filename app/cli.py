"""The ``rtb`` command. ``rtb serve`` runs the exchange; later tools add subcommands."""

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from app.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    if args.workers > 1 and Settings().store == "memory":
        print(
            "rtb serve: --workers > 1 needs a shared store: each process would keep its own "
            "budgets and notice markers (double charges). Set RTB_STORE=redis, RTB_REDIS_URL "
            "and RTB_NOTICE_SECRET, or run one worker.",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtb`` console script."""
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result
