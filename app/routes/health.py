"""Liveness, readiness and Prometheus metrics."""

from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from app.errors import JSON
from app.services import services_of
from budget.ledger_watch import LedgerState

router = APIRouter(tags=["operations"])

_HEALTHZ_DOC: Final[dict[str, Any]] = {
    "response_class": Response,
    "responses": {
        200: {
            "description": "Alive.",
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {"status": {"const": "ok"}},
                        "required": ["status"],
                    },
                    "example": {"status": "ok"},
                }
            },
        }
    },
}
_READINESS: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "status": {"enum": ["ready", "degraded"]},
        "store": {"type": "boolean"},
        "store_circuit": {"type": "string"},
        "bidders": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "ledger": {
            "type": "object",
            "properties": {"state": {"type": "string"}, "reason": {"type": "string"}},
        },
        "models": {"type": "object"},
        "canary": {
            "type": "object",
            "description": "The canary rollout (RTB_CANARY_FILE): state active, "
            "rolled_back or refused, why, and each arm's guard counts.",
        },
        "agents": {
            "type": "object",
            "description": "Each ARTF agent (RTB_AGENTS_FILE) and its circuit breaker: closed, "
            "half_open or open (an open one is not called; the auction goes on without it).",
            "additionalProperties": {"enum": ["closed", "half_open", "open"]},
        },
    },
    "required": ["status", "store", "store_circuit", "bidders"],
}
_READY_EXAMPLE: Final = {
    "status": "ready",
    "store": True,
    "store_circuit": "closed",
    "bidders": {"house": True},
    "ledger": {"state": "ready", "reason": ""},
    "models": {
        "degraded": False,
        "problems": [],
        "last_reload_error": None,
        "path": "compiled",
        "paths": {"ctr": "compiled", "cvr": "compiled"},
        "path_problems": [],
    },
}
_NOT_READY_EXAMPLE: Final = {
    "status": "degraded",
    "store": False,
    "store_circuit": "open",
    "bidders": {"house": True},
}
_READYZ_DOC: Final[dict[str, Any]] = {
    "response_class": Response,
    "responses": {
        200: {
            "description": "Ready (`status: degraded` while the routers bid without models).",
            "content": {JSON: {"schema": _READINESS, "example": _READY_EXAMPLE}},
        },
        503: {
            "description": "Not ready: take this process out of rotation. (Also the answer "
            "of an overloaded process, with `Retry-After`.)",
            "content": {JSON: {"schema": _READINESS, "example": _NOT_READY_EXAMPLE}},
        },
    },
}
_METRICS_DOC: Final[dict[str, Any]] = {
    "response_class": Response,
    "responses": {
        200: {
            "description": "Prometheus text exposition format.",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "# HELP rtb_auction_requests_total Bid requests by outcome "
                    "(bid, nobid, invalid, refused, error).\n"
                    "# TYPE rtb_auction_requests_total counter\n"
                    'rtb_auction_requests_total{outcome="bid"} 1.0\n',
                }
            },
        }
    },
}


@router.get("/healthz", summary="The process is alive", **_HEALTHZ_DOC)
async def healthz() -> Response:
    """Always 200 while the event loop runs."""
    return Response(b'{"status":"ok"}', media_type=JSON)


@router.get("/readyz", summary="The store and the bidders are ready", **_READYZ_DOC)
async def readyz(request: Request) -> Response:
    """503 when the counter store does not answer, its ledger is lost or missing
    (``ledger.reason`` says which and what to run), or a bidder is not ready (take this
    process out of rotation); 200 otherwise, with ``status: degraded`` while the routers
    bid on historical averages because their models are missing or refused.
    ``models.path`` names the code that scores them (``compiled``, ``xgboost-c`` or
    ``xgboost``: the slowest of the two models; ``rules`` without any), ``models.paths``
    each model's, and ``models.path_problems`` why a model is not compiled; ``canary`` the
    canary rollout's state (``exchange.canary_watch``); ``agents`` each ARTF agent's
    circuit breaker (agents are optional: one that is down is not unreadiness)."""
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
    if services.canary is not None:  # a rolled-back canary is news, not unreadiness
        body["canary"] = services.canary.canary.status()
    if services.agents is not None:
        body["agents"] = {
            name: client.breaker.state.value for name, client in services.agents.clients.items()
        }
    return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type=JSON)


@router.get("/metrics", summary="Prometheus metrics", **_METRICS_DOC)
async def metrics(request: Request) -> Response:
    """The text exposition format of this process's registry."""
    services = services_of(request)
    if services.models is not None:  # the live pair's paths, as of this scrape
        gauge = services.metrics.model_scoring_path
        gauge.clear()
        for kind, path in services.models.current.paths.items():
            gauge.labels(kind, path).set(1)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
