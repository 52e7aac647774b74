"""At most ``max_in_flight`` requests handled at once: beyond, 503 with ``Retry-After``.

An exchange past its capacity would answer after the SSP's ``tmax`` anyway; refusing at
once costs both sides less than queueing into timeouts. uvicorn's own ``limit_concurrency``
(``RTB_MAX_CONNECTIONS``) stays above this as the hard backstop; its 503 says nothing
about when to come back. A pure ASGI middleware: a ``BaseHTTPMiddleware`` would add a task
and a stream per request on the hot path.
"""

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import JSON, error_body
from app.http_limits import limits_in

ALWAYS_ADMITTED: Final = frozenset(
    {"/healthz", "/metrics", "/notices/win", "/notices/billing", "/track/click"}
)
"""Answered under overload too. Liveness and metrics: an orchestrator must not restart a
process for being busy, and the operator wants to see why. Win and billing notices and
click redirects: they come from pixels and browsers that do not retry — refusing one loses
a charge or a visitor — and each costs one store call (a forged token: none). uvicorn's
connection backstop still bounds them."""


class InFlightLimit:
    """Counts the HTTP requests being handled; refuses new ones past the limit."""

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_s: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        body = error_body(
            "server", f"over {max_in_flight} requests in flight; retry in {retry_after_s} s"
        )
        self._start: Final[Message] = {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after_s).encode()),
            ],
        }
        self._body: Final[Message] = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight and scope["path"] not in ALWAYS_ADMITTED:
            limits_in(scope.get("state", {})).refused("overloaded")
            await send(self._start)
            await send(self._body)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
