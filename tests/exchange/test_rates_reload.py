"""Currency rates kept current: read at start, refreshed from a file or a URL, swapped whole."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bidding.router import CampaignRouter
from exchange.metrics import Metrics
from exchange.rate_table import RateTableError
from exchange.rates_reload import RatesWatch, exchange_rates, initial_table
from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import build_services, start_services, stop_services
from openrtb.request import BidRequest

TABLE = "Date, USD, GBP, JPY, \n{day}, {usd}, {gbp}, 175.68, \n"


def _write(
    path: Path, day: str = "30 October 2026", usd: str = "1.1172", gbp: str = "0.8338"
) -> Path:
    path.write_text(TABLE.format(day=day, usd=usd, gbp=gbp))
    return path


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Services]:
    """The services, started without the periodic refresh (the tests call it)."""
    services = build_services(settings.model_copy(update={"currency_rates_refresh_s": 0}))
    background = await start_services(services)
    try:
        yield services
    finally:
        await stop_services(services, background)


def _counted(services_metrics: object, outcome: str) -> float:
    from exchange.metrics import Metrics

    assert isinstance(services_metrics, Metrics)
    value = services_metrics.registry.get_sample_value(
        "rtb_currency_rate_refreshes_total", {"outcome": outcome}
    )
    return value or 0.0


def test_the_default_exchange_converts_the_ecb_currencies() -> None:
    rates = exchange_rates(Settings(), initial_table(Settings()))
    assert rates.exchange_currency == "USD"
    assert rates.rate("EUR") == Decimal("1.1172")
    assert {"GBP", "JPY", "CHF", "AUD", "INR"} <= set(rates.rates)


def test_rates_set_in_the_settings_override_the_table() -> None:
    settings = Settings(currency_rates={"GBP": Decimal("1.5")})
    rates = exchange_rates(settings, initial_table(settings))
    assert rates.rate("GBP") == Decimal("1.5")
    assert rates.rate("EUR") == Decimal("1.1172")


def test_no_table_leaves_only_the_rates_set() -> None:
    settings = Settings(currency_rates_source="none", currency_rates={"EUR": Decimal("1.08")})
    assert initial_table(settings) is None
    assert set(exchange_rates(settings, None).rates) == {"USD", "EUR"}


def test_a_source_that_cannot_be_read_at_start_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(RateTableError, match="RTB_CURRENCY_RATES_SOURCE"):
        build_services(Settings(currency_rates_source=str(tmp_path / "missing.csv")))
    (tmp_path / "junk.csv").write_text("not a table")
    with pytest.raises(RateTableError, match=r"junk\.csv"):
        build_services(Settings(currency_rates_source=str(tmp_path / "junk.csv")))


async def test_a_changed_file_is_swapped_in_and_a_broken_one_refused(tmp_path: Path) -> None:
    source = _write(tmp_path / "rates.csv")
    async with running(Settings(currency_rates_source=str(source))) as services:
        await _swaps(services, source)


async def _swaps(services: Services, source: Path) -> None:
    watch = services.currency_watch
    assert watch is not None
    before = services.exchange.rates
    assert await watch.refresh() == "unchanged"
    assert services.exchange.rates is before

    _write(source, day="02 November 2026", gbp="0.9")
    assert await watch.refresh() == "updated"
    after = services.exchange.rates
    assert after.rate("GBP") == Decimal("1.1172") / Decimal("0.9")
    assert services.metrics.registry.get_sample_value(
        "rtb_currency_rates_day_timestamp_seconds"
    ) == pytest.approx(1_793_577_600)  # 2026-11-02T00:00:00Z

    source.write_text("Date, USD, GBP\n03 November 2026, 1.2, -1\n")  # noqa: ASYNC240 (half-edited)
    with capture_logs() as logs:
        assert await watch.refresh() == "refused"
    assert services.exchange.rates is after
    assert any(entry["event"] == "currency_rates_refused" for entry in logs)
    source.unlink()  # noqa: ASYNC240
    assert await watch.refresh() == "refused"
    assert services.exchange.rates is after
    assert _counted(services.metrics, "updated") == 1
    assert _counted(services.metrics, "refused") == 2


async def test_a_table_without_the_exchange_currency_is_refused(tmp_path: Path) -> None:
    source = _write(tmp_path / "rates.csv")
    async with running(Settings(currency_rates_source=str(source))) as services:
        assert services.currency_watch is not None
        source.write_text("Date, GBP\n02 November 2026, 0.9\n")
        assert await services.currency_watch.refresh() == "refused"
        assert services.exchange.rates.rate("GBP") == Decimal("1.1172") / Decimal("0.8338")


def test_an_old_table_is_logged_as_stale(tmp_path: Path) -> None:
    settings = Settings(currency_rates_source=str(_write(tmp_path / "rates.csv")))
    watch = RatesWatch(settings, Metrics(), lambda rates: None, initial_table(settings))
    watch.today = lambda: date(2026, 11, 6)
    with capture_logs() as logs:
        watch._warn_if_stale()
    assert not logs
    watch.today = lambda: date(2026, 11, 7)
    with capture_logs() as logs:
        watch._warn_if_stale()
    assert [entry["event"] for entry in logs] == ["currency_rates_stale"]
    assert logs[0]["age_days"] == 8


class _TableServer:
    """An HTTP/1.1 origin on a real socket that answers every GET with ``status``/``body``."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b""
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        head = (
            f"HTTP/1.1 {self.status} X\r\ncontent-length: {len(self.body)}\r\n"
            "connection: close\r\n\r\n"
        )
        writer.write(head.encode() + self.body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def table_server() -> AsyncIterator[tuple[_TableServer, str]]:
    origin = _TableServer()
    server = await asyncio.start_server(origin.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield origin, f"http://127.0.0.1:{port}/eurofxref.csv"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_url_source_is_fetched_once_started_and_its_failures_keep_the_rates(
    table_server: tuple[_TableServer, str],
) -> None:
    origin, url = table_server
    origin.body = TABLE.format(day="02 November 2026", usd="1.1", gbp="1.0").encode()
    async with running(Settings(currency_rates_source=url)) as services:
        await _fetches(services, origin)


async def _fetches(services: Services, origin: "_TableServer") -> None:
    watch = services.currency_watch
    assert watch is not None
    assert services.exchange.rates.rate("EUR") == Decimal("1.1172")  # shipped until fetched
    assert await watch.refresh() == "updated"
    assert services.exchange.rates.rate("EUR") == Decimal("1.1")
    assert services.exchange.rates.rate("GBP") == Decimal("1.1")
    fetched = services.exchange.rates

    origin.status, origin.body = 503, b"maintenance"
    assert await watch.refresh() == "refused"
    origin.status, origin.body = 200, b"<html>maintenance</html>"
    assert await watch.refresh() == "refused"
    origin.body = b"Date, USD\n" + b"2026-11-02, 1.1\n" * 80_000
    assert await watch.refresh() == "refused"
    assert services.exchange.rates is fetched
    assert origin.requests == 4


async def test_a_refreshed_table_reaches_the_in_process_routers(tmp_path: Path) -> None:
    # 0.90 GBP: 1.2059 USD at 0.8338 GBP per EUR, under the 1.25 USD campaign; 1.4364 USD at 0.7.
    source = _write(tmp_path / "rates.csv")
    request = BidRequest.model_validate(
        {
            "id": "gbp",
            "imp": [
                {"id": "1", "bidfloor": 0.9, "bidfloorcur": "GBP", "banner": {"w": 300, "h": 250}}
            ],
        }
    )
    async with running(Settings(currency_rates_source=str(source))) as services:
        router = services.registry.bidders["house"]
        assert isinstance(router, CampaignRouter)
        assert router.explain(request)["1"]["pixel-games"].startswith("bids 1.25 ")
        _write(source, day="02 November 2026", gbp="0.7")
        assert services.currency_watch is not None
        assert await services.currency_watch.refresh() == "updated"
        assert router.explain(request)["1"]["pixel-games"] == "fixed price below the floor"
