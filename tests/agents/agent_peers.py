"""Real ARTF agent peers for tests: grpc.aio servers on free ports, in a thread of their own.

``AgentPeerServer`` runs one grpc.aio server per peer (its own port, so each peer is a
distinct agent as the host sees it) on an event loop in a background thread: grpc.aio
objects belong to the loop and thread that made them, so the test's loop only ever holds
client channels. Each peer records what it received (``seen``) and answers according to its
``behaviour``, which a test may change between calls::

    peers = [AgentPeer("seg", mutations=[...]), AgentPeer("slow", AgentBehaviour.SLOW)]
    with AgentPeerServer(peers):
        channel = grpc.aio.insecure_channel(peers[0].target)

Responses are serialized by the peer itself and handed to gRPC as bytes (an identity
serializer), which is what lets ``GARBAGE`` send bytes that are no RTBResponse.

``reference_agent_process`` runs the reference agent (``python -m agents.reference``) as a
subprocess and yields its ``host:port``.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import grpc
import pytest

from agents.protos import artf_pb2
from agents.reference.server import METHOD, REFERENCE_REPO_SERVICE, SPEC_SERVICE

REPO_ROOT = Path(__file__).resolve().parents[2]
BOTH_SERVICES = (SPEC_SERVICE, REFERENCE_REPO_SERVICE)
GARBAGE_BYTES = b"\x12\x7fnot a mutation"
"""Field 2 (mutations) announces 127 bytes and carries 14: a truncated message."""


def method_path(service: str = SPEC_SERVICE) -> str:
    """The gRPC method path of GetMutations under ``service``."""
    return f"/{service}/{METHOD}"


class AgentBehaviour(StrEnum):
    """What a peer does with an RTBRequest."""

    ANSWER = "answer"
    """A valid RTBResponse with the request's id and ``mutations``."""
    SLOW = "slow"
    """As ANSWER, after ``delay_s`` (cut short when the server shuts down)."""
    HANG = "hang"
    """Never answers (until the server shuts down)."""
    ERROR = "error"
    """Aborts with ``status`` and ``details``."""
    GARBAGE = "garbage"
    """Bytes that do not parse as an RTBResponse (``GARBAGE_BYTES``)."""
    HUGE = "huge"
    """A valid RTBResponse of about ``huge_bytes`` (default 8 MB, beyond 4 MiB)."""
    MANY = "many"
    """A valid RTBResponse of ``many`` small ACTIVATE_SEGMENTS mutations, under 4 MiB."""
    WRONG_ID = "wrong_id"
    """As ANSWER, but with an id that is not the request's."""


Mutations = (
    Sequence[artf_pb2.Mutation] | Callable[[artf_pb2.RTBRequest], Sequence[artf_pb2.Mutation]]
)


@dataclass(frozen=True)
class AgentSeen:
    """One call as a peer received it."""

    service: str
    """The service name the call was made under."""
    request: artf_pb2.RTBRequest
    time_remaining_s: float | None
    """The caller's deadline as the peer saw it on arrival; None without one."""
    metadata: dict[str, str]


@dataclass
class AgentPeer:
    """One scripted agent; ``target`` is its ``host:port`` once the server runs.

    ``services`` are the names it is registered under, fixed when the server starts; a
    call under another name gets gRPC's own UNIMPLEMENTED.
    """

    name: str
    behaviour: AgentBehaviour = AgentBehaviour.ANSWER
    mutations: Mutations = ()
    """The answer's mutations, or a function of the request that gives them."""
    delay_s: float = 2.0
    status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    details: str = "scripted failure"
    huge_bytes: int = 8_000_000
    many: int = 20_000
    services: tuple[str, ...] = (SPEC_SERVICE,)
    model_version: str = "peer-1"
    port: int = 0
    """The port to serve on (0: a free one)."""
    target: str = ""
    seen: list[AgentSeen] = field(default_factory=list)

    def response(self, request: artf_pb2.RTBRequest) -> artf_pb2.RTBResponse:
        """The RTBResponse this peer's ANSWER would give to ``request``."""
        mutations = self.mutations(request) if callable(self.mutations) else self.mutations
        return artf_pb2.RTBResponse(
            id=request.id,
            mutations=list(mutations),
            metadata=artf_pb2.Metadata(api_version="1.0", model_version=self.model_version),
        )


def huge_response(request_id: str, size: int) -> artf_pb2.RTBResponse:
    """A well-formed response of about ``size`` bytes: one segment mutation of long ids."""
    segment = "s" * 1000
    ids = [segment] * (size // (len(segment) + 3) + 1)
    return artf_pb2.RTBResponse(
        id=request_id,
        mutations=[
            artf_pb2.Mutation(
                intent=artf_pb2.ACTIVATE_SEGMENTS,
                op=artf_pb2.OPERATION_ADD,
                path="/user/data/segment",
                ids=artf_pb2.IDsPayload(id=ids),
            )
        ],
    )


def many_response(request_id: str, count: int) -> artf_pb2.RTBResponse:
    """A well-formed response of ``count`` one-segment mutations."""
    return artf_pb2.RTBResponse(
        id=request_id,
        mutations=[
            artf_pb2.Mutation(
                intent=artf_pb2.ACTIVATE_SEGMENTS,
                op=artf_pb2.OPERATION_ADD,
                path="/user/data/segment",
                ids=artf_pb2.IDsPayload(id=[f"seg-{n}"]),
            )
            for n in range(count)
        ],
    )


class _Handler:
    """GetMutations of one peer under one service name."""

    def __init__(self, peer: AgentPeer, service: str, release: asyncio.Event) -> None:
        self._peer = peer
        self._service = service
        self._release = release

    async def get_mutations(self, request: artf_pb2.RTBRequest, context: Any) -> bytes:
        """The RPC; a method, not ``__call__``: grpc.aio runs a behaviour as a coroutine only
        when ``inspect.iscoroutinefunction`` says so, which is False for a callable object."""
        peer = self._peer
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        peer.seen.append(AgentSeen(self._service, request, context.time_remaining(), metadata))
        behaviour = peer.behaviour
        if behaviour is AgentBehaviour.HANG:
            await self._release.wait()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "peer server shutting down")
        if behaviour is AgentBehaviour.SLOW:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), peer.delay_s)
        if behaviour is AgentBehaviour.ERROR:
            await context.abort(peer.status, peer.details)
        if behaviour is AgentBehaviour.GARBAGE:
            return GARBAGE_BYTES
        if behaviour is AgentBehaviour.HUGE:
            return huge_response(request.id, peer.huge_bytes).SerializeToString()
        if behaviour is AgentBehaviour.MANY:
            return many_response(request.id, peer.many).SerializeToString()
        response = peer.response(request)
        if behaviour is AgentBehaviour.WRONG_ID:
            response.id = f"not-{request.id}"
        return response.SerializeToString()


def _identity(data: bytes) -> bytes:
    return data


class AgentPeerServer:
    """Serves ``peers`` until closed; a context manager."""

    def __init__(self, peers: Sequence[AgentPeer]) -> None:
        self.peers = list(peers)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> "AgentPeerServer":
        self._thread = threading.Thread(target=self._run, name="agent-peers", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=15):
            raise RuntimeError("agent peer server did not start")
        if self._error is not None:
            raise RuntimeError("agent peer server failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the test thread, never swallowed silently
            self._error = exc
        finally:
            self._started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        release = asyncio.Event()
        servers = []
        try:
            for peer in self.peers:
                server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
                servers.append(server)
                for service in peer.services:
                    method = grpc.unary_unary_rpc_method_handler(
                        _Handler(peer, service, release).get_mutations,
                        request_deserializer=artf_pb2.RTBRequest.FromString,
                        response_serializer=_identity,
                    )
                    server.add_generic_rpc_handlers(
                        (grpc.method_handlers_generic_handler(service, {METHOD: method}),)
                    )
                port = server.add_insecure_port(f"127.0.0.1:{peer.port}")
                peer.target = f"127.0.0.1:{port}"
                await server.start()
            self._started.set()
            await self._stop.wait()
        finally:
            release.set()  # HANG and SLOW calls end now rather than at the grace's end
            for server in servers:
                await server.stop(0.5)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                raise RuntimeError("agent peer server did not stop")
        if self._error is not None and exc is None:
            raise RuntimeError("agent peer server failed") from self._error


def _read_line(stream: IO[str], timeout_s: float) -> str | None:
    """The first line of ``stream`` within ``timeout_s``; None on timeout or end of file."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return lines[0] if lines and lines[0] else None


@contextlib.contextmanager
def reference_agent_process(
    rules_path: Path,
    *args: str,
    log_file: Path | None = None,
    start_timeout_s: float = 30.0,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Iterator[str]:
    """Run ``python -m agents.reference`` on a free port; yield its ``host:port``.

    ``args`` are added to the command line; its stderr (JSON logs) goes to ``log_file``
    (a temporary file when None). On exit the agent gets ``stop_signal`` and must stop with
    status 0, so every use also checks the clean shutdown.
    """
    with contextlib.ExitStack() as stack:
        if log_file is None:
            log_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "agent.log"
        log = stack.enter_context(log_file.open("w", encoding="utf-8"))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
        }
        command = [
            sys.executable,
            "-m",
            "agents.reference",
            "--listen",
            "127.0.0.1:0",
            "--rules",
            str(rules_path),
            *args,
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO_ROOT, env=env
        )
        assert process.stdout is not None
        stdout = process.stdout
        stack.callback(stdout.close)
        try:
            line = _read_line(stdout, start_timeout_s)
            if line is None or not line.startswith("listening on "):
                process.kill()
                process.wait(timeout=10)
                pytest.fail(
                    f"the reference agent did not start (exit {process.returncode}, "
                    f"stdout {line!r}); its stderr:\n{log_file.read_text(encoding='utf-8')}"
                )
            target = line.removeprefix("listening on ").strip()
            yield target
        finally:
            if process.poll() is None:
                process.send_signal(stop_signal)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
                    pytest.fail(f"the reference agent did not stop on {stop_signal.name}")
        if process.returncode != 0:
            pytest.fail(
                f"the reference agent exited with {process.returncode} after "
                f"{stop_signal.name}; its "
                f"stderr:\n{log_file.read_text(encoding='utf-8')}"
            )
