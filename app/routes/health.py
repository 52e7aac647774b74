"""Liveness, readiness and Prometheus metrics."""

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from app.errors import JSON
from app.services import services_of
from budget.ledger_watch import LedgerState

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Response:
    """Always 200 while the event loop runs."""
    return Response(b'{"status":"ok"}', media_type=JSON)


@router.get("/readyz", summary="The store and the bidders are ready")
async def readyz(request: Request) -> Response:
    """503 when the counter store does not answer, its ledger is lost or missing
    (``ledger.reason`` says which and what to run), or a bidder is not ready (take this
    process out of rotation); 200 otherwise, with ``status: degraded`` while the routers
    bid on historical averages because their models are missing or refused.
    ``models.path`` names the code that scores them (``compiled``, ``xgboost-c`` or
    ``xgboost``: the slowest of the two models; ``rules`` without any), ``models.paths``
    each model's, and ``models.path_problems`` why a model is not compiled."""
    services = services_of(request)
    store_ok = await services.store.ping()
    bidders = {name: b.ready() for name, b in services.registry.bidders.items()}
    ledger = services.ledger.status if services.ledger is not None else None
    ledger_ok = ledger is None or ledger.state is LedgerState.READY
    ready = store_ok and ledger_ok and all(bidders.values())
    holder = services.models
    models_degraded = holder is not None and holder.degraded
    body: dict[str, object] = {
        "status": "ready" if ready and not models_degraded else "degraded",
        "store": store_ok,
        "store_circuit": services.store.breaker.state.value,
        "bidders": bidders,
    }
    if ledger is not None:
        body["ledger"] = {"state": ledger.state.value, "reason": ledger.reason}
    if holder is not None:
        models = holder.current
        body["models"] = {
            "degraded": models_degraded,
            "problems": list(models.problems),
            "last_reload_error": holder.last_error,
            "path": holder.scoring_path,
            "paths": models.paths,
            "path_problems": list(models.path_problems),
        }
    return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type=JSON)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    """The text exposition format of this process's registry."""
    services = services_of(request)
    if services.models is not None:  # the live pair's paths, as of this scrape
        gauge = services.metrics.model_scoring_path
        gauge.clear()
        for kind, path in services.models.current.paths.items():
            gauge.labels(kind, path).set(1)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
