"""An experiment's units (rows of outcomes, each tagged with its variant) read from CSV."""

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from openrtb.money import cpm_to_micros

__all__ = ["COUNT_COLUMNS", "MONEY_COLUMNS", "Units", "UnitsError", "read_units"]

COUNT_COLUMNS: Final = ("bids", "impressions", "clicks", "conversions")
MONEY_COLUMNS: Final = ("spend", "value")
"""In currency units (e.g. 1.25); held as integer micros."""


class UnitsError(ValueError):
    """A units file that cannot be read; names the file, line and column."""


@dataclass(frozen=True, slots=True)
class Units:
    """One row per unit, in look order (by ``ts`` where the file has it, else file order)."""

    variant: NDArray[np.str_]
    counts: dict[str, NDArray[np.int64]]
    micros: dict[str, NDArray[np.int64]]

    def __len__(self) -> int:
        return len(self.variant)

    def of(self, variant: str, upto: int) -> "Units":
        """The units of ``variant`` among the first ``upto``."""
        keep = self.variant[:upto] == variant
        return Units(
            self.variant[:upto][keep],
            {k: v[:upto][keep] for k, v in self.counts.items()},
            {k: v[:upto][keep] for k, v in self.micros.items()},
        )


def read_units(path: Path) -> Units:
    """The units of a CSV with a ``variant`` column, the ``COUNT_COLUMNS`` and
    ``MONEY_COLUMNS`` (absent ones are zeros) and an optional ``ts`` (Unix seconds)."""
    try:
        with path.open(newline="", encoding="utf-8") as source:
            rows = list(csv.DictReader(source))
    except OSError as exc:
        raise UnitsError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not rows or "variant" not in rows[0]:
        raise UnitsError(f"{path}: needs a header with a 'variant' column and at least one row")
    header = rows[0].keys()
    variant, ts = [], []
    counts: dict[str, list[int]] = {name: [] for name in COUNT_COLUMNS}
    micros: dict[str, list[int]] = {name: [] for name in MONEY_COLUMNS}
    for line, row in enumerate(rows, start=2):
        name = (row.get("variant") or "").strip()
        if not name:
            raise UnitsError(f"{path}:{line}: column 'variant': empty")
        variant.append(name)
        ts.append(_number(row, "ts", path, line) if "ts" in header else float(line))
        for column in COUNT_COLUMNS:
            counts[column].append(_count(row, column, path, line))
        for column in MONEY_COLUMNS:
            micros[column].append(_money(row, column, path, line))
    order = np.argsort(np.array(ts), kind="stable")
    return Units(
        np.array(variant)[order],
        {k: np.array(v, np.int64)[order] for k, v in counts.items()},
        {k: np.array(v, np.int64)[order] for k, v in micros.items()},
    )


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def _number(row: dict[str, str], column: str, path: Path, line: int) -> float:
    try:
        return float(_cell(row, column))
    except ValueError:
        raise UnitsError(
            f"{path}:{line}: column {column!r}: {row.get(column)!r} is not a number"
        ) from None


def _count(row: dict[str, str], column: str, path: Path, line: int) -> int:
    text = _cell(row, column) or "0"
    if not text.isdigit():
        raise UnitsError(f"{path}:{line}: column {column!r}: {text!r} is not a whole number ≥ 0")
    return int(text)


def _money(row: dict[str, str], column: str, path: Path, line: int) -> int:
    text = _cell(row, column) or "0"
    try:
        amount = cpm_to_micros(text)
    except ValueError:
        raise UnitsError(f"{path}:{line}: column {column!r}: {text!r} is not an amount") from None
    if amount < 0:
        raise UnitsError(f"{path}:{line}: column {column!r}: {text!r} is negative")
    return amount
