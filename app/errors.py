"""Client errors as short JSON naming the field, and the handlers that render them.

Integrators fix requests by the field named in the error; OpenRTB allows an empty 400, but
an empty 400 helps nobody. Every error a client can cause becomes a 4xx here, never a 5xx.
"""

from typing import Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from openrtb.errors import field_path

JSON: Final = "application/json"


class ClientError(Exception):
    """A request the exchange refuses: status, the field at fault, and why."""

    def __init__(self, status: int, field: str, message: str, nbr: int | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message
        self.nbr = nbr


def error_response(status: int, field: str, message: str, nbr: int | None = None) -> Response:
    """The one error body shape: ``{"error": {"field", "message"[, "nbr"]}}``."""
    error: dict[str, object] = {"field": field, "message": message}
    if nbr is not None:
        error["nbr"] = nbr
    return Response(orjson.dumps({"error": error}), status_code=status, media_type=JSON)


async def _client_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    return error_response(exc.status, exc.field, exc.message, exc.nbr)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    loc = [part for part in first["loc"] if part not in ("query", "header", "path", "body")]
    return error_response(422, field_path(loc) or "request", str(first["msg"]))


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, "request", str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    """Route every client-caused error through ``error_response``."""
    app.add_exception_handler(ClientError, _client_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
