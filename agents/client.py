"""One agent service over gRPC: its channel, its circuit breaker, one bounded call.

The channel (``agents.channels``: the lean client by default, or grpcio's) is made on first
use, on the loop that uses it (both belong to the loop that made them). Parsing the answer
here lets garbage be told from a transport error.

What counts against the breaker: a timeout, any error status, an answer that does not parse,
one for another request or one over the agent's mutation limit. While it is open the agent
is not called, so an agent that is down costs no time.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import structlog
from google.protobuf.message import DecodeError

from agents.channels import CallFailed, UnaryChannel, channel_for
from agents.config import AgentSpec
from agents.metrics import AgentMetrics
from agents.proposals import Proposal, proposals_of
from agents.protos import artf_pb2
from budget.breaker import BreakerState, CircuitBreaker

__all__ = ["AgentClient", "CallOutcome"]

log = structlog.get_logger("agents.client")

_MS: Final = 1000.0
WARMUP_CALLS: Final = 3
_RETRY_S: Final = 0.05
DEFAULT_ENGINE: Final = "lean"


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How one agent call ended, and what it proposed (empty unless ``ok``)."""

    agent: str
    outcome: str
    latency_ms: float
    proposals: tuple[Proposal, ...] = ()
    model_version: str = ""


class AgentClient:
    """Calls one agent (see the module)."""

    def __init__(
        self,
        spec: AgentSpec,
        metrics: AgentMetrics,
        clock: Callable[[], float] = time.monotonic,
        engine: str = DEFAULT_ENGINE,
    ) -> None:
        self.spec = spec
        self._metrics = metrics
        self._clock = clock
        self._engine = engine
        self._told_unimplemented = False
        self._channel: UnaryChannel | None = None
        self.breaker = CircuitBreaker(spec.failure_threshold, spec.cooldown_s, clock, self._moved)
        metrics.breaker_moved(spec.name, BreakerState.CLOSED)

    def _moved(self, _old: BreakerState, new: BreakerState) -> None:
        self._metrics.breaker_moved(self.spec.name, new)

    def _open(self) -> UnaryChannel:
        if self._channel is None:
            spec = self.spec
            self._channel = channel_for(
                self._engine, spec.target, spec.service, spec.max_response_bytes
            )
        return self._channel

    async def connect(self, timeout_s: float) -> bool:
        """Open the connection now (at start-up) and warm it with a few calls that carry no
        bid request, so the first auctions do not pay for the connection and the first
        calls' slowness on either side; False when the agent did not answer within
        ``timeout_s`` (its calls will say). The warm-up counts nowhere."""
        channel = self._open()
        warmup = artf_pb2.RTBRequest(id="warmup", tmax=int(timeout_s * _MS)).SerializeToString()
        try:
            async with asyncio.timeout(timeout_s):
                await channel.ready(timeout_s)
                answers = 0
                while answers < WARMUP_CALLS:
                    try:
                        await channel.call(warmup, timeout_s)
                    except CallFailed as failed:
                        if failed.outcome == "unavailable":  # not listening yet
                            await asyncio.sleep(_RETRY_S)
                            continue
                    answers += 1
        except TimeoutError:
            return False
        return True

    @property
    def callable(self) -> bool:
        """False while the breaker is open (reading it may let the probe through)."""
        return self.breaker.allow()

    async def call(
        self, payload: bytes, request_id: str, timeout_s: float, *, blame_timeout: bool = True
    ) -> CallOutcome:
        """Send ``payload`` (an encoded RTBRequest for ``request_id``) and judge the answer's
        form; never raises but for cancellation. ``blame_timeout`` False: the exchange cut
        the deadline short, so a timeout does not count against the breaker."""
        started = self._clock()
        spec = self.spec
        try:
            answer = await self._open().call(payload, timeout_s)
        except CallFailed as failed:
            outcome = failed.outcome
            if outcome == "unimplemented" and not self._told_unimplemented:
                self._told_unimplemented = True  # once: a configuration error, not load
                log.warning(
                    "agent_service_unimplemented",
                    agent=spec.name,
                    service=spec.service,
                    hint="set the agent's service to the name its server registers",
                )
            if outcome == "timeout" and not blame_timeout:
                return CallOutcome(spec.name, outcome, self._elapsed_ms(started))
            return self._failed(outcome, started)
        response = artf_pb2.RTBResponse()
        try:
            response.ParseFromString(answer)
        except DecodeError:
            return self._failed("garbage", started)
        if response.id != request_id:
            return self._failed("wrong_id", started)
        if len(response.mutations) > spec.max_mutations:
            return self._failed("too_many", started)
        self.breaker.record_success()
        return CallOutcome(
            spec.name,
            "ok",
            self._elapsed_ms(started),
            proposals_of(spec.name, response.mutations),
            response.metadata.model_version[:64],
        )

    def _elapsed_ms(self, started: float) -> float:
        return (self._clock() - started) * _MS

    def _failed(self, outcome: str, started: float) -> CallOutcome:
        self.breaker.record_failure()
        return CallOutcome(self.spec.name, outcome, self._elapsed_ms(started))

    async def close(self) -> None:
        """Close the channel (at shutdown)."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()
