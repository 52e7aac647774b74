"""Targeting: which impressions a campaign wants, and why a campaign did not match one.

Two halves, so the per-request work is done once and the per-campaign work is a handful of
set operations:

* ``RequestFacts.of(request, imp, now_s)`` reads everything targeting can ask about out of
  one impression of a request (normalised: strings case-folded, ints as their decimal text),
  once per impression — not once per campaign;
* ``matches(targeting, facts)`` is a pure function of a campaign's frozen ``Targeting`` and
  those facts; it returns None when the campaign wants the impression and otherwise the
  first ``Reason`` it does not, so the router's debug output can say *why*.

Semantics shared by every list dimension (country, region, city, device type, OS,
connection type, categories, domains, bundles, user segments, gender, keywords, content
ratings):

* ``block`` wins: any blocked value present rejects the impression;
* ``allow`` (None means "any") needs at least one of its values present; a request that does
  not carry the fact at all (no country, no segments) does not match an allow list —
  spending on an impression the advertiser did not ask for is the worse mistake;
* a block list never rejects for a missing fact.

Some facts are widened when they are read, so that rules can be written at the level an
advertiser thinks in: a domain also yields its parent domains (blocking ``example.com``
blocks ``news.example.com``), an IAB 1.0 sub-category also yields its tier-1 category
(allowing ``IAB12`` admits ``IAB12-3``), a user segment yields both ``segment-id`` and
``data-id:segment-id`` (segment ids are only unique within one data provider), and the
content's rating yields its ``contentrating`` text (``TV-MA``, ``MPAA R``) and its IQG media
rating as ``qag:1``–``qag:3`` (3: mature audiences), so a campaign can exclude either.

Hour-of-week dayparting is evaluated in the campaign's own time zone (DST included: the local
hour is taken from the zone database for that very instant); hour 0 is Monday 00:00–00:59.
Age is the request's UTC year minus ``user.yob`` (the birthday is unknown: off by one at
most, stated, not hidden).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

from openrtb.audience import Geo
from openrtb.imp import Imp
from openrtb.inventory import App, Content, Site
from openrtb.request import BidRequest

__all__ = [
    "ALL_HOURS",
    "ANY",
    "HOURS_PER_WEEK",
    "Dimension",
    "ListRule",
    "Reason",
    "RequestFacts",
    "Targeting",
    "Why",
    "format_keys",
    "hour_of_week",
    "hours_mask",
    "matches",
]

HOURS_PER_WEEK: Final = 168
ALL_HOURS: Final = (1 << HOURS_PER_WEEK) - 1

FormatKey = tuple[str, int, int]
"""(media type, width, height) of what an imp accepts or a creative is; 0×0 means any size."""


class Dimension(IntEnum):
    """The list dimensions; the value is the position of the fact in ``RequestFacts.lists``."""

    COUNTRY = 0
    REGION = 1
    CITY = 2
    DEVICE_TYPE = 3
    OS = 4
    CONNECTION_TYPE = 5
    CATEGORY = 6
    DOMAIN = 7
    BUNDLE = 8
    SEGMENT = 9
    GENDER = 10
    KEYWORD = 11
    CONTENT_RATING = 12

    @property
    def label(self) -> str:
        """The name used in config files and reasons (``device_type``)."""
        return _LABELS[self]


_LABELS: Final = tuple(d.name.lower() for d in Dimension)


def _text(values: frozenset[str]) -> str:
    if len(values) == 1:
        (value,) = values
        return value
    return ",".join(sorted(values))


class Why(StrEnum):
    """The kind of mismatch a ``Reason`` reports."""

    NOT_ALLOWED = "not in allow list"
    BLOCKED = "blocked"
    UNKNOWN = "unknown in request"
    OUT_OF_RANGE = "out of range"
    OUT_OF_HOURS = "outside dayparting"
    OUT_OF_FLIGHT = "outside flight dates"
    NO_CREATIVE = "no creative fits"


class Reason(NamedTuple):
    """Why a campaign did not match an impression: the dimension, the kind, the value seen.

    A NamedTuple rather than a frozen dataclass: a full scan builds one per rejected
    campaign, and tuples are several times cheaper to construct."""

    dimension: str
    why: Why
    value: str = ""

    def __str__(self) -> str:
        return f"{self.dimension}: {self.why.value}" + (f" ({self.value})" if self.value else "")


@dataclass(frozen=True, slots=True)
class ListRule:
    """Allow and block lists of one dimension, values normalised like the facts."""

    allow: frozenset[str] | None = None
    """None: any value (and a missing one); otherwise at least one of these must be present."""
    block: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, allow: Iterable[str | int] | None = None, block: Iterable[str | int] = ()
    ) -> ListRule:
        """A rule from plain strings or ints, normalised like the facts."""
        return cls(
            None if allow is None else frozenset(_norm(v) for v in allow),
            frozenset(_norm(v) for v in block),
        )


def _norm(value: str | int) -> str:
    """Facts and rule values compare case-insensitively; ints compare by their decimal text."""
    if isinstance(value, int):
        return str(value)
    return value.strip().casefold()


@dataclass(frozen=True, slots=True)
class Targeting:
    """A campaign's targeting, frozen; only the dimensions it restricts are stored.

    ``rules`` holds (dimension, rule) pairs for the restricted list dimensions, in the order
    they are checked (cheap, selective dimensions first is the caller's choice).
    """

    rules: tuple[tuple[Dimension, ListRule], ...] = ()
    min_age: int | None = None
    max_age: int | None = None
    hours: int = ALL_HOURS
    """Bit ``h`` set: the campaign runs in local hour-of-week ``h`` (see ``hour_of_week``)."""
    time_zone: str = "UTC"
    flight_start_s: int | None = None
    """First second of the flight (the start date's local midnight), inclusive."""
    flight_end_s: int | None = None
    """First second after the flight (local midnight after the end date), exclusive."""

    def rule(self, dimension: Dimension) -> ListRule | None:
        """The rule of one dimension, or None when the campaign does not restrict it."""
        for dim, rule in self.rules:
            if dim is dimension:
                return rule
        return None

    @classmethod
    def build(
        cls,
        rules: Mapping[str, ListRule] | None = None,
        /,
        *,
        time_zone: str = "UTC",
        min_age: int | None = None,
        max_age: int | None = None,
        hours: int = ALL_HOURS,
        flight_start_s: int | None = None,
        flight_end_s: int | None = None,
        **named: ListRule,
    ) -> Targeting:
        """Targeting from rules by dimension label: a mapping, keywords, or both
        (``Targeting.build(country=ListRule.of(["USA"]))``)."""
        by_label = {d.label: d for d in Dimension}
        pairs: list[tuple[Dimension, ListRule]] = []
        for label, rule in {**(rules or {}), **named}.items():
            if label not in by_label:
                raise ValueError(f"unknown targeting dimension {label!r}")
            if rule.allow is not None or rule.block:
                pairs.append((by_label[label], rule))
        pairs.sort(key=lambda pair: pair[0])
        return cls(tuple(pairs), min_age, max_age, hours, time_zone, flight_start_s, flight_end_s)


ANY: Final = Targeting()


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What targeting can ask about one impression, read once per impression."""

    now_s: int
    lists: tuple[frozenset[str], ...]
    """Per ``Dimension`` (by its value), the normalised values the request carries."""
    age: int | None = None
    formats: frozenset[FormatKey] = frozenset()
    badv: frozenset[str] = frozenset()
    bcat: frozenset[str] = frozenset()
    battr: Mapping[str, frozenset[int]] = field(default_factory=dict)
    """The imp's blocked creative attributes per media type (``banner``, ``video`` …)."""
    imp_id: str = ""
    _hours: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    """Memo of local hour-of-week per time zone for ``now_s`` (same answer, computed once)."""

    def values(self, dimension: Dimension) -> frozenset[str]:
        """The request's values of one list dimension."""
        return self.lists[dimension]

    def local_hour(self, time_zone: str) -> int:
        """Hour-of-week of ``now_s`` in ``time_zone``, memoised per request."""
        hour = self._hours.get(time_zone)
        if hour is None:
            hour = self._hours[time_zone] = hour_of_week(self.now_s, time_zone)
        return hour

    @classmethod
    def of(cls, request: BidRequest, imp: Imp, now_s: int) -> RequestFacts:
        """The facts of one impression of ``request`` at ``now_s`` (epoch seconds, UTC)."""
        return _request_part(request, now_s).for_imp(imp)

    @classmethod
    def for_imps(cls, request: BidRequest, now_s: int) -> list[RequestFacts]:
        """Facts for every impression; the request-wide part is read once and shared."""
        shared = _request_part(request, now_s)
        return [shared.for_imp(imp) for imp in request.imp]


@dataclass(frozen=True, slots=True)
class _RequestPart:
    """The request-wide facts (everything but the imp's formats and attributes)."""

    now_s: int
    lists: tuple[frozenset[str], ...]
    age: int | None
    badv: frozenset[str]
    bcat: frozenset[str]

    def for_imp(self, imp: Imp) -> RequestFacts:
        return RequestFacts(
            now_s=self.now_s,
            lists=self.lists,
            age=self.age,
            formats=format_keys(imp),
            badv=self.badv,
            bcat=self.bcat,
            battr=_imp_battr(imp),
            imp_id=imp.id,
        )


_EMPTY: Final[frozenset[str]] = frozenset()


def _one(value: str | int | None) -> frozenset[str]:
    if value is None or value == "":
        return _EMPTY
    return frozenset((_norm(value),))


def _request_part(request: BidRequest, now_s: int) -> _RequestPart:
    device, user = request.device, request.user
    inventory: Site | App | None = request.site or request.app
    geo: Geo | None = (device.geo if device else None) or (user.geo if user else None)
    lists: list[frozenset[str]] = [_EMPTY] * len(Dimension)
    if geo is not None:
        lists[Dimension.COUNTRY] = _one(geo.country)
        lists[Dimension.REGION] = _one(geo.region)
        lists[Dimension.CITY] = _one(geo.city)
    if device is not None:
        lists[Dimension.DEVICE_TYPE] = _one(device.devicetype)
        os = device.os or (
            device.sua.platform.brand if device.sua and device.sua.platform else None
        )
        lists[Dimension.OS] = _one(os)
        lists[Dimension.CONNECTION_TYPE] = _one(device.connectiontype)
    if inventory is not None:
        lists[Dimension.CATEGORY] = _categories(inventory)
        lists[Dimension.KEYWORD] = _keywords(inventory)
        domain = inventory.domain
        if domain is None and isinstance(inventory, Site) and inventory.page:
            domain = _host(inventory.page)
        lists[Dimension.DOMAIN] = _domains(domain)
        lists[Dimension.CONTENT_RATING] = _ratings(inventory.content)
    if request.app is not None:
        lists[Dimension.BUNDLE] = _one(request.app.bundle)
    age: int | None = None
    if user is not None:
        lists[Dimension.SEGMENT] = _segments(request)
        lists[Dimension.GENDER] = _one(user.gender)
        if user.yob is not None and user.yob > 1900:
            year = datetime.fromtimestamp(now_s, UTC).year
            age = year - user.yob if user.yob <= year else None
    return _RequestPart(
        now_s=now_s,
        lists=tuple(lists),
        age=age,
        badv=frozenset(d.lower() for d in request.badv or ()),
        bcat=frozenset(request.bcat or ()),
    )


def _host(url: str) -> str | None:
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host or None


def _domains(domain: str | None) -> frozenset[str]:
    """The domain and its parents down to two labels (``a.b.example.com`` → 3 values)."""
    if not domain:
        return _EMPTY
    labels = domain.strip().casefold().rstrip(".").split(".")
    if labels[0] == "www" and len(labels) > 2:
        labels = labels[1:]
    return frozenset(".".join(labels[i:]) for i in range(max(1, len(labels) - 1)))


def _categories(inventory: Site | App) -> frozenset[str]:
    """Site/app, section, page and content categories, with IAB 1.0 tier-1 parents added."""
    content: Content | None = inventory.content
    cats: set[str] = set()
    for group in (
        inventory.cat,
        inventory.sectioncat,
        inventory.pagecat,
        content.cat if content else None,
    ):
        for cat in group or ():
            value = cat.strip().casefold()
            cats.add(value)
            if value.startswith("iab") and "-" in value:
                cats.add(value.split("-", 1)[0])
    return frozenset(cats)


def _ratings(content: Content | None) -> frozenset[str]:
    """The content's rating text and its media rating (``qag:3``), for exclusions."""
    if content is None:
        return _EMPTY
    ratings = set(_one(content.contentrating))
    if content.qagmediarating is not None:
        ratings.add(f"qag:{content.qagmediarating}")
    return frozenset(ratings)


def _keywords(inventory: Site | App) -> frozenset[str]:
    """Comma-separated ``keywords`` and ``kwarray`` of the site/app and its content."""
    words: set[str] = set()
    content = inventory.content
    for text in (inventory.keywords, content.keywords if content else None):
        if text:
            words.update(w.strip().casefold() for w in text.split(","))
    for array in (inventory.kwarray, content.kwarray if content else None):
        words.update(w.strip().casefold() for w in array or ())
    words.discard("")
    return frozenset(words)


def _segments(request: BidRequest) -> frozenset[str]:
    """User segment ids, bare and qualified by their data provider (``provider:segment``)."""
    user = request.user
    values: set[str] = set()
    for data in (user.data if user else None) or ():
        provider = data.id.casefold() if data.id else None
        for segment in data.segment or ():
            if not segment.id:
                continue
            sid = segment.id.casefold()
            values.add(sid)
            if provider:
                values.add(f"{provider}:{sid}")
    return frozenset(values)


def format_keys(imp: Imp) -> frozenset[FormatKey]:
    """What an impression accepts: banner sizes, and any-size keys for video/audio/native.

    A video imp with a player size accepts creatives of that size and size-less ones.
    """
    keys: set[FormatKey] = set()
    banner = imp.banner
    if banner is not None:
        for f in banner.format or ():
            if f.w and f.h:
                keys.add(("banner", f.w, f.h))
        if banner.w and banner.h:
            keys.add(("banner", banner.w, banner.h))
    if imp.video is not None:
        keys.add(("video", 0, 0))
        if imp.video.w and imp.video.h:
            keys.add(("video", imp.video.w, imp.video.h))
    if imp.audio is not None:
        keys.add(("audio", 0, 0))
    if imp.native is not None:
        keys.add(("native", 0, 0))
    return frozenset(keys)


def _imp_battr(imp: Imp) -> dict[str, frozenset[int]]:
    """Blocked attributes per media type, as the exchange's bid rules apply them."""
    media = {"banner": imp.banner, "video": imp.video, "audio": imp.audio, "native": imp.native}
    return {name: frozenset(m.battr) for name, m in media.items() if m is not None and m.battr}


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _hour_of_week_quarter(time_zone: str, quarter: int) -> int:
    local = datetime.fromtimestamp(quarter * 900, _zone(time_zone))
    return local.weekday() * 24 + local.hour


def hour_of_week(now_s: int, time_zone: str) -> int:
    """Local hour-of-week (0 = Monday 00h) of an instant in a zone, DST included.

    Every zone's UTC offset and every DST switch are whole quarter hours, so the answer is
    constant over each UTC quarter hour and is cached per (zone, quarter).
    """
    return _hour_of_week_quarter(time_zone, now_s // 900)


_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hours_mask(days: list[str] | tuple[str, ...], from_hour: int, to_hour: int) -> int:
    """The hour-of-week bits of ``days`` (``mon``…``sun``) from ``from_hour`` to ``to_hour``
    (exclusive, 0–24); ``from_hour > to_hour`` wraps past midnight into the next day."""
    if not (0 <= from_hour <= 24 and 0 <= to_hour <= 24):
        raise ValueError("hours must be between 0 and 24")
    mask = 0
    for day in days:
        if day not in _DAYS:
            raise ValueError(f"unknown day {day!r} (use mon … sun)")
        start = _DAYS.index(day) * 24
        span = to_hour - from_hour if from_hour <= to_hour else 24 - from_hour + to_hour
        for offset in range(span):
            mask |= 1 << ((start + from_hour + offset) % HOURS_PER_WEEK)
    return mask


def matches(targeting: Targeting, facts: RequestFacts) -> Reason | None:
    """None when the campaign wants this impression; otherwise the first reason it does not.

    Pure: the same targeting and facts always give the same answer. Checks flight, list
    rules (in the targeting's order), age, then dayparting.
    """
    now_s = facts.now_s
    if (targeting.flight_start_s is not None and now_s < targeting.flight_start_s) or (
        targeting.flight_end_s is not None and now_s >= targeting.flight_end_s
    ):
        return Reason("flight", Why.OUT_OF_FLIGHT)
    lists = facts.lists
    for dimension, rule in targeting.rules:
        values = lists[dimension]
        if rule.block and not rule.block.isdisjoint(values):
            return Reason(_LABELS[dimension], Why.BLOCKED, _text(rule.block & values))
        allow = rule.allow
        if allow is not None and allow.isdisjoint(values):
            if not values:
                return Reason(_LABELS[dimension], Why.UNKNOWN)
            return Reason(_LABELS[dimension], Why.NOT_ALLOWED, _text(values))
    if targeting.min_age is not None or targeting.max_age is not None:
        age = facts.age
        if age is None:
            return Reason("age", Why.UNKNOWN)
        if (targeting.min_age is not None and age < targeting.min_age) or (
            targeting.max_age is not None and age > targeting.max_age
        ):
            return Reason("age", Why.OUT_OF_RANGE, str(age))
    if targeting.hours != ALL_HOURS:
        hour = facts.local_hour(targeting.time_zone)
        if not (targeting.hours >> hour) & 1:
            return Reason("dayparting", Why.OUT_OF_HOURS, f"hour-of-week {hour}")
    return None
