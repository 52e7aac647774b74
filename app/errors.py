"""Client errors as short JSON naming the field, and the handlers that render them.

Integrators fix requests by the field named in the error; OpenRTB allows an empty 400, but
an empty 400 helps nobody. Every error a client can cause becomes a 4xx here, never a 5xx.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any, Final, NamedTuple, TypeAlias

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from openrtb.errors import field_path

JSON: Final = "application/json"
CLIENT_CLOSED_REQUEST: Final = 499
"""nginx's status for a client that closed the connection first; never sent to anyone."""

ExceptionHandler: TypeAlias = Callable[[Request, Exception], Awaitable[Response]]


class ClientError(Exception):
    """A request the exchange refuses: status, the field at fault, and why."""

    def __init__(
        self,
        status: int,
        field: str,
        message: str,
        nbr: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message
        self.nbr = nbr
        self.headers = headers
        """Sent with the error (a 401's ``WWW-Authenticate``)."""


def error_body(field: str, message: str, nbr: int | None = None) -> bytes:
    """The one error body shape: ``{"error": {"field", "message"[, "nbr"]}}``; also written
    by the HTTP protocol itself (``app.http_protocol``) for requests the app never sees."""
    error: dict[str, object] = {"field": field, "message": message}
    if nbr is not None:
        error["nbr"] = nbr
    return orjson.dumps({"error": error})


def error_response(
    status: int,
    field: str,
    message: str,
    nbr: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``error_body`` as a response."""
    return Response(
        error_body(field, message, nbr), status_code=status, media_type=JSON, headers=headers
    )


ERROR_SCHEMA_REF: Final = "#/components/schemas/Error"


class ErrorExample(NamedTuple):
    """One way an error status happens, as its body says it: the OpenAPI example and the
    handler's answer are built from the same value, so the documented one is the real one."""

    field: str
    message: str
    nbr: int | None = None


STORE_UNAVAILABLE: Final = ErrorExample("store", "counter store unavailable; retry later")


def documented_error(
    description: str, examples: dict[str, ErrorExample], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The OpenAPI response object of one error status: the Error schema and an example of
    each way it happens, exactly as ``error_body`` writes it."""
    content = {
        "schema": {"$ref": ERROR_SCHEMA_REF},
        "examples": {
            name: {"summary": example.message, "value": orjson.loads(error_body(*example))}
            for name, example in examples.items()
        },
    }
    response: dict[str, Any] = {"description": description, "content": {JSON: content}}
    if headers:
        response["headers"] = headers
    return response


async def _client_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    return error_response(exc.status, exc.field, exc.message, exc.nbr, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    loc = [part for part in first["loc"] if part not in ("query", "header", "path", "body")]
    return error_response(422, field_path(loc) or "request", str(first["msg"]))


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and friends from the router; its headers are kept (a 405 names the methods
    the path takes in ``Allow``, as RFC 9110 requires)."""
    assert isinstance(exc, StarletteHTTPException)
    headers = exc.headers
    if exc.status_code == 405 and (allowed := _documented_methods(request)):
        headers = {**(headers or {}), "Allow": allowed}
    return error_response(exc.status_code, "request", str(exc.detail), headers=headers)


def _documented_methods(request: Request) -> str | None:
    """The methods the app's OpenAPI document gives the request's path: Starlette's 405
    names only the first matching route's, and a path may have one route per method (a
    campaign's ``GET`` and ``PATCH``). None for a path the document leaves out."""
    openapi = getattr(request.app, "openapi", None)
    if openapi is None:
        return None
    path = request.scope.get("path", "")
    methods = [
        method.upper()
        for template, operations in openapi().get("paths", {}).items()
        if _template(template).fullmatch(path)
        for method in operations
    ]
    return ", ".join(dict.fromkeys(methods)) or None


@cache
def _template(path: str) -> re.Pattern[str]:
    """A documented path (``/admin/campaigns/{campaign_id}``) as a pattern of the paths it
    stands for (one segment per parameter)."""
    parts = re.split(r"(\{[^}/]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _client_gone(on_disconnect: Callable[[Request], None]) -> ExceptionHandler:
    async def handler(request: Request, exc: Exception) -> Response:
        """Nobody will read this answer (the server drops it): the disconnect is counted,
        not logged as an error with a traceback."""
        assert isinstance(exc, ClientDisconnect)
        on_disconnect(request)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    return handler


def install_error_handlers(
    app: FastAPI, on_disconnect: Callable[[Request], None] | None = None
) -> None:
    """Route every client-caused error through ``error_response``; a client that went away
    before its body was read (``ClientDisconnect``) ends quietly, told to ``on_disconnect``."""
    app.add_exception_handler(ClientError, _client_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone(on_disconnect or _ignore))


def _ignore(_: Request) -> None:
    return
