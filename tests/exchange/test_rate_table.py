"""The reference rate table: the shipped ECB file, its three published forms, junk refused."""

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from exchange.rate_table import RateTableError, parse_rate_table
from exchange.rates_reload import SHIPPED_TABLE

CSV = b"Date, USD, JPY, GBP, \n30 October 2026, 1.1172, 175.68, 0.83380, \n"
XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>
    <Cube time='2026-10-30'>
      <Cube currency='USD' rate='1.1172'/>
      <Cube currency='JPY' rate='175.68'/>
      <Cube currency='GBP' rate='0.83380'/>
    </Cube>
  </Cube>
</gesmes:Envelope>"""


def _zipped(*files: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_shipped_table_is_the_ecb_rates_of_its_day() -> None:
    table = parse_rate_table(SHIPPED_TABLE.read_bytes(), "shipped")
    assert table.day == date(2026, 10, 30)
    assert len(table.per_eur) == 30  # 29 quoted currencies and the euro itself
    assert table.per_eur["USD"] == Decimal("1.1172")
    assert table.per_eur["GBP"] == Decimal("0.83380")


def test_csv_zip_and_xml_give_the_same_table() -> None:
    from_csv = parse_rate_table(CSV, "csv")
    assert parse_rate_table(XML, "xml") == from_csv
    assert parse_rate_table(_zipped(("eurofxref.csv", CSV)), "zip") == from_csv


def test_the_history_file_uses_its_newest_row_and_skips_what_is_not_quoted() -> None:
    history = b"Date,USD,BGN,GBP,\n2026-10-30,1.1172,N/A,0.8338,\n2026-10-29,1.113,N/A,0.83578,\n"
    table = parse_rate_table(history, "hist")
    assert table.day == date(2026, 10, 30)
    assert "BGN" not in table.per_eur
    assert table.per_eur["USD"] == Decimal("1.1172")


def test_cross_rates_into_the_exchange_currency() -> None:
    rates = parse_rate_table(CSV, "csv").rates_into("USD")
    assert rates["USD"] == 1
    assert rates["EUR"] == Decimal("1.1172")
    # 1 GBP = 1.1172 / 0.8338 USD, to 28 significant digits.
    assert abs(rates["GBP"] - Decimal("1.1172") / Decimal("0.8338")) < Decimal("1e-26")
    assert parse_rate_table(CSV, "csv").rates_into("EUR")["USD"] == Decimal(1) / Decimal("1.1172")


def test_a_currency_the_table_does_not_quote_cannot_be_the_exchange_currency() -> None:
    with pytest.raises(RateTableError, match="no rate for 'CHF'"):
        parse_rate_table(CSV, "csv").rates_into("CHF")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "header row"),
        (b"Day, USD\n30 October 2026, 1.1\n", "header row"),
        (b"Date, USD\nyesterday, 1.1\n", "not a date"),
        (b"Date, USD, ABC\n2026-10-30, 1.1, 2\n", "'ABC' is not an ISO 4217"),
        (b"Date, USD, EUR\n2026-10-30, 1.1, 1\n", "euro against itself"),
        (b"Date, USD\n2026-10-30, -1.1\n", "must be positive"),
        (b"Date, USD\n2026-10-30, 0\n", "must be positive"),
        (b"Date, USD\n2026-10-30, Infinity\n", "must be positive"),
        (b"Date, USD\n2026-10-30, one\n", "not a decimal rate"),
        (b"Date,\n2026-10-30,\n", "no rates"),
        (b"<Cube><Cube time='2026-10-30'>", "not well-formed XML"),
        (b"<Envelope><Cube/></Envelope>", "no <Cube time"),
        (b"<Cube><Cube time='2026-10-30'><Cube currency='XXQ' rate='1'/></Cube></Cube>", "XXQ"),
        (b"\xff\xfe\x00junk", "not UTF-8"),
        (b"PK\x03\x04broken", "not a readable zip"),
        (_zipped(("a.csv", CSV), ("b.csv", CSV)), "expected one CSV"),
        (b"Date, USD\n" + b"2026-10-30, 1.1\n" * 70_000, "too large"),
    ],
)
def test_a_table_that_is_wrong_anywhere_is_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(RateTableError, match=message) as raised:
        parse_rate_table(data, "the-source")
    assert "the-source" in str(raised.value)
