"""Reference exchange rates as published (the ECB's euro rates), and the exchange's rates from them.

The ECB publishes, each working day, how many units of ~30 currencies one euro buys: a CSV
(``eurofxref.csv``, also zipped) and an XML (``eurofxref-daily.xml``). The exchange needs the
other way round, units of its own currency per unit of each other currency, which is the
cross rate ``per_eur[own] / per_eur[other]``. Parsing is pure and strict: a table that does
not parse, names a code that is not ISO 4217 or a rate that is not a positive decimal is
refused whole, so a half-written file never replaces working rates.
"""

import csv
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final
from xml.etree import ElementTree

from openrtb.currencies import is_iso4217

__all__ = ["RateTable", "RateTableError", "parse_rate_table"]

EURO: Final = "EUR"
MAX_TABLE_BYTES: Final = 1 << 20
"""A daily table is under 2 KB; anything near this is not one."""
_CROSS: Final = Context(prec=28)
"""Cross rates to 28 significant digits: far below a micro on any amount the exchange sees."""
_ZIP_MAGIC: Final = b"PK\x03\x04"


class RateTableError(ValueError):
    """A rate table that cannot be used; the message says where it is wrong."""


@dataclass(frozen=True, slots=True)
class RateTable:
    """One day's reference rates: units of each currency that one euro buys."""

    day: date
    per_eur: Mapping[str, Decimal]

    def __post_init__(self) -> None:
        per_eur = dict(self.per_eur)
        per_eur[EURO] = Decimal(1)
        object.__setattr__(self, "per_eur", MappingProxyType(per_eur))

    def rates_into(self, currency: str) -> dict[str, Decimal]:
        """Units of ``currency`` per one unit of each currency of the table (``currency``
        itself is 1); RateTableError when the table has no rate for ``currency``."""
        own = self.per_eur.get(currency)
        if own is None:
            raise RateTableError(f"the table of {self.day} has no rate for {currency!r}")
        return {code: _CROSS.divide(own, rate) for code, rate in self.per_eur.items()}


def parse_rate_table(data: bytes, source: str) -> RateTable:
    """The table in ``data``: the ECB's CSV, its zip, or its XML (told apart by content);
    ``source`` names where it came from in the error messages."""
    if len(data) > MAX_TABLE_BYTES:
        raise RateTableError(f"{source}: {len(data):,} bytes is too large for a rate table")
    if data.startswith(_ZIP_MAGIC):
        return _parse_csv(_only_csv_in_zip(data, source), source)
    text = _text(data, source)
    if text.lstrip().startswith("<"):
        return _parse_xml(text, source)
    return _parse_csv(text, source)


def _text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RateTableError(f"{source}: not UTF-8 text ({exc.reason})") from None


def _only_csv_in_zip(data: bytes, source: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(names) != 1:
                raise RateTableError(f"{source}: expected one CSV in the zip, found {names}")
            info = archive.getinfo(names[0])
            if info.file_size > MAX_TABLE_BYTES:
                raise RateTableError(f"{source}: {names[0]} is too large for a rate table")
            return _text(archive.read(info), source)
    except zipfile.BadZipFile as exc:
        raise RateTableError(f"{source}: not a readable zip ({exc})") from None


def _parse_csv(text: str, source: str) -> RateTable:
    """``Date, USD, JPY, …`` then one row per day, newest first; the first row is used."""
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text)) if any(row)]
    if len(rows) < 2 or not rows[0] or rows[0][0] != "Date":
        raise RateTableError(f"{source}: expected a header row starting with 'Date'")
    header, first = rows[0], rows[1]
    day = _day(first[0], source)
    per_eur: dict[str, Decimal] = {}
    for column, (code, cell) in enumerate(zip(header[1:], first[1:], strict=False), start=2):
        if not code and not cell:  # the trailing comma of every ECB row
            continue
        if cell == "N/A":  # a currency the ECB no longer quotes (history file)
            continue
        per_eur[_code(code, f"{source}: column {column}")] = _rate(
            cell, f"{source}: {code} on {day}"
        )
    return _table(day, per_eur, source)


def _parse_xml(text: str, source: str) -> RateTable:
    """``<Cube time='…'><Cube currency='USD' rate='1.1172'/>…``; the first day is used."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise RateTableError(f"{source}: not well-formed XML ({exc})") from None
    days = [
        element
        for element in root.iter()
        if _local(element.tag) == "Cube" and "time" in element.attrib
    ]
    if not days:
        raise RateTableError(f"{source}: no <Cube time='…'> element")
    newest = days[0]
    day = _day(newest.attrib["time"], source)
    per_eur: dict[str, Decimal] = {}
    for element in newest:
        code, rate = element.attrib.get("currency", ""), element.attrib.get("rate", "")
        per_eur[_code(code, f"{source}: <Cube currency>")] = _rate(
            rate, f"{source}: {code} on {day}"
        )
    return _table(day, per_eur, source)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _table(day: date, per_eur: dict[str, Decimal], source: str) -> RateTable:
    if not per_eur:
        raise RateTableError(f"{source}: no rates in the table of {day}")
    return RateTable(day, per_eur)


def _day(text: str, source: str) -> date:
    for layout in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    raise RateTableError(f"{source}: {text!r} is not a date (YYYY-MM-DD or '30 October 2026')")


def _code(code: str, where: str) -> str:
    if not is_iso4217(code):
        raise RateTableError(f"{where}: {code!r} is not an ISO 4217 currency code")
    if code == EURO:
        raise RateTableError(f"{where}: the table quotes the euro against itself")
    return code


def _rate(text: str, where: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise RateTableError(f"{where}: {text!r} is not a decimal rate") from None
    if not rate.is_finite() or rate <= 0:
        raise RateTableError(f"{where}: the rate must be positive, got {text!r}")
    return rate
