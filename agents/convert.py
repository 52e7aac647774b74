"""OpenRTB JSON objects to and from the protobuf messages agents receive over ARTF.

The exchange holds requests as pydantic models and JSON dicts; an agent speaks protobuf.
One generic walker converts between them for every message type: it is built once per
message descriptor into a table of per-field entries, so a call does no descriptor lookups
and no per-object code has to track the proto by hand.

What crosses, and what does not:

* Only fields the proto declares. Unknown keys, and every ``ext`` key that the object's
  ``Ext`` message does not declare (``Data.ext.cids`` is declared, a vendor's key is not),
  are dropped: an agent gets the least data, never free-form ``ext``. An ``ext`` left
  empty is omitted rather than sent as an empty message.
* OpenRTB's 0/1 integer flags are proto ``bool``; they come back as the integers 0 and 1,
  which is what the strict pydantic models accept.
* A value the proto cannot hold (a string for an int32, an int out of range, 2 for a
  flag, a non-finite float, two members of one oneof) raises ``ValueError`` naming the
  JSON path, e.g. ``imp[0].bidfloor``; a protobuf internal error never escapes.
* ``None`` means absent, as JSON ``null`` does in OpenRTB.
* Proto enums accept their number or their name and come back as the number, as OpenRTB
  writes its enumerations.
* Objects may be partial: the host sends an agent a projection of the request, which may
  lack ``imp`` or even ``id``; required-ness is the pydantic model's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar, cast

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from agents.protos import openrtb_pb2
from openrtb.request import BidRequest
from openrtb.response import BidResponse

__all__ = [
    "dict_to_message",
    "dict_to_request",
    "dict_to_response",
    "message_to_dict",
    "model_to_request",
    "model_to_response",
    "request_to_dict",
    "request_to_model",
    "response_to_dict",
    "response_to_model",
]

M = TypeVar("M", bound=Message)

# Field kinds: small ints compared with `is`, cheaper than calling a converter per field.
_STR: Final = 0
_INT: Final = 1
_MSG: Final = 2
_FLOAT: Final = 3
_BOOL: Final = 4
_ENUM: Final = 5
_MAP: Final = 6
_VALUE: Final = 7
_BYTES: Final = 8

_INT_RANGES: Final = {
    FieldDescriptor.TYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("sint32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("sfixed32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("fixed32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("sint64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("sfixed64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("fixed64", 0, 2**64 - 1),
}
_FLOAT32_MAX: Final = 3.4028234663852886e38


class _Bad(Exception):
    """A conversion failure on its way up; each level adds its key, so the path is exact."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str | int] = []


def _error(exc: _Bad) -> ValueError:
    path = ""
    for part in reversed(exc.parts):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return ValueError(f"{path or '(top level)'}: {exc.message}")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '…' if len(text) > 40 else text}"


class _Spec:
    """The conversion table of one message type."""

    __slots__ = ("by_descriptor", "fields", "full_name", "is_ext", "oneofs")

    def __init__(self, full_name: str, is_ext: bool) -> None:
        self.full_name = full_name
        # An OpenRTB object's extension holder: dropped when nothing declared is left in it.
        self.is_ext = is_ext
        self.fields: dict[str, _Field] = {}
        self.by_descriptor: dict[FieldDescriptor, _Field] = {}
        self.oneofs: tuple[tuple[str, tuple[str, ...]], ...] = ()


_NO_SPEC: Final = _Spec("", is_ext=False)  # the `spec` of fields that are not messages


class _Field:
    __slots__ = (
        "enum_by_name",
        "enum_numbers",
        "hi",
        "is_float32",
        "kind",
        "lo",
        "map_key",
        "map_value",
        "name",
        "plain",
        "repeated",
        "spec",
        "type_name",
    )

    def __init__(self, name: str, kind: int, type_name: str) -> None:
        self.name = name
        self.kind = kind
        self.type_name = type_name
        self.repeated = False
        self.plain = False  # a single value that ListFields gives in its JSON form already
        self.spec: _Spec = _NO_SPEC
        self.lo = 0
        self.hi = 0
        self.is_float32 = False
        self.enum_numbers: frozenset[int] = frozenset()
        self.enum_by_name: dict[str, int] = {}
        self.map_key: _Field = self  # placeholders: set on map fields only
        self.map_value: _Field = self


_SPECS: dict[str, _Spec] = {}


def _descriptor(message: Message | type[Message]) -> Descriptor:
    # upb's descriptor type is not the stubs' Descriptor, but has the same interface.
    return cast(Descriptor, message.DESCRIPTOR)


def _spec(descriptor: Descriptor) -> _Spec:
    found = _SPECS.get(descriptor.full_name)
    if found is not None:
        return found
    spec = _Spec(descriptor.full_name, is_ext=descriptor.name == "Ext")
    _SPECS[descriptor.full_name] = spec  # before the fields: message types may recurse
    for fd in descriptor.fields:
        entry = _field(fd)
        spec.fields[fd.name] = entry
        spec.by_descriptor[fd] = entry
    spec.oneofs = tuple(
        (oneof.name, tuple(fd.name for fd in oneof.fields))
        for oneof in descriptor.oneofs
        if len(oneof.fields) > 1
    )
    return spec


def _field(fd: FieldDescriptor) -> _Field:
    t = fd.type
    if t == FieldDescriptor.TYPE_MESSAGE:
        message = fd.message_type
        if message is None:
            raise TypeError(f"{fd.full_name}: message field without a message type")
        if message.GetOptions().map_entry:
            entry = _Field(fd.name, _MAP, "object")
            entry.map_key = _field(message.fields_by_name["key"])
            entry.map_value = _field(message.fields_by_name["value"])
            return entry
        if message.full_name == "google.protobuf.Value":
            entry = _Field(fd.name, _VALUE, "JSON value")
        else:
            entry = _Field(fd.name, _MSG, "object")
            entry.spec = _spec(message)
    elif t == FieldDescriptor.TYPE_STRING:
        entry = _Field(fd.name, _STR, "string")
    elif t == FieldDescriptor.TYPE_BOOL:
        entry = _Field(fd.name, _BOOL, "0 or 1")
    elif t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        entry = _Field(fd.name, _FLOAT, "number")
        entry.is_float32 = t == FieldDescriptor.TYPE_FLOAT
    elif t == FieldDescriptor.TYPE_ENUM:
        enum = fd.enum_type
        if enum is None:
            raise TypeError(f"{fd.full_name}: enum field without an enum type")
        values = enum.values
        entry = _Field(fd.name, _ENUM, f"{enum.name} value")
        entry.enum_numbers = frozenset(v.number for v in values)
        entry.enum_by_name = {v.name: v.number for v in values}
    elif t == FieldDescriptor.TYPE_BYTES:
        entry = _Field(fd.name, _BYTES, "bytes")
    elif t in _INT_RANGES:
        type_name, lo, hi = _INT_RANGES[t]
        entry = _Field(fd.name, _INT, type_name)
        entry.lo, entry.hi = lo, hi
    else:  # groups: proto2 only, and no OpenRTB or ARTF message uses one
        raise TypeError(f"{fd.full_name}: unsupported field type {t}")
    entry.repeated = fd.is_repeated
    entry.plain = not entry.repeated and entry.kind in (_STR, _INT, _FLOAT, _ENUM, _BYTES)
    return entry


# ---------------------------------------------------------------- JSON -> constructor kwargs


def _clean(data: Any, spec: _Spec) -> dict[str, Any]:
    """``data`` as keyword arguments for the message constructor: declared fields only,
    every value checked and in the type protobuf wants (upb then builds it all in C)."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise _Bad(f"expected an object, got {_describe(data)}")
    fields = spec.fields
    out: dict[str, Any] = {}
    for key, value in data.items():
        entry = fields.get(key)
        if entry is None or value is None:
            continue
        try:
            if entry.repeated:
                out[key] = _items(value, entry)
            elif (kind := entry.kind) is _STR and type(value) is str and value.isascii():
                out[key] = value  # the common cases inline; _value checks all the others
            elif kind is _INT and type(value) is int and entry.lo <= value <= entry.hi:
                out[key] = value
            elif kind is _MSG:
                sub_spec = entry.spec
                sub = _clean(value, sub_spec)
                if sub or not sub_spec.is_ext:
                    out[key] = sub
            else:
                out[key] = _value(value, entry)
        except _Bad as exc:
            exc.parts.append(key)
            raise
    if spec.oneofs:
        for name, members in spec.oneofs:
            present = [member for member in members if member in out]
            if len(present) > 1:
                raise _Bad(f"{' and '.join(present)} are exclusive (oneof {name})")
    return out


def _items(value: Any, entry: _Field) -> list[Any]:
    if type(value) is not list and not isinstance(value, (list, tuple)):
        raise _Bad(f"expected an array, got {_describe(value)}")
    kind = entry.kind
    items: list[Any] = []
    for index, item in enumerate(value):
        try:
            if item is None:
                raise _Bad("null is not an array element")
            if kind is _MSG:
                items.append(_clean(item, entry.spec))
            elif (kind is _STR and type(item) is str and item.isascii()) or (
                kind is _INT and type(item) is int and entry.lo <= item <= entry.hi
            ):
                items.append(item)
            else:
                items.append(_value(item, entry))
        except _Bad as exc:
            exc.parts.append(index)
            raise
    return items


def _value(value: Any, entry: _Field) -> Any:
    kind = entry.kind
    if kind is _STR:
        if type(value) is not str:
            raise _Bad(f"expected a string, got {_describe(value)}")
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise _Bad("string is not valid UTF-8 (lone surrogate)") from None
        return value
    if kind is _INT:
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Bad(f"expected an integer ({entry.type_name}), got {_describe(value)}")
            value = int(value)
        if not entry.lo <= value <= entry.hi:
            raise _Bad(f"{value} is out of the {entry.type_name} range")
        return value
    if kind is _MSG:
        return _clean(value, entry.spec)
    if kind is _FLOAT:
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Bad(f"expected a number, got {_describe(value)}")
            try:
                value = float(value)
            except OverflowError:
                raise _Bad(f"{value} is out of the double range") from None
        if value - value != 0.0:
            raise _Bad(f"{value} is not a finite number")
        if entry.is_float32 and abs(value) > _FLOAT32_MAX:
            raise _Bad(f"{value} is out of the float range")
        return value
    if kind is _BOOL:
        if value is True or value is False:
            return value
        if type(value) is int and (value == 0 or value == 1):
            return value == 1
        raise _Bad(f"expected 0 or 1, got {_describe(value)}")
    if kind is _ENUM:
        if type(value) is int:
            if value in entry.enum_numbers:
                return value
        elif type(value) is str:
            number = entry.enum_by_name.get(value)
            if number is not None:
                return number
        raise _Bad(f"expected a valid {entry.type_name} (number or name), got {_describe(value)}")
    if kind is _MAP:
        return _map(value, entry)
    if kind is _VALUE:
        return _to_value(value)
    if type(value) is bytes or isinstance(value, (bytes, bytearray)):  # _BYTES
        return bytes(value)
    raise _Bad(f"expected bytes, got {_describe(value)}")


def _map(value: Any, entry: _Field) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise _Bad(f"expected an object, got {_describe(value)}")
    key_entry, value_entry = entry.map_key, entry.map_value
    out = {}
    for key, item in value.items():
        try:
            if key_entry.kind is not _STR and type(key) is str:
                try:
                    key = int(key)  # JSON object keys are strings, even for integer keys
                except ValueError:
                    raise _Bad(f"expected an integer ({key_entry.type_name}) key") from None
            key = _value(key, key_entry)
            if item is None:
                raise _Bad("null is not a map value")
            out[key] = _value(item, value_entry)
        except _Bad as exc:
            exc.parts.append(str(key))
            raise
    return out


def _to_value(value: Any) -> struct_pb2.Value:
    out = struct_pb2.Value()
    try:
        if value is None:
            out.null_value = struct_pb2.NULL_VALUE
        elif value is True or value is False:
            out.bool_value = value
        elif isinstance(value, (int, float)):
            number = float(value)
            if number - number != 0.0:
                raise _Bad(f"{value} is not a finite number")
            out.number_value = number
        elif isinstance(value, str):
            out.string_value = value
        elif isinstance(value, Mapping):
            out.struct_value.SetInParent()  # update() alone leaves an empty {} unset
            out.struct_value.update(value)
        elif isinstance(value, (list, tuple)):
            out.list_value.SetInParent()
            out.list_value.extend(value)
        else:
            raise _Bad(f"expected a JSON value, got {_describe(value)}")
    except (TypeError, ValueError, OverflowError) as exc:
        raise _Bad(f"not a JSON value: {exc}") from None
    return out


# ---------------------------------------------------------------- message -> JSON


def _dump(message: Message, spec: _Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    get = spec.by_descriptor.get
    for fd, value in message.ListFields():
        entry = get(fd)
        if entry is None:  # an extension (500 and up): never passed on
            continue
        if entry.plain:
            out[entry.name] = value
        elif entry.kind is _MSG:
            sub_spec = entry.spec
            if entry.repeated:
                out[entry.name] = [_dump(item, sub_spec) for item in value]
            else:
                sub = _dump(value, sub_spec)
                if sub or not sub_spec.is_ext:
                    out[entry.name] = sub
        elif entry.repeated:
            if entry.kind is _BOOL:
                out[entry.name] = [1 if item else 0 for item in value]
            elif entry.kind is _VALUE:
                out[entry.name] = [_from_value(item) for item in value]
            else:
                out[entry.name] = list(value)
        elif entry.kind is _BOOL:
            out[entry.name] = 1 if value else 0
        elif entry.kind is _MAP:
            out[entry.name] = _dump_map(value, entry)
        else:  # _VALUE
            out[entry.name] = _from_value(value)
    return out


def _dump_map(value: Any, entry: _Field) -> dict[Any, Any]:
    value_entry = entry.map_value
    kind = value_entry.kind
    if kind is _MSG:
        sub_spec = value_entry.spec
        return {key: _dump(item, sub_spec) for key, item in value.items()}
    if kind is _BOOL:
        return {key: 1 if item else 0 for key, item in value.items()}
    if kind is _VALUE:
        return {key: _from_value(item) for key, item in value.items()}
    return dict(value)


def _from_value(value: struct_pb2.Value) -> Any:
    which = value.WhichOneof("kind")
    if which == "struct_value":
        return {key: _from_value(item) for key, item in value.struct_value.fields.items()}
    if which == "list_value":
        return [_from_value(item) for item in value.list_value.values]
    if which is None or which == "null_value":
        return None
    return getattr(value, which)


# ---------------------------------------------------------------- public API


def dict_to_message(cls: type[M], data: Mapping[str, Any]) -> M:
    """Any message from its JSON object (see the module for what is dropped or refused)."""
    return _build(cls, _spec(_descriptor(cls)), data)


def message_to_dict(message: Message) -> dict[str, Any]:
    """Any message as a JSON object, in the form the OpenRTB pydantic models accept."""
    return _dump(message, _spec(_descriptor(message)))


def _build(cls: type[M], spec: _Spec, data: Mapping[str, Any]) -> M:
    try:
        kwargs = _clean(data, spec)
    except _Bad as exc:
        raise _error(exc) from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a gap in _clean: still a ValueError, no internals
        raise ValueError(f"(top level): cannot build {spec.full_name}: {exc}") from None


_REQUEST_SPEC: Final = _spec(_descriptor(openrtb_pb2.BidRequest))
_RESPONSE_SPEC: Final = _spec(_descriptor(openrtb_pb2.BidResponse))


def dict_to_request(data: Mapping[str, Any]) -> openrtb_pb2.BidRequest:
    """A bid request (or a projection of one) as the proto an agent receives."""
    return _build(openrtb_pb2.BidRequest, _REQUEST_SPEC, data)


def request_to_dict(message: openrtb_pb2.BidRequest) -> dict[str, Any]:
    """The proto bid request as an OpenRTB JSON object."""
    return _dump(message, _REQUEST_SPEC)


def dict_to_response(data: Mapping[str, Any]) -> openrtb_pb2.BidResponse:
    """A bid response (or a projection of one) as the proto an agent receives."""
    return _build(openrtb_pb2.BidResponse, _RESPONSE_SPEC, data)


def response_to_dict(message: openrtb_pb2.BidResponse) -> dict[str, Any]:
    """The proto bid response as an OpenRTB JSON object."""
    return _dump(message, _RESPONSE_SPEC)


def model_to_request(request: BidRequest) -> openrtb_pb2.BidRequest:
    """The pydantic bid request as a proto (its undeclared ext and extra fields dropped)."""
    return dict_to_request(request.model_dump(mode="json", exclude_none=True))


def request_to_model(message: openrtb_pb2.BidRequest) -> BidRequest:
    """The proto bid request as the pydantic model; fails as the model does on a partial one."""
    return BidRequest.model_validate(request_to_dict(message))


def model_to_response(response: BidResponse) -> openrtb_pb2.BidResponse:
    """The pydantic bid response as a proto (its undeclared ext and extra fields dropped)."""
    return dict_to_response(response.model_dump(mode="json", exclude_none=True))


def response_to_model(message: openrtb_pb2.BidResponse) -> BidResponse:
    """The proto bid response as the pydantic model."""
    return BidResponse.model_validate(response_to_dict(message))
