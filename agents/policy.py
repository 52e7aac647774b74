"""The mutation policy: which of the agents' proposals change the auction, and how.

Pure functions. Each proposal is judged on its own and applied or rejected whole (ARTF:
mutations are atomic and independent); the reason of every rejection is counted and shown.
What no proposal can do, whatever it says: add a deal the exchange does not curate (or any
deal to a private auction, whose buyers the publisher chose), lower a deal's floor below the
publisher's, sell a curated deal below the imp's open floor, raise a bid, touch a bid or imp
it was not shown, add audience segments where the user's privacy signals forbid a profile,
name a taxonomy or vendor other than its own, or add more than its allowance per auction
(``MAX_ADDED``). Floors still go through the exchange's floor rules afterwards
(the plan is made again from the mutated request), and budgets stay the bidders' own.

Conflicts, settled in one documented order:

* a deal suppressed by any agent stays suppressed: suppressions are judged first, and floor
  changes and activations of that deal on that imp are rejected (``conflict``), whichever
  agent came first; a suppression that is itself rejected suppresses nothing;
* two replacements of one target (a deal's floor, a bid's price): the agent listed first in
  the agents file wins, the later one is rejected (``conflict``);
* additions (segments, metrics, content data, deals) are unions; a duplicate is rejected.
"""

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import orjson

from agents.config import REQUEST_INTENTS, RESPONSE_INTENTS, AgentsConfig, AgentSpec
from agents.proposals import Decision, Proposal
from auction.currency import CurrencyRates
from auction.types import ImpTerms
from openrtb.audience import Data, Segment, User
from openrtb.imp import Deal, Imp, Metric, Pmp
from openrtb.inventory import Content
from openrtb.privacy import Signals
from openrtb.request import BidRequest

__all__ = ["BidTarget", "RequestChange", "judge_bids", "judge_request", "raise_activated_floors"]

MAX_IDS: Final = 100
MAX_METRICS: Final = 20
MAX_DATA: Final = 10
MAX_FLOOR_CPM: Final = 1000.0
_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""Ids and codes agents add (``fullmatch``: no trailing newline slips through)."""
MAX_TEXT: Final = 128
"""Longest name or value of a Data or Segment an agent adds."""
MAX_ADDED: Final = {"segments": 100, "metrics": 40, "data": 10, "deals": 10}
"""What one agent may add to one auction in all, whatever the number of its mutations: an
answer within its size limit cannot make judging or encoding it cost more than this."""
_PROBABILITIES: Final = frozenset({"viewability", "click_through_rate", "video_completion_rate"})

_OP_OF: Final = {
    "ACTIVATE_SEGMENTS": ("ADD", "ids"),
    "ACTIVATE_DEALS": ("ADD", "ids"),
    "SUPPRESS_DEALS": ("REMOVE", "ids"),
    "ADJUST_DEAL_FLOOR": ("REPLACE", "adjust_deal"),
    "ADD_METRICS": ("ADD", "metrics"),
    "ADD_CIDS": ("ADD", "content_data"),
    "BID_SHADE": ("REPLACE", "adjust_bid"),
}
_DEAL_PATH: Final = re.compile(r"^/imp/([^/]+)/(?:pmp/)?deals/([^/]+)$")
_IMP_PATH: Final = re.compile(r"^/imp/([^/]+)$")
_METRIC_PATH: Final = re.compile(r"^/imp/([^/]+)(?:/metric)?$")
_BID_PATH: Final = re.compile(r"^/seatbid/([^/]+)/bid/([^/]+)$")


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _common(proposal: Proposal, spec: AgentSpec, stage_intents: frozenset[str]) -> None:
    """The checks every proposal passes first: declared, at its stage, its op and payload."""
    intent = proposal.intent
    if intent not in _OP_OF and intent not in REQUEST_INTENTS | RESPONSE_INTENTS:
        raise _Rejected("unknown_intent" if intent == "INTENT_UNSPECIFIED" else "unsupported")
    if intent not in spec.intents:
        raise _Rejected("intent_not_declared")
    if intent not in stage_intents:
        raise _Rejected("wrong_stage")
    op, payload = _OP_OF[intent]
    if proposal.op != op:
        raise _Rejected("bad_op")
    if proposal.payload != payload:
        raise _Rejected("bad_value")


@dataclass(slots=True)
class _Draft:
    """The request's parts being changed, copied on first write."""

    request: BidRequest
    imps: dict[str, Imp] = field(default_factory=dict)
    user: User | None = None
    content: Content | None = None
    changed: bool = False
    floors: dict[tuple[str, str], float] = field(default_factory=dict)
    activated: set[tuple[str, str]] = field(default_factory=set)
    """(imp, deal) of the curated deals agents added."""
    added: dict[tuple[str, str], int] = field(default_factory=dict)
    """What each agent added so far, by kind (``MAX_ADDED``)."""
    content_keys: set[bytes] | None = None
    """The content data already there, as canonical JSON (duplicates are refused)."""

    def room(self, agent: str, kind: str, count: int) -> None:
        """Refuse at once what would exceed ``agent``'s allowance (before any work on it)."""
        if self.added.get((agent, kind), 0) + count > MAX_ADDED[kind]:
            raise _Rejected("limit")

    def take(self, agent: str, kind: str, count: int) -> None:
        """Count ``count`` additions of ``kind`` for ``agent``; refused past its allowance."""
        used = self.added.get((agent, kind), 0) + count
        if used > MAX_ADDED[kind]:
            raise _Rejected("limit")
        self.added[agent, kind] = used

    """The lowest floor a deal may get: the publisher's, or the curated one's as activated."""

    def minimum_floor(self, imp_id: str, deal_id: str) -> float:
        found = self.floors.get((imp_id, deal_id))
        if found is not None:
            return found
        for imp in self.request.imp:
            if imp.id == imp_id and imp.pmp is not None:
                for deal in imp.pmp.deals or []:
                    if deal.id == deal_id:
                        return deal.bidfloor
        return 0.0

    def imp(self, imp_id: str) -> Imp:
        found = self.imps.get(imp_id)
        if found is not None:
            return found
        for imp in self.request.imp:
            if imp.id == imp_id:
                return imp
        raise _Rejected("unknown_imp")

    def deals(self, imp_id: str) -> list[Deal]:
        imp = self.imp(imp_id)
        return list(imp.pmp.deals or []) if imp.pmp is not None else []

    def set_deals(self, imp_id: str, deals: list[Deal]) -> None:
        imp = self.imp(imp_id)
        pmp = imp.pmp.model_copy(update={"deals": deals}) if imp.pmp else Pmp(deals=deals)
        self.imps[imp_id] = imp.model_copy(update={"pmp": pmp})
        self.changed = True

    def build(self) -> BidRequest:
        update: dict[str, object] = {}
        if self.imps:
            update["imp"] = [self.imps.get(imp.id, imp) for imp in self.request.imp]
        if self.user is not None:
            update["user"] = self.user
        if self.content is not None:
            channel = "site" if self.request.site is not None else "app"
            holder = getattr(self.request, channel)
            update[channel] = holder.model_copy(update={"content": self.content})
        return self.request.model_copy(update=update) if update else self.request


@dataclass(frozen=True, slots=True)
class RequestChange:
    """The request after the applied proposals (the same object when none applied)."""

    request: BidRequest
    decisions: tuple[Decision, ...]
    activated: frozenset[tuple[str, str]] = frozenset()
    """(imp, deal) of the curated deals agents added (their floors are raised to the imp's
    open floor once the exchange's floor rules are known: ``raise_activated_floors``)."""

    @property
    def changed(self) -> bool:
        return any(decision.applied for decision in self.decisions)


def judge_request(
    request: BidRequest,
    proposals: Sequence[Proposal],
    specs: Mapping[str, AgentSpec],
    config: AgentsConfig,
    signals: Signals,
) -> RequestChange:
    """``request`` with the bid-request-stage proposals the policy accepts applied.

    ``proposals`` come in the agents file's order, each agent's in its answer's order:
    the order conflicts are settled in (module docstring); the decisions are in the same
    order.
    """
    draft = _Draft(request)
    suppressed: set[tuple[str, str]] = set()
    replaced: set[tuple[str, str]] = set()
    decisions: dict[int, Decision] = {}
    # Suppressions first, whatever their place: a suppressed deal stays suppressed.
    first = [i for i, p in enumerate(proposals) if p.intent == "SUPPRESS_DEALS"]
    rest = [i for i, p in enumerate(proposals) if p.intent != "SUPPRESS_DEALS"]
    for index in first + rest:
        proposal = proposals[index]
        spec = specs[proposal.agent]
        try:
            _common(proposal, spec, REQUEST_INTENTS)
            _apply(draft, proposal, spec, config, signals, suppressed, replaced)
        except _Rejected as rejected:
            decisions[index] = Decision.of(proposal, rejected.reason)
        else:
            decisions[index] = Decision.of(proposal, "applied")
    ordered = tuple(decisions[index] for index in range(len(proposals)))
    return RequestChange(
        draft.build() if draft.changed else request, ordered, frozenset(draft.activated)
    )


def _apply(
    draft: _Draft,
    proposal: Proposal,
    spec: AgentSpec,
    config: AgentsConfig,
    signals: Signals,
    suppressed: set[tuple[str, str]],
    replaced: set[tuple[str, str]],
) -> None:
    intent = proposal.intent
    if intent == "ACTIVATE_SEGMENTS":
        _segments(draft, proposal, spec, signals)
    elif intent == "ADJUST_DEAL_FLOOR":
        _deal_floor(draft, proposal, suppressed, replaced)
    elif intent == "SUPPRESS_DEALS":
        _suppress(draft, proposal, suppressed)
    elif intent == "ACTIVATE_DEALS":
        _activate(draft, proposal, config, suppressed)
    elif intent == "ADD_METRICS":
        _metrics(draft, proposal, spec)
    elif intent == "ADD_CIDS":
        _cids(draft, proposal)


def _ids(proposal: Proposal) -> tuple[str, ...]:
    ids = proposal.ids
    if not ids or len(ids) > MAX_IDS or not all(_ID.fullmatch(i) for i in ids):
        raise _Rejected("bad_value")
    if len(set(ids)) != len(ids):
        raise _Rejected("duplicate")
    return ids


def _segments(draft: _Draft, proposal: Proposal, spec: AgentSpec, signals: Signals) -> None:
    if proposal.path != "/user/data/segment":
        raise _Rejected("bad_path")
    draft.room(spec.name, "segments", 1)
    ids = _ids(proposal)
    grant = signals.grant(spec.gvl_vendor_id)
    if not (grant.ids and grant.user_data):  # a segment is a profile of the user
        raise _Rejected("privacy")
    user = draft.user or draft.request.user or User()
    data = list(user.data or [])
    mine = next(
        (
            i
            for i, d in enumerate(data)
            if d.id == spec.name and (d.ext or {}).get("segtax") == spec.segtax
        ),
        None,
    )
    have = {s.id for s in (data[mine].segment or [])} if mine is not None else set()
    new = [Segment(id=segment_id) for segment_id in ids if segment_id not in have]
    if not new:
        raise _Rejected("duplicate")
    draft.take(spec.name, "segments", len(new))
    if mine is None:
        data.append(Data(id=spec.name, name=spec.name, segment=new, ext={"segtax": spec.segtax}))
    else:
        entry = data[mine]
        data[mine] = entry.model_copy(update={"segment": [*(entry.segment or []), *new]})
    draft.user = user.model_copy(update={"data": data})
    draft.changed = True


def _deal_floor(
    draft: _Draft,
    proposal: Proposal,
    suppressed: set[tuple[str, str]],
    replaced: set[tuple[str, str]],
) -> None:
    match = _DEAL_PATH.match(proposal.path)
    if match is None:
        raise _Rejected("bad_path")
    imp_id, deal_id = match.groups()
    draft.imp(imp_id)
    if (imp_id, deal_id) in suppressed:
        raise _Rejected("conflict")
    deals = draft.deals(imp_id)
    index = next((i for i, deal in enumerate(deals) if deal.id == deal_id), None)
    if index is None:
        raise _Rejected("unknown_deal")
    floor = proposal.number
    if floor is None or not math.isfinite(floor) or floor < 0 or floor > MAX_FLOOR_CPM:
        raise _Rejected("bad_value")
    if (imp_id, deal_id) in replaced:
        raise _Rejected("conflict")
    if floor < draft.minimum_floor(imp_id, deal_id):
        raise _Rejected("below_publisher_floor")
    replaced.add((imp_id, deal_id))
    deals[index] = deals[index].model_copy(update={"bidfloor": floor})
    draft.set_deals(imp_id, deals)


def _suppress(draft: _Draft, proposal: Proposal, suppressed: set[tuple[str, str]]) -> None:
    match = _IMP_PATH.match(proposal.path)
    if match is None:
        raise _Rejected("bad_path")
    imp_id = match.group(1)
    ids = set(_ids(proposal))
    deals = draft.deals(imp_id)
    if not ids <= {deal.id for deal in deals}:
        raise _Rejected("unknown_deal")
    suppressed.update((imp_id, deal_id) for deal_id in ids)
    draft.set_deals(imp_id, [deal for deal in deals if deal.id not in ids])


def _activate(
    draft: _Draft,
    proposal: Proposal,
    config: AgentsConfig,
    suppressed: set[tuple[str, str]],
) -> None:
    match = _IMP_PATH.match(proposal.path)
    if match is None:
        raise _Rejected("bad_path")
    imp_id = match.group(1)
    ids = _ids(proposal)
    curated = {deal.id: deal for deal in config.deals}
    if not all(deal_id in curated for deal_id in ids):
        raise _Rejected("unknown_deal")
    if any((imp_id, deal_id) in suppressed for deal_id in ids):
        raise _Rejected("conflict")
    imp = draft.imp(imp_id)
    if imp.pmp is not None and imp.pmp.private_auction == 1:
        raise _Rejected("private_auction")  # the publisher chose its buyers for this imp
    deals = draft.deals(imp_id)
    if any(deal.id in ids for deal in deals):
        raise _Rejected("duplicate")
    floors = {}
    for deal_id in ids:
        deal = curated[deal_id]
        floor = deal.bidfloor
        if imp.bidfloor > 0:  # never below what the publisher asks for the imp
            if deal.bidfloorcur != imp.bidfloorcur:
                raise _Rejected("currency")
            floor = max(floor, imp.bidfloor)
        floors[deal_id] = floor
    draft.take(proposal.agent, "deals", len(ids))
    for deal_id in ids:
        deal = curated[deal_id]
        draft.floors[imp_id, deal_id] = floors[deal_id]
        draft.activated.add((imp_id, deal_id))
        deals.append(
            Deal(
                id=deal.id,
                bidfloor=floors[deal_id],
                bidfloorcur=deal.bidfloorcur,
                wseat=list(deal.wseat) or None,
                at=deal.at,
            )
        )
    draft.set_deals(imp_id, deals)


def _metrics(draft: _Draft, proposal: Proposal, spec: AgentSpec) -> None:
    match = _METRIC_PATH.match(proposal.path)
    if match is None:
        raise _Rejected("bad_path")
    imp_id = match.group(1)
    imp = draft.imp(imp_id)
    metrics = proposal.metrics
    if not metrics or len(metrics) > MAX_METRICS:
        raise _Rejected("bad_value")
    draft.room(spec.name, "metrics", len(metrics))
    have = {(m.type, m.vendor) for m in imp.metric or []}
    added = []
    for metric in metrics:
        if metric.vendor is not None and metric.vendor != spec.vendor:
            raise _Rejected("vendor_mismatch")
        limit = 1.0 if metric.type in _PROBABILITIES else 1e9
        if not _ID.fullmatch(metric.type) or not (
            math.isfinite(metric.value) and 0 <= metric.value <= limit
        ):
            raise _Rejected("bad_value")
        key = (metric.type, spec.vendor)
        if key in have:
            raise _Rejected("duplicate")
        have.add(key)
        added.append(Metric(type=metric.type, value=metric.value, vendor=spec.vendor))
    draft.take(spec.name, "metrics", len(added))
    draft.imps[imp_id] = imp.model_copy(update={"metric": [*(imp.metric or []), *added]})
    draft.changed = True


def _cids(draft: _Draft, proposal: Proposal) -> None:
    request = draft.request
    channel = "site" if request.site is not None else "app" if request.app is not None else None
    if channel is None or proposal.path != f"/{channel}/content/data":
        raise _Rejected("bad_path")
    data = proposal.data
    if not data or len(data) > MAX_DATA:
        raise _Rejected("bad_value")
    draft.room(proposal.agent, "data", len(data))
    added = []
    keys = []
    for item in data:
        cids = (item.get("ext") or {}).get("cids") or []
        segments = item.get("segment") or []
        if not cids or len(cids) > MAX_IDS or not all(_ID.fullmatch(c) for c in cids):
            raise _Rejected("bad_value")
        if len(segments) > MAX_IDS or not all(_ID.fullmatch(s.get("id") or "") for s in segments):
            raise _Rejected("bad_value")
        texts = [item.get("id"), item.get("name")]
        texts += [s.get(key) for s in segments for key in ("name", "value")]
        if any(text is not None and len(text) > MAX_TEXT for text in texts):
            raise _Rejected("bad_value")
        entry = Data.model_validate(item)
        added.append(entry)
        keys.append(_canonical(entry))
    holder = getattr(request, channel)
    content = draft.content or holder.content or Content()
    if draft.content_keys is None:
        draft.content_keys = {_canonical(d) for d in content.data or []}
    if len(set(keys)) != len(keys) or any(key in draft.content_keys for key in keys):
        raise _Rejected("duplicate")
    draft.take(proposal.agent, "data", len(added))
    draft.content_keys.update(keys)
    draft.content = content.model_copy(update={"data": [*(content.data or []), *added]})
    draft.changed = True


def _canonical(data: Data) -> bytes:
    return orjson.dumps(data.model_dump(exclude_none=True), option=orjson.OPT_SORT_KEYS)


def raise_activated_floors(
    terms: Mapping[str, ImpTerms], activated: Collection[tuple[str, str]]
) -> dict[str, ImpTerms]:
    """``terms`` with the floor of every deal agents activated raised to its imp's open
    floor (the publisher's with the exchange's and the account's floor rules on top): a
    curated deal never sells an impression for less than the open auction would."""
    raised = dict(terms)
    for imp_id, deal_id in activated:
        imp = raised.get(imp_id)
        if imp is None:
            continue
        deals = tuple(
            replace(deal, floor_micros=max(deal.floor_micros, imp.floor_micros))
            if deal.deal_id == deal_id
            else deal
            for deal in imp.deals
        )
        raised[imp_id] = replace(imp, deals=deals)
    return raised


@dataclass(frozen=True, slots=True)
class BidTarget:
    """A bid an agent was shown at the bid-response stage."""

    seat: str
    bid_id: str
    price_micros: int


def judge_bids(
    proposals: Sequence[Proposal],
    specs: Mapping[str, AgentSpec],
    shown: Mapping[str, Mapping[tuple[str, str], BidTarget]],
    rates: CurrencyRates,
) -> tuple[dict[tuple[str, str], int], tuple[Decision, ...]]:
    """New prices in micros by (seat, bid id), from the bid-response-stage proposals the
    policy accepts: a shaded price (CPM in the exchange currency, as the agent was shown
    the bids) is below the bid's and at least one micro, rounded down (never more than
    the agent said), for a bid the agent was shown."""
    currency = rates.exchange_currency
    prices: dict[tuple[str, str], int] = {}
    decisions = []
    for proposal in proposals:
        try:
            _common(proposal, specs[proposal.agent], RESPONSE_INTENTS)
            match = _BID_PATH.match(proposal.path)
            if match is None:
                raise _Rejected("bad_path")
            key = (match.group(1), match.group(2))
            target = shown.get(proposal.agent, {}).get(key)
            if target is None:
                raise _Rejected("unknown_bid")
            price = proposal.number
            if price is None or not math.isfinite(price) or price <= 0:
                raise _Rejected("bad_value")
            micros = rates.to_exchange_micros(price, currency, rounding="down")
            if micros >= target.price_micros:
                raise _Rejected("not_lower")
            if micros < 1:
                raise _Rejected("bad_value")
            if key in prices:
                raise _Rejected("conflict")
            prices[key] = micros
        except _Rejected as rejected:
            decisions.append(Decision.of(proposal, rejected.reason))
        else:
            decisions.append(Decision.of(proposal, "applied"))
    return prices, tuple(decisions)
