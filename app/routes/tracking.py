"""Click and conversion tracking for the in-process campaigns' ads.

``GET /track/click?t=…`` — the ``${RTB_CLICK_URL}`` the exchange put into the markup: the
token is verified (403 otherwise), the first click of an impression is recorded as an event
and counted for its creative's Thompson-sampling statistics (later ones only redirect), and
the browser goes on to the landing page with
``rtb_click=<impression id>&rtb_sig=<tag>`` appended, which the advertiser keeps.

``POST /track/conversion`` — the advertiser's postback: ``{"click", "sig", "conversion_id",
"value", "currency"}``; a forged click id is 403, a conversion id seen before for that click
changes nothing (``"duplicate"``), bad input is 400 naming the field.
"""

from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

import orjson
import structlog
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import RedirectResponse, Response

from app.body import read_body
from app.errors import JSON, error_response
from app.notice_token import InvalidNotice, NoticeClaim, NoticeKind
from app.services import Services, services_of
from budget.store import StoreUnavailable
from openrtb.currencies import is_iso4217
from openrtb.errors import field_path
from openrtb.money import cpm_to_micros

router = APIRouter(tags=["tracking"])
log = structlog.get_logger("app.tracking")
_DEDUPE_TTL_S = 30 * 24 * 3600
"""Conversions arrive days after clicks; their ids are remembered for a month."""


@router.get("/track/click", summary="Click redirect (the markup's ${RTB_CLICK_URL})")
async def click(
    request: Request, t: str | None = Query(default=None, description="Signed click token.")
) -> Response:
    """302 to the landing page; the first click of an impression is recorded."""
    services = services_of(request)
    if not t:
        return error_response(400, "t", "click token is required")
    try:
        claim = services.notices.verify(NoticeKind.CLICK, t)
    except InvalidNotice as exc:
        return error_response(403, "t", str(exc))
    impression = claim.impression_id
    try:
        first = await services.store.claim(
            services.notices.keys.notice("click", impression), _DEDUPE_TTL_S
        )
    except StoreUnavailable:
        first = False  # the visitor still gets the landing page; the click goes uncounted
    if first:
        services.events.emit(
            "click",
            auction_id=claim.auction_id,
            imp_id=claim.imp_id,
            bid_id=claim.bid_id,
            bidder=claim.bidder,
            campaign_id=claim.campaign_id,
            creative_id=claim.ad_id,
        )
        await _count_for_creative(services, claim)
    landing = claim.forward_url or ""
    if not landing:
        return Response(status_code=204)
    joiner = "&" if "?" in landing else "?"
    tail = urlencode({"rtb_click": impression, "rtb_sig": services.notices.signer.tag(impression)})
    return RedirectResponse(f"{landing}{joiner}{tail}", status_code=302)


async def _count_for_creative(services: Services, claim: NoticeClaim) -> None:
    """Count a first click for its creative's CTR statistics: billable impressions of
    in-process campaigns only (as their impressions are counted); a store failure loses
    this one count, never the visitor's redirect."""
    engagement = services.engagement
    if engagement is None or not claim.billable or not claim.ad_id:
        return
    if services.registry.campaign(claim.bidder, claim.campaign_id) is None:
        return
    try:
        await engagement.record_click(claim.campaign_id, claim.ad_id)
    except StoreUnavailable as exc:
        log.warning("creative_click_uncounted", campaign_id=claim.campaign_id, error=str(exc))


class Conversion(BaseModel):
    """An advertiser's conversion postback."""

    model_config = ConfigDict(extra="forbid", strict=True)

    click: Annotated[str, Field(min_length=1, max_length=200)]
    sig: Annotated[str, Field(min_length=1, max_length=64)]
    conversion_id: Annotated[str, Field(min_length=1, max_length=200)]
    value: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = 0.0
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "USD"


@router.post("/track/conversion", summary="Conversion postback from an advertiser")
async def conversion(request: Request) -> Response:
    """200 with ``{"result": "recorded" | "duplicate"}``; 400 naming the field; 403 forged."""
    services = services_of(request)
    try:
        body = Conversion.model_validate(
            orjson.loads(await read_body(request, services.settings.max_body_bytes))
        )
    except orjson.JSONDecodeError as exc:
        return error_response(400, "body", f"invalid JSON: {exc}")
    except ValidationError as exc:
        error = exc.errors()[0]
        return error_response(400, field_path(error["loc"]) or "body", str(error["msg"]))
    if not is_iso4217(body.currency):
        return error_response(400, "currency", f'not an ISO-4217 currency code: "{body.currency}"')
    if not services.notices.signer.check_tag(body.click, body.sig):
        return error_response(403, "sig", "not a click id this exchange issued")
    try:
        first = await services.store.claim(
            services.notices.keys.notice("conversion", f"{body.click}:{body.conversion_id}"),
            _DEDUPE_TTL_S,
        )
    except StoreUnavailable:
        return error_response(503, "store", "counter store unavailable; retry later")
    if first:
        services.events.emit(
            "conversion",
            click=body.click,
            conversion_id=body.conversion_id,
            value_micros=cpm_to_micros(Decimal(str(body.value))),
            currency=body.currency,
        )
    result = "recorded" if first else "duplicate"
    return Response(orjson.dumps({"result": result}), media_type=JSON)
