"""The project's in-process DSP router served as an external DSP: ``POST /openrtb2/bid``.

So the exchange can call its own bidding code over the network exactly like a third-party
DSP (and tests and benchmarks get a realistic peer that bids from real campaigns). The
router is ``bidding.router.CampaignRouter`` over an in-memory spend store: this process
bids, it is never charged (notices go to the exchange that runs the auction), so spend
stays at zero and only the campaigns' own rules (sizes, floors, blocks, deals) decide.

Answers: 200 with a BidResponse, 204 for no bid, 400 naming the field for a bad request
(415/413 for a wrong content type or size). Gzip request bodies are accepted; responses
are gzip-compressed when the caller accepts it. Run it with any ASGI server, e.g.
``hypercorn 'app.dsp_app:create_dsp_app()'`` (HTTP/2 with TLS, or h2c).
"""

from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.body import read_body
from app.errors import ClientError, error_response
from bidding.campaigns import ConfigError
from bidding.router import CampaignRouter
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from exchange.bidders.config import load_bidders
from openrtb.codec import decode_request, encode_response
from openrtb.errors import InvalidRequest

__all__ = ["create_dsp_app"]

MAX_BODY_BYTES: Final = 256 * 1024
JSON: Final = "application/json"


def create_dsp_app(
    bidders_file: Path | None = None, router: str | None = None, currency: str = "USD"
) -> Starlette:
    """An OpenRTB endpoint for one router of ``bidders_file`` (the demo routers when None);
    ``router`` names it (the first router when None). ConfigError when there is none."""
    routers = load_bidders(bidders_file).routers
    chosen = [spec for spec in routers if router is None or spec.name == router]
    if not chosen:
        raise ConfigError(f"{bidders_file or 'demo bidders'}: no router named {router!r}")
    store, keys = MemoryStore(), KeySpace("dsp:")
    bidder = CampaignRouter(chosen[0], SpendLedger(store, keys), currency)
    ledger_open: list[bool] = []

    async def bid(request: Request) -> Response:
        if not ledger_open:  # on first use: ASGI test transports run no lifespan
            await open_ledger(store, keys, [c.id for c in bidder.campaigns])
            ledger_open.append(True)
        try:
            bid_request = decode_request(await read_body(request, MAX_BODY_BYTES))
        except ClientError as exc:
            return error_response(exc.status, exc.field, exc.message)
        except InvalidRequest as exc:
            return error_response(400, exc.field, exc.message)
        timeout_s = (bid_request.tmax or 100) / 1000
        answer = await bidder.request_bids(bid_request, timeout_s)
        if answer is None or not answer.seatbid:
            return Response(status_code=204)
        return Response(encode_response(answer), media_type=JSON)

    return Starlette(
        routes=[Route("/openrtb2/bid", bid, methods=["POST"])],
        middleware=[Middleware(GZipMiddleware, minimum_size=512)],
    )
