"""agents.convert: OpenRTB JSON and pydantic objects to the ARTF protos and back."""

import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import convert
from agents.protos import artf_pb2, openrtb_pb2
from openrtb.codec import decode_request, decode_response
from openrtb.request import BidRequest
from openrtb.response import BidResponse

DATA = Path(__file__).resolve().parents[1] / "data"
REQUESTS = sorted(
    [
        *DATA.glob("ortb26_req_*.json"),
        *DATA.glob("ortb25_req_*.json"),
        DATA / "ortb26_impl_7-9-6-1_dooh_banner_request.json",
    ]
)
RESPONSES = sorted(
    [
        *DATA.glob("ortb26_resp_*.json"),
        *DATA.glob("ortb25_resp_*.json"),
        *DATA.glob("ortb26_impl_7-1_nobid_*.json"),
    ]
)


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _declared(data: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    """What the proto can carry of ``data``: declared keys only, ``ext`` cut to its declared
    fields and dropped when empty, and no empty arrays (protobuf cannot tell them from
    absent). Written independently of agents.convert, from the descriptors."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        fd = descriptor.fields_by_name.get(key)
        if fd is None or value is None:
            continue
        message = fd.message_type
        if message is not None and not _is_map(fd) and message.name != "Value":
            if fd.is_repeated:
                value = [_declared(item, message) for item in value]
            else:
                value = _declared(value, message)
                if not value and message.name == "Ext":
                    continue
        if (fd.is_repeated or _is_map(fd)) and not value:
            continue
        out[key] = value
    return out


def _request_round_trip(model: BidRequest) -> BidRequest:
    wire = convert.model_to_request(model).SerializeToString()
    return convert.request_to_model(openrtb_pb2.BidRequest.FromString(wire))


def _response_round_trip(model: BidResponse) -> BidResponse:
    wire = convert.model_to_response(model).SerializeToString()
    return convert.response_to_model(openrtb_pb2.BidResponse.FromString(wire))


def test_all_fixtures_found() -> None:
    assert len(REQUESTS) == 12
    assert len(RESPONSES) == 11


# Requests are read as the exchange reads them (decode_request: 2.5 ext moved into the 2.6
# fields), so the 2.5 signals an agent needs survive the ext cut.
@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_request_fixture_round_trips(path: Path) -> None:
    model = decode_request(path.read_bytes())
    dumped = model.model_dump(mode="json", exclude_none=True)
    expected = _declared(dumped, openrtb_pb2.BidRequest.DESCRIPTOR)
    wire = convert.dict_to_request(dumped).SerializeToString()
    back = convert.request_to_dict(openrtb_pb2.BidRequest.FromString(wire))
    assert back == expected
    assert _request_round_trip(model) == BidRequest.model_validate(expected)


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_response_fixture_round_trips(path: Path) -> None:
    model = decode_response(path.read_bytes())
    dumped = model.model_dump(mode="json", exclude_none=True)
    expected = _declared(dumped, openrtb_pb2.BidResponse.DESCRIPTOR)
    wire = convert.dict_to_response(dumped).SerializeToString()
    assert convert.response_to_dict(openrtb_pb2.BidResponse.FromString(wire)) == expected
    assert _response_round_trip(model) == BidResponse.model_validate(expected)


def test_fixture_extras_are_what_is_dropped() -> None:
    # The spec's defects (tests/data/README.md) are unknown fields: they must not cross.
    model = decode_request((DATA / "ortb26_req_ex4_video.json").read_bytes())
    video = model.imp[0].video
    assert video is not None
    assert video.model_extra == {"apis": [1, 2]}
    back = _request_round_trip(model).imp[0].video
    assert back is not None
    assert back.model_extra == {}
    assert back.mimes == video.mimes
    assert back.protocols == video.protocols


def test_flags_come_back_as_integers() -> None:
    message = convert.dict_to_request({"id": "r", "test": 1, "imp": [{"id": "1", "secure": 0}]})
    assert message.test is True
    assert message.imp[0].HasField("secure")
    back = convert.request_to_dict(message)
    assert back == {"id": "r", "test": 1, "imp": [{"id": "1", "secure": 0}]}
    assert type(back["test"]) is int
    assert convert.dict_to_request({"test": True}).test is True


def test_ext_keeps_declared_fields_only() -> None:
    data = {
        "id": "r",
        "imp": [{"id": "1", "ext": {"gpid": "/1/home", "prebid": {"bidder": {}}, "tid": "t"}}],
        "site": {
            "content": {
                "data": [{"id": "d", "ext": {"cids": ["c1", "c2"], "segtax": 7}}],
                "ext": {"feedurls": ["https://a.example/"]},
            }
        },
        "regs": {"gdpr": 1, "ext": {"gpc": "1", "dsa": {"dsarequired": 2}, "vendor": "x"}},
        "user": {"ext": {"vendor_only": 1}},
        "device": {"ext": {"atts": 3, "ifv": "v"}},
        "ext": {"prebid": {"targeting": {}}},
    }
    back = convert.request_to_dict(convert.dict_to_request(data))
    assert back == {
        "id": "r",
        "imp": [{"id": "1", "ext": {"gpid": "/1/home", "tid": "t"}}],
        "site": {
            "content": {
                "data": [{"id": "d", "ext": {"cids": ["c1", "c2"]}}],
                "ext": {"feedurls": ["https://a.example/"]},
            }
        },
        "regs": {"gdpr": 1, "ext": {"gpc": "1", "dsa": {"dsarequired": 2}}},
        "user": {},  # an ext with nothing declared is no ext
        "device": {"ext": {"atts": 3, "ifv": "v"}},
    }


def test_response_ext_with_maps_and_json_values() -> None:
    data: dict[str, Any] = {
        "id": "r",
        "ext": {
            "igi": [
                {
                    "impid": "1",
                    "igb": [
                        {
                            "origin": "https://dsp.example",
                            "maxbid": 1.5,
                            "pbs": {"k": [1, "two", None, {"x": True}]},
                            "ps": {"p": 2.0},
                        }
                    ],
                    "igs": [{"impid": "1", "config": {"seller": "https://ssp.example"}}],
                }
            ],
            "seatnonbid": [{"seat": "s", "nonbid": [{"impid": "1", "statuscode": 301}]}],
            "debug": {"undeclared": 1},
        },
    }
    wire = convert.dict_to_response(data).SerializeToString()
    back = convert.response_to_dict(openrtb_pb2.BidResponse.FromString(wire))
    del data["ext"]["debug"]
    assert back == data


def test_extensions_and_unknown_fields_on_the_wire_are_dropped() -> None:
    # An agent's bytes may carry ext extensions (500+) or fields this proto does not know.
    message = openrtb_pb2.BidRequest(id="r")
    wire = message.SerializeToString()
    unknown_field_77 = bytes([0xEA, 0x04, 1, ord("x")])  # tag (77 << 3) | 2 as a varint
    extension_600 = bytes([0xC2, 0x25, 1, ord("y")])  # tag (600 << 3) | 2
    ext_with_extension = bytes([0x9A, 0x06, len(extension_600)]) + extension_600  # ext = 99
    full = wire + unknown_field_77 + ext_with_extension
    parsed = openrtb_pb2.BidRequest.FromString(full)
    assert parsed.HasField("ext")
    assert parsed.ByteSize() == len(full)  # both kept by protobuf, as unknown data
    assert convert.request_to_dict(parsed) == {"id": "r"}


def test_partial_request_without_imp_converts() -> None:
    view = {"site": {"content": {"data": [{"id": "d", "segment": [{"id": "s"}]}]}}, "tmax": 80}
    message = convert.dict_to_request(view)
    assert len(message.imp) == 0
    assert not message.HasField("id")
    assert message.WhichOneof("distributionchannel_oneof") == "site"
    back = convert.request_to_dict(openrtb_pb2.BidRequest.FromString(message.SerializeToString()))
    assert back == view
    assert convert.request_to_dict(convert.dict_to_request({})) == {}


def test_empty_objects_keep_their_presence() -> None:
    # An empty banner still says "banner offered": presence is kept, unlike an empty ext.
    back = convert.request_to_dict(convert.dict_to_request({"imp": [{"banner": {}, "ext": {}}]}))
    assert back == {"imp": [{"banner": {}}]}


def test_null_is_absent() -> None:
    back = convert.request_to_dict(convert.dict_to_request({"id": "r", "tmax": None, "site": None}))
    assert back == {"id": "r"}


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"imp": [{"bidfloor": "0.5"}]}, "imp[0].bidfloor", "expected a number"),
        ({"imp": [{"id": "1"}, {"banner": {"w": "300"}}]}, "imp[1].banner.w", "int32"),
        ({"imp": [{"banner": {"w": 300.0}}]}, "imp[0].banner.w", "int32"),
        ({"imp": [{"banner": {"w": 2**31}}]}, "imp[0].banner.w", "out of the int32 range"),
        ({"imp": [{"banner": {"battr": [1, -(2**31) - 1]}}]}, "imp[0].banner.battr[1]", "range"),
        (
            {"imp": [{"banner": {"format": [{"w": 1}, {"h": True}]}}]},
            "imp[0].banner.format[1].h",
            "int32",
        ),
        ({"test": 2}, "test", "expected 0 or 1"),
        ({"imp": [{"secure": "1"}]}, "imp[0].secure", "expected 0 or 1"),
        ({"imp": {"id": "1"}}, "imp", "expected an array"),
        ({"imp": [None]}, "imp[0]", "null"),
        ({"site": "example.com"}, "site", "expected an object"),
        ({"cur": ["USD", 1]}, "cur[1]", "expected a string"),
        ({"user": {"data": [{"ext": {"cids": [7]}}]}}, "user.data[0].ext.cids[0]", "string"),
        ({"imp": [{"bidfloor": math.nan}]}, "imp[0].bidfloor", "finite"),
        ({"imp": [{"bidfloor": 10**400}]}, "imp[0].bidfloor", "double range"),
        ({"id": "\ud800"}, "id", "UTF-8"),
        ({"site": {}, "app": {}}, "(top level)", "oneof distributionchannel_oneof"),
        ({"imp": [{"native": {"request": "{}", "request_native": {}}}]}, "imp[0].native", "oneof"),
    ],
)
def test_values_the_proto_cannot_hold_name_their_path(
    data: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(ValueError) as caught:
        convert.dict_to_request(data)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert fragment in message, message
    assert type(caught.value) is ValueError  # not a protobuf error that subclasses it


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ValueError, match=r"^\(top level\): expected an object"):
        convert.dict_to_request(["not", "an", "object"])  # type: ignore[arg-type]


def test_response_errors_name_their_path() -> None:
    with pytest.raises(ValueError, match=r"^seatbid\[0\]\.bid\[0\]\.price: expected a number"):
        convert.dict_to_response({"seatbid": [{"bid": [{"id": "b", "price": "1.20"}]}]})
    with pytest.raises(ValueError, match=r"^ext\.igi\[0\]\.igb\[0\]\.ps\.p: expected a number"):
        convert.dict_to_response({"ext": {"igi": [{"igb": [{"ps": {"p": "x"}}]}]}})


def test_any_message_with_real_enums() -> None:
    data = {
        "lifecycle": "LIFECYCLE_PUBLISHER_BID_REQUEST",
        "id": "x1",
        "tmax": 40,
        "originator": {"type": 3, "id": "exchange.example"},
        "applicable_intents": ["ACTIVATE_SEGMENTS", 7],
        "bid_request": {"id": "r", "imp": [{"id": "1", "rwdd": 1}]},
    }
    message = convert.dict_to_message(artf_pb2.RTBRequest, data)
    assert message.originator.type == artf_pb2.Originator.TYPE_EXCHANGE
    assert list(message.applicable_intents) == [artf_pb2.ACTIVATE_SEGMENTS, artf_pb2.ADD_METRICS]
    assert convert.message_to_dict(message) == {
        **data,
        "lifecycle": 1,
        "applicable_intents": [1, 7],
    }
    with pytest.raises(
        ValueError, match=r"^applicable_intents\[0\]: expected a valid Intent value"
    ):
        convert.dict_to_message(artf_pb2.RTBRequest, {"applicable_intents": [9]})
    with pytest.raises(ValueError, match=r"^lifecycle: "):
        convert.dict_to_message(artf_pb2.RTBRequest, {"lifecycle": "LIFECYCLE_SOMETIME"})


def test_mutation_payloads_convert_back_to_openrtb_objects() -> None:
    mutation = artf_pb2.Mutation(
        intent=artf_pb2.ADD_CIDS,
        op=artf_pb2.OPERATION_ADD,
        path="/site/content/data",
        content_data=artf_pb2.DataPayload(
            data=[openrtb_pb2.BidRequest.Data(id="cp", ext={"cids": ["a"]})]
        ),
    )
    parsed = artf_pb2.Mutation.FromString(mutation.SerializeToString())
    assert convert.message_to_dict(parsed) == {
        "intent": 8,
        "op": 1,
        "path": "/site/content/data",
        "content_data": {"data": [{"id": "cp", "ext": {"cids": ["a"]}}]},
    }


# ---------------------------------------------------------------- property: any declared data

_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
}
_TEXT = st.text(st.characters(codec="utf-8"), max_size=8)  # no lone surrogates
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)


def _scalar(fd: FieldDescriptor) -> st.SearchStrategy[Any]:
    if fd.type == FieldDescriptor.TYPE_STRING:
        return _TEXT
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return st.sampled_from([0, 1])
    if fd.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-1000, 1000)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        assert fd.enum_type is not None
        return st.sampled_from([v.number for v in fd.enum_type.values])
    low, high = _INT_BOUNDS[fd.type]
    return st.integers(low, high)


def _field(fd: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    message = fd.message_type
    if message is None:
        one = _scalar(fd)
    elif _is_map(fd):
        value = message.fields_by_name["value"]
        return st.dictionaries(_TEXT, _scalar(value), min_size=1, max_size=2)
    elif message.full_name == "google.protobuf.Value":
        one = _JSON.filter(lambda v: v is not None)
    elif depth <= 0:
        return None
    else:
        one = _message(message, depth - 1)
    return st.lists(one, min_size=1, max_size=2) if fd.is_repeated else one


def _message(descriptor: Any, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {}
    choices: list[st.SearchStrategy[dict[str, Any]]] = []
    for fd in descriptor.fields:
        strategy = _field(fd, depth)
        if strategy is None:
            continue
        if fd.containing_oneof is None:
            optional[fd.name] = strategy
        else:
            choices.append(st.fixed_dictionaries({fd.name: strategy}))
    plain = st.fixed_dictionaries({}, optional=optional)
    if not choices:
        return plain
    return st.tuples(plain, st.just({}) | st.one_of(choices)).map(lambda p: {**p[0], **p[1]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_message(openrtb_pb2.BidRequest.DESCRIPTOR, depth=4))
def test_any_declared_request_round_trips(data: dict[str, Any]) -> None:
    wire = convert.dict_to_request(data).SerializeToString()
    back = convert.request_to_dict(openrtb_pb2.BidRequest.FromString(wire))
    assert back == _declared(data, openrtb_pb2.BidRequest.DESCRIPTOR)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_message(openrtb_pb2.BidResponse.DESCRIPTOR, depth=4))
def test_any_declared_response_round_trips(data: dict[str, Any]) -> None:
    wire = convert.dict_to_response(data).SerializeToString()
    back = convert.response_to_dict(openrtb_pb2.BidResponse.FromString(wire))
    assert back == _declared(data, openrtb_pb2.BidResponse.DESCRIPTOR)
