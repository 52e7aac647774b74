"""The reference agent's gRPC server: ``RTBExtensionPoint.GetMutations`` over grpc.aio.

The service is registered under each name in ``services``: the ARTF v1.0 spec puts it in
the messages' package (``SPEC_SERVICE``), the IAB reference repository in a ``services``
sub-package (``REFERENCE_REPO_SERVICE``), and a host may call either. Both names use the
same serializers, so the bytes on the wire are the same.

Logs are JSON lines on stderr and carry ids the exchange assigned to the call, counts and
timings; never user ids, IPs or other personal data from the bid request.
"""

import asyncio
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import structlog

from agents.protos import artf_pb2
from agents.reference.rules import API_VERSION, Rules, RulesError, evaluate, load_rules
from exchange.log_setup import configure_logging

SPEC_SERVICE = "com.iabtechlab.bidstream.mutation.v1.RTBExtensionPoint"
"""The service's full name in the ARTF v1.0 spec (and this project's generated code)."""
REFERENCE_REPO_SERVICE = "com.iabtechlab.bidstream.mutation.services.v1.RTBExtensionPoint"
"""The service's full name in the current IAB reference repository."""
DEFAULT_SERVICES = (SPEC_SERVICE, REFERENCE_REPO_SERVICE)
METHOD = "GetMutations"

BUDGET_SHARE = 0.8
"""Share of the time the host allows that the agent spends working: the rest is for the
answer's way back, which ``tmax`` includes."""
SHUTDOWN_GRACE_S = 2.0
"""Calls in flight at SIGTERM get this long to finish; they take milliseconds."""

EXIT_OK, EXIT_CANNOT_LISTEN, EXIT_USAGE = 0, 1, 2

_SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")

log = structlog.get_logger("agents.reference")


def budget_s(tmax_ms: int, time_remaining_s: float | None) -> float | None:
    """Seconds the agent may work on a call: a share of the tighter of ``tmax`` and the
    gRPC deadline; None when the host set neither."""
    limits = [tmax_ms / 1000] if tmax_ms > 0 else []
    if time_remaining_s is not None:
        limits.append(max(time_remaining_s, 0.0))
    return BUDGET_SHARE * min(limits) if limits else None


class ReferenceAgent:
    """Answers RTBRequests from ``rules``; the gRPC-free part of the server."""

    def __init__(self, rules: Rules, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self._clock = clock

    def answer(
        self, request: artf_pb2.RTBRequest, time_remaining_s: float | None = None
    ) -> artf_pb2.RTBResponse:
        """The response to ``request``, cut short when its time budget is spent."""
        started = self._clock()
        budget = budget_s(request.tmax, time_remaining_s)
        deadline = None if budget is None else started + budget

        def spent() -> bool:
            return deadline is not None and self._clock() >= deadline

        result = evaluate(request, self.rules, stop=spent)
        log.debug(
            "answered",
            request_id=request.id,
            lifecycle=artf_pb2.Lifecycle.Name(request.lifecycle)
            if request.lifecycle in artf_pb2.Lifecycle.values()
            else request.lifecycle,
            mutations=len(result.mutations),
            elapsed_ms=round((self._clock() - started) * 1000, 3),
        )
        if not result.complete:
            log.info(
                "time budget spent",
                request_id=request.id,
                budget_ms=None if budget is None else round(budget * 1000, 3),
            )
        return artf_pb2.RTBResponse(
            id=request.id,
            mutations=result.mutations,
            metadata=artf_pb2.Metadata(api_version=API_VERSION, model_version=self.rules.version),
        )

    async def get_mutations(
        self, request: artf_pb2.RTBRequest, context: Any
    ) -> artf_pb2.RTBResponse:
        """The gRPC method: a bug answers INTERNAL (logged), never a half-built response."""
        try:
            return self.answer(request, context.time_remaining())
        except Exception:
            log.exception("answer failed", request_id=request.id)
            await context.abort(grpc.StatusCode.INTERNAL, "the agent failed on this request")
            raise  # abort raises; this keeps the type checker sure nothing is returned


def handlers(agent: ReferenceAgent, services: Sequence[str]) -> list[Any]:
    """One generic handler per service name, all calling ``agent``."""
    method = grpc.unary_unary_rpc_method_handler(
        agent.get_mutations,
        request_deserializer=artf_pb2.RTBRequest.FromString,
        response_serializer=artf_pb2.RTBResponse.SerializeToString,
    )
    return [grpc.method_handlers_generic_handler(name, {METHOD: method}) for name in services]


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as host and port; ValueError if malformed."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:50061")
    return host, int(port_text)


async def start_server(
    agent: ReferenceAgent, listen: str, services: Sequence[str]
) -> tuple[Any, int]:
    """A started grpc.aio server for ``agent`` and the port it listens on (RuntimeError
    when it cannot bind). SO_REUSEPORT is off so a port in use fails instead of sharing."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(handlers(agent, services))
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:
        port = 0
    if port == 0:
        await server.stop(None)
        raise RuntimeError(f"cannot listen on {listen}")
    await server.start()
    return server, port


async def serve(
    rules: Rules,
    listen: str,
    services: Sequence[str],
    ready: Callable[[str], None],
) -> int:
    """Serve until SIGTERM or SIGINT; ``ready`` gets ``HOST:PORT`` once calls are accepted."""
    host, _ = split_listen(listen)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        server, port = await start_server(ReferenceAgent(rules), listen, services)
    except RuntimeError as exc:
        log.error("cannot listen", listen=listen, error=str(exc))
        return EXIT_CANNOT_LISTEN
    try:
        log.info("serving", host=host, port=port, services=list(services), rules=rules.version)
        ready(f"{host}:{port}")
        await stopping.wait()
        log.info("stopping", grace_s=SHUTDOWN_GRACE_S)
    finally:
        await server.stop(SHUTDOWN_GRACE_S)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")
    return EXIT_OK


def check_services(names: Sequence[str]) -> list[str]:
    """Validated, de-duplicated service names; ValueError names the bad one."""
    for name in names:
        if not _SERVICE_NAME.fullmatch(name):
            raise ValueError(f"--service {name!r}: expected a full name such as {SPEC_SERVICE}")
    return list(dict.fromkeys(names))


def run(rules_path: Path, listen: str, services: Sequence[str], log_level: str) -> int:
    """Load the rules and serve; the exit status (2 for a bad rules file or argument)."""
    configure_logging(log_level, json=True)  # stdout stays for the `listening` line
    try:
        split_listen(listen)
        names = check_services(services)
        rules = load_rules(rules_path)
    except (RulesError, ValueError) as exc:
        print(f"agents.reference: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.info(
        "rules loaded",
        version=rules.version,
        segments=len(rules.segments),
        deal_floors=len(rules.deal_floors),
        bid_shading=len(rules.bid_shading),
    )

    def ready(target: str) -> None:
        print(f"listening on {target}", flush=True)

    return asyncio.run(serve(rules, listen, names, ready))
