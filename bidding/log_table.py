"""Read a labelled log — CSV, TSV or Parquet — into typed columns, as its schema declares.

Every column the schema names is read with its declared type: text columns as object
arrays of ``str`` (a ``missing`` token becomes None), number columns as float64 (NaN when
missing), the time column as int64 in its own order (integers such as Unix seconds or
``yyyyMMddHHmmssSSS`` stamps as they are, ISO 8601 date-times as nanoseconds). Columns of
the file the schema does not name are returned as ``unused``, for the caller to report:
nothing is dropped silently. A declared column the file lacks is an error naming it
(except under the serving schema, whose columns are all optional).

CSV and TSV need nothing but the standard library; Parquet needs pyarrow (the ``train``
extra). A directory is a partitioned Parquet log: its ``.parquet`` files, at any depth, in
path order (``parquet_parts``), each read as a file and the parts joined.

Errors are ``LogTableError`` (ValueError) naming the file, and the line and column where
there is one.
"""

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from bidding.log_schema import LogSchema

__all__ = [
    "FORMATS",
    "Format",
    "LogTableError",
    "Table",
    "convert_columns",
    "parquet_parts",
    "read_parquet_file",
    "read_table",
    "table_format",
]

Format = Literal["csv", "tsv", "parquet"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "tsv", "parquet")
_SUFFIXES: Final[dict[str, Format]] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
csv.field_size_limit(1 << 24)


class LogTableError(ValueError):
    """A log that cannot be read as its schema declares; names the file, line, column."""


@dataclass(frozen=True, slots=True)
class Table:
    """The schema's columns of a log, and the file's columns it does not use."""

    columns: dict[str, NDArray[Any]]
    unused: tuple[str, ...]
    absent: tuple[str, ...]
    """Serving-schema columns the file lacks (encoded as missing); empty otherwise."""
    rows: int


def table_format(path: Path, declared: Format | None = None) -> Format:
    """The format: ``declared``, else by suffix (``.csv``, ``.tsv``/``.tab``,
    ``.parquet``/``.pq``), else a first line with a tab is TSV, anything else CSV."""
    if declared is not None:
        return declared
    if path.is_dir():
        return "parquet"
    known = _SUFFIXES.get(path.suffix.lower())
    if known is not None:
        return known
    with path.open(encoding="utf-8", errors="replace") as source:
        return "tsv" if "\t" in source.readline() else "csv"


def read_table(path: Path, schema: LogSchema, fmt: Format | None = None) -> Table:
    """The columns of ``path`` that ``schema`` uses (module docstring)."""
    try:
        kind = table_format(path, fmt)
        if kind == "parquet" and path.is_dir():
            header, raw = _read_parts(parquet_parts(path), schema)
        elif kind == "parquet":
            header, raw = read_parquet_file(path, schema)
        else:
            header, raw = _read_text(path, schema, "\t" if kind == "tsv" else ",")
    except OSError as exc:
        raise LogTableError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    used = schema.used
    absent = tuple(name for name in used if name not in header)
    if absent and not schema.serving:
        raise LogTableError(
            f"{path}: declared column{'s' if len(absent) > 1 else ''} "
            f"{', '.join(map(repr, absent))} not in the file (it has: {', '.join(header)})"
        )
    known = {*used, *schema.ignore}
    unused = tuple(name for name in header if name not in known)
    rows = len(next(iter(raw.values()))) if raw else 0
    return Table(raw, unused, absent if schema.serving else (), rows)


def parquet_parts(directory: Path) -> list[Path]:
    """The files of a partitioned Parquet log, in path order; LogTableError when none."""
    parts = sorted(p for p in directory.rglob("*") if p.suffix in (".parquet", ".pq"))
    if not parts:
        raise LogTableError(f"{directory}: a directory with no .parquet files")
    return parts


def _read_parts(
    parts: Sequence[Path], schema: LogSchema
) -> tuple[list[str], dict[str, NDArray[Any]]]:
    header, first = read_parquet_file(parts[0], schema)
    pieces = [first]
    for part in parts[1:]:
        other, columns = read_parquet_file(part, schema)
        if other != header:
            raise LogTableError(
                f"{part}: columns {', '.join(other)} differ from {parts[0]}'s "
                f"({', '.join(header)}): every part of a log has the same columns"
            )
        pieces.append(columns)
    return header, {name: np.concatenate([p[name] for p in pieces]) for name in first}


def _read_text(
    path: Path, schema: LogSchema, delimiter: str
) -> tuple[list[str], dict[str, NDArray[Any]]]:
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise LogTableError(f"{path}: empty file, no header")
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise LogTableError(f"{path}: column {', '.join(map(repr, twice))} named twice")
        index = {name: i for i, name in enumerate(header)}
        wanted = [name for name in schema.used if name in index]
        cells: list[list[str]] = [[] for _ in wanted]
        positions = [index[name] for name in wanted]
        width = len(header)
        for line, row in enumerate(reader, start=2):
            if len(row) != width:
                if not row:
                    continue  # a blank line (a trailing newline too many)
                raise LogTableError(f"{path}:{line}: {len(row)} cells, the header has {width}")
            for out, position in zip(cells, positions, strict=True):
                out.append(row[position])
    return header, convert_columns(dict(zip(wanted, cells, strict=True)), schema, path)


def convert_columns(
    cells: Mapping[str, Sequence[str]], schema: LogSchema, source: Path | str
) -> dict[str, NDArray[Any]]:
    """Text cells of a delimited file (a header on line 1, a row per line after it) as the
    columns ``schema`` declares them (module docstring): the one conversion, for this
    module's reader and for logs read elsewhere (``rtb replay``'s raw logs)."""
    missing = frozenset(schema.missing)
    return {name: _convert(values, name, schema, missing, source) for name, values in cells.items()}


def _convert(
    values: Sequence[str], name: str, schema: LogSchema, missing: frozenset[str], path: Path | str
) -> NDArray[Any]:
    if name == schema.time and not schema.serving:
        return time_order([None if v in missing else v for v in values], name, path)
    if name in schema.number_columns:
        out = np.empty(len(values), dtype=np.float64)
        for row, value in enumerate(values):
            if value in missing:
                out[row] = math.nan
                continue
            try:
                out[row] = float(value)
            except ValueError:
                raise LogTableError(
                    f"{path}:{row + 2}: column {name!r}: {value!r} is not a number"
                ) from None
        return out
    return np.array([None if v in missing else v for v in values], dtype=object)


def time_order(values: Sequence[object], name: str, path: Path | str) -> NDArray[np.int64]:
    """A time column as sortable int64: integers as they are, else ISO 8601 date-times as
    nanoseconds since the epoch; LogTableError naming the first row that is neither (or
    that is missing: a time split needs every row's time)."""
    out = np.empty(len(values), dtype=np.int64)
    iso = False
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise LogTableError(f"{path}: column {name!r}, row {row + 1}: no time")
        if not iso:
            try:
                out[row] = int(value)  # type: ignore[call-overload]
                continue
            except (TypeError, ValueError):
                if row:
                    raise LogTableError(
                        f"{path}: column {name!r}, row {row + 1}: {value!r} is not an integer "
                        "like the rows before it"
                    ) from None
                iso = True
        try:
            out[row] = np.datetime64(str(value), "ns").astype(np.int64)
        except ValueError:
            raise LogTableError(
                f"{path}: column {name!r}, row {row + 1}: {value!r} is neither an integer "
                "nor an ISO 8601 date-time"
            ) from None
    return out


def read_parquet_file(path: Path, schema: LogSchema) -> tuple[list[str], dict[str, NDArray[Any]]]:
    """One Parquet file's header and the columns of it that ``schema`` uses (module
    docstring): what each worker of a Dask training reads of its part."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise LogTableError(
            f"{path}: reading Parquet needs pyarrow: pip install 'rtb-exchange[train]'"
        ) from None
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LogTableError(f"{path}: not a readable Parquet file ({exc})") from exc
    header = list(file.schema_arrow.names)
    wanted = [name for name in schema.used if name in header]
    table = file.read(columns=wanted)
    missing = frozenset(schema.missing)
    columns: dict[str, NDArray[Any]] = {}
    for name in wanted:
        column = table.column(name)
        try:
            if name == schema.time and not schema.serving:
                if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
                    column = pc.cast(column, pa.timestamp("ns"))
                    columns[name] = time_order(pc.cast(column, pa.int64()).to_pylist(), name, path)
                else:
                    columns[name] = time_order(column.to_pylist(), name, path)
            elif name in schema.number_columns:
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                    column = pc.if_else(pc.is_in(column, pa.array(sorted(missing))), None, column)
                numbers = pc.cast(column, pa.float64())
                columns[name] = numbers.to_numpy(zero_copy_only=False).astype(np.float64)
            else:
                texts = pc.cast(column, pa.string()).to_pylist()
                columns[name] = np.array(
                    [None if v is None or v in missing else v for v in texts], dtype=object
                )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LogTableError(f"{path}: column {name!r}: {exc}") from exc
    return header, columns
