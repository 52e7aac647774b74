"""Touchpoints and conversions in, conversion paths out: what every attribution model reads.

Two inputs:

* a **touchpoint CSV** (the main one): a header with ``journey_id``, ``timestamp``, ``kind``
  (``touch`` or ``conversion``), the credited column (``channel`` by default, any column by
  ``key``) on touches, and ``value`` (decimal currency units, ≥ 0) on conversions. A
  timestamp is seconds since the epoch or ISO 8601 (UTC when it names no zone). A journey is
  whatever the advertiser's own ids join (a user, a household, a cookie);
* an **event export** (``rtb export``): the exchange logs no user key (docs/privacy.md), so
  the only link from a conversion back to an ad is its click id, the one impression it
  came from. Each billed or clicked impression is a journey of its own (its billing notice
  and its click are touches of its campaign); each conversion belongs to its click's
  impression. Every model then credits the clicked campaign in full: multi-touch
  attribution needs journeys the advertiser joins itself (docs/attribution.md).

A **path** is one conversion and the touches of its journey at or before it and no older
than the lookback window; a journey with no conversion is one path of value 0 over its
touches within the window before its last touch (the ``rate`` form of Shapley reads those).
"""

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from openrtb.money import cpm_to_micros

__all__ = [
    "Conversion",
    "ConversionPath",
    "InputError",
    "Journeys",
    "Touch",
    "from_events",
    "paths",
    "read_touchpoints",
]

TOUCH: Final = "touch"
CONVERSION: Final = "conversion"
_REQUIRED: Final = ("journey_id", "timestamp", "kind")
_SECONDS_PER_MS: Final = 1e-3


class InputError(ValueError):
    """A touchpoint file or event export that cannot be read; the message names the file,
    the row and the column."""


@dataclass(frozen=True, slots=True)
class Touch:
    journey_id: str
    ts_s: float
    channel: str


@dataclass(frozen=True, slots=True)
class Conversion:
    journey_id: str
    ts_s: float
    value_micros: int


@dataclass(frozen=True, slots=True)
class Journeys:
    """Everything read from one input, in file order."""

    touches: tuple[Touch, ...]
    conversions: tuple[Conversion, ...]
    source: str


@dataclass(frozen=True, slots=True)
class ConversionPath:
    """The touches one conversion may credit, oldest first (``value_micros`` 0 and
    ``ts_s`` the last touch's for a journey that never converted)."""

    journey_id: str
    ts_s: float
    value_micros: int
    touches: tuple[tuple[float, str], ...]


def _timestamp(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_touchpoints(path: Path, key: str = "channel") -> Journeys:
    """The touchpoint CSV at ``path`` (module docstring), crediting column ``key``. Raises
    InputError naming the row (1 is the first after the header) and column of the first
    problem."""
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        columns = reader.fieldnames or []
        for name in (*_REQUIRED, key, "value"):
            if name not in columns:
                shown = ", ".join(columns) or "none"
                raise InputError(f"{path}: no column {name!r} (the header has: {shown})")
        touches: list[Touch] = []
        conversions: list[Conversion] = []
        for row_number, row in enumerate(reader, start=1):

            def field(name: str, row: Mapping[str, str | None] = row, n: int = row_number) -> str:
                text = (row.get(name) or "").strip()
                if not text:
                    raise InputError(f"{path}: row {n}, column {name!r}: empty")
                return text

            def bad(name: str, problem: str, n: int = row_number) -> InputError:
                return InputError(f"{path}: row {n}, column {name!r}: {problem}")

            journey = field("journey_id")
            stamp = field("timestamp")
            try:
                ts_s = _timestamp(stamp)
            except ValueError:
                raise bad("timestamp", f"not seconds or ISO 8601: {stamp!r}") from None
            if not math.isfinite(ts_s):
                raise bad("timestamp", f"not finite: {stamp!r}")
            kind = field("kind").lower()
            if kind == TOUCH:
                touches.append(Touch(journey, ts_s, field(key)))
            elif kind == CONVERSION:
                text = field("value")
                try:
                    value = cpm_to_micros(text)
                except ValueError:
                    raise bad("value", f"not a decimal amount: {text!r}") from None
                if value < 0:
                    raise bad("value", f"negative: {text!r}")
                conversions.append(Conversion(journey, ts_s, value))
            else:
                raise bad("kind", f"unknown kind {kind!r} (touch or conversion)")
    return Journeys(tuple(touches), tuple(conversions), str(path))


def from_events(events: Iterable[Mapping[str, str]], source: str) -> Journeys:
    """Journeys of an ``rtb export`` (module docstring): one per billed or clicked
    impression, credited to ``bidder/campaign_id``. Raises InputError naming the event
    (1 is the first) and field of a malformed time or value."""
    from bidding.event_log import BILLING_EVENT, CLICK_EVENT, CONVERSION_EVENT, impression_id

    touches: list[Touch] = []
    conversions: list[Conversion] = []
    for number, event in enumerate(events, start=1):
        kind = event.get("kind")
        if kind not in (BILLING_EVENT, CLICK_EVENT, CONVERSION_EVENT):
            continue
        try:
            ts_s = int(event.get("ts_ms", "")) * _SECONDS_PER_MS
        except ValueError:
            raise InputError(
                f"{source}: event {number} ({kind}), field 'ts_ms': not a number"
            ) from None
        campaign = f"{event.get('bidder', '')}/{event.get('campaign_id', '')}"
        if kind == CONVERSION_EVENT:
            text = event.get("value_micros", "0")
            try:
                value = int(text)
            except ValueError:
                value = -1
            if value < 0:
                raise InputError(
                    f"{source}: event {number} (conversion), field 'value_micros': "
                    f"not a whole number ≥ 0: {text!r}"
                )
            if event.get("click"):  # (every conversion the exchange records has one)
                conversions.append(Conversion(event["click"], ts_s, value))
            continue
        impression = impression_id(
            event.get("auction_id", ""), event.get("imp_id", ""), event.get("bid_id", "")
        )
        touches.append(Touch(impression, ts_s, campaign))
    return Journeys(tuple(touches), tuple(conversions), source)


def paths(
    journeys: Journeys, lookback_s: float
) -> tuple[list[ConversionPath], list[ConversionPath]]:
    """The converting paths (one per conversion, in file order) and the non-converting
    ones (one per journey without a conversion) within ``lookback_s`` (module docstring)."""
    by_journey: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
    for touch in journeys.touches:
        by_journey[touch.journey_id].append((touch.ts_s, touch.channel))
    for touches in by_journey.values():
        touches.sort(key=lambda touch: touch[0])  # stable: same-time touches keep file order
    converting = [
        ConversionPath(
            c.journey_id,
            c.ts_s,
            c.value_micros,
            _window(by_journey[c.journey_id], c.ts_s, lookback_s),
        )
        for c in journeys.conversions
    ]
    converted = {c.journey_id for c in journeys.conversions}
    quiet = [
        ConversionPath(journey, touches[-1][0], 0, _window(touches, touches[-1][0], lookback_s))
        for journey, touches in by_journey.items()
        if journey not in converted
    ]
    return converting, quiet


def _window(
    touches: Sequence[tuple[float, str]], end_s: float, lookback_s: float
) -> tuple[tuple[float, str], ...]:
    return tuple(t for t in touches if end_s - lookback_s <= t[0] <= end_s)
