"""An experiment's units joined from exported events, by hand."""

import pytest

from experiments.events import units_from_events


def _won(auction: str, variant: str | None, ts: str) -> dict[str, str]:
    event = {"kind": "winner_features", "auction_id": auction, "imp_id": "1", "bid_id": "b",
             "ts": ts}  # fmt: skip
    return {**event, "variant": variant} if variant else event


def _ids(auction: str) -> dict[str, str]:
    return {"auction_id": auction, "imp_id": "1", "bid_id": "b"}


def test_billed_impressions_carry_their_variant_charge_click_and_conversions() -> None:
    events = [
        _won("a2", "bolder:treat", "20"),
        _won("a1", "bolder:control", "10"),
        _won("a3", "bolder:control", "30"),  # never billed: no unit
        _won("a4", "other:control", "40"),  # another experiment
        _won("a5", None, "50"),  # outside any experiment
        {"kind": "notice_billing", **_ids("a1"), "charged_micros": "2100"},
        {"kind": "notice_billing", **_ids("a2"), "charged_micros": "2600"},
        {"kind": "notice_billing", **_ids("a4"), "charged_micros": "1000"},
        {"kind": "click", **_ids("a2")},
        {"kind": "conversion", "click": "a2:1:b", "value_micros": "25000000"},
        {"kind": "conversion", "click": "a2:1:b", "value_micros": "5000000"},
    ]
    units = units_from_events(events, "bolder")
    assert units.variant.tolist() == ["control", "treat"]  # in the order they were won
    assert units.counts["clicks"].tolist() == [0, 1]
    assert units.counts["conversions"].tolist() == [0, 2]
    assert units.micros["spend"].tolist() == [2100, 2600]
    assert units.micros["value"].tolist() == [0, 30_000_000]


def test_no_units_and_a_bad_charge_are_named() -> None:
    with pytest.raises(ValueError, match="no billed impression of experiment 'bolder'"):
        units_from_events([_won("a1", "bolder:control", "1")], "bolder")
    bad = [_won("a1", "bolder:control", "1"),
           {"kind": "notice_billing", **_ids("a1"), "charged_micros": "-5"}]  # fmt: skip
    with pytest.raises(ValueError, match=r"event 1 \(notice_billing\): field 'charged_micros'"):
        units_from_events(bad, "bolder")
