"""Reading request bodies: content types, size limits, gzip (including bombs)."""

import gzip

import pytest

from app.body import check_content_type, gunzip
from app.errors import ClientError


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/openrtb+json",
    ],
)
def test_json_content_types_pass(content_type: str | None) -> None:
    check_content_type(content_type)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(ClientError) as caught:
        check_content_type(content_type)
    assert (caught.value.status, caught.value.field) == (415, "content-type")


def test_gunzip_round_trip() -> None:
    assert gunzip(gzip.compress(b'{"id":"1"}'), 100) == b'{"id":"1"}'


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(ClientError) as caught:
        gunzip(bomb, 64 * 1024)
    assert (caught.value.status, caught.value.field) == (413, "body")


@pytest.mark.parametrize("data", [b"not gzip at all", gzip.compress(b'{"id":"1"}')[:-6]])
def test_corrupt_or_truncated_gzip_is_400(data: bytes) -> None:
    with pytest.raises(ClientError) as caught:
        gunzip(data, 1000)
    assert caught.value.status == 400
