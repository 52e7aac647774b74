"""The agent stages of an auction: every agent of a stage called at once, under one deadline,
each shown only its view, and what they propose judged by the policy.

At the bid-request stage each agent sees the request after the privacy rules for its own
vendor id, cut to its fields (``agents.views``); views are built and encoded once per
distinct (grant, fields). At the bid-response stage it also sees the bids of the bidders it
is allowed, prices as CPM in the exchange currency. An agent that is late, fails or answers
garbage changes nothing: its call is counted and the auction goes on without it.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agents.client import DEFAULT_ENGINE, AgentClient, CallOutcome
from agents.config import ALWAYS_SHOWN, AgentsConfig, AgentSpec, Stage
from agents.convert import dict_to_request, dict_to_response
from agents.metrics import AgentMetrics
from agents.policy import BidTarget, RequestChange, judge_bids, judge_request
from agents.proposals import Decision
from agents.protos import artf_pb2
from agents.views import Tree, cut, tree_of
from auction.currency import CurrencyRates
from exchange.read_first import wait_reading_first
from openrtb.money import micros_to_cpm
from openrtb.privacy import Grant, Signals, restrict
from openrtb.request import BidRequest

__all__ = ["AgentHost", "AgentReport", "BidView"]

_MS: Final = 1000.0
GUARD_FACTOR: Final = 2.0
GUARD_S: Final = 0.005
"""The stage's guard timer: twice its longest deadline plus 5 ms (the channels' own
deadlines end every call long before, unless one is stuck)."""
_LIFECYCLE: Final = {
    Stage.BID_REQUEST: artf_pb2.LIFECYCLE_PUBLISHER_BID_REQUEST,
    Stage.BID_RESPONSE: artf_pb2.LIFECYCLE_DSP_BID_RESPONSE,
}


@dataclass(frozen=True, slots=True)
class AgentReport:
    """One agent's part in one stage of one auction (debug output)."""

    agent: str
    stage: Stage
    outcome: str
    latency_ms: float
    decisions: tuple[Decision, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "agent": self.agent,
            "stage": self.stage.value,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 3),
            "mutations": [decision.as_json() for decision in self.decisions],
        }


@dataclass(frozen=True, slots=True)
class BidView:
    """A bid as the bid-response stage shows it: who made it and what it is."""

    bidder: str
    seat: str
    bid_id: str
    impid: str
    price_micros: int
    dealid: str | None
    adomain: Sequence[str] | None
    crid: str | None


class AgentHost:
    """The exchange's agents (see the module)."""

    def __init__(
        self,
        config: AgentsConfig,
        metrics: AgentMetrics,
        clock: Callable[[], float] = time.monotonic,
        clients: Mapping[str, AgentClient] | None = None,
        engine: str = DEFAULT_ENGINE,
    ) -> None:
        self.config = config
        self.engine = engine
        self._metrics = metrics
        self._clock = clock
        self._clients = (
            dict(clients)
            if clients is not None
            else {spec.name: AgentClient(spec, metrics, clock, engine) for spec in config.agents}
        )
        self._specs = {spec.name: spec for spec in config.agents}
        self._stages = {stage: config.at(stage) for stage in Stage}
        self._trees = {spec.name: tree_of((*ALWAYS_SHOWN, *spec.fields)) for spec in config.agents}
        self._intents = {spec.name: sorted(spec.intents) for spec in config.agents}

    def active(self, stage: Stage) -> bool:
        """Whether any agent is called at ``stage``."""
        return bool(self._stages[stage])

    @property
    def clients(self) -> Mapping[str, AgentClient]:
        return self._clients

    async def on_request(
        self, full: BidRequest, signals: Signals, auction_id: str, timeout_s: float
    ) -> tuple[RequestChange, tuple[AgentReport, ...]]:
        """The bid-request stage: ``full`` (before the privacy rules; the agents' views are
        cut from it) with the accepted mutations applied."""
        agents = self._stages[Stage.BID_REQUEST]
        views = _Views(full, signals, auction_id)
        payloads: dict[str, bytes] = {}
        skipped: list[CallOutcome] = []
        for spec in agents:
            try:
                payloads[spec.name] = views.request_bytes(spec, self._trees[spec.name])
            except ValueError:  # a value the proto cannot hold, in a field it may see
                skipped.append(CallOutcome(spec.name, "unencodable", 0.0))
        called = [spec for spec in agents if spec.name in payloads]
        outcomes = await self._call_all(
            Stage.BID_REQUEST, called, payloads, auction_id, timeout_s, skipped
        )
        proposals = [p for outcome in outcomes for p in outcome.proposals]
        change = judge_request(full, proposals, self._specs, self.config, signals)
        return change, self._reports(Stage.BID_REQUEST, outcomes, change.decisions)

    async def on_bids(
        self,
        request: BidRequest,
        signals: Signals,
        bids: Sequence[BidView],
        auction_id: str,
        timeout_s: float,
        rates: CurrencyRates,
    ) -> tuple[dict[int, int], tuple[AgentReport, ...]]:
        """The bid-response stage: new prices in micros, by the bid's index in ``bids``, for
        the bids the agents shaded and the policy accepted."""
        agents = self._stages[Stage.BID_RESPONSE]
        views = _Views(request, signals, auction_id)
        # A (seat, bid id) two bidders share names no one bid: it is shown to no agent.
        keys = Counter((bid.seat, bid.bid_id) for bid in bids)
        index = {(bid.seat, bid.bid_id): i for i, bid in enumerate(bids)}
        payloads: dict[str, bytes] = {}
        shown: dict[str, dict[tuple[str, str], BidTarget]] = {}
        skipped: list[CallOutcome] = []
        for spec in agents:
            seen = [
                bid
                for bid in bids
                if keys[bid.seat, bid.bid_id] == 1
                and (spec.bidders is None or bid.bidder in spec.bidders)
            ]
            try:
                payload = views.request_bytes(spec, self._trees[spec.name])
            except ValueError:
                skipped.append(CallOutcome(spec.name, "unencodable", 0.0))
                continue
            shown[spec.name] = {
                (bid.seat, bid.bid_id): BidTarget(bid.seat, bid.bid_id, bid.price_micros)
                for bid in seen
            }
            payloads[spec.name] = payload + _response_bytes(
                auction_id, rates.exchange_currency, seen
            )
        called = [spec for spec in agents if spec.name in payloads]
        outcomes = await self._call_all(
            Stage.BID_RESPONSE, called, payloads, auction_id, timeout_s, skipped
        )
        proposals = [p for outcome in outcomes for p in outcome.proposals]
        prices, decisions = judge_bids(proposals, self._specs, shown, rates)
        by_index = {index[key]: price for key, price in prices.items()}
        return by_index, self._reports(Stage.BID_RESPONSE, outcomes, decisions)

    async def _call_all(
        self,
        stage: Stage,
        agents: Sequence[AgentSpec],
        payloads: Mapping[str, bytes],
        auction_id: str,
        timeout_s: float,
        skipped: list[CallOutcome],
    ) -> list[CallOutcome]:
        """Every agent of ``stage`` at once, each until its own deadline or ``timeout_s``."""
        calls: list[tuple[AgentSpec, float]] = []
        for spec in agents:
            limit_s = min(spec.deadline_ms / _MS, timeout_s)
            if limit_s <= 0:
                skipped.append(CallOutcome(spec.name, "no_time", 0.0))
            elif not self._clients[spec.name].callable:
                skipped.append(CallOutcome(spec.name, "breaker_open", 0.0))
            else:
                calls.append((spec, limit_s))
        header = {
            spec.name: self._header(stage, spec, auction_id, limit_s) for spec, limit_s in calls
        }
        started = self._clock()
        if not calls:
            done: list[CallOutcome] = []
        elif len(calls) == 1:
            spec, limit_s = calls[0]
            done = [
                await self._clients[spec.name].call(
                    header[spec.name] + payloads[spec.name],
                    auction_id,
                    limit_s,
                    blame_timeout=_full_deadline(spec, limit_s),
                )
            ]
        else:
            done = await self._gather(calls, header, payloads, auction_id, started)
        outcomes = skipped + done
        metrics = self._metrics
        for outcome in outcomes:
            metrics.child(metrics.calls, outcome.agent, stage.value, outcome.outcome).inc()
            if outcome.outcome not in ("no_time", "breaker_open"):
                metrics.child(metrics.call_seconds, outcome.agent, stage.value).observe(
                    outcome.latency_ms / _MS
                )
        order = {spec.name: index for index, spec in enumerate(self.config.agents)}
        outcomes.sort(key=lambda outcome: order[outcome.agent])  # conflicts: file order
        return outcomes

    async def _gather(
        self,
        calls: Sequence[tuple[AgentSpec, float]],
        header: Mapping[str, bytes],
        payloads: Mapping[str, bytes],
        auction_id: str,
        started: float,
    ) -> list[CallOutcome]:
        """The calls as tasks, each ended by its channel's own deadline (grpcio's off the
        loop; the lean client's once the loop has read its socket), so an answer that came in
        time counts even when a busy loop reads it late: a loop timer at the deadline would
        fire first and throw such answers away. The stage's own timer, well past the longest
        deadline (``GUARD_FACTOR``), only guards against a call that never ends, and it too
        lets the loop read first (``exchange.read_first``)."""
        tasks = [
            asyncio.create_task(
                self._clients[spec.name].call(
                    header[spec.name] + payloads[spec.name],
                    auction_id,
                    limit_s,
                    blame_timeout=_full_deadline(spec, limit_s),
                )
            )
            for spec, limit_s in calls
        ]
        longest = max(limit_s for _, limit_s in calls)
        await wait_reading_first(tasks, longest * GUARD_FACTOR + GUARD_S)
        done = []
        for task, (spec, limit_s) in zip(tasks, calls, strict=True):
            if task.done() and not task.cancelled():
                done.append(task.result())
            else:
                task.cancel()
                latency = (self._clock() - started) * _MS
                if _full_deadline(spec, limit_s):
                    self._clients[spec.name].breaker.record_failure()
                done.append(CallOutcome(spec.name, "timeout", latency))
        return done

    def _header(self, stage: Stage, spec: AgentSpec, auction_id: str, limit_s: float) -> bytes:
        """The per-agent part of the RTBRequest; the view's bytes are appended to it (two
        encoded messages concatenated parse as their merge)."""
        header = artf_pb2.RTBRequest(
            lifecycle=_LIFECYCLE[stage],
            id=auction_id,
            tmax=max(1, int(limit_s * _MS)),
            originator=artf_pb2.Originator(type=artf_pb2.Originator.TYPE_EXCHANGE),
            applicable_intents=self._intents[spec.name],
        )
        return header.SerializeToString()

    def _reports(
        self, stage: Stage, outcomes: Sequence[CallOutcome], decisions: Sequence[Decision]
    ) -> tuple[AgentReport, ...]:
        metrics = self._metrics
        by_agent: dict[str, list[Decision]] = {}
        for decision in decisions:
            by_agent.setdefault(decision.agent, []).append(decision)
            metrics.child(metrics.mutations, decision.agent, decision.intent, decision.reason).inc()
        return tuple(
            AgentReport(
                outcome.agent,
                stage,
                outcome.outcome,
                outcome.latency_ms,
                tuple(by_agent.get(outcome.agent, ())),
            )
            for outcome in outcomes
        )

    async def connect(self, timeout_s: float) -> dict[str, bool]:
        """Connect to every agent at once (at start-up): whether each answered in time."""
        names = list(self._clients)
        ready = await asyncio.gather(*(self._clients[n].connect(timeout_s) for n in names))
        return dict(zip(names, ready, strict=True))

    async def close(self) -> None:
        """Close every channel (at shutdown)."""
        await asyncio.gather(*(client.close() for client in self._clients.values()))


class _Views:
    """The agents' views of one request, each distinct one built and encoded once."""

    def __init__(self, full: BidRequest, signals: Signals, auction_id: str) -> None:
        self._full = full
        self._signals = signals
        self._auction_id = auction_id
        self._dumps: dict[Grant, dict[str, Any]] = {}
        self._encoded: dict[tuple[Grant, tuple[str, ...]], bytes] = {}

    def request_bytes(self, spec: AgentSpec, tree: Tree) -> bytes:
        """``bid_request`` (field 4 of RTBRequest) as ``spec``'s agent may see it."""
        grant = self._signals.grant(spec.gvl_vendor_id)
        key = (grant, spec.fields)
        found = self._encoded.get(key)
        if found is not None:
            return found
        dump = self._dumps.get(grant)
        if dump is None:
            view = restrict(self._full, grant)
            dump = view.model_dump(mode="json", exclude_unset=True, exclude_none=True)
            dump["id"] = self._auction_id
            self._dumps[grant] = dump
        shown = artf_pb2.RTBRequest(bid_request=dict_to_request(cut(dump, tree)))
        found = self._encoded[key] = shown.SerializeToString()
        return found


def _full_deadline(spec: AgentSpec, limit_s: float) -> bool:
    """Whether the call had (nearly) its whole deadline: only then is a timeout the agent's
    fault and counted against its breaker (a short ``tmax`` must not switch agents off)."""
    return limit_s * _MS >= 0.9 * spec.deadline_ms


def _response_bytes(auction_id: str, currency: str, bids: Sequence[BidView]) -> bytes:
    """``bid_response`` (field 5 of RTBRequest): the bids by seat."""
    seats: dict[str, list[dict[str, Any]]] = {}
    for bid in bids:
        shown: dict[str, Any] = {
            "id": bid.bid_id,
            "impid": bid.impid,
            "price": micros_to_cpm(bid.price_micros),
        }
        if bid.dealid:
            shown["dealid"] = bid.dealid
        if bid.adomain:
            shown["adomain"] = list(bid.adomain)
        if bid.crid:
            shown["crid"] = bid.crid
        seats.setdefault(bid.seat, []).append(shown)
    response = {
        "id": auction_id,
        "cur": currency,
        "seatbid": [{"seat": seat, "bid": seat_bids} for seat, seat_bids in seats.items()],
    }
    return artf_pb2.RTBRequest(bid_response=dict_to_response(response)).SerializeToString()
