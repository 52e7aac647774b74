"""One sampled log line per refused request and per refused notice, with the reason.

``request_rejected``: a request the exchange refused for what it is — a bid request or a
postback whose body or a field is invalid (400, 413, 415), or one the server cut off (431,
408, a malformed request, 503 overloaded) — with ``route``, ``status``, ``reason`` and the
``field`` at fault. ``notice_rejected``: a win, billing or click notice refused (no token,
forged, tampered, expired, for the other endpoint) or a conversion postback refused (forged
click id or signature, over its cap, out of its window, over its count), with ``kind`` and
``reason``. A replayed notice is not a rejection: it is answered 204 like the first one, as
pixels and browsers retry. Neither line carries the body, a token, an IP or a user agent:
only the names of what was wrong.

Both are sampled per route or kind and reason (``app.log_sampling``), so that a flood of
bad requests costs a counter increment each, not a log write.
"""

from typing import Final

from starlette.requests import Request

from app.log_sampling import SampledLog, sampled
from app.request_metrics import UNMATCHED
from exchange.metrics import Metrics
from exchange.notice_token import InvalidNotice

REJECTIONS_STATE_KEY: Final = "rejections"
LINES_PER_SECOND: Final = 10
"""Per route (or notice kind) and reason; the rest are counted, and the count logged."""

_REASON_BY_STATUS: Final = {
    400: "invalid",
    408: "timeout",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    431: "headers_too_large",
    503: "overloaded",
}
_SERVER_REFUSALS: Final = {
    "header_too_large": (431, "headers"),
    "too_many_headers": (431, "headers"),
    "header_timeout": (408, "headers"),
    "body_timeout": (408, "body"),
    "overloaded": (503, "server"),
}
"""The status and field of each refusal by the server (``app.http_protocol``,
``app.admission``); (400, "request") for the others: malformed HTTP, a connection cut for
sending on after its answer (``drain_exceeded``)."""
_NOTICE_REASONS: Final = (
    ("malformed", "malformed"),
    ("undecodable", "malformed"),
    ("bad signature", "bad_signature"),
    ("expired", "expired"),
    ("token is for a", "wrong_kind"),
    ("unsupported", "unsupported_version"),
    ("token has no click redirect", "no_redirect"),
    ("not a click id", "forged"),
)


def notice_reason(exc: InvalidNotice) -> str:
    """A short, bounded name for why a token was refused."""
    message = str(exc)
    for prefix, reason in _NOTICE_REASONS:
        if message.startswith(prefix):
            return reason
    return "invalid"


class Rejections:
    """The two sampled logs of one app."""

    def __init__(self, metrics: Metrics | None = None, per_second: int = LINES_PER_SECOND) -> None:
        def suppressed(event: str) -> None:
            if metrics is not None:
                metrics.child(metrics.log_suppressed, event).inc()

        self._requests: SampledLog = sampled("app.rejections", per_second, suppressed)
        self._notices: SampledLog = sampled("app.rejections", per_second, suppressed)

    def request(self, route: str, status: int, field: str, reason: str | None = None) -> None:
        """A refused request; ``reason`` defaults to the status's name."""
        why = reason or _REASON_BY_STATUS.get(status, str(status))
        self._requests.write(
            f"{route}|{why}",
            "request_rejected",
            "info",
            route=route,
            status=status,
            reason=why,
            field=field,
        )

    def server_refusal(self, reason: str) -> None:
        """A request the server refused before any route saw it (``rtb_http_refused_total``
        counts them by the same reason)."""
        status, field = _SERVER_REFUSALS.get(reason, (400, "request"))
        self.request(UNMATCHED, status, field, reason)

    def notice(self, kind: str, status: int, reason: str, field: str = "t") -> None:
        """A refused notice, click or conversion postback."""
        self._notices.write(
            f"{kind}|{reason}",
            "notice_rejected",
            "info",
            kind=kind,
            status=status,
            reason=reason,
            field=field,
        )


_UNBOUND: Final = Rejections()
"""For an app served without its lifespan (lines are still sampled, not counted)."""


def rejections_of(request: Request) -> Rejections:
    """The app's rejection logs, as its lifespan put them into the request's state."""
    found = request.scope.get("state", {}).get(REJECTIONS_STATE_KEY)
    return found if isinstance(found, Rejections) else _UNBOUND
