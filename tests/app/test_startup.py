"""The start-up line never shows a store password; settings problems name the variable."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config_check import serve_problems, settings_problems
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


def test_the_data_files_the_start_up_reads_are_checked_before_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each unreadable or junk data file is one line naming its variable, not a traceback
    from inside the lifespan."""
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    monkeypatch.setenv("RTB_CURRENCY_RATES_SOURCE", str(tmp_path / "missing.csv"))
    monkeypatch.setenv("RTB_IVT_SELLERS_FILE", str(junk))
    monkeypatch.setenv("RTB_BRAND_SAFETY_FILE", str(tmp_path / "missing.json"))
    settings, problems = serve_problems()
    assert settings is not None
    assert [p.split(":")[0] for p in problems] == [
        "RTB_CURRENCY_RATES_SOURCE",
        "RTB_IVT_SELLERS_FILE",
        "RTB_BRAND_SAFETY_FILE",
    ]
    assert str(junk) in problems[1]
    assert problems[2].endswith("missing.json: cannot read: No such file or directory")
    monkeypatch.delenv("RTB_CURRENCY_RATES_SOURCE")
    monkeypatch.delenv("RTB_IVT_SELLERS_FILE")
    monkeypatch.delenv("RTB_BRAND_SAFETY_FILE")
    assert serve_problems()[1] == []


def test_a_bad_canary_file_is_one_line_per_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    canary = tmp_path / "canary.json"
    canary.write_text('{"name": "c", "share": 0.9, "guards": {"min_requests": 1}}')
    monkeypatch.setenv("RTB_CANARY_FILE", str(canary))
    problems = serve_problems()[1]
    assert problems == [
        f"RTB_CANARY_FILE: {canary}: share: Input should be less than or equal to 0.5",
        f"RTB_CANARY_FILE: {canary}: guards.min_requests: "
        "Input should be greater than or equal to 10",
    ]
    monkeypatch.setenv("RTB_CANARY_FILE", str(tmp_path / "missing.json"))
    assert serve_problems()[1] == [
        f"RTB_CANARY_FILE: {tmp_path / 'missing.json'}: No such file or directory"
    ]
