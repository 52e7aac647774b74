"""An agent's mutations read off the wire into plain values the policy can judge.

Decoding judges nothing: a mutation with an unknown intent or an empty value still becomes
a ``Proposal``, so that the policy rejects it with a reason that is counted and shown. What
a mutation decides is the policy's (``agents.policy``), applied or rejected whole.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from agents.protos import artf_pb2

__all__ = ["Decision", "Proposal", "proposals_of"]

_OPS: Final = {
    artf_pb2.OPERATION_ADD: "ADD",
    artf_pb2.OPERATION_REMOVE: "REMOVE",
    artf_pb2.OPERATION_REPLACE: "REPLACE",
}


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric an agent adds to an imp."""

    type: str
    value: float
    vendor: str | None


@dataclass(frozen=True, slots=True)
class Proposal:
    """One mutation as an agent sent it."""

    agent: str
    intent: str
    """The Intent's name (``INTENT_UNSPECIFIED`` when absent or unknown)."""
    op: str
    """``ADD``, ``REMOVE``, ``REPLACE`` or ``UNSPECIFIED``."""
    path: str
    payload: str | None
    """Which of the value's fields is set (``ids``, ``adjust_deal``, …), if any."""
    ids: tuple[str, ...] = ()
    number: float | None = None
    """``adjust_deal.bidfloor`` or ``adjust_bid.price`` (CPM)."""
    metrics: tuple[Metric, ...] = ()
    data: tuple[dict[str, Any], ...] = ()
    """``content_data`` as OpenRTB Data objects (JSON-shaped)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the exchange did with one proposal: applied, or rejected and why."""

    agent: str
    intent: str
    op: str
    path: str
    applied: bool
    reason: str
    """``applied``, or the rejection's reason (the label of its metric)."""

    @classmethod
    def of(cls, proposal: Proposal, reason: str) -> "Decision":
        return cls(
            proposal.agent,
            proposal.intent,
            proposal.op,
            proposal.path,
            reason == "applied",
            reason,
        )

    def as_json(self) -> dict[str, object]:
        """The debug output's form."""
        return {
            "agent": self.agent,
            "intent": self.intent,
            "op": self.op,
            "path": self.path,
            "applied": self.applied,
            "reason": self.reason,
        }


def _intent_name(value: int) -> str:
    try:
        return artf_pb2.Intent.Name(value)
    except ValueError:
        return "INTENT_UNSPECIFIED"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _proposal(agent: str, mutation: artf_pb2.Mutation) -> Proposal:
    payload = mutation.WhichOneof("value")
    ids: tuple[str, ...] = ()
    number: float | None = None
    metrics: tuple[Metric, ...] = ()
    data: tuple[dict[str, Any], ...] = ()
    if payload == "ids":
        ids = tuple(mutation.ids.id)
    elif payload == "adjust_deal":
        deal = mutation.adjust_deal
        number = _finite(deal.bidfloor) if deal.HasField("bidfloor") else None
    elif payload == "adjust_bid":
        bid = mutation.adjust_bid
        number = _finite(bid.price) if bid.HasField("price") else None
    elif payload == "metrics":
        metrics = tuple(
            Metric(m.type, m.value, m.vendor if m.HasField("vendor") else None)
            for m in mutation.metrics.metric
        )
    elif payload == "content_data":
        data = tuple(_data(item) for item in mutation.content_data.data)
    return Proposal(
        agent,
        _intent_name(mutation.intent),
        _OPS.get(mutation.op, "UNSPECIFIED"),
        mutation.path[:256],
        payload,
        ids,
        number,
        metrics,
        data,
    )


def _data(item: Any) -> dict[str, Any]:
    """A proto ``BidRequest.Data`` as the OpenRTB object (only what Data carries)."""
    found: dict[str, Any] = {}
    if item.HasField("id"):
        found["id"] = item.id
    if item.HasField("name"):
        found["name"] = item.name
    segments = [
        {key: getattr(s, key) for key in ("id", "name", "value") if s.HasField(key)}
        for s in item.segment
    ]
    if segments:
        found["segment"] = segments
    if item.HasField("ext") and item.ext.cids:
        found["ext"] = {"cids": list(item.ext.cids)}
    return found


def proposals_of(agent: str, mutations: Sequence[artf_pb2.Mutation]) -> tuple[Proposal, ...]:
    """Every mutation of one answer, in its order."""
    return tuple(_proposal(agent, mutation) for mutation in mutations)
