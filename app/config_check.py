"""Every configuration problem of ``rtb serve`` at once, as one message, before the server
starts: the environment's settings (pydantic's whole error list), the bidders file's, the
accounts file's, and those of the data files the start-up loads (currency table, traffic
lists, brand-safety lists).

A traceback reporting the first problem makes an operator fix a file one error per start;
this lists them all, one a line, naming the variable or the file and field::

    rtb serve: configuration error: 3 problems:
      RTB_PORT: Input should be less than or equal to 65535
      bidders.json: routers[0].campaigns[2].daily_budget: Input should be greater than 0
      bidders.json: dsps[0].endpoint: Value error, must be an http:// or https:// URL ...
"""

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from agents.config import AgentsFileError, cross_problems, load_agents
from bidding.campaigns import ConfigError
from exchange.accounts import AccountBook, AccountsFileError
from exchange.bidders.config import BiddersFileError, load_bidders
from exchange.canary_watch import CanaryFileError, load_canary_file
from exchange.rates_reload import exchange_rates, initial_table
from exchange.settings import Settings
from exchange.wiring import build_brand_safety, build_screen
from openrtb.errors import field_path

EXIT_CONFIG: int = 2
"""The exit status of a configuration error (as for a usage error)."""
_BIDDERS_FILE_VARIABLE = "RTB_BIDDERS_FILE"
_ACCOUNTS_FILE_VARIABLE = "RTB_ACCOUNTS_FILE"


def settings_problems(exc: ValidationError) -> list[str]:
    """The settings' errors as ``RTB_NAME[index].field: why``."""
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        where = f"RTB_{str(loc[0]).upper()}{field_path(['', *loc[1:]])}" if loc else "settings"
        problems.append(f"{where}: {error['msg']}")
    return problems


def bidders_problems(path: Path | None) -> list[str]:
    """The bidders file's problems (none for a good file or the demo one)."""
    try:
        load_bidders(path)
    except BiddersFileError as exc:
        return list(exc.problems)
    except ConfigError as exc:
        return [str(exc)]
    return []


def accounts_problems(path: Path | None) -> list[str]:
    """The accounts file's problems (none for a good file or none at all)."""
    if path is None:
        return []
    try:
        AccountBook.load(path)
    except AccountsFileError as exc:
        return list(exc.problems)
    return []


def data_file_problems(settings: Settings) -> list[str]:
    """The problems of the data files the start-up reads (the currency table, the traffic
    lists, the brand-safety lists), found by loading them as it would."""
    loads: tuple[Callable[[], object], ...] = (
        lambda: initial_table(settings),
        lambda: build_screen(settings, announce=False),
        lambda: build_brand_safety(settings),
    )
    problems = []
    for load in loads:
        try:
            load()
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def agents_problems(settings: Settings) -> list[str]:
    """The agents file's problems (none without one), with what it names that the bidders
    file or the currency rates do not have."""
    try:
        config = load_agents(settings.agents_file)
    except AgentsFileError as exc:
        return list(exc.problems)
    if not config.agents:
        return []
    try:
        bidders = load_bidders(settings.bidders_file)
        currencies = exchange_rates(settings, initial_table(settings)).rates
    except (ConfigError, ValueError):
        return []  # reported on their own
    names = [r.name for r in bidders.routers] + [d.name for d in bidders.dsps]
    return cross_problems(config, str(settings.agents_file), currencies, names)


def canary_problems(path: Path | None) -> list[str]:
    """The canary file's problems, each naming ``RTB_CANARY_FILE`` and the field."""
    if path is None:
        return []
    try:
        load_canary_file(path)
    except CanaryFileError as exc:
        return [f"RTB_CANARY_FILE: {problem}" for problem in exc.problems]
    return []


def serve_problems() -> tuple[Settings | None, list[str]]:
    """The settings from the environment (None when they are invalid) and every problem of
    them and of the bidders and accounts files they name — read from ``RTB_BIDDERS_FILE``
    and ``RTB_ACCOUNTS_FILE`` themselves when the settings are invalid, so that all are
    reported at once."""
    try:
        settings = Settings()
    except ValidationError as exc:
        named = os.environ.get(_BIDDERS_FILE_VARIABLE)
        accounts = os.environ.get(_ACCOUNTS_FILE_VARIABLE)
        return None, (
            settings_problems(exc)
            + bidders_problems(Path(named) if named else None)
            + accounts_problems(Path(accounts) if accounts else None)
        )
    return settings, (
        bidders_problems(settings.bidders_file)
        + accounts_problems(settings.accounts_file)
        + data_file_problems(settings)
        + canary_problems(settings.canary_file)
        + agents_problems(settings)
    )


def report(command: str, problems: Sequence[str], out: TextIO) -> int:
    """Print ``problems`` as one message; the exit status."""
    count = len(problems)
    lines = [f"{command}: configuration error: {count} problem{'s' if count != 1 else ''}:"]
    lines.extend(f"  {problem}" for problem in problems)
    print("\n".join(lines), file=out)
    return EXIT_CONFIG
