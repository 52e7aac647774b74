"""Reading a POST body safely: content type, size limit, gzip. Every POST route reads its
body here (the auction, the conversion postback, the demo DSP), never with ``request.body()``.

The limit is enforced three times, each cheap: the declared Content-Length, the bytes
actually streamed (a chunked body has no length), and the decompressed size (a small gzip
body can inflate to gigabytes). Nothing is buffered beyond the limit. A client that
disconnects mid-body raises starlette's ``ClientDisconnect``, which ``app.errors`` ends
quietly.
"""

import zlib
from typing import Final

from starlette.requests import Request

from app.errors import ClientError

_GZIP_WINDOW: Final = 16 + zlib.MAX_WBITS


def check_content_type(content_type: str | None) -> None:
    """JSON (``application/json`` or ``+json``, any charset) or no type at all; 415 otherwise."""
    if content_type is None:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    raise ClientError(415, "content-type", f"expected application/json, got {media_type!r}")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decoded from gzip if so declared; 413/400/415 on bad input."""
    check_content_type(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ClientError(400, "content-length", "must be a non-negative integer")
        if int(declared) > limit:
            raise ClientError(413, "body", f"larger than {limit} bytes")
        body = await request.body()  # the server stops at the declared length
    else:
        body = await _read_chunked(request, limit)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return gunzip(body, limit)
    if encoding not in ("identity", ""):
        raise ClientError(415, "content-encoding", f"unsupported {encoding!r}; use gzip")
    return body


async def _read_chunked(request: Request, limit: int) -> bytes:
    """A body without a declared length, refused as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ClientError(413, "body", f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body to at most ``limit`` bytes; 413 beyond, 400 if corrupt."""
    inflater = zlib.decompressobj(_GZIP_WINDOW)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ClientError(400, "body", f"invalid gzip data: {exc}") from exc
    if len(data) > limit:
        raise ClientError(413, "body", f"larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise ClientError(400, "body", "truncated gzip data")
    return data
