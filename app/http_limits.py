"""The server's limits as the HTTP layer sees them, and how ``rtb serve`` hands them to uvicorn.

uvicorn has options for two of them (the keep-alive timeout and its hard concurrency limit,
``limit_concurrency``); the others are enforced by ``app.http_protocol`` while it parses.
uvicorn builds that protocol itself, once per connection, passing it only its config and
the lifespan state, so the app's lifespan puts an ``HttpLimits`` into the state under
``LIMITS_STATE_KEY``: one settings source, also with several worker processes (each builds
its own app from the environment).
"""

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from exchange.settings import Settings

LIMITS_STATE_KEY: Final = "http_limits"
ARRIVED_KEY: Final = "rtb.arrived_at"
"""Scope extension: monotonic time the request's first bytes were read (by the protocol)."""
PROTOCOL: Final = "app.http_protocol:BoundedHttpToolsProtocol"
"""uvicorn's ``http`` option: an import path, so that worker processes import it too."""


def _uncounted(_: str) -> None:
    return


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one connection may cost before the protocol cuts it off (see Settings)."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float
    drain_max_bytes: int
    drain_timeout_s: float
    refused: Callable[[str], None] = _uncounted
    """Counts a refusal by reason (``rtb_http_refused_total``)."""
    shed: Callable[[str], None] = _uncounted
    """Counts an auction answered 204 unheard by reason (``rtb_nobids_total``)."""
    queue_wait_s: float = 0.0
    """A bid request that waited longer for its handler is answered 204 unheard (0: never):
    ``RTB_SHED_AFTER_MS``."""
    busy_queue_wait_s: float = 0.0
    """The same while other requests are in flight: shorter when the exchange calls
    external bidders (``Exchange.queue_wait_limit_s``). With none in flight the loop is not
    behind on auctions, and a long wait came from a pause that the turns to come need not
    repeat."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        refused: Callable[[str], None] = _uncounted,
        shed: Callable[[str], None] = _uncounted,
        busy_queue_wait_s: float | None = None,
    ) -> "HttpLimits":
        queue_wait_s = settings.shed_after_ms / 1000
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            drain_max_bytes=settings.drain_max_bytes,
            drain_timeout_s=settings.drain_timeout_s,
            refused=refused,
            shed=shed,
            queue_wait_s=queue_wait_s,
            busy_queue_wait_s=queue_wait_s if busy_queue_wait_s is None else busy_queue_wait_s,
        )


DEFAULT_LIMITS: Final = HttpLimits.from_settings(Settings.model_construct())
"""The settings' defaults, for an app whose lifespan provides none (never read from the
environment here)."""


def limits_in(state: Mapping[str, object]) -> HttpLimits:
    """The limits the app's lifespan put into ``state``; the defaults when it put none."""
    found = state.get(LIMITS_STATE_KEY)
    return found if isinstance(found, HttpLimits) else DEFAULT_LIMITS


def stamp_arrival(scope: MutableMapping[str, Any], arrived_at: float) -> None:
    """Record in ``scope`` when the request began to arrive."""
    extensions = scope.get("extensions")
    if extensions is None:
        extensions = scope["extensions"] = {}
    extensions[ARRIVED_KEY] = arrived_at


def arrived_at(scope: Mapping[str, Any]) -> float | None:
    """When the request began to arrive (None: served by a protocol that does not say)."""
    extensions = scope.get("extensions")
    value = extensions.get(ARRIVED_KEY) if extensions else None
    return value if isinstance(value, float) else None


def server_options(settings: Settings) -> dict[str, Any]:
    """``uvicorn.Config`` keywords of the exchange's server: what ``rtb serve`` runs, and
    what the tests serve the exchange with."""
    return {
        "loop": "uvloop",
        "http": PROTOCOL,
        "ws": "none",  # no websocket routes: no upgrade path to defend
        "access_log": False,
        "log_level": "warning",
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "timeout_graceful_shutdown": 10,
        # The client address a proxy names counts for the address rate limit (exchange.gate).
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
