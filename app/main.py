"""The app factories: ``create_app(settings)`` builds one exchange (tests, embedding);
``serving_app()`` is what ``rtb serve`` has uvicorn call in each worker process, and adds the
process-wide set-up an embedded app must not impose on its host: logging, and a frozen heap.
"""

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline

from app.admission import InFlightLimit
from app.errors import install_error_handlers
from app.http_limits import LIMITS_STATE_KEY, HttpLimits
from app.lifespan import lifespan_for
from app.openapi import add_redoc, build_openapi
from app.rejections import Rejections
from app.request_metrics import RequestMetrics
from app.routes import admin, auction, health, notices, status, tracking
from app.services import services_of
from exchange.log_setup import configure_logging
from exchange.metrics import Metrics
from exchange.settings import Settings

DESCRIPTION = """An OpenRTB 2.6 exchange: SSPs post bid requests to `/openrtb2/auction` and get
the winning bids at their quality-adjusted second-price clearing prices, with signed win and
billing notice URLs that charge the winning campaign exactly once."""


def serving_app() -> FastAPI:
    """``rtb serve``'s factory: settings from the environment, logging configured for the
    process, and the heap frozen once the services are built."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings, after_start=_freeze_heap)


def _freeze_heap() -> None:
    """Move everything built at start-up out of the collector's view: it lives as long as
    the process, so a full collection then scans request garbage only (docs/decisions.md)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None, after_start: Callable[[], None] | None = None
) -> FastAPI:
    """A configured exchange; settings from the environment (``RTB_*``) unless given."""
    settings = settings or Settings()
    requests = RequestMetrics()  # kept by InFlightLimit, reported once the lifespan runs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        async with lifespan_for(settings, after_start) as state:
            metrics = state["services"].metrics
            requests.bind(metrics)
            exchange = state["services"].exchange
            limits = HttpLimits.from_settings(
                settings,
                _refusal_counter(metrics, state["rejections"]),
                _shed_counter(metrics),
                exchange.queue_wait_limit_s(settings.shed_after_ms / 1000),
            )
            metrics.queue_wait_limit.set(limits.busy_queue_wait_s)
            # Read by the server's protocol (app.http_protocol) and by InFlightLimit.
            yield {**state, LIMITS_STATE_KEY: limits}

    # /docs and /redoc from the package's own copies of Swagger UI and ReDoc, never a CDN;
    # no validator badge (it would load from swagger.io).
    app = FastAPIOffline(
        title="RTB exchange",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},
        redoc_url=None,
    )
    add_redoc(app)
    install_error_handlers(app, on_disconnect=_count_disconnect)
    app.add_middleware(
        InFlightLimit,
        max_in_flight=settings.max_in_flight,
        retry_after_s=settings.retry_after_s,
        requests=requests,
    )
    app.router.routes.insert(0, auction.route)
    app.include_router(notices.router)
    app.include_router(tracking.router)
    app.include_router(health.router)
    app.include_router(status.router)
    if settings.admin_token is not None:  # never on by default: no token, no admin routes
        app.include_router(admin.router)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _refusal_counter(metrics: Metrics, rejections: Rejections) -> Callable[[str], None]:
    def refused(reason: str) -> None:
        metrics.http_refused.labels(reason).inc()
        rejections.server_refusal(reason)

    return refused


def _shed_counter(metrics: Metrics) -> Callable[[str], None]:
    def shed(reason: str) -> None:
        metrics.requests.labels("nobid").inc()
        metrics.nobids.labels(reason).inc()

    return shed


def _count_disconnect(request: Request) -> None:
    services_of(request).metrics.client_disconnects.inc()
