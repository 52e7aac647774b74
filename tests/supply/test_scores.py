"""Path scores from hand-built events whose figures are worked out here."""

import pytest

from supply.scores import UNRECORDED, InputError, score_paths

DIRECT = "pub.example:p1"
RESOLD = "pub.example:p1>resell.example:r7"


def _auction(aid: str, path: str | None, hops: int, outcome: str, **more: str) -> dict[str, str]:
    event = {"kind": "auction", "auction_id": aid, "outcome": outcome, "hops": str(hops),
             "schain_complete": "1", **more}  # fmt: skip
    if path is not None:
        event["schain"] = path
    return event


EVENTS = [
    # direct: 4 auctions, 3 won (4 imps), 1 no bids; bids 2.0/1.5/3.0/1.0, clearing 1.0 each
    _auction("a1", DIRECT, 1, "bid", winners="1|b1|2000000|1000000;2|b2|1500000|1000000"),
    _auction("a2", DIRECT, 1, "bid", winners="1|b3|3000000|1000000"),
    _auction("a3", DIRECT, 1, "bid", winners="1|b4|1000000|1000000"),
    _auction("a4", DIRECT, 1, "nobid", nobid="no_bids"),
    # resold: 4 auctions, 1 won, 1 not cleared, 1 flagged, 1 blocked
    _auction("r1", RESOLD, 2, "bid", winners="1|c1|4000000|3000001", ivt="flag:datacenter"),
    _auction("r2", RESOLD, 2, "nobid", nobid="not_cleared"),
    _auction("r3", RESOLD, 2, "nobid", nobid="no_bids"),
    _auction("r4", RESOLD, 2, "nobid", nobid="blocked", ivt="block:crawler"),
    _auction("o1", None, 0, "nobid", nobid="no_bids"),  # exported before paths were recorded
    {"kind": "notice_billing", "auction_id": "a1", "imp_id": "1"},
    {"kind": "notice_billing", "auction_id": "a1", "imp_id": "2"},
    {"kind": "notice_billing", "auction_id": "a2", "imp_id": "1"},
    {"kind": "notice_billing", "auction_id": "r1", "imp_id": "1"},
    {"kind": "click", "auction_id": "a1", "imp_id": "2"},
    {"kind": "click", "auction_id": "a3", "imp_id": "1"},  # never billed: not counted
    {"kind": "notice_win", "auction_id": "a3", "imp_id": "1"},
]


def test_figures_per_path() -> None:
    scores = {s.path: s for s in score_paths((f"row {i}", e) for i, e in enumerate(EVENTS))}
    fields = ("auctions", "hops", "wins", "bid_rate", "win_rate", "ecpm_micros", "billed",
              "billed_share", "clicks", "click_rate", "ivt_share", "blocked")  # fmt: skip
    expected = {
        DIRECT: (4, 1, 4, 0.75, 0.75, 1_000_000, 3, 0.75, 1, 1 / 3, 0.0, 0),
        RESOLD: (4, 2, 1, 0.5, 0.25, 3_000_001, 1, 1.0, 0, 0.0, 0.5, 1),
        UNRECORDED: (1, 0, 0, 0.0, 0.0, None, 0, None, 0, None, 0.0, 0),
    }
    for path, figures in expected.items():
        assert tuple(getattr(scores[path], name) for name in fields) == figures, path
    assert scores[DIRECT].gap == pytest.approx(1 - 4.0 / 7.5)
    assert scores[RESOLD].gap == pytest.approx(1 - 3_000_001 / 4_000_000)
    assert scores[UNRECORDED].gap is None


def test_most_auctions_first() -> None:
    events = [_auction("x", "b:1", 1, "nobid"), _auction("y", "a:1", 1, "nobid"),
              _auction("z", "b:1", 1, "nobid")]  # fmt: skip
    assert [s.path for s in score_paths(("r", e) for e in events)] == ["b:1", "a:1"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_auction("a", DIRECT, 1, "bid", winners="1|b|x|1"), "row 7: winners price 'x'"),
        (_auction("a", DIRECT, 1, "bid", winners="1|b|2"), "row 7: winners item '1|b|2'"),
        (_auction("a", DIRECT, 1, "maybe"), "row 7: outcome 'maybe'"),
        ({**_auction("a", DIRECT, 1, "bid"), "hops": "two"}, "row 7: hops 'two'"),
    ],
)
def test_a_malformed_event_names_the_row_and_field(event: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("|", r"\|")):
        score_paths([("row 7", event)])
