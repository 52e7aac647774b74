"""Bytes in, models out, and back: the hot path of every auction.

Decoding is ``orjson.loads`` once, then ``Model.model_validate`` on the resulting dict:
one parse, one validation, and the parsed dict is free for a depth check in between. Errors
never escape as anything but ``InvalidRequest`` (``InvalidResponse`` for DSP responses):

* not JSON, empty, not UTF-8 → ``body: invalid JSON: <reason> at line L column C``;
* JSON that is not an object → ``body: must be a JSON object``;
* nested deeper than ``MAX_DEPTH`` → ``body: nested deeper than 64 levels``. orjson itself
  stops at 1024 levels, but both orjson and pydantic refuse to *serialise* more than about
  255, so a request accepted here must stay re-encodable for the bidders;
* a schema violation → the first pydantic error, as ``imp[0].banner.w: must be an integer``.

Lax or strict: the models are strict (see ``openrtb.base``). A string where the spec says
integer is a sender bug that a lax parser would silently paper over, and a price given as
``"1.5"`` is exactly the input an exchange should refuse rather than guess at; it is also
what the Go and Java stacks on the other side of the wire do.

Encoding writes only what was set (``exclude_unset``): defaults the spec states
(``at`` 2, ``bidfloorcur`` "USD" …) are readable on the model but never invented on the
wire, unknown fields and ``ext`` are kept, ``None`` is not written.

Measured (CPython 3.11, pydantic 2.14, orjson 3.13, one core; the spec's 6.2.1 simple banner
``tests/data/ortb26_req_ex1_simple_banner.json``, 0.6 KB, and ``tests.builders.banner_request()``,
1.3 KB; best of 5 × 20 000 calls; ``strict`` and lax validation measured the same):

=========================================  ===========  ===========
call                                       simple 0.6K  builder 1.3K
=========================================  ===========  ===========
``orjson.loads`` alone                     1.7 µs       5.4 µs
``model_validate(orjson.loads(b))``        11.9 µs      30.6 µs
``model_validate_json(b)``                 10.6 µs      25.2 µs
``decode_request(b)`` (with depth check)   12.8 µs      31.7 µs
``encode_request(r)``                      9.4 µs       20.7 µs
=========================================  ===========  ===========

``model_validate_json`` is 10–18 % faster than ``orjson.loads`` + ``model_validate`` (about
1–5 µs a request); the two-step path is kept because it parses once into a dict the depth
check can look at and reports JSON errors with orjson's line and column. For encoding,
pydantic's own ``__pydantic_serializer__.to_json`` measured 7.7 / 16.9 µs against the
9.4 / 20.7 µs of ``model_dump`` + ``orjson.dumps`` above: the switch to take if encoding
shows up in a profile.
"""

from typing import Any, Final, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from openrtb.errors import InvalidRequest, InvalidResponse, from_validation_error
from openrtb.request import BidRequest
from openrtb.response import BidResponse
from openrtb.upgrade import upgrade_request

__all__ = [
    "MAX_DEPTH",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]

MAX_DEPTH: Final = 64
"""Deepest nesting of arrays and objects accepted; OpenRTB itself needs about 10."""

_M = TypeVar("_M", bound=BaseModel)


def decode_request(body: bytes) -> BidRequest:
    """A bid request from its JSON body, OpenRTB 2.5 extensions read into their 2.6 fields
    (``openrtb.upgrade``); raises InvalidRequest naming the field."""
    return upgrade_request(_decode(body, BidRequest, InvalidRequest))


def decode_response(body: bytes) -> BidResponse:
    """A DSP's bid response from its JSON body; raises InvalidResponse naming the field."""
    return _decode(body, BidResponse, InvalidResponse)


def encode_request(request: BidRequest) -> bytes:
    """The JSON body of a bid request: what was set, extras and ext included, no nulls."""
    return _encode(request)


def encode_response(response: BidResponse) -> bytes:
    """The JSON body of a bid response: what was set, extras and ext included, no nulls."""
    return _encode(response)


def _decode(body: bytes, model: type[_M], error: type[InvalidRequest]) -> _M:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise error(
            "body", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(obj, dict):
        raise error("body", "must be a JSON object")
    # Depth needs at least as many openers as levels: count them in C, walk only if needed.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _deeper_than(obj, MAX_DEPTH):
        raise error("body", f"nested deeper than {MAX_DEPTH} levels")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise from_validation_error(exc, error) from None


def _deeper_than(obj: dict[str, Any], limit: int) -> bool:
    """Whether parsed JSON nests more than ``limit`` arrays/objects (iterative: no recursion)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _encode(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(exclude_unset=True, exclude_none=True))
