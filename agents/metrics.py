"""The agents' series, registered into the exchange's registry.

``rtb_agent_calls_total{agent,stage,outcome}``: every call, and every call not made (the
breaker open, no time left); ``rtb_agent_call_seconds{agent,stage}``: the wall time of calls
made; ``rtb_agent_mutations_total{agent,intent,reason}``: each proposal by what became of it
(``applied`` or the rejection's reason); ``rtb_agent_circuit_state{agent}``.
"""

from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from budget.breaker import BreakerState

__all__ = ["AgentMetrics"]

_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05)
_STATE: Final = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class AgentMetrics:
    """Counters and histograms of agent calls and their mutations."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.calls = Counter(
            "rtb_agent_calls",
            "ARTF agent calls by agent, stage and outcome: ok, timeout, error, unavailable, "
            "unimplemented (the agent does not serve that service name), too_large, garbage, "
            "wrong_id, too_many (an answer refused whole), breaker_open, no_time and "
            "unencodable (not called).",
            ["agent", "stage", "outcome"],
            registry=registry,
        )
        self.call_seconds = Histogram(
            "rtb_agent_call_seconds",
            "Wall time of the ARTF agent calls made, by agent and stage.",
            ["agent", "stage"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.mutations = Counter(
            "rtb_agent_mutations",
            "Mutations proposed by ARTF agents, by agent, intent and what became of them: "
            "applied, or the reason they were rejected (docs/agents.md).",
            ["agent", "intent", "reason"],
            registry=registry,
        )
        self.circuit_state = Gauge(
            "rtb_agent_circuit_state",
            "Circuit breaker state per ARTF agent: 0 closed, 1 half-open, 2 open.",
            ["agent"],
            registry=registry,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered (a lookup costs microseconds)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def breaker_moved(self, agent: str, state: BreakerState) -> None:
        self.circuit_state.labels(agent).set(_STATE[state])
