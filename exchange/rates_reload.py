"""The exchange's currency rates: a dated reference table, read at start and kept current.

The table ships with the code (``exchange/data/eurofxref.csv``, the ECB's reference rates of
the day it names) so that a new exchange converts the common currencies at once; an
operator points ``RTB_CURRENCY_RATES_SOURCE`` at a file or at the ECB's URL, and every
``RTB_CURRENCY_RATES_REFRESH_S`` the table is read again and swapped in whole. A table that
cannot be read or does not parse never replaces working rates: the refusal is logged and
counted, and the old rates stay. Rates set in ``RTB_CURRENCY_RATES`` override the table's.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Final

import httpx
import structlog

from auction.currency import CurrencyRates
from exchange.metrics import Metrics
from exchange.rate_table import MAX_TABLE_BYTES, RateTable, RateTableError, parse_rate_table
from exchange.settings import Settings

__all__ = [
    "NO_TABLE",
    "SHIPPED_TABLE",
    "RatesWatch",
    "exchange_rates",
    "initial_table",
    "read_table",
]

log = structlog.get_logger("exchange.rates")

SHIPPED_TABLE: Final = Path(__file__).with_name("data") / "eurofxref.csv"
NO_TABLE: Final = "none"
"""``RTB_CURRENCY_RATES_SOURCE=none``: no table, only the rates set in ``RTB_CURRENCY_RATES``."""
_FETCH_TIMEOUT_S: Final = 10.0


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def initial_table(settings: Settings) -> RateTable | None:
    """The table the exchange starts with: the configured file, else the shipped one (a
    URL is fetched once the exchange has started; until then the shipped table serves)."""
    source = settings.currency_rates_source
    if source == NO_TABLE:
        return None
    path = SHIPPED_TABLE if source is None or _is_url(source) else Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RateTableError(f"RTB_CURRENCY_RATES_SOURCE: cannot read {path}: {exc}") from None
    return parse_rate_table(data, str(path))


def exchange_rates(settings: Settings, table: RateTable | None) -> CurrencyRates:
    """Rates into the exchange currency: the table's cross rates, overridden by the ones
    set in the settings. RateTableError when the table does not quote that currency."""
    rates = table.rates_into(settings.currency) if table is not None else {}
    rates.update(settings.currency_rates)
    return CurrencyRates(settings.currency, rates)


async def read_table(source: str) -> RateTable:
    """The table at ``source`` (a path or an http(s) URL), parsed; RateTableError when it
    cannot be read or used."""
    if not _is_url(source):
        try:
            data = await asyncio.to_thread(Path(source).read_bytes)
        except OSError as exc:
            raise RateTableError(f"{source}: {exc}") from None
        return parse_rate_table(data, source)
    try:
        async with (
            httpx.AsyncClient(timeout=_FETCH_TIMEOUT_S, follow_redirects=True) as client,
            client.stream("GET", source) as response,
        ):
            if response.status_code != 200:
                raise RateTableError(f"{source}: HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_TABLE_BYTES:
                    raise RateTableError(f"{source}: more than {MAX_TABLE_BYTES:,} bytes")
    except httpx.HTTPError as exc:
        raise RateTableError(f"{source}: {type(exc).__name__}: {exc}") from None
    return parse_rate_table(bytes(body), source)


def _day_timestamp(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


@dataclass(slots=True)
class RatesWatch:
    """Refreshes the rates from the configured source and hands new ones to ``apply``."""

    settings: Settings
    metrics: Metrics
    apply: Callable[[CurrencyRates], None]
    table: RateTable | None
    today: Callable[[], date] = lambda: datetime.now(UTC).date()

    def __post_init__(self) -> None:
        self._publish()

    @property
    def source(self) -> str | None:
        """Where refreshes read from (None: no table)."""
        source = self.settings.currency_rates_source
        if source == NO_TABLE:
            return None
        return source or str(SHIPPED_TABLE)

    async def refresh(self) -> str:
        """Read the source once; the outcome (updated, unchanged, refused), also counted."""
        source = self.source
        if source is None:
            return "unchanged"
        try:
            table = await read_table(source)
            rates = exchange_rates(self.settings, table)
        except (RateTableError, ValueError) as exc:
            log.warning("currency_rates_refused", source=source, error=str(exc))
            return self._count("refused")
        if table == self.table:
            self._warn_if_stale()
            return self._count("unchanged")
        self.apply(rates)
        self.table = table
        self._publish()
        log.info(
            "currency_rates_updated", source=source, day=str(table.day), count=len(rates.rates)
        )
        return self._count("updated")

    async def run(self, interval_s: float) -> None:
        """Refresh at once (a URL source was not read at start), then every ``interval_s``,
        until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(interval_s)

    def _count(self, outcome: str) -> str:
        self.metrics.child(self.metrics.rate_refreshes, outcome).inc()
        return outcome

    def _publish(self) -> None:
        day = self.table.day if self.table is not None else None
        self.metrics.rates_day.set(_day_timestamp(day) if day is not None else 0)
        self._warn_if_stale()

    def _warn_if_stale(self) -> None:
        if self.table is None:
            return
        age_days = (self.today() - self.table.day).days
        if age_days > self.settings.currency_rates_max_age_days:
            log.warning(
                "currency_rates_stale",
                day=str(self.table.day),
                age_days=age_days,
                source=self.source,
                hint="set RTB_CURRENCY_RATES_SOURCE to a current table (file or the ECB's URL)",
            )
