"""Settings that would lose money are refused at startup."""

import pytest
from pydantic import ValidationError

from app.cli import main
from exchange.bid_intake import DEFAULT_MAX_BID_MICROS
from exchange.core import ExchangeConfig
from exchange.settings import Settings
from exchange.wiring import exchange_config


def test_a_shared_store_needs_a_shared_notice_secret() -> None:
    with pytest.raises(ValidationError, match="notice_secret is required with store=redis"):
        Settings(store="redis")


def test_a_short_notice_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(notice_secret="too-short")  # type: ignore[arg-type]


def test_without_a_secret_a_single_process_gets_a_random_one() -> None:
    one, two = Settings(), Settings()
    assert len(one.notice_key()) == 32
    assert one.notice_key() == one.notice_key()
    assert one.notice_key() != two.notice_key()


def test_several_workers_on_the_memory_store_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RTB_STORE", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "needs a shared store" in capsys.readouterr().err


def test_the_maximum_bid_comes_from_rtb_max_bid_cpm(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default is the same figure everywhere: settings, the exchange's config, intake.
    default = exchange_config(Settings())
    assert default.max_bid_micros == DEFAULT_MAX_BID_MICROS == 1_000_000_000
    assert ExchangeConfig.__dataclass_fields__["max_bid_micros"].default == DEFAULT_MAX_BID_MICROS
    monkeypatch.setenv("RTB_MAX_BID_CPM", "250.5")
    assert exchange_config(Settings()).max_bid_micros == 250_500_000
    for bad in ["0", "-1", "0.0000001", "nan", "inf", "lots"]:
        monkeypatch.setenv("RTB_MAX_BID_CPM", bad)
        with pytest.raises(ValidationError, match="max_bid_cpm"):
            Settings()
