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


def test_the_charge_is_the_first_notices_whichever_kind_it_is() -> None:
    events = [
        _won("a1", "bolder:control", "10"),
        {"kind": "notice_win", **_ids("a1"), "charged_micros": "2100"},  # the nurl first
        {"kind": "notice_billing", **_ids("a1"), "charged_micros": "0"},  # then: no charge
        _won("a2", "bolder:treat", "20"),
        {"kind": "notice_billing", **_ids("a2"), "charged_micros": "2600"},
    ]
    units = units_from_events(events, "bolder")
    assert units.micros["spend"].tolist() == [2100, 2600]
    assert units.counts["impressions"].tolist() == [1, 1]


def test_a_canarys_arms_are_read_from_the_winners() -> None:
    canary = {"kind": "winner_features", **_ids("a1"), "ts": "1", "canary": "ctr-new:canary"}
    events = [canary, {"kind": "notice_billing", **_ids("a1"), "charged_micros": "900"}]
    units = units_from_events(events, "ctr-new")
    assert units.variant.tolist() == ["canary"]


def test_no_units_and_a_bad_charge_are_named() -> None:
    with pytest.raises(ValueError, match="no billed impression of experiment 'bolder'"):
        units_from_events([_won("a1", "bolder:control", "1")], "bolder")
    bad = [_won("a1", "bolder:control", "1"),
           {"kind": "notice_billing", **_ids("a1"), "charged_micros": "-5"}]  # fmt: skip
    with pytest.raises(ValueError, match=r"event 1 \(notice_billing\): field 'charged_micros'"):
        units_from_events(bad, "bolder")


TREAT = '[["1", "b", "bolder:treat"]]'


def test_auction_events_make_every_bid_a_unit_so_win_rates_are_per_bid() -> None:
    from experiments.analysis import estimate

    events = [
        {"kind": "auction", "auction_id": "a1", "ts": "10",
         "variants": '[["1", "b", "bolder:control"], ["2", "c", "other:x"]]'},
        {"kind": "auction", "auction_id": "a2", "ts": "20", "variants": TREAT},
        {"kind": "auction", "auction_id": "a3", "ts": "30", "variants": TREAT},
        _won("a1", "bolder:control", "10"),
        _won("a2", "bolder:treat", "20"),  # a3 lost: a unit with no impression
        {"kind": "notice_billing", **_ids("a1"), "charged_micros": "2100"},
        {"kind": "notice_billing", **_ids("a2"), "charged_micros": "2600"},
        {"kind": "click", **_ids("a3")},  # a click without a billed impression: not counted
    ]  # fmt: skip
    units = units_from_events(events, "bolder")
    assert units.variant.tolist() == ["control", "treat", "treat"]
    assert units.counts["bids"].tolist() == [1, 1, 1]
    assert units.counts["impressions"].tolist() == [1, 1, 0]
    assert units.counts["clicks"].tolist() == [0, 0, 0]
    assert units.micros["spend"].tolist() == [2100, 2600, 0]
    assert estimate(units.of("treat", 3), "win_rate").value == 0.5


def test_garbled_variants_are_named_and_odd_ids_are_kept_whole() -> None:
    odd = {"kind": "auction", "auction_id": "a1", "variants": '[["1|;x", "b;|", "bolder:t"]]'}
    events = [odd, {"kind": "notice_billing", "auction_id": "a1", "imp_id": "1|;x",
                    "bid_id": "b;|", "charged_micros": "10"}]  # fmt: skip
    assert units_from_events(events, "bolder").counts["impressions"].tolist() == [1]
    with pytest.raises(ValueError, match=r"event 0 \(auction\): field 'variants'"):
        units_from_events([{**odd, "variants": "1|b|bolder:t"}], "bolder")
