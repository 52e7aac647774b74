"""The limits reach uvicorn and the protocol as configured: ``rtb serve`` and the tests
serve the exchange with the same options."""

from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.cli import main
from app.http_limits import (
    DEFAULT_LIMITS,
    LIMITS_STATE_KEY,
    HttpLimits,
    limits_in,
    server_options,
)
from app.http_protocol import BoundedHttpToolsProtocol
from exchange.settings import Settings


def test_rtb_serve_runs_uvicorn_with_the_server_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTB_MAX_CONNECTIONS", "300")
    monkeypatch.setenv("RTB_KEEP_ALIVE_S", "7")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("app.cli.uvicorn.run", lambda *_, **options: calls.append(options))
    assert main(["serve", "--port", "8123"]) == 0
    (options,) = calls
    assert options.items() >= server_options(Settings()).items()
    assert (options["limit_concurrency"], options["timeout_keep_alive"]) == (300, 7)


def test_uvicorn_loads_the_bounded_protocol() -> None:
    config = Config("app.main:create_app", factory=True, **server_options(Settings()))
    config.load()
    assert config.http_protocol_class is BoundedHttpToolsProtocol
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)


def test_the_lifespan_state_carries_the_limits_else_the_defaults_apply() -> None:
    limits = HttpLimits.from_settings(Settings(max_headers=7, header_timeout_s=0.5))
    assert limits_in({LIMITS_STATE_KEY: limits}) is limits
    assert limits_in({}) is DEFAULT_LIMITS
    assert limits_in({LIMITS_STATE_KEY: "not limits"}) is DEFAULT_LIMITS


def test_the_defaults_are_the_settings_defaults() -> None:
    """Read from the declarations, not the environment (which the defaults never read)."""
    waits = {"queue_wait_s", "busy_queue_wait_s"}
    for name in HttpLimits.__dataclass_fields__.keys() - {"refused", "shed", *waits}:
        assert getattr(DEFAULT_LIMITS, name) == Settings.model_fields[name].default
    for name in waits:
        assert getattr(DEFAULT_LIMITS, name) == Settings.model_fields["shed_after_ms"].default / 1e3
