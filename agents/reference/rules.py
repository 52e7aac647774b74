"""The reference agent's rules and the pure function that turns a request into mutations.

The rules come from a small JSON file so that an operator can see, review and diff what an
agent will do; everything here is plain data and pure functions, tested without gRPC.

Rules file (JSON object; every key optional except where noted)::

    {
      "version": "demo-1",                 # reported as Metadata.model_version
      "description": "free text",          # ignored; JSON has no comments
      "segments": [                        # ACTIVATE_SEGMENTS
        {"name": "sports",                 # required, unique within the list
         "when": {"site.cat": {"contains": "IAB17"},
                  "device.geo.country": {"in": ["DEU", "AUT"]}},
         "activate": ["seg-sports"]}       # required, segment ids
      ],
      "deal_floors": [                     # ADJUST_DEAL_FLOOR
        {"name": "premium", "deal_id": "premium-1", "multiplier": 1.25},
        {"name": "pmp", "deal_prefix": "pmp-", "min_floor": 1.5, "currency": "USD"}
      ],
      "bid_shading": [                     # BID_SHADE
        {"name": "default", "fraction": 0.9},
        {"name": "dsp-a", "seat": "dsp-a", "fraction": 0.8}
      ]
    }

Segment rules: ``when`` maps a request field (see ``FIELDS``) to one condition, an object
with exactly one operator; all conditions must hold (an empty ``when`` always holds). The
operators by kind of field: text ``equals``, ``in``, ``prefix``, ``suffix``; text list
``contains``, ``contains_any``; integer ``equals``, ``in``; every kind ``present``
(``true``/``false``; an empty string or list counts as absent). Matching is exact and
case-sensitive. ``imp.*`` fields hold when any imp satisfies them (``present: false``: no
imp has the field). The segment ids of all matching rules are unioned, in file order, into
one mutation.

Deal-floor rules: exactly one of ``deal_id`` / ``deal_prefix``; at least one of
``multiplier`` (>= 1) and ``min_floor`` (> 0, CPM in ``currency``, default USD, applied
only to deals whose ``bidfloorcur`` is that currency: the agent converts nothing). An exact
``deal_id`` rule beats prefixes; among prefixes the longest wins. The new floor is the
largest of the current floor, current x multiplier and min_floor; a mutation is sent only
when that raises the floor, so a floor is never lowered.

Bid-shading rules: ``fraction`` in (0, 1); a rule with ``seat`` applies to that seat, the
one rule without applies to all others. Each bid with a positive price is shaded to
price x fraction.

Fields: ``site``, ``site.domain``, ``site.cat``, ``site.publisher.id``,
``site.content.cat``, ``app``, ``app.bundle``, ``app.cat``, ``app.publisher.id``,
``device.geo.country``, ``device.os``, ``device.devicetype``, ``imp.tagid``, ``imp.banner``,
``imp.video``, ``imp.audio``, ``imp.native``, ``imp.pmp``: context only, no user ids or IPs.

Stages: segments and deal floors at the publisher bid-request stage, shading at the DSP
bid-response stage (an unspecified stage gets whatever its payloads allow); only intents in
the request's ``applicable_intents`` are sent (an empty list allows all). Ids an agent
cannot address in a path (empty, or containing ``/``) are skipped. Every rule, and the
file, may carry a ``description`` string.
"""

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeAlias

from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from agents.protos import artf_pb2, openrtb_pb2

API_VERSION = "1.0"
"""The ARTF version this agent speaks (Metadata.api_version)."""

Value: TypeAlias = str | int | tuple[str, ...] | bool
"""A request field's value at one place (the request, or one imp)."""

PRODUCED_INTENTS = frozenset(
    {artf_pb2.ACTIVATE_SEGMENTS, artf_pb2.ADJUST_DEAL_FLOOR, artf_pb2.BID_SHADE}
)
"""The intents this agent can send; the others in ``applicable_intents`` change nothing."""

_FLOAT_DIGITS = 6
"""Prices are rounded to a millionth of a CPM so that 2.0 x 1.1 is 2.2, not 2.2000000000000002."""


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the field."""


class Kind(Enum):
    """What a request field holds, which decides the operators a condition may use."""

    TEXT = "text"
    TEXT_LIST = "text list"
    INTEGER = "integer"
    OBJECT = "object"


@dataclass(frozen=True)
class FieldSpec:
    """Where a rule field lives in the OpenRTB BidRequest, and what it holds."""

    kind: Kind
    path: tuple[str, ...]
    per_imp: bool = False
    """The path starts at each ``imp`` rather than at the request."""


FIELDS: Mapping[str, FieldSpec] = {
    "site": FieldSpec(Kind.OBJECT, ("site",)),
    "site.domain": FieldSpec(Kind.TEXT, ("site", "domain")),
    "site.cat": FieldSpec(Kind.TEXT_LIST, ("site", "cat")),
    "site.publisher.id": FieldSpec(Kind.TEXT, ("site", "publisher", "id")),
    "site.content.cat": FieldSpec(Kind.TEXT_LIST, ("site", "content", "cat")),
    "app": FieldSpec(Kind.OBJECT, ("app",)),
    "app.bundle": FieldSpec(Kind.TEXT, ("app", "bundle")),
    "app.cat": FieldSpec(Kind.TEXT_LIST, ("app", "cat")),
    "app.publisher.id": FieldSpec(Kind.TEXT, ("app", "publisher", "id")),
    "device.geo.country": FieldSpec(Kind.TEXT, ("device", "geo", "country")),
    "device.os": FieldSpec(Kind.TEXT, ("device", "os")),
    "device.devicetype": FieldSpec(Kind.INTEGER, ("device", "devicetype")),
    "imp.tagid": FieldSpec(Kind.TEXT, ("tagid",), per_imp=True),
    "imp.banner": FieldSpec(Kind.OBJECT, ("banner",), per_imp=True),
    "imp.video": FieldSpec(Kind.OBJECT, ("video",), per_imp=True),
    "imp.audio": FieldSpec(Kind.OBJECT, ("audio",), per_imp=True),
    "imp.native": FieldSpec(Kind.OBJECT, ("native",), per_imp=True),
    "imp.pmp": FieldSpec(Kind.OBJECT, ("pmp",), per_imp=True),
}
"""The request fields a segment rule can test: context only, never user ids or IPs."""

OPERATORS: Mapping[Kind, frozenset[str]] = {
    Kind.TEXT: frozenset({"equals", "in", "prefix", "suffix", "present"}),
    Kind.TEXT_LIST: frozenset({"contains", "contains_any", "present"}),
    Kind.INTEGER: frozenset({"equals", "in", "present"}),
    Kind.OBJECT: frozenset({"present"}),
}


@dataclass(frozen=True)
class Condition:
    """One ``when`` entry: ``field`` ``op`` ``operand``."""

    field: str
    op: str
    operand: Any
    """A str, int, bool, or a frozenset of str/int for ``in`` and ``contains_any``."""

    def holds(self, values: Sequence[Value | None]) -> bool:
        """Whether the condition holds for the field's values (one per place)."""
        if self.op == "present":
            return any(value is not None for value in values) is self.operand
        return any(value is not None and self._matches(value) for value in values)

    def _matches(self, value: Value) -> bool:
        op, operand = self.op, self.operand
        if op == "equals":
            return value == operand and type(value) is type(operand)
        if op == "in":
            return value in operand
        if op == "prefix":
            return isinstance(value, str) and value.startswith(operand)
        if op == "suffix":
            return isinstance(value, str) and value.endswith(operand)
        if op == "contains":
            return isinstance(value, tuple) and operand in value
        if op == "contains_any":
            return isinstance(value, tuple) and not operand.isdisjoint(value)
        raise AssertionError(f"unvalidated operator {op}")


@dataclass(frozen=True)
class SegmentRule:
    """Activate ``segments`` when every condition holds."""

    name: str
    conditions: tuple[Condition, ...]
    segments: tuple[str, ...]


@dataclass(frozen=True)
class DealFloorRule:
    """Raise the floor of deals whose id is ``deal_id`` or starts with ``deal_prefix``."""

    name: str
    deal_id: str | None
    deal_prefix: str | None
    multiplier: float | None
    min_floor: float | None
    currency: str


@dataclass(frozen=True)
class BidShadeRule:
    """Shade bids of ``seat`` (all seats without a rule of their own when None)."""

    name: str
    seat: str | None
    fraction: float


@dataclass(frozen=True)
class Rules:
    """A validated rules file."""

    version: str
    """The file's ``version``, or ``sha256:`` and the start of its hash when it has none."""
    segments: tuple[SegmentRule, ...] = ()
    deal_floors: tuple[DealFloorRule, ...] = ()
    bid_shading: tuple[BidShadeRule, ...] = ()

    def deal_rule(self, deal_id: str) -> DealFloorRule | None:
        """The rule for ``deal_id``: the exact one, else the longest matching prefix."""
        best: DealFloorRule | None = None
        for rule in self.deal_floors:
            if rule.deal_id == deal_id:
                return rule
            prefix = rule.deal_prefix
            if (
                prefix is not None
                and deal_id.startswith(prefix)
                and (best is None or len(prefix) > len(best.deal_prefix or ""))
            ):
                best = rule
        return best

    def shade_rule(self, seat: str) -> BidShadeRule | None:
        """The rule for ``seat``: its own, else the default one."""
        default: BidShadeRule | None = None
        for rule in self.bid_shading:
            if rule.seat == seat:
                return rule
            if rule.seat is None:
                default = rule
        return default


# --- loading and validation -------------------------------------------------------------


def load_rules(path: Path) -> Rules:
    """Read and validate a rules file; RulesError says what is wrong and where."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file: {exc.strerror}") from exc
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: not JSON: {exc}") from exc
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
    return parse_rules(data, source=str(path), default_version=digest)


def parse_rules(
    data: object, *, source: str = "rules", default_version: str = "unversioned"
) -> Rules:
    """Validate decoded JSON into Rules (``source`` names it in error messages)."""
    if not isinstance(data, dict):
        raise RulesError(f"{source}: the rules file must be a JSON object")
    _no_unknown_keys(
        data,
        {"version", "description", "segments", "deal_floors", "bid_shading"},
        f"{source}: top level",
    )
    version = data.get("version", default_version)
    if not isinstance(version, str) or not version:
        raise RulesError(f'{source}: field "version": must be a non-empty string')
    segments = tuple(
        _segment_rule(entry, f"{source}: {where}")
        for where, entry in _entries(data, "segments", source)
    )
    deal_floors = tuple(
        _deal_rule(entry, f"{source}: {where}")
        for where, entry in _entries(data, "deal_floors", source)
    )
    bid_shading = tuple(
        _shade_rule(entry, f"{source}: {where}")
        for where, entry in _entries(data, "bid_shading", source)
    )
    _unique(
        deal_floors,
        lambda r: (
            ("deal_id", r.deal_id) if r.deal_id is not None else ("deal_prefix", r.deal_prefix)
        ),
        "deal_floors",
        source,
    )
    _unique(bid_shading, lambda r: ("seat", r.seat), "bid_shading", source)
    return Rules(version, segments, deal_floors, bid_shading)


def _entries(data: dict[str, Any], key: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    """The rule objects of list ``key``, each with its location; names must be unique."""
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise RulesError(f'{source}: field "{key}": must be a list of rules')
    located: list[tuple[str, dict[str, Any]]] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise RulesError(f"{source}: {key}[{index}]: a rule must be a JSON object")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise RulesError(f'{source}: {key}[{index}]: field "name": must be a non-empty string')
        if name in names:
            raise RulesError(f'{source}: rule "{name}" ({key}[{index}]): field "name": duplicate')
        names.add(name)
        located.append((f'rule "{name}" ({key}[{index}])', entry))
    return located


def _unique(
    rules: Sequence[DealFloorRule] | Sequence[BidShadeRule],
    key: Callable[[Any], tuple[str, str | None]],
    section: str,
    source: str,
) -> None:
    """Two rules for the same deal, prefix or seat would make the outcome depend on order."""
    seen: dict[tuple[str, str | None], str] = {}
    for rule in rules:
        k = key(rule)
        if k in seen:
            field, value = k
            shown = "(none)" if value is None else json.dumps(value)
            raise RulesError(
                f'{source}: rule "{rule.name}" ({section}): field "{field}": {shown} '
                f'is already covered by rule "{seen[k]}"'
            )
        seen[k] = rule.name


def _no_unknown_keys(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    """A misspelt key would otherwise be ignored silently; ``description`` must be text."""
    for key in entry:
        if key not in allowed:
            raise RulesError(
                f'{where}: field "{key}": unknown (allowed: {", ".join(sorted(allowed))})'
            )
    if not isinstance(entry.get("description", ""), str):
        raise RulesError(f'{where}: field "description": must be a string')


def _segment_rule(entry: dict[str, Any], where: str) -> SegmentRule:
    _no_unknown_keys(entry, {"name", "description", "when", "activate"}, where)
    when = entry.get("when", {})
    if not isinstance(when, dict):
        raise RulesError(f'{where}: field "when": must be an object of field: condition')
    conditions = tuple(_condition(field, test, where) for field, test in when.items())
    activate = entry.get("activate")
    if (
        not isinstance(activate, list)
        or not activate
        or not all(isinstance(s, str) and s for s in activate)
    ):
        raise RulesError(f'{where}: field "activate": must be a non-empty list of segment ids')
    return SegmentRule(entry["name"], conditions, tuple(dict.fromkeys(activate)))


def _condition(field: str, test: object, where: str) -> Condition:
    label = f'{where}: field "when.{field}"'
    operand_label = f'{where}: field "when.{field}.{{op}}"'
    spec = FIELDS.get(field)
    if spec is None:
        raise RulesError(f"{label}: unknown request field (known: {', '.join(FIELDS)})")
    allowed = OPERATORS[spec.kind]
    if not isinstance(test, dict) or len(test) != 1:
        raise RulesError(
            f"{label}: a condition is an object with one operator ({', '.join(sorted(allowed))})"
        )
    ((op, operand),) = test.items()
    if op not in allowed:
        raise RulesError(
            f"{label}: operator {op!r} does not apply to a {spec.kind.value} field "
            f"(use {', '.join(sorted(allowed))})"
        )
    return Condition(field, op, _operand(spec.kind, op, operand, operand_label.format(op=op)))


def _operand(kind: Kind, op: str, operand: object, label: str) -> object:
    """The checked operand; sets for membership tests."""
    if op == "present":
        if not isinstance(operand, bool):
            raise RulesError(f"{label}: must be true or false")
        return operand
    element: type = int if kind is Kind.INTEGER else str
    noun = "integer" if element is int else "string"
    if op in ("in", "contains_any"):
        if (
            not isinstance(operand, list)
            or not operand
            or not all(_is(v, element) for v in operand)
        ):
            raise RulesError(f"{label}: must be a non-empty list of {noun}s")
        return frozenset(operand)
    if not _is(operand, element) or (op in ("prefix", "suffix") and not operand):
        wanted = (
            "a non-empty string" if op != "equals" else ("an " if element is int else "a ") + noun
        )
        raise RulesError(f"{label}: must be {wanted}")
    return operand


def _is(value: object, element: type) -> bool:
    """isinstance that keeps booleans out of integer fields (JSON true is not 1)."""
    return isinstance(value, element) and not isinstance(value, bool)


def _number(entry: dict[str, Any], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    try:
        number = float(value) if _is(value, int) or _is(value, float) else math.nan
    except OverflowError:  # an integer beyond any float
        number = math.nan
    if not math.isfinite(number):
        raise RulesError(f'{where}: field "{key}": must be a finite number')
    return number


def _text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RulesError(f'{where}: field "{key}": must be a non-empty string')
    return value


def _deal_rule(entry: dict[str, Any], where: str) -> DealFloorRule:
    _no_unknown_keys(
        entry,
        {"name", "description", "deal_id", "deal_prefix", "multiplier", "min_floor", "currency"},
        where,
    )
    deal_id = _text(entry, "deal_id", where)
    deal_prefix = _text(entry, "deal_prefix", where)
    if (deal_id is None) == (deal_prefix is None):
        raise RulesError(f'{where}: field "deal_id": give exactly one of deal_id and deal_prefix')
    multiplier = _number(entry, "multiplier", where)
    min_floor = _number(entry, "min_floor", where)
    if multiplier is None and min_floor is None:
        raise RulesError(f'{where}: field "multiplier": give multiplier, min_floor or both')
    if multiplier is not None and multiplier < 1:
        raise RulesError(f'{where}: field "multiplier": must be at least 1 (floors only go up)')
    if min_floor is not None and min_floor <= 0:
        raise RulesError(f'{where}: field "min_floor": must be above 0')
    currency = _text(entry, "currency", where) or "USD"
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise RulesError(f'{where}: field "currency": must be an ISO-4217 code such as "USD"')
    return DealFloorRule(entry["name"], deal_id, deal_prefix, multiplier, min_floor, currency)


def _shade_rule(entry: dict[str, Any], where: str) -> BidShadeRule:
    _no_unknown_keys(entry, {"name", "description", "seat", "fraction"}, where)
    fraction = _number(entry, "fraction", where)
    if fraction is None or not 0 < fraction < 1:
        raise RulesError(f'{where}: field "fraction": must be a number between 0 and 1')
    return BidShadeRule(entry["name"], _text(entry, "seat", where), fraction)


# --- rules -> mutations ------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The mutations for one request, and whether the time budget cut the work short."""

    mutations: list[artf_pb2.Mutation]
    complete: bool


class _OutOfTime(Exception):
    """Raised inside the evaluation when ``stop`` says the budget is spent."""


def mutations_for(
    request: artf_pb2.RTBRequest, rules: Rules, *, stop: Callable[[], bool] | None = None
) -> list[artf_pb2.Mutation]:
    """The mutations ``rules`` ask for on ``request`` (see ``evaluate``)."""
    return evaluate(request, rules, stop=stop).mutations


def evaluate(
    request: artf_pb2.RTBRequest, rules: Rules, *, stop: Callable[[], bool] | None = None
) -> Evaluation:
    """Apply ``rules`` to ``request``, honouring its lifecycle and ``applicable_intents``.

    ``stop`` is asked before each rule, deal and bid; once it says True the work stops and
    what is ready is returned (a partial segment union is still a correct activation).
    The request stage (or an unspecified one with a bid request) gets segments and deal
    floors; the bid-response stage (or an unspecified one with a bid response) gets shading.
    """
    allowed = applicable_intents(request)
    lifecycle = request.lifecycle
    out: list[artf_pb2.Mutation] = []
    check = stop or (lambda: False)
    request_stage = lifecycle in (
        artf_pb2.LIFECYCLE_UNSPECIFIED,
        artf_pb2.LIFECYCLE_PUBLISHER_BID_REQUEST,
    )
    response_stage = lifecycle in (
        artf_pb2.LIFECYCLE_UNSPECIFIED,
        artf_pb2.LIFECYCLE_DSP_BID_RESPONSE,
    )
    try:
        if request_stage and request.HasField("bid_request"):
            if artf_pb2.ACTIVATE_SEGMENTS in allowed:
                _segments(request.bid_request, rules, check, out)
            if artf_pb2.ADJUST_DEAL_FLOOR in allowed:
                _deal_floors(request.bid_request, rules, check, out)
        if response_stage and request.HasField("bid_response") and artf_pb2.BID_SHADE in allowed:
            _bid_shades(request.bid_response, rules, check, out)
    except _OutOfTime:
        return Evaluation(out, complete=False)
    return Evaluation(out, complete=True)


_APPLICABLE_INTENTS_FIELD = artf_pb2.RTBRequest.DESCRIPTOR.fields_by_name[
    "applicable_intents"
].number


def applicable_intents(request: artf_pb2.RTBRequest) -> set[int]:
    """The intents the host allows: all when it lists none.

    Intent is a closed (proto2) enum here, so values newer than this proto (say a later
    VALIDATE_PRIVACY) are parsed into the unknown fields, not the list. A host that lists
    only such intents has not listed none: nothing this agent makes is applicable.
    """
    listed: set[int] = set(request.applicable_intents)
    if listed:
        return listed
    unknown = UnknownFieldSet(request)
    if any(unknown[i].field_number == _APPLICABLE_INTENTS_FIELD for i in range(len(unknown))):
        return set()
    return set(PRODUCED_INTENTS)


def _segments(
    bid_request: openrtb_pb2.BidRequest,
    rules: Rules,
    stop: Callable[[], bool],
    out: list[artf_pb2.Mutation],
) -> None:
    """One ACTIVATE_SEGMENTS mutation with the union of the matching rules' segments."""
    activated: dict[str, None] = {}
    cache: dict[str, list[Value | None]] = {}
    try:
        for rule in rules.segments:
            if stop():
                raise _OutOfTime
            if all(_condition_holds(bid_request, c, cache) for c in rule.conditions):
                activated.update(dict.fromkeys(rule.segments))
    finally:  # what matched before the budget ran out is still sent
        if activated:
            out.append(
                artf_pb2.Mutation(
                    intent=artf_pb2.ACTIVATE_SEGMENTS,
                    op=artf_pb2.OPERATION_ADD,
                    path="/user/data/segment",
                    ids=artf_pb2.IDsPayload(id=list(activated)),
                )
            )


def _condition_holds(
    bid_request: openrtb_pb2.BidRequest, condition: Condition, cache: dict[str, list[Value | None]]
) -> bool:
    values = cache.get(condition.field)
    if values is None:
        values = cache[condition.field] = field_values(bid_request, condition.field)
    return condition.holds(values)


def field_values(bid_request: openrtb_pb2.BidRequest, field: str) -> list[Value | None]:
    """The values of rule field ``field``: one for the request, or one per imp."""
    spec = FIELDS[field]
    if spec.per_imp:
        return [_value(imp, spec.path, spec.kind) for imp in bid_request.imp]
    return [_value(bid_request, spec.path, spec.kind)]


def _value(message: Message, path: tuple[str, ...], kind: Kind) -> Value | None:
    """The field at ``path`` below ``message``; None when it, or an object on the way, is absent."""
    for name in path[:-1]:
        if not message.HasField(name):
            return None
        message = getattr(message, name)
    last = path[-1]
    if kind is Kind.TEXT_LIST:
        items = tuple(getattr(message, last))
        return items or None
    if not message.HasField(last):
        return None
    if kind is Kind.OBJECT:
        return True
    value: str | int = getattr(message, last)
    return None if value == "" else value


def _addressable(identifier: str) -> bool:
    """An id that can stand in a path segment."""
    return bool(identifier) and "/" not in identifier


def _deal_floors(
    bid_request: openrtb_pb2.BidRequest,
    rules: Rules,
    stop: Callable[[], bool],
    out: list[artf_pb2.Mutation],
) -> None:
    """ADJUST_DEAL_FLOOR for each deal of each imp whose rule raises its floor."""
    if not rules.deal_floors:
        return
    for imp in bid_request.imp:
        if not imp.HasField("pmp") or not _addressable(imp.id):
            continue
        for deal in imp.pmp.deals:
            if stop():
                raise _OutOfTime
            if not _addressable(deal.id):
                continue
            rule = rules.deal_rule(deal.id)
            if rule is None:
                continue
            floor = raised_floor(deal.bidfloor, deal.bidfloorcur or "USD", rule)
            if floor is None:
                continue
            out.append(
                artf_pb2.Mutation(
                    intent=artf_pb2.ADJUST_DEAL_FLOOR,
                    op=artf_pb2.OPERATION_REPLACE,
                    path=f"/imp/{imp.id}/pmp/deals/{deal.id}",
                    adjust_deal=artf_pb2.AdjustDealPayload(bidfloor=floor),
                )
            )


def raised_floor(current: float, currency: str, rule: DealFloorRule) -> float | None:
    """The floor ``rule`` asks for, or None when it would not raise ``current``."""
    if not math.isfinite(current) or current < 0:
        return None  # a broken floor is the host's to refuse, not the agent's to fix
    candidates = [current]
    if rule.multiplier is not None:
        candidates.append(current * rule.multiplier)
    if rule.min_floor is not None and currency == rule.currency:
        candidates.append(rule.min_floor)
    floor = round(max(candidates), _FLOAT_DIGITS)
    return floor if floor > current else None


def _bid_shades(
    bid_response: openrtb_pb2.BidResponse,
    rules: Rules,
    stop: Callable[[], bool],
    out: list[artf_pb2.Mutation],
) -> None:
    """BID_SHADE for each positive bid of each seat that has a rule."""
    if not rules.bid_shading:
        return
    for seatbid in bid_response.seatbid:
        if not _addressable(seatbid.seat):
            continue
        rule = rules.shade_rule(seatbid.seat)
        if rule is None:
            continue
        for bid in seatbid.bid:
            if stop():
                raise _OutOfTime
            if not _addressable(bid.id) or not math.isfinite(bid.price) or bid.price <= 0:
                continue
            price = round(bid.price * rule.fraction, _FLOAT_DIGITS)
            if not 0 < price < bid.price:
                continue
            out.append(
                artf_pb2.Mutation(
                    intent=artf_pb2.BID_SHADE,
                    op=artf_pb2.OPERATION_REPLACE,
                    path=f"/seatbid/{seatbid.seat}/bid/{bid.id}",
                    adjust_bid=artf_pb2.AdjustBidPayload(price=price),
                )
            )
