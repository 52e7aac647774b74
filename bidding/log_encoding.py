"""Features of a log with a declared schema, sized to the data it is fitted on.

Each categorical column (and each declared cross of two) is hashed — salted BLAKE2b per
column, ``bidding.features.stable_hash``, crosses mixed as the serving features mix theirs —
into a bucket count sized to the column's distinct values on the training rows
(``EncoderConfig.load`` buckets per value, a power of two, capped), so a column of twelve
values and one of forty thousand addresses both get few collisions and no wasted width; a
missing value is a bucket of its own. Trees split numbers by range, and a bucket id's order
means nothing, so XGBoost does not see the ids: it sees, per column, the bucket's smoothed
click rate on the training rows (``(positives + m·prior) / (impressions + m)``, with
``m = smoothing / prior``: the prior weighs as much as ``smoothing`` clicks) and its
log-count. On the training rows themselves the rates are out of fold (each row's rate comes
from the other ``folds − 1`` folds), or the model would learn that a row's own click raises
its rate. A tags column (comma-separated segments, say) becomes one indicator per tag
among the most frequent ``max_tags`` on the training rows, and a tag count. Numeric columns
pass through (NaN = missing).

The logistic-regression baseline (``bidding.baseline``) gets the same buckets one-hot
instead of their rates, the same tag indicators and the numbers.

The fitted state (bucket counts, kept tags, the schema) is plain JSON, stored in the model
file (``bidding.models.LOG_ENCODING_ATTR``), so whoever scores a log with the model
(``bidding.log_model``, for ``rtb replay``) encodes it with exactly the state it was
trained with.
"""

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bidding.features import mix_hashes, text_hashes
from bidding.log_schema import LogSchema
from bidding.log_table import LogTableError

__all__ = ["Design", "EncoderConfig", "LogEncoder", "check_columns"]

_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """How the features are sized; the defaults were chosen on the synthetic iPinYou log
    (docs/bidding.md)."""

    load: int = 8
    """Buckets per distinct training value (8: about one value in nine shares a bucket)."""
    max_buckets: int = 1 << 20
    smoothing: float = 1.0
    """The prior's weight in clicks (see the module docstring)."""
    folds: int = 5
    max_tags: int = 64
    min_tag_rows: int = 20
    """A tag is kept only when at least this many training rows have it."""


@dataclass(frozen=True, slots=True)
class _Counted:
    """One categorical column or cross: its buckets and training counts per bucket (the
    last slot is "missing")."""

    name: str
    sources: tuple[str, ...]
    buckets: int
    impressions: NDArray[np.float64]
    positives: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Design:
    """A log's rows as the two model families take them."""

    codes: NDArray[np.int64]
    """(n, k) bucket of each categorical column and cross."""
    dense: NDArray[np.float64]
    """(n, m) numeric columns, then tag indicators and counts."""


def _salt(name: str) -> str:
    """A 16-character ASCII salt for a column name of any length and alphabet."""
    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).hexdigest()


def _hashes(columns: dict[str, NDArray[Any]], sources: tuple[str, ...]) -> tuple[Any, Any]:
    hashes, valid = text_hashes(columns[sources[0]], _salt(sources[0]), "exact")
    for name in sources[1:]:
        other, other_valid = text_hashes(columns[name], _salt(name), "exact")
        hashes, valid = mix_hashes(hashes, other), valid & other_valid
    return hashes, valid


def _codes(hashes: Any, valid: Any, buckets: int) -> NDArray[np.int64]:
    out: NDArray[np.int64] = (hashes % np.uint64(buckets)).astype(np.int64)
    out[~valid] = buckets
    return out


def _tag_sets(values: NDArray[Any], separator: str) -> list[frozenset[str]]:
    table: dict[object, frozenset[str]] = {}
    out = []
    for value in values.tolist():
        tags = table.get(value)
        if tags is None:
            parts = value.split(separator) if isinstance(value, str) else ()
            tags = table[value] = frozenset(p.strip() for p in parts if p.strip())
        out.append(tags)
    return out


class LogEncoder:
    """Fitted feature state for one schema and label (module docstring)."""

    __slots__ = ("base_rate", "config", "counted", "schema", "tags")

    def __init__(
        self,
        schema: LogSchema,
        config: EncoderConfig,
        base_rate: float,
        counted: tuple[_Counted, ...],
        tags: tuple[tuple[str, tuple[str, ...]], ...],
    ) -> None:
        self.schema = schema
        self.config = config
        self.base_rate = base_rate
        self.counted = counted
        self.tags = tags

    @classmethod
    def fit(
        cls,
        columns: dict[str, NDArray[Any]],
        schema: LogSchema,
        labels: NDArray[np.float64],
        rows: NDArray[np.intp],
        config: EncoderConfig = EncoderConfig(),
    ) -> "LogEncoder":
        """Size and count on the training ``rows`` of ``columns``."""
        y = labels[rows]
        base_rate = float(y.mean())
        counted = []
        groups = [(name,) for name in schema.categorical] + [tuple(p) for p in schema.crosses]
        for sources in groups:
            hashes, valid = _hashes(columns, sources)
            distinct = len(np.unique(hashes[rows][valid[rows]]))
            buckets = 1 << max(4, math.ceil(math.log2(max(1, distinct * config.load))))
            buckets = min(buckets, config.max_buckets)
            codes = _codes(hashes, valid, buckets)[rows]
            counted.append(
                _Counted(
                    "*".join(sources),
                    sources,
                    buckets,
                    np.bincount(codes, minlength=buckets + 1).astype(np.float64),
                    np.asarray(np.bincount(codes, weights=y, minlength=buckets + 1), np.float64),
                )
            )
        tags = []
        for name, separator in schema.tags:
            sets = _tag_sets(columns[name][rows], separator)
            frequency = Counter(tag for tags_ in sets for tag in tags_)
            kept = sorted(
                (t for t, c in frequency.items() if c >= config.min_tag_rows),
                key=lambda t: (-frequency[t], t),
            )[: config.max_tags]
            tags.append((name, tuple(sorted(kept))))
        return cls(schema, config, base_rate, tuple(counted), tuple(tags))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The XGBoost matrix's columns, in order."""
        rates = [f"{c.name}:rate" for c in self.counted]
        counts = [f"{c.name}:count" for c in self.counted]
        return (*rates, *counts, *self.dense_names)

    @property
    def dense_names(self) -> tuple[str, ...]:
        """The dense part's columns: numbers, then each tag column's indicators and count."""
        names = list(self.schema.numeric)
        for column, kept in self.tags:
            names += [f"{column}={tag}" for tag in kept]
            names.append(f"{column}:count")
        return tuple(names)

    def design(self, columns: dict[str, NDArray[Any]]) -> Design:
        """Bucket codes and the dense part of every row of ``columns``."""
        n = len(next(iter(columns.values())))
        codes = np.empty((n, len(self.counted)), dtype=np.int64)
        for j, c in enumerate(self.counted):
            codes[:, j] = _codes(*_hashes(columns, c.sources), c.buckets)
        dense = np.empty((n, len(self.dense_names)), dtype=np.float64)
        k = 0
        for name in self.schema.numeric:
            dense[:, k] = columns[name]
            k += 1
        separators = dict(self.schema.tags)
        for column, kept in self.tags:
            sets = _tag_sets(columns[column], separators[column])
            index = {tag: i for i, tag in enumerate(kept)}
            block = np.zeros((n, len(kept)), dtype=np.float64)
            for row, tags in enumerate(sets):
                for tag in tags:
                    i = index.get(tag)
                    if i is not None:
                        block[row, i] = 1.0
            dense[:, k : k + len(kept)] = block
            dense[:, k + len(kept)] = [len(tags) for tags in sets]
            k += len(kept) + 1
        return Design(codes, dense)

    def matrix(
        self,
        design: Design,
        out_of_fold: tuple[NDArray[np.intp], NDArray[np.float64]] | None = None,
    ) -> NDArray[np.float32]:
        """The XGBoost input for ``design``'s rows. ``out_of_fold``: (training rows, every
        row's labels) — those rows get rates from the other folds (module docstring)."""
        n, k = design.codes.shape
        prior_weight = self.config.smoothing / max(self.base_rate, 1e-9)
        out = np.empty((n, 2 * k + design.dense.shape[1]), dtype=np.float32)
        for j, c in enumerate(self.counted):
            codes = design.codes[:, j]
            impressions, positives = c.impressions[codes], c.positives[codes]
            if out_of_fold is not None:
                rows, labels = out_of_fold
                fold = np.arange(len(rows)) % self.config.folds
                for f in range(self.config.folds):
                    part = rows[fold == f]
                    part_codes = codes[part]
                    size = c.buckets + 1
                    own = np.bincount(part_codes, minlength=size).astype(np.float64)
                    own_positives = np.bincount(part_codes, weights=labels[part], minlength=size)
                    impressions[part] -= own[part_codes]
                    positives[part] -= own_positives[part_codes]
            out[:, j] = (positives + prior_weight * self.base_rate) / (impressions + prior_weight)
            out[:, k + j] = np.log1p(impressions)
        out[:, 2 * k :] = design.dense
        return out

    def to_json(self) -> dict[str, Any]:
        """The fitted state as plain JSON (only buckets that were seen)."""
        counted = []
        for c in self.counted:
            seen = np.flatnonzero(c.impressions)
            counted.append(
                {
                    "name": c.name,
                    "sources": list(c.sources),
                    "buckets": c.buckets,
                    "seen": seen.tolist(),
                    "impressions": c.impressions[seen].astype(np.int64).tolist(),
                    "positives": c.positives[seen].tolist(),
                }
            )
        return {
            "version": _VERSION,
            "schema": self.schema.to_json(),
            "config": {
                "load": self.config.load,
                "max_buckets": self.config.max_buckets,
                "smoothing": self.config.smoothing,
                "folds": self.config.folds,
                "max_tags": self.config.max_tags,
                "min_tag_rows": self.config.min_tag_rows,
            },
            "base_rate": self.base_rate,
            "counted": counted,
            "tags": [[name, list(kept)] for name, kept in self.tags],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LogEncoder":
        """The encoder ``to_json`` wrote; ValueError when it is not one."""
        if data.get("version") != _VERSION:
            raise ValueError(f"log encoding version {data.get('version')!r}, need {_VERSION}")
        try:
            counted = []
            for c in data["counted"]:
                impressions = np.zeros(c["buckets"] + 1)
                positives = np.zeros(c["buckets"] + 1)
                impressions[c["seen"]] = c["impressions"]
                positives[c["seen"]] = c["positives"]
                counted.append(
                    _Counted(c["name"], tuple(c["sources"]), c["buckets"], impressions, positives)
                )
            return cls(
                LogSchema.from_mapping(data["schema"], "log encoding"),
                EncoderConfig(**data["config"]),
                float(data["base_rate"]),
                tuple(counted),
                tuple((name, tuple(kept)) for name, kept in data["tags"]),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"log encoding: malformed ({exc!r})") from exc


def check_columns(columns: dict[str, NDArray[Any]], schema: LogSchema) -> None:
    """LogTableError naming the schema's feature columns ``columns`` lacks."""
    absent = [name for name in schema.features if name not in columns]
    if absent:
        raise LogTableError(f"no column {', '.join(map(repr, absent))} in the rows to encode")
