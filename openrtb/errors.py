"""Errors for bad OpenRTB input, each naming the offending field.

Hierarchy::

    ValueError
    └── InvalidRequest      a bid request the exchange refuses (HTTP 400, nbr 2)
        └── InvalidResponse a DSP's bid response the exchange discards

``field`` is a dotted path with list indices (``imp[0].banner.format[1].w``), or ``body``
when the payload as a whole is at fault (not JSON, not an object, too deep).
"""

from collections.abc import Sequence

from pydantic import ValidationError

__all__ = ["InvalidRequest", "InvalidResponse", "field_path", "from_validation_error"]


class InvalidRequest(ValueError):
    """A bid request that breaks the protocol; ``str(e)`` is ``"<field>: <message>"``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidResponse(InvalidRequest):
    """A DSP's bid response that breaks the protocol (same shape as InvalidRequest)."""


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as ``imp[0].banner.format[1].w`` ("" for an empty one)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(item)
    return "".join(parts)


def from_validation_error(
    exc: ValidationError, error_type: type[InvalidRequest] = InvalidRequest
) -> InvalidRequest:
    """The first error of a ValidationError as an InvalidRequest (or subclass)."""
    first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    field = field_path(first["loc"]) or "body"  # an empty location is the payload itself
    return error_type(field, _short_message(first["type"], first["msg"]))


_MESSAGES = {
    "missing": "required",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "finite_number": "must be a finite number",
}


def _short_message(error_type: str, fallback: str) -> str:
    return _MESSAGES.get(error_type, fallback[:1].lower() + fallback[1:])
