"""``GET /notices/win`` and ``GET /notices/billing``: the URLs the exchange put in its bids.

204 on success, whether first or replayed (``x-notice-result`` says which); 403 for a
token that is forged, expired or for the other endpoint (each refusal also a sampled
``notice_rejected`` log line, ``app.rejections``). While the store cannot settle it
(down, or its ledger lost), a valid notice is kept in the spool and answered 202 with
``x-notice-result: queued``: it is settled once the store is back (``exchange.notice_spool``).
Only when the spool cannot keep it either is the answer 503 (retry; settling is
idempotent).
"""

import time
from typing import Any, Final

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.errors import STORE_UNAVAILABLE, ErrorExample, documented_error, error_response
from app.rejections import notice_reason, rejections_of
from app.services import Services, services_of
from budget.store import StoreUnavailable
from exchange.notice_spool import SpoolFull
from exchange.notice_token import InvalidNotice, NoticeKind
from exchange.notices import NoticeResult

router = APIRouter(tags=["notices"])
log = structlog.get_logger("exchange.notices")


async def _notice(request: Request, kind: NoticeKind, token: str | None) -> Response:
    services = services_of(request)
    if not token:
        services.metrics.notices.labels(kind.value, "rejected").inc()
        rejections_of(request).notice(kind.value, 400, "missing")
        return error_response(400, *_NO_TOKEN)
    try:
        claim = services.notices.verify(kind, token)
    except InvalidNotice as exc:
        services.metrics.notices.labels(kind.value, "rejected").inc()
        rejections_of(request).notice(kind.value, 403, notice_reason(exc))
        return error_response(403, "t", str(exc))
    try:
        outcome = await services.notices.handle(claim)
    except StoreUnavailable:
        return await _spool(services, kind, token)
    return Response(status_code=204, headers={"x-notice-result": outcome.result.value})


async def _spool(services: Services, kind: NoticeKind, token: str) -> Response:
    if services.spool is not None:
        try:
            await services.spool.append(kind, token, time.time())
        except SpoolFull as exc:
            log.error("notice_not_kept", kind=kind.value, error=str(exc))
        else:
            services.metrics.notices.labels(kind.value, "queued").inc()
            return Response(status_code=202, headers={"x-notice-result": "queued"})
    services.metrics.notices.labels(kind.value, "unavailable").inc()
    return error_response(503, *STORE_UNAVAILABLE)


_NO_TOKEN: Final = ErrorExample("t", "notice token is required")


def token_parameter(description: str) -> dict[str, Any]:
    """The ``t`` query parameter, documented by hand: the handler reads it itself so that a
    missing one is the 400 naming ``t`` (a FastAPI parameter would make it a 422)."""
    return {
        "name": "t",
        "in": "query",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _result_header(*results: str) -> dict[str, Any]:
    return {
        "x-notice-result": {
            "description": "What the notice did.",
            "required": True,
            "schema": {"type": "string", "enum": list(results)},
        }
    }


FORGED_TOKEN: Final = {
    "bad_signature": ErrorExample("t", "bad signature"),
    "malformed": ErrorExample("t", "malformed token"),
    "expired": ErrorExample("t", "expired"),
}
_NOTICE_DOC: Final[dict[str, Any]] = {
    "status_code": 204,
    "response_class": Response,
    "openapi_extra": {
        "parameters": [token_parameter("The signed token the exchange put in the URL.")]
    },
    "responses": {
        204: {
            "description": "Recorded, or a replay of a recorded notice (charged once).",
            "headers": _result_header(NoticeResult.RECORDED, NoticeResult.DUPLICATE),
        },
        202: {
            "description": "The store is down: the notice is kept and settled once it is back.",
            "headers": _result_header("queued"),
        },
        400: documented_error("No token.", {"missing": _NO_TOKEN}),
        403: documented_error(
            "The token is forged, tampered with, expired or for another endpoint.", FORGED_TOKEN
        ),
        503: documented_error(
            "The store is down and the spool full: retry (settling is idempotent).",
            {"store_down": STORE_UNAVAILABLE},
        ),
    },
}


@router.get("/notices/win", summary="Win notice (the bid's nurl)", **_NOTICE_DOC)
async def win_notice(request: Request) -> Response:
    """Record the win; charges the impression if no billing notice did already."""
    return await _notice(request, NoticeKind.WIN, request.query_params.get("t"))


@router.get("/notices/billing", summary="Billing notice (the bid's burl)", **_NOTICE_DOC)
async def billing_notice(request: Request) -> Response:
    """Record the billable event and charge the impression exactly once."""
    return await _notice(request, NoticeKind.BILLING, request.query_params.get("t"))
