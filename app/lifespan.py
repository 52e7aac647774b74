"""Startup and shutdown of the HTTP server's one exchange process.

The services are built by the composition root (``exchange.wiring``); this ties their
start and stop to the ASGI lifespan, with what only a served process has: the event-loop
lag monitor (``app.loop_lag``), the rejection logs (``app.rejections``) and the one
``exchange_started`` line (``app.startup``).
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypedDict

import structlog

from app.loop_lag import LoopLagMonitor
from app.rejections import Rejections
from app.startup import OPEN_WARNING, startup_fields
from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import build_services, start_services, stop_services

log = structlog.get_logger("app.lifespan")


class ServingState(TypedDict):
    """The lifespan state every request sees (``request.state``)."""

    services: Services
    rejections: Rejections  # REJECTIONS_STATE_KEY


@asynccontextmanager
async def lifespan_for(
    settings: Settings, after_start: Callable[[], None] | None = None
) -> AsyncIterator[ServingState]:
    """Build the Services of one process and tear them down at shutdown; ``after_start``
    runs once everything long-lived exists (``rtb serve`` freezes the heap there). The
    state holds ``services`` and the app's ``Rejections``."""
    services = build_services(settings)
    background = await start_services(services, announce=False)
    monitor = LoopLagMonitor(services.metrics)
    monitor.start()
    if after_start is not None:
        after_start()
    log.info("exchange_started", **startup_fields(services))
    if services.gate.mode == "open":
        log.warning("auth_open", message=OPEN_WARNING)
    try:
        yield {"services": services, "rejections": Rejections(services.metrics)}
    finally:
        await monitor.aclose()
        await stop_services(services, background)
