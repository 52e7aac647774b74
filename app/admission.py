"""At most ``max_in_flight`` requests handled at once: beyond, 503 with ``Retry-After`` —
and for a bid request, the no-bid an SSP expects: 204, at once.

An exchange past its capacity would answer after the SSP's ``tmax`` anyway; refusing at
once costs both sides less than queueing into timeouts. A bid request that waited longer
than the limits' ``queue_wait_s`` (``busy_queue_wait_s`` while others are in flight)
between its first bytes and the moment the exchange could start on it is answered 204 the
same way: the loop is behind, and the unparsed request costs a few
microseconds to refuse against the hundreds an auction costs, so under overload the work
goes to requests that can still be answered within their ``tmax``. A shed request's body
is read and discarded, so its keep-alive connection stays open. uvicorn's own ``limit_concurrency``
(``RTB_MAX_CONNECTIONS``) stays above this as the hard backstop; its 503 says nothing
about when to come back. A pure ASGI middleware: a ``BaseHTTPMiddleware`` would add a task
and a stream per request on the hot path.

As it wraps every request, it also times each one for ``rtb_http_request_duration_seconds``:
from the first bytes the protocol read (``app.http_limits.arrived_at``) to the return of the
app's last ``send`` — one clock read and one histogram observation a request — and keeps the
in-flight count ``rtb_http_requests_in_flight`` reads (``app.request_metrics``).
"""

import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import JSON, error_body
from app.http_limits import HttpLimits, arrived_at, limits_in
from app.request_metrics import RequestMetrics
from app.routes.auction import AUCTION_PATH, OPENRTB_VERSION
from exchange.results import NoBid

_NO_BID_START: Final[Message] = {
    "type": "http.response.start",
    "status": 204,
    "headers": [(b"x-openrtb-version", OPENRTB_VERSION.encode())],
}
_EMPTY: Final[Message] = {"type": "http.response.body", "body": b""}

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

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        retry_after_s: int,
        requests: RequestMetrics | None = None,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.requests = requests if requests is not None else RequestMetrics()
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

    @property
    def in_flight(self) -> int:
        """Requests inside the app now."""
        return self.requests.in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = arrived_at(scope)
        started = arrived if arrived is not None else time.monotonic()
        requests = self.requests
        path = scope["path"]
        if path == AUCTION_PATH:
            limits = limits_in(scope.get("state", {}))
            reason = self._shed(scope, limits)
            if reason is not None:
                limits.shed(reason.value)
                await _discard_body(receive)
                await send(_NO_BID_START)
                await send(_EMPTY)
                requests.observe(scope, 204, time.monotonic() - started)
                return
        elif requests.in_flight >= self.max_in_flight and path not in ALWAYS_ADMITTED:
            limits_in(scope.get("state", {})).refused("overloaded")
            await send(self._start)
            await send(self._body)
            requests.observe(scope, 503, time.monotonic() - started)
            return
        status = 500  # what the server answers when the app fails before starting a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        requests.in_flight += 1
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            requests.in_flight -= 1
            requests.observe(scope, status, time.monotonic() - started)

    def _shed(self, scope: Scope, limits: HttpLimits) -> NoBid | None:
        """Why a bid request is answered unheard, if it is."""
        in_flight = self.requests.in_flight
        if in_flight >= self.max_in_flight:
            return NoBid.OVERLOADED
        queue_wait_s = limits.busy_queue_wait_s if in_flight else limits.queue_wait_s
        if queue_wait_s > 0:
            arrived = arrived_at(scope)
            if arrived is not None and time.monotonic() - arrived > queue_wait_s:
                return NoBid.QUEUED_TOO_LONG
        return None


async def _discard_body(receive: Receive) -> None:
    """Read the request body to its end (within the server's body limits), unparsed."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
