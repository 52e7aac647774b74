"""One unary gRPC call to an agent, made one of two ways; both judged alike by the caller.

- ``LeanChannel`` (the default) speaks gRPC's wire protocol itself on the exchange's own
  HTTP/2 engine (``exchange.bidders.h2_transport``): one length-prefixed message each way,
  ``grpc-timeout`` sent, the status read from the trailers (or a trailers-only answer).
- ``GrpcioChannel`` is grpcio's asyncio client, the reference: ``RTB_AGENT_GRPC_ENGINE=grpcio``
  selects it, and the tests run both against the same real gRPC servers.

Why two: grpcio's asyncio call costs several times the CPU the agent stage may take per call
on this machine kind, in its own machinery, whatever its options (docs/decisions.md).

Either raises ``CallFailed`` with the outcome label the metrics use (``timeout``,
``too_large``, ``unavailable``, ``unimplemented``, ``error``, ``garbage``); bytes go in and out
unchanged, so the host encodes a view once for every agent that shares it.
"""

import asyncio
import contextlib
import math
import struct
from collections.abc import Sequence
from typing import Any, Final, Protocol

import grpc
import httpx

from exchange.bidders.h2_transport import BodyTooLarge, h2_transport

__all__ = ["CallFailed", "GrpcioChannel", "LeanChannel", "UnaryChannel", "channel_for"]

_PREFIX: Final = struct.Struct(">BI")
"""gRPC's message prefix: a compressed flag and the message length."""
_CACHED_TIMEOUTS: Final = 1000
"""Distinct deadlines (ms) whose headers are kept."""

_OUTCOME_OF_STATUS: Final = {
    4: "timeout",  # DEADLINE_EXCEEDED
    8: "too_large",  # RESOURCE_EXHAUSTED
    12: "unimplemented",  # UNIMPLEMENTED
    14: "unavailable",  # UNAVAILABLE
}

_STATUS_OF_HTTP: Final = {
    400: 13,  # INTERNAL
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 12,  # UNIMPLEMENTED
    429: 14,  # UNAVAILABLE
    502: 14,
    503: 14,
    504: 14,
}
"""The gRPC status of an answer that is not HTTP 200 (gRPC's HTTP-to-status mapping)."""


def outcome_of_status(code: int) -> str:
    """The outcome label of a gRPC status code other than OK."""
    return _OUTCOME_OF_STATUS.get(code, "error")


class CallFailed(Exception):
    """The call ended without a message; ``outcome`` says how."""

    def __init__(self, outcome: str, detail: str = "") -> None:
        super().__init__(outcome if not detail else f"{outcome}: {detail}")
        self.outcome = outcome


class UnaryChannel(Protocol):
    """A connection to one agent's ``GetMutations``."""

    async def ready(self, timeout_s: float) -> None:
        """Connected, or TimeoutError."""
        ...

    async def call(self, payload: bytes, timeout_s: float) -> bytes:
        """The answer's bytes; CallFailed otherwise."""
        ...

    async def close(self) -> None: ...


class GrpcioChannel:
    """grpcio's asyncio client, retries off (a retry would outlive the deadline), with the
    agent's receive limit (a larger answer is refused before it is parsed)."""

    def __init__(self, target: str, method: str, max_response_bytes: int) -> None:
        self._channel: Any = grpc.aio.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_response_bytes),
                ("grpc.enable_retries", 0),
                # A restarted agent is found again within a second, not gRPC's default
                # backoff of up to two minutes.
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
                ("grpc.keepalive_time_ms", 30_000),
            ],
        )
        self._method: Any = self._channel.unary_unary(method)

    async def ready(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self._channel.channel_ready()

    async def call(self, payload: bytes, timeout_s: float) -> bytes:
        try:
            answer: bytes = await self._method(payload, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise CallFailed(outcome_of_status(exc.code().value[0]), str(exc.details())) from None
        except grpc.aio.UsageError as exc:
            raise CallFailed("error", str(exc)) from None
        return answer

    async def close(self) -> None:
        await self._channel.close(grace=None)


class LeanChannel:
    """gRPC over the exchange's HTTP/2 engine (plaintext, prior knowledge: agents are
    co-located), one connection, calls multiplexed on it."""

    def __init__(self, target: str, method: str, max_response_bytes: int) -> None:
        self._url = httpx.URL(f"http://{target}{method}")
        self._limit = max_response_bytes + _PREFIX.size
        self._transport = h2_transport(
            connect_timeout=1.0, max_header_list_size=16_384, max_response_bytes=self._limit
        )
        self._headers: dict[int, list[tuple[bytes, bytes]]] = {}
        self._closed = False

    def _headers_for(self, timeout_ms: int) -> list[tuple[bytes, bytes]]:
        """The request's headers; the timeout in whole milliseconds, so that their encoding
        is cached like every other field's."""
        headers = self._headers.get(timeout_ms)
        if headers is None:
            headers = [
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
                (b"grpc-timeout", f"{timeout_ms}m".encode()),
            ]
            if len(self._headers) < _CACHED_TIMEOUTS:
                self._headers[timeout_ms] = headers
        return headers

    async def ready(self, timeout_s: float) -> None:
        """The connection is opened by the first call (the warm-up's)."""

    async def call(self, payload: bytes, timeout_s: float) -> bytes:
        """The deadline is the engine's read timeout (connecting included), which lets a busy
        loop read an answer that came in time (``exchange.read_first``)."""
        if self._closed:  # as grpcio's closed channel: an error, not an exception
            raise CallFailed("error", "the channel is closed")
        timeouts = {"connect": timeout_s, "read": timeout_s, "pool": timeout_s}
        headers = self._headers_for(max(1, math.ceil(timeout_s * 1000)))
        try:
            status, fields, body = await self._transport.send_raw(
                "POST",
                self._url,
                headers,
                _PREFIX.pack(0, len(payload)) + payload,
                self._limit,
                timeouts,
            )
        except httpx.TimeoutException:
            raise CallFailed("timeout") from None
        except BodyTooLarge:
            raise CallFailed("too_large") from None
        except httpx.NetworkError as exc:  # not connected, or the connection was lost
            raise CallFailed("unavailable", str(exc)) from None
        except httpx.TransportError as exc:
            raise CallFailed("error", str(exc)) from None
        return message_of(status, fields, body)

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(httpx.TransportError):
            await self._transport.aclose()


def message_of(status: int, fields: Sequence[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The one message of a unary answer (``fields``: its headers, then its trailers), or
    CallFailed."""
    if status != 200:
        raise CallFailed(outcome_of_status(_STATUS_OF_HTTP.get(status, 2)), f"HTTP {status}")
    grpc_status = grpc_message = None
    for name, value in fields:
        if name == b"grpc-status":
            grpc_status = value
        elif name == b"grpc-message":
            grpc_message = value
    if grpc_status is None:
        raise CallFailed("error", "no grpc-status")
    if grpc_status != b"0":
        code = int(grpc_status) if grpc_status.isdigit() else 2
        detail = (grpc_message or b"")[:200].decode("utf-8", "replace")
        raise CallFailed(outcome_of_status(code), detail)
    if len(body) < _PREFIX.size:
        raise CallFailed("garbage", "no message")
    compressed, length = _PREFIX.unpack_from(body)
    if compressed:
        raise CallFailed("garbage", "a compressed message (none was accepted)")
    if length != len(body) - _PREFIX.size:
        raise CallFailed("garbage", "not exactly one message")
    return body[_PREFIX.size :]


def channel_for(engine: str, target: str, service: str, max_response_bytes: int) -> UnaryChannel:
    """The channel of ``engine`` (``lean`` or ``grpcio``) to ``service``'s GetMutations."""
    method = f"/{service}/GetMutations"
    if engine == "grpcio":
        return GrpcioChannel(target, method, max_response_bytes)
    if engine == "lean":
        return LeanChannel(target, method, max_response_bytes)
    raise ValueError(f"unknown agent gRPC engine {engine!r} (lean or grpcio)")
