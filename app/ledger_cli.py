"""``rtb ledger``: create, inspect and restore the spend ledger of a Redis store.

Settings come from the environment as for ``rtb serve`` (``RTB_REDIS_URL``,
``RTB_REDIS_CLUSTER``, ``RTB_KEY_PREFIX``, ``RTB_BIDDERS_FILE``): the ledger covers the
campaigns of the bidders file the exchange runs with.
"""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import orjson

from bidding.campaigns import Campaign, ConfigError
from budget.keys import KeySpace
from budget.ledger_admin import (
    LedgerAdminError,
    init_ledger,
    ledger_status,
    read_event_files,
    restore_ledger,
)
from budget.redis_store import REDIS_ERRORS, RedisClient, open_client
from exchange.bidders.config import load_bidders
from exchange.settings import Settings

_T = TypeVar("_T")


def _run(work: Callable[[RedisClient, KeySpace, list[Campaign]], Awaitable[_T]]) -> _T:
    settings = Settings()
    if settings.store != "redis":
        raise LedgerAdminError(
            "the ledger lives in Redis: set RTB_STORE=redis and RTB_REDIS_URL (the in-memory "
            "store's ledger lives and dies with its process)"
        )
    campaigns = [c for r in load_bidders(settings.bidders_file).routers for c in r.campaigns]

    async def run() -> _T:
        client = open_client(settings.redis_url, cluster=settings.redis_cluster, timeout_s=5.0)
        try:
            return await work(client, KeySpace(settings.key_prefix), campaigns)
        finally:
            await client.aclose()

    return asyncio.run(run())


def _status(args: argparse.Namespace) -> int:
    report = _run(ledger_status)
    body = {
        "record": report.record,
        "campaigns": report.campaigns,
        "lost": report.lost,
        "healthy": report.healthy,
    }
    print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    return 0 if report.healthy else 1


def _init(args: argparse.Namespace) -> int:
    record = _run(lambda c, k, cs: init_ledger(c, k, cs, adopt_existing=args.adopt_existing))
    print(f"ledger created: epoch {record['epoch']}, generation {record['generation']}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    if not args.events and not args.exhaust_today:
        raise LedgerAdminError("give --events FILE … (from `rtb export`), --exhaust-today, or both")
    summary = _run(
        lambda c, k, cs: restore_ledger(
            c, k, cs, read_event_files(args.events or []), exhaust_today=args.exhaust_today
        )
    )
    print(
        f"ledger restored: epoch {summary.epoch}, generation {summary.generation}\n"
        f"  events read {summary.events:,}; charges restored {summary.charges_restored:,} "
        f"({summary.micros_restored:,} micros); already in the store "
        f"{summary.charges_present:,}; notices marked {summary.notices_marked:,}\n"
        f"  unusable notice events {summary.unusable:,}; campaigns stopped for today "
        f"{summary.exhausted:,}"
    )
    return 0


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (LedgerAdminError, ConfigError) as exc:
            print(f"rtb ledger: {exc}", file=sys.stderr)
            return 2
        except REDIS_ERRORS as exc:
            print(f"rtb ledger: Redis: {exc}", file=sys.stderr)
            return 3

    return run


def add_ledger_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``rtb ledger status|init|restore``."""
    ledger = commands.add_parser(
        "ledger",
        help="create, inspect or restore the spend ledger in Redis",
        description=(
            "The spend ledger's identity in Redis (docs/reliability.md). Every exchange "
            "process refuses to bid or charge on a store without it, or one that lost it."
        ),
    )
    actions = ledger.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="the ledger record and each campaign's marker")
    status.set_defaults(handler=_guarded(_status))
    init = actions.add_parser("init", help="create the ledger of a new deployment (once)")
    init.add_argument(
        "--adopt-existing",
        action="store_true",
        help="the store holds spend from before ledgers existed: keep it (default: refuse)",
    )
    init.set_defaults(handler=_guarded(_init))
    restore = actions.add_parser(
        "restore",
        help="rebuild spend and notice markers after the store lost its data; new epoch",
    )
    restore.add_argument(
        "--events",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="`rtb export` files holding every notice since the start of the oldest day kept",
    )
    restore.add_argument(
        "--exhaust-today",
        action="store_true",
        help="also raise each campaign's spend today to its budget: no more spend today",
    )
    restore.set_defaults(handler=_guarded(_restore))
