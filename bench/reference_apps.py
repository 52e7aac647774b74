"""The two reference endpoints the exchange is measured against (uvicorn factories).

Same framework, same route, same server settings as the exchange, so the differences in the
serving table are the exchange's own work: ``bare_app`` is the cost of FastAPI and reading
the body; ``parse_only_app`` adds parsing and validating the request exactly as the exchange
does (``decode_request`` + ``validate_request``); the exchange adds the auction.
"""

from fastapi import FastAPI, Request
from starlette.responses import Response

from bench.payloads import AUCTION_PATH
from openrtb.codec import decode_request
from openrtb.errors import InvalidRequest
from openrtb.validate import validate_request

__all__ = ["bare_app", "parse_only_app"]


def bare_app() -> FastAPI:
    """Reads the body and answers 204: the floor under any FastAPI endpoint."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post(AUCTION_PATH, response_class=Response)
    async def auction(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    return app


def parse_only_app() -> FastAPI:
    """Reads, decodes and validates the body like the exchange, then answers 204 (400 if
    invalid, so a payload the exchange would refuse shows up as non-2xx)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post(AUCTION_PATH, response_class=Response)
    async def auction(request: Request) -> Response:
        body = await request.body()
        try:
            validate_request(decode_request(body))
        except InvalidRequest:
            return Response(status_code=400)
        return Response(status_code=204)

    return app
