"""The exchange as an operator runs it (``rtb serve``'s protocol and limits, the demo
campaigns, real Redis), served on a free port for the tests that read its documentation."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from exchange.settings import Settings
from tests.redis_keys import delete_prefixed
from tests.servers import serve_like_rtb

SECRET = "docs-notice-secret-0123456789-abcdef"
ADMIN_TOKEN = "docs-admin-token-0123456789-abcdefghij"
"""The documented exchange has its admin API on: schemathesis and the examples call it."""
RESPONSE_CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""What every documented answer is checked for (schemathesis and the reproduced examples)."""


def docs_settings(redis_url: str, prefix: str, state_dir: Path) -> Settings:
    """What the documentation is checked against: the defaults but for the store, and the
    admin API on (its token)."""
    return Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        redis_timeout_s=1.0,
        key_prefix=prefix,
        notice_secret=SECRET,  # type: ignore[arg-type]
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        state_dir=state_dir,
    )


def documented_settings() -> Settings:
    """What the document is built from without a server: the defaults, the admin API on."""
    return Settings(admin_token=ADMIN_TOKEN)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def docs_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one exchange for a whole module; its keys are deleted afterwards."""
    prefix = f"rtb-test:docs-{tmp_path_factory.mktemp('docs').name}:"
    settings = docs_settings(redis_url, prefix, tmp_path_factory.mktemp("state"))
    try:
        with serve_like_rtb(create_app(settings), settings) as url:
            yield url
    finally:
        delete_prefixed(redis_url, prefix)
