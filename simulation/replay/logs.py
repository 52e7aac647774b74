"""Auction logs for the replay: one logged impression per row, money in integer micros.

Two file forms, told apart by the first line:

* **compact**: ``click market_price pctr`` per line, separated by spaces or tabs, no header
  (the form the iPinYou benchmarks circulate in);
* **raw**: tab-separated with a header naming the fields, as the iPinYou logs
  (``click weekday hour … slotprice … payprice …``); ``click`` and the market price
  (``payprice``, or ``market_price``) are required, ``pctr`` is optional (else a model gives
  it: ``simulation.replay.pctr``), every other column is kept for the model.

Prices are CPMs in the log's own currency unit (iPinYou: fen); each becomes integer micros
of that unit exactly (at most six decimals, else the line is refused), and an impression's
cost is its CPM's micros ÷ 1000, rounded down (``openrtb.money.impression_cost_micros``).
Rows stay in file order: the replay runs through them in that order, as time.
"""

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from openrtb.money import IMPRESSIONS_PER_MILLE, MICROS_PER_UNIT

__all__ = ["PRICE_COLUMNS", "AuctionLog", "LogError", "describe", "from_arrays", "read_log"]

PRICE_COLUMNS: Final = ("payprice", "market_price")
"""Names of the market price in a raw log, in order of preference."""
_COMPACT_FIELDS: Final = "click market_price pctr"
_LIMIT_CPM: Final = 1e9


class LogError(ValueError):
    """A log that cannot be replayed; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class AuctionLog:
    """Logged impressions in time order."""

    click: NDArray[np.int8]
    price_cpm_micros: NDArray[np.int64]
    """The market price each impression was sold at, CPM micros of the log's unit."""
    pctr: NDArray[np.float64] | None
    """The log's own pCTR column (None: a model must give it)."""
    source: str
    columns: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    """A raw log's other fields, by name (text as ``str`` objects), for a model."""

    def __len__(self) -> int:
        return len(self.click)

    @property
    def cost_micros(self) -> NDArray[np.int64]:
        """What each impression cost: its CPM ÷ 1000, rounded down."""
        return self.price_cpm_micros // IMPRESSIONS_PER_MILLE

    @property
    def total_cost_micros(self) -> int:
        return int(self.cost_micros.sum())

    def with_pctr(self, pctr: NDArray[np.float64]) -> "AuctionLog":
        """The same log with ``pctr`` as its pCTR (from a model)."""
        if pctr.shape != self.click.shape:
            raise ValueError(f"{len(pctr)} pCTRs for {len(self)} impressions")
        return replace(self, pctr=pctr)

    def require_pctr(self) -> NDArray[np.float64]:
        if self.pctr is None:
            raise LogError(f"{self.source}: no pctr column and no model to predict one")
        return self.pctr


def from_arrays(
    click: NDArray[Any],
    price_cpm: NDArray[Any],
    pctr: NDArray[Any] | None,
    source: str = "<memory>",
) -> AuctionLog:
    """A log from arrays (a generator's output), validated like a file's."""
    click_f = np.asarray(click, np.float64)
    price = np.asarray(price_cpm, np.float64)
    p = None if pctr is None else np.asarray(pctr, np.float64)
    _check(source, click_f, price, p, lambda row: f"row {row}")
    return AuctionLog(click_f.astype(np.int8), _micros(price), p, source)


def read_log(path: Path) -> AuctionLog:
    """The log in ``path``, compact or raw (module docstring); LogError on bad input."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"{path}: {exc}") from exc
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise LogError(f"{path}: empty log")
    if _numbers(first.split()) is not None:
        return _compact(path, text)
    return _raw(path, text)


def _numbers(tokens: list[str]) -> list[float] | None:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _compact(path: Path, text: str) -> AuctionLog:
    lines = text.splitlines()
    tokens = text.split()
    rows = [i for i, line in enumerate(lines, start=1) if line.strip()]
    values = None
    if len(tokens) == 3 * len(rows):
        try:
            values = np.array(tokens, dtype=np.float64).reshape(-1, 3)
        except ValueError:
            values = None
    if values is None:  # find the first bad line, to name it
        for number in rows:
            cells = lines[number - 1].split()
            if len(cells) != 3:
                raise LogError(
                    f"{path}:{number}: {len(cells)} fields, the compact form has 3 "
                    f"({_COMPACT_FIELDS})"
                )
            for name, cell in zip(_COMPACT_FIELDS.split(), cells, strict=True):
                if _numbers([cell]) is None:
                    raise LogError(f"{path}:{number}: {name}: not a number: {cell!r}")
        raise LogError(f"{path}: unreadable")  # pragma: no cover - one of the above fires
    click, price, pctr = values[:, 0], values[:, 1], values[:, 2]
    _check(str(path), click, price, pctr, lambda row: f"line {rows[row]}")
    return AuctionLog(click.astype(np.int8), _micros(price), pctr, str(path))


def _raw(path: Path, text: str) -> AuctionLog:
    reader = csv.reader(text.splitlines(), delimiter="\t")
    header = [name.strip() for name in next(reader)]
    if "click" not in header:
        raise LogError(
            f"{path}:1: not a compact line ({_COMPACT_FIELDS}) and no 'click' in the header "
            "of a raw log (tab-separated, named fields)"
        )
    price_name = next((name for name in PRICE_COLUMNS if name in header), None)
    if price_name is None:
        raise LogError(f"{path}:1: no market price column ({' or '.join(PRICE_COLUMNS)})")
    if len(set(header)) != len(header):
        raise LogError(f"{path}:1: a column name appears twice")
    cells: list[list[str]] = [[] for _ in header]
    numbers: list[int] = []
    for number, row in enumerate(reader, start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise LogError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
        numbers.append(number)
        for column, cell in zip(cells, row, strict=True):
            column.append(cell)
    if not numbers:
        raise LogError(f"{path}: a header and no impressions")
    by_name = dict(zip(header, cells, strict=True))

    def numeric(name: str) -> NDArray[np.float64]:
        try:
            return np.array(by_name[name], dtype=np.float64)
        except ValueError:
            for number, cell in zip(numbers, by_name[name], strict=True):
                if _numbers([cell]) is None:
                    raise LogError(f"{path}:{number}: {name}: not a number: {cell!r}") from None
            raise

    click = numeric("click")
    price = numeric(price_name)
    pctr = numeric("pctr") if "pctr" in by_name else None
    _check(str(path), click, price, pctr, lambda row: f"line {numbers[row]}")
    others = {
        name: np.array(values, dtype=object)
        for name, values in by_name.items()
        if name not in ("click", price_name, "pctr")
    }
    return AuctionLog(click.astype(np.int8), _micros(price), pctr, str(path), others)


def _check(
    source: str,
    click: NDArray[np.float64],
    price: NDArray[np.float64],
    pctr: NDArray[np.float64] | None,
    where: Any,
) -> None:
    """LogError naming the first row whose click, price or pCTR is out of range."""
    if len(click) == 0:
        raise LogError(f"{source}: no impressions")
    checks: list[tuple[str, NDArray[np.bool_], str]] = [
        ("click", ~np.isin(click, (0.0, 1.0)), "must be 0 or 1"),
        (
            "market_price",
            ~(np.isfinite(price) & (price >= 0) & (price < _LIMIT_CPM)),
            "must be a CPM ≥ 0",
        ),
        ("market_price", _too_precise(price), "has more than six decimals"),
    ]
    if pctr is not None:
        checks.append(("pctr", ~((pctr >= 0) & (pctr <= 1)), "must be in [0, 1]"))
    for name, bad, why in checks:
        if bad.any():
            row = int(np.argmax(bad))
            values = {"click": click, "market_price": price, "pctr": pctr}[name]
            assert values is not None
            raise LogError(f"{source}: {where(row)}: {name} {why}: {values[row]!r}")


def _too_precise(price: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Prices whose nearest micro does not give the same double back (more than six
    decimals), as ``openrtb.money.whole_micros`` decides it for one price."""
    with np.errstate(invalid="ignore"):
        micros = np.round(price * MICROS_PER_UNIT)
        bad: NDArray[np.bool_] = np.isfinite(price) & (micros / MICROS_PER_UNIT != price)
    return bad


def _micros(price: NDArray[np.float64]) -> NDArray[np.int64]:
    """Exact CPM micros of prices already checked to have at most six decimals."""
    out: NDArray[np.int64] = np.round(price * MICROS_PER_UNIT).astype(np.int64)
    return out


def describe(log: AuctionLog) -> str:
    """One line about a log: impressions, clicks, CTR, average CPM."""
    n = len(log)
    clicks = int(log.click.sum())
    cpm = float(log.price_cpm_micros.mean()) / MICROS_PER_UNIT
    ctr = clicks / n if n else math.nan
    return f"{log.source}: {n:,} impressions, {clicks:,} clicks (CTR {ctr:.3%}), CPM {cpm:.2f}"
