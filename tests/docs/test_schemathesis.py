"""Every operation in the OpenAPI document answers as documented: schemathesis generates
requests from the schema (its examples, boundary cases and fuzzed ones, positive and
negative) against the served exchange and checks each answer's status, content type,
headers and body against the document. It iterates the whole schema, so an endpoint added
later is covered without touching this file."""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import allow_header_conformance, unsupported_method

from app.main import create_app
from app.routes.admin import SCHEME
from tests.docs.conftest import ADMIN_TOKEN, RESPONSE_CHECKS, documented_settings

MAX_EXAMPLES = 25
"""Per operation and phase: enough to reach every documented answer, a few seconds each."""

CHECKS = [
    *RESPONSE_CHECKS,
    unsupported_method,  # a method the path does not take: 405 with `Allow`
    allow_header_conformance,  # and that `Allow` names exactly the documented methods
]


def _document() -> dict[str, Any]:
    """The document the exchange serves at ``/openapi.json``, built without starting it:
    schemathesis parametrizes at collection, before any server runs (its fixture-based
    loader does not work with pytest 9.2), and the base URL is given per call."""
    return create_app(documented_settings()).openapi()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "auth": {"openapi": {SCHEME: {"bearer": ADMIN_TOKEN}}},  # the /admin routes
        }
    ),
)
_cases: Counter[str] = Counter()
_authorised: Counter[str] = Counter()
"""Cases of a token-protected operation that got past the token (any answer but 401)."""


@pytest.fixture(scope="module")
def exercised() -> Iterator[Counter[str]]:
    """Cases run per operation; generation that silently produced nothing for an operation
    would pass every check, so each must have had some — and an operation behind the admin
    token some that were let in, or only its 401 would have been checked."""
    yield _cases
    operations = [result.ok() for result in schema.get_all_operations()]
    missed = [op.label for op in operations if not _cases[op.label]]
    assert not missed, f"no case was run for {missed}"
    locked = [op.label for op in operations if op.definition.raw.get("security")]
    assert locked, "the admin operations are not in the document"
    shut_out = [label for label in locked if not _authorised[label]]
    assert not shut_out, f"every case was refused the token for {shut_out}"


def test_the_served_document_is_the_one_tested(docs_server: str) -> None:
    served = httpx.get(f"{docs_server}/openapi.json").json()
    assert served == orjson.loads(orjson.dumps(_document()))


@schema.parametrize()
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, docs_server: str, exercised: Counter[str]
) -> None:
    exercised[case.operation.label] += 1
    response = case.call_and_validate(base_url=docs_server, checks=CHECKS)
    if response.status_code != 401:
        _authorised[case.operation.label] += 1
