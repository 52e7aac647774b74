"""The start-up line never shows a store password; settings problems name the variable."""

import pytest
from pydantic import ValidationError

from app.config_check import settings_problems
from app.startup import redacted_url
from exchange.settings import Settings


def test_a_redis_password_is_masked_and_the_rest_kept() -> None:
    assert (
        redacted_url("redis://:s3cret@cache.internal:6380/0")
        == "redis://:***@cache.internal:6380/0"
    )
    assert redacted_url("rediss://app:s3cret@cache/0") == "rediss://app:***@cache/0"
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_settings_problems_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTB_PORT", "-1")
    monkeypatch.setenv("RTB_STORE", "disk")
    with pytest.raises(ValidationError) as raised:
        Settings()
    problems = settings_problems(raised.value)
    assert [p.split(":")[0] for p in problems] == ["RTB_PORT", "RTB_STORE"]
