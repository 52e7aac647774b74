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

import structlog
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.errors import error_response
from app.rejections import notice_reason, rejections_of
from app.services import Services, services_of
from budget.store import StoreUnavailable
from exchange.notice_spool import SpoolFull
from exchange.notice_token import InvalidNotice, NoticeKind

router = APIRouter(tags=["notices"])
log = structlog.get_logger("exchange.notices")


async def _notice(request: Request, kind: NoticeKind, token: str | None) -> Response:
    services = services_of(request)
    if not token:
        services.metrics.notices.labels(kind.value, "rejected").inc()
        rejections_of(request).notice(kind.value, 400, "missing")
        return error_response(400, "t", "notice token is required")
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
    return error_response(503, "store", "counter store unavailable; retry later")


_TOKEN = Query(default=None, description="The signed token the exchange put in the URL.")


@router.get("/notices/win", status_code=204, summary="Win notice (the bid's nurl)")
async def win_notice(request: Request, t: str | None = _TOKEN) -> Response:
    """Record the win; charges the impression if no billing notice did already."""
    return await _notice(request, NoticeKind.WIN, t)


@router.get("/notices/billing", status_code=204, summary="Billing notice (the bid's burl)")
async def billing_notice(request: Request, t: str | None = _TOKEN) -> Response:
    """Record the billable event and charge the impression exactly once."""
    return await _notice(request, NoticeKind.BILLING, t)
