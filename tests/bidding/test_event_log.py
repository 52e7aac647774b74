"""The event log as training data: a winner's logged inputs encode to the served vector, and
the join labels billed impressions with their clicks and conversions."""

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bidding.campaigns import Campaign, Creative
from bidding.event_log import (
    WINNER_EVENT,
    ad_key,
    impression_id,
    labelled_impressions,
    read_event_csv,
    winner_fields,
)
from bidding.features import RAW_COLUMNS, AdKey, ContextFeatures, encode_columns, feature_matrix
from bidding.train import TrainConfig, train_command
from budget.stream import MemoryEventStream
from exchange.events import StreamEventSink
from exchange.export import export_events
from exchange.metrics import Metrics
from exchange.notice_token import NoticeClaim, NoticeKind
from openrtb.request import BidRequest
from tests.builders import banner_request

NOW_S = 1_767_225_600.25
AD = AdKey("cmp-1", "cr-1", "IAB18-3", 300, 250)


def winner(auction: str, imp: str, bid: str, **fields: str) -> dict[str, str]:
    base = {"kind": WINNER_EVENT, "auction_id": auction, "imp_id": imp, "bid_id": bid}
    base.update({"ts": "1767225600", "campaign_id": "cmp", "creative_id": "cr", "w": "300"})
    base.update(fields)
    return base


def billed(auction: str, imp: str, bid: str) -> dict[str, str]:
    return {"kind": "notice_billing", "auction_id": auction, "imp_id": imp, "bid_id": bid}


def clicked(auction: str, imp: str, bid: str) -> dict[str, str]:
    return {"kind": "click", "auction_id": auction, "imp_id": imp, "bid_id": bid}


def converted(click: str) -> dict[str, str]:
    return {"kind": "conversion", "click": click, "conversion_id": "o1", "value_micros": "1"}


async def test_logged_inputs_train_on_exactly_the_served_vector(tmp_path: Path) -> None:
    body = banner_request()
    body["user"].update(yob=1990, gender="F", data=[{"id": "dp", "segment": [{"id": "s,1"}]}])
    request = BidRequest.model_validate(body)
    imp = request.imp[0]
    served = feature_matrix(ContextFeatures.of(request, imp, NOW_S), [AD])

    # The exchange's path: event sink → stream → `rtb export` CSV → join.
    stream = MemoryEventStream()
    sink = StreamEventSink(stream, Metrics())
    sink.emit(
        WINNER_EVENT,
        auction_id="a1",
        imp_id=imp.id,
        bid_id="b1",
        **winner_fields(request, imp, NOW_S, AD),
    )
    sink.emit("notice_billing", auction_id="a1", imp_id=imp.id, bid_id="b1", charged_micros=1)
    await sink.aclose()
    export = tmp_path / "events.csv"
    assert await export_events(stream, export) == 2
    columns = labelled_impressions(read_event_csv([export]))

    assert set(RAW_COLUMNS) <= set(columns)
    np.testing.assert_array_equal(encode_columns(columns), served)


def test_ad_columns_come_from_the_creative() -> None:
    creative = Creative("cr-1", 300, 250, "<a>", ("x.example",), ("IAB18-3", "IAB18"))
    campaign = Campaign("cmp-1", "Adv", "seat", 1, 1, "UTC", (creative,))
    assert ad_key(campaign, creative) == AD
    bare = Creative("cr-2", 0, 0, "<a>", ("x.example",), (), media_type="video")
    assert ad_key(campaign, bare) == AdKey("cmp-1", "cr-2", None, 0, 0)


def test_billed_winners_are_impressions_labelled_by_clicks_and_conversions() -> None:
    events: list[dict[str, Any]] = [
        {"kind": "auction", "auction_id": "a", "winners": "..."},
        winner("a", "1", "b1", country="USA", yob="1990"),
        winner("a", "2", "b2", ts="1767225601"),
        winner("c", "1", "b3", ts="1767225602", os=""),
        winner("d", "1", "b4"),  # never billed: not shown
        billed("a", "1", "b1"),
        billed("a", "1", "b1"),  # a replayed export
        billed("a", "2", "b2"),
        billed("c", "1", "b3"),
        billed("x", "1", "b9"),  # no features: an external DSP's or an older log's
        clicked("a", "1", "b1"),
        clicked("d", "1", "b4"),
        converted(impression_id("a", "2", "b2")),  # its click event was lost
        converted("nobody:1:b0"),
    ]
    columns = labelled_impressions(events)
    assert columns["ts"].tolist() == [1767225600.0, 1767225601.0, 1767225602.0]
    assert columns["click"].tolist() == [1.0, 1.0, 0.0]
    assert columns["conversion"].tolist() == [0.0, 1.0, 0.0]
    assert columns["country"].tolist() == ["USA", None, None]
    assert columns["yob"][0] == 1990.0
    assert math.isnan(columns["yob"][1])
    assert columns["os"].tolist() == [None, None, None]
    assert columns["w"].dtype == np.float64
    assert columns["campaign_id"].dtype == object


def test_an_empty_log_joins_to_no_rows() -> None:
    columns = labelled_impressions([])
    assert all(len(values) == 0 for values in columns.values())
    assert {"click", "conversion", *RAW_COLUMNS} == set(columns)


def test_a_malformed_number_names_the_event_and_field() -> None:
    events = [winner("a", "1", "b", yob="nineteen"), billed("a", "1", "b")]
    with pytest.raises(ValueError, match=r"event 0 \(winner_features\): field 'yob'"):
        labelled_impressions(events)


def test_impression_ids_match_the_notice_claims() -> None:
    claim = NoticeClaim(
        NoticeKind.CLICK, "a", "i:1", "b-2", "s", "h", "c", "ad", 1, "USD", True, 0, 1, None
    )
    assert impression_id("a", "i:1", "b-2") == claim.impression_id


def test_csv_files_are_read_in_order_and_must_be_exports(tmp_path: Path) -> None:
    first, second, other = tmp_path / "1.csv", tmp_path / "2.csv", tmp_path / "x.csv"
    first.write_text("kind,ts_ms,auction_id\nauction,1,a\nclick,2,\n")
    second.write_text("kind,ts_ms\nconversion,3\n")
    assert list(read_event_csv([first, second])) == [
        {"kind": "auction", "ts_ms": "1", "auction_id": "a"},
        {"kind": "click", "ts_ms": "2"},
        {"kind": "conversion", "ts_ms": "3"},
    ]
    other.write_text("ts,click\n1,0\n")
    with pytest.raises(ValueError, match="not an event export"):
        list(read_event_csv([other]))


def test_training_on_too_small_a_log_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "events.csv"
    export.write_text(
        "kind,ts_ms,auction_id,imp_id,bid_id,ts\n"
        "winner_features,1,a,1,b,1767225600\n"
        "notice_billing,2,a,1,b,\n"
    )
    out = io.StringIO()
    status = train_command(
        input_path=None,
        synthetic_rows=None,
        events=[export],
        labels=("click",),
        out_dir=tmp_path / "models",
        config=TrainConfig(rounds=5),
        out=out,
    )
    assert status == 2
    assert "joined 1 impressions (0 clicks, 0 conversions)" in out.getvalue()
    assert "need at least 100" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
