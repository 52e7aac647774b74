"""Fuzzing the auction endpoint over a real socket: whatever the body, never a 5xx.

Hypothesis mutates a valid request (any field replaced by arbitrary JSON, fields dropped,
arrays emptied) and also sends arbitrary JSON documents; every answer must be 200, 204 or a
4xx naming a field.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.servers import serve

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


ALL_PATHS = [p for p in paths(banner_request(imps=2)) if p]


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[head] = replaced(document[head], tuple(rest), new)
    return copy


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    app = create_app(Settings(log_json=True, log_level="error"))
    with serve(app) as url, httpx.Client(base_url=url, timeout=5) as http:
        yield http


def check(client: httpx.Client, body: bytes) -> None:
    response = client.post(
        "/openrtb2/auction", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (200, 204, 400, 413), (response.status_code, body[:300])
    if response.status_code >= 400:
        assert response.json()["error"]["field"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ALL_PATHS), new=JSON_VALUES)
def test_any_field_replaced_by_any_json_is_never_a_5xx(
    client: httpx.Client, path: tuple[Any, ...], new: Any
) -> None:
    check(client, json.dumps(replaced(banner_request(imps=2), path, new)).encode())


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=JSON_VALUES)
def test_any_json_document_is_never_a_5xx(client: httpx.Client, document: Any) -> None:
    check(client, json.dumps(document).encode())


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300))
def test_any_bytes_are_never_a_5xx(client: httpx.Client, body: bytes) -> None:
    check(client, body)
