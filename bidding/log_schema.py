"""The declared schema of a labelled log: which columns are what, for ``rtb train --input``.

A log from elsewhere (a public benchmark, another exchange's export) has its own column
names and types, and guessing them is how a column gets silently dropped or a numeric id
gets treated as a quantity. So the user declares, in a small JSON or TOML file and/or on the
command line, every column the model may use and what it is:

    label = "click"                 # the click label, 0/1 (required)
    conversion = "conv"             # the conversion label, 0/1 (optional: --label conversion/both)
    time = "timestamp"              # optional: split by this column's order, else by row order
    truth = "p_click"               # optional: true P(click), for the oracle's figures
    categorical = ["domain", "slotid", "region"]
    numeric = ["slotprice", "slotwidth"]
    tags = { usertag = "," }        # set-valued text: column = separator
    crosses = [["advertiser", "region"]]
    ignore = ["bidid"]              # present, known, not used (silences the warning)
    missing = ["", "null"]          # cell texts that mean "missing" (this is the default)

``serving`` is the other schema: the raw columns of ``bidding.features``, encoded by that
module exactly as the router encodes a bid request, so the models it trains can serve.

Errors::

    SchemaError (ValueError)  a schema that cannot be used; the message names the key
"""

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from bidding.features import NUMERIC_COLUMNS, RAW_COLUMNS

__all__ = ["DEFAULT_MISSING", "SERVING", "LogSchema", "SchemaError", "load_schema"]

DEFAULT_MISSING: Final = ("", "null", "NULL", "NA")
_KEYS: Final = frozenset(
    {
        "label",
        "conversion",
        "time",
        "truth",
        "conversion_truth",
        "categorical",
        "numeric",
        "tags",
        "crosses",
        "ignore",
        "missing",
    }
)


class SchemaError(ValueError):
    """A schema that cannot be used; the message names the key (and the file)."""


@dataclass(frozen=True, slots=True)
class LogSchema:
    """What every used column of a log is (module docstring)."""

    label: str = "click"
    conversion: str | None = None
    time: str | None = None
    truth: str | None = None
    conversion_truth: str | None = None
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    """Set-valued text columns and their separators."""
    crosses: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    missing: tuple[str, ...] = DEFAULT_MISSING
    serving: bool = field(default=False, compare=False)
    """The serving schema: features by ``bidding.features``, columns optional."""

    @property
    def features(self) -> tuple[str, ...]:
        """The feature columns, in declaration order."""
        return (*self.categorical, *self.numeric, *(name for name, _ in self.tags))

    @property
    def text_columns(self) -> tuple[str, ...]:
        """Columns read as text."""
        return (*self.categorical, *(name for name, _ in self.tags))

    @property
    def number_columns(self) -> tuple[str, ...]:
        """Columns read as numbers (features, labels, truths; the serving schema's time)."""
        extra = [self.label, self.conversion, self.truth, self.conversion_truth]
        if self.serving:
            extra.append(self.time)
        return (*self.numeric, *(name for name in extra if name is not None))

    @property
    def used(self) -> tuple[str, ...]:
        """Every column the schema reads."""
        time = (self.time,) if self.time is not None and not self.serving else ()
        return (*self.text_columns, *self.number_columns, *time)

    def check(self, source: str = "schema") -> "LogSchema":
        """The schema itself if it is usable, else SchemaError naming the problem."""
        if self.serving:
            return self
        if not self.features:
            raise SchemaError(
                f"{source}: no feature columns: declare 'categorical', 'numeric' or 'tags'"
            )
        seen: dict[str, str] = {}
        roles = [
            ("label", (self.label,)),
            ("conversion", (self.conversion,) if self.conversion else ()),
            ("time", (self.time,) if self.time else ()),
            ("truth", (self.truth,) if self.truth else ()),
            ("conversion_truth", (self.conversion_truth,) if self.conversion_truth else ()),
            ("categorical", self.categorical),
            ("numeric", self.numeric),
            ("tags", tuple(name for name, _ in self.tags)),
            ("ignore", self.ignore),
        ]
        for role, names in roles:
            for name in names:
                if not name:
                    raise SchemaError(f"{source}: '{role}' has an empty column name")
                if name in seen:
                    where = "twice" if seen[name] == role else f"and '{seen[name]}'"
                    raise SchemaError(f"{source}: column {name!r} is in '{role}' {where}")
                seen[name] = role
        for name, separator in self.tags:
            if not separator:
                raise SchemaError(f"{source}: 'tags': column {name!r} needs a separator")
        for pair in self.crosses:
            for name in pair:
                if name not in self.categorical:
                    raise SchemaError(
                        f"{source}: 'crosses': {name!r} is not a declared categorical column"
                    )
            if pair[0] == pair[1]:
                raise SchemaError(f"{source}: 'crosses': {pair[0]!r} crossed with itself")
        return self

    def with_flags(
        self,
        *,
        label: str | None = None,
        conversion: str | None = None,
        time: str | None = None,
        categorical: Iterable[str] = (),
        numeric: Iterable[str] = (),
        tags: Iterable[tuple[str, str]] = (),
        crosses: Iterable[tuple[str, str]] = (),
        ignore: Iterable[str] = (),
    ) -> "LogSchema":
        """This schema with command-line additions: names add to the lists, and a given
        label, conversion or time column replaces the file's."""
        return replace(
            self,
            label=label or self.label,
            conversion=conversion or self.conversion,
            time=time or self.time,
            categorical=_unique((*self.categorical, *categorical)),
            numeric=_unique((*self.numeric, *numeric)),
            tags=tuple(dict((*self.tags, *tags)).items()),
            crosses=_unique((*self.crosses, *crosses)),
            ignore=_unique((*self.ignore, *ignore)),
        )

    def to_json(self) -> dict[str, Any]:
        """The schema as the file form (what a model's metadata records)."""
        if self.serving:
            return {"serving": True}
        data: dict[str, Any] = {
            "label": self.label,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "tags": dict(self.tags),
            "crosses": [list(pair) for pair in self.crosses],
            "ignore": list(self.ignore),
            "missing": list(self.missing),
        }
        optional = ("conversion", "time", "truth", "conversion_truth")
        data.update({k: getattr(self, k) for k in optional if getattr(self, k) is not None})
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "schema") -> "LogSchema":
        """Parse the file form; SchemaError naming the key on anything unknown or mistyped."""
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise SchemaError(
                f"{source}: unknown key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))} (known: {', '.join(sorted(_KEYS))})"
            )
        tags = data.get("tags", {})
        if not isinstance(tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise SchemaError(f"{source}: 'tags' must map column names to separators")
        schema = cls(
            label=_text(data, "label", source) or "click",
            conversion=_text(data, "conversion", source),
            time=_text(data, "time", source),
            truth=_text(data, "truth", source),
            conversion_truth=_text(data, "conversion_truth", source),
            categorical=_names(data, "categorical", source),
            numeric=_names(data, "numeric", source),
            tags=tuple(tags.items()),
            crosses=_pairs(data, source),
            ignore=_names(data, "ignore", source),
            missing=_names(data, "missing", source, allow_empty=True)
            if "missing" in data
            else DEFAULT_MISSING,
        )
        return schema.check(source)


SERVING: Final = LogSchema(
    label="click",
    conversion="conversion",
    time="ts",
    truth="p_click",
    conversion_truth="p_conversion",
    categorical=tuple(c for c in RAW_COLUMNS if c not in NUMERIC_COLUMNS),
    numeric=tuple(c for c in RAW_COLUMNS if c in NUMERIC_COLUMNS and c != "ts"),
    missing=("",),
    serving=True,
)
"""The raw columns of ``bidding.features`` (every one optional), ``click``/``conversion``
and the synthetic generator's truths; ``ts`` is both a feature input and the split order."""


def load_schema(path: Path) -> LogSchema:
    """Read a schema file (``.toml``, else JSON); SchemaError naming the file and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read the schema ({exc.strerror or exc})") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise SchemaError(f"{path}: not valid {kind} ({exc})") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: the schema must be an object of keys")
    return LogSchema.from_mapping(data, str(path))


def _text(data: Mapping[str, Any], key: str, source: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise SchemaError(f"{source}: {key!r} must be a column name (a string)")
    return value


def _names(
    data: Mapping[str, Any], key: str, source: str, *, allow_empty: bool = False
) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"{source}: {key!r} must be a list of column names")
    if not allow_empty and "" in value:
        raise SchemaError(f"{source}: {key!r} has an empty column name")
    if len(set(value)) != len(value):
        twice = sorted({v for v in value if value.count(v) > 1})
        raise SchemaError(f"{source}: {key!r} names {', '.join(map(repr, twice))} twice")
    return tuple(value)


def _pairs(data: Mapping[str, Any], source: str) -> tuple[tuple[str, str], ...]:
    value = data.get("crosses", [])
    ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in value
    )
    if not ok:
        raise SchemaError(f"{source}: 'crosses' must be a list of [column, column] pairs")
    return tuple((p[0], p[1]) for p in value)


def _unique(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))
