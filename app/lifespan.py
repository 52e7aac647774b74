"""Startup and shutdown of the HTTP server's one exchange process.

The services are built by the composition root (``exchange.wiring``); this only ties their
start and stop to the ASGI lifespan.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import build_services, start_services, stop_services


@asynccontextmanager
async def lifespan_for(
    settings: Settings, after_start: Callable[[], None] | None = None
) -> AsyncIterator[dict[str, Services]]:
    """Build the Services of one process and tear them down at shutdown; ``after_start``
    runs once everything long-lived exists (``rtb serve`` freezes the heap there)."""
    services = build_services(settings)
    background = await start_services(services)
    if after_start is not None:
        after_start()
    try:
        yield {"services": services}
    finally:
        await stop_services(services, background)
