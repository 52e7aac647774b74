"""Every spec example in tests/data parses, validates and re-serialises to the same JSON."""

from pathlib import Path

import orjson
import pytest

from openrtb.codec import decode_request, decode_response, encode_request, encode_response
from openrtb.validate import validate_request

DATA = Path(__file__).resolve().parents[1] / "data"
REQUESTS = sorted(
    [
        *DATA.glob("ortb26_req_ex*.json"),
        *DATA.glob("ortb25_req_example*.json"),
        DATA / "ortb26_impl_7-9-6-1_dooh_banner_request.json",
    ]
)
RESPONSES = sorted(
    [
        *DATA.glob("ortb26_resp_ex*.json"),
        *DATA.glob("ortb25_resp_example*.json"),
        *DATA.glob("ortb26_impl_7-1_nobid_*.json"),
    ]
)


def test_all_fixtures_found() -> None:
    assert len(REQUESTS) == 12
    assert len(RESPONSES) == 11


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_request_round_trip(path: Path) -> None:
    body = path.read_bytes()
    assert orjson.loads(encode_request(decode_request(body))) == orjson.loads(body)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_request_fixture_passes_validation(path: Path) -> None:
    validate_request(decode_request(path.read_bytes()))


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_response_round_trip(path: Path) -> None:
    body = path.read_bytes()
    assert orjson.loads(encode_response(decode_response(body))) == orjson.loads(body)


# The spec's own defects (tests/data/README.md): parsed as unknown fields, passed on unchanged.


def test_video_apis_defect_is_kept_as_unknown_field() -> None:
    request = decode_request((DATA / "ortb26_req_ex4_video.json").read_bytes())
    video = request.imp[0].video
    assert video is not None
    assert video.api is None
    assert video.model_extra == {"apis": [1, 2]}


def test_segment_values_directly_in_data_defect_is_kept() -> None:
    request = decode_request((DATA / "ortb26_req_ex2_expandable_creative.json").read_bytes())
    assert request.user is not None
    assert request.user.data is not None
    assert request.user.data[2].model_extra == {"value": "30-40"}


def test_native_placeholder_in_string_is_opaque() -> None:
    request = decode_request((DATA / "ortb25_req_example6_native_ad.json").read_bytes())
    assert request.imp[0].native is not None
    assert "[ ... ]" in request.imp[0].native.request  # not valid JSON inside, kept as is


def test_empty_object_is_a_no_bid() -> None:
    response = decode_response((DATA / "ortb26_impl_7-1_nobid_empty_object.json").read_bytes())
    assert response.id is None
    assert response.seatbid is None
    assert encode_response(response) == b"{}"
