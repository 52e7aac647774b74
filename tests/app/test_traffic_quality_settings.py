"""RTB_IVT_* and brand-safety settings: what the lifespan builds from them, and bad input."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange.settings import Settings
from exchange.wiring import build_brand_safety, build_screen


def test_the_defaults_block_the_known_and_flag_the_suspected() -> None:
    screen, rates = build_screen(Settings())
    assert screen.actions == {
        "crawler": "block",
        "datacenter": "block",
        "device": "flag",
        "seller": "off",  # no sellers file
        "schain": "flag",
        "rate": "flag",
    }
    assert rates is not None
    assert build_brand_safety(Settings()).empty


def test_each_check_can_be_set(tmp_path: Path) -> None:
    sellers = tmp_path / "sellers.json"
    sellers.write_text('{"sellers": [{"seller_id": "p1", "seller_type": "PUBLISHER"}]}')
    settings = Settings(
        ivt_crawler="flag",
        ivt_datacenter="off",
        ivt_seller="flag",
        ivt_sellers_file=sellers,
        ivt_rate="block",
        ivt_rate_per_ip=0,
        ivt_rate_per_device=0,
    )
    screen, rates = build_screen(settings)
    assert screen.actions["crawler"] == "flag"
    assert screen.actions["datacenter"] == "off"
    assert screen.actions["seller"] == "flag"
    assert screen.actions["rate"] == "off"  # both limits 0: nothing to count
    assert rates is None


def test_a_bad_action_is_refused() -> None:
    with pytest.raises(ValidationError, match="ivt_device"):
        Settings(ivt_device="maybe")  # type: ignore[arg-type]


def test_bad_lists_stop_the_start_naming_the_file(tmp_path: Path) -> None:
    ranges = tmp_path / "ranges.txt"
    ranges.write_text("10.0.0.0/33 nowhere\n")
    with pytest.raises(ValueError, match=r"RTB_IVT_DATACENTER_FILE: .*ranges.txt: line 1"):
        build_screen(Settings(ivt_datacenter_file=ranges))
    with pytest.raises(ValueError, match=r"RTB_IVT_SELLERS_FILE: .*missing.json: cannot read"):
        build_screen(Settings(ivt_sellers_file=tmp_path / "missing.json"))
    brand = tmp_path / "brand.json"
    brand.write_text('{"bcat": [1]}')
    with pytest.raises(ValueError, match=r"brand safety lists: .*brand.json: bcat"):
        build_brand_safety(Settings(brand_safety_file=brand))
