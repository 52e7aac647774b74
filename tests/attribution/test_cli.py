"""``rtb attribute`` end to end: a touchpoint CSV and an event export in, the table, CSV and
plot out; bad input is exit 2 with the row and column named."""

import csv
from pathlib import Path

import pytest

from app.cli import main

HEADER = "journey_id,timestamp,kind,channel,value\n"
ROWS = """\
a,2026-01-01T00:00:00Z,touch,search,
a,2026-01-02T00:00:00Z,touch,search,
a,2026-01-03T00:00:00Z,touch,social,
a,2026-01-04T00:00:00Z,conversion,,90
b,1767225600,touch,social,
b,1767312000,touch,email,
b,1767355200,conversion,,60.00
c,2026-01-01T00:00:00,touch,email,
c,2026-01-05T00:00:00,conversion,,30
d,2026-01-01T00:00:00,touch,search,
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "touchpoints.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _credits(path: Path) -> dict[tuple[str, str], int]:
    with path.open(newline="", encoding="utf-8") as source:
        return {(r["model"], r["channel"]): int(r["credit_micros"]) for r in csv.DictReader(source)}


def test_touchpoints_to_table_csv_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, HEADER + ROWS)
    out = tmp_path / "report"
    assert main(["attribute", "--touchpoints", str(source), "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "3 conversions worth 180.00" in shown
    assert "| search | 0.00 (0.0%) | 90.00 (50.0%) | 60.00 (33.3%) |" in shown
    assert "Shapley: subset form, exact over 3 channels" in shown
    assert (out / "attribution.md").read_text(encoding="utf-8") in shown
    assert (out / "attribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    credits = _credits(out / "attribution.csv")
    assert credits[("shapley", "search")] == 45_000_000
    assert credits[("linear", "search")] == 60_000_000
    for model in {m for m, _ in credits}:
        assert sum(v for (m, _), v in credits.items() if m == model) == 180_000_000


def test_sampled_shapley_shows_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, HEADER + ROWS)
    args = ["attribute", "--touchpoints", str(source), "--exact-up-to", "0", "--no-plots"]
    assert main([*args, "--shapley-value", "rate", "--out", str(tmp_path / "r")]) == 0
    shown = capsys.readouterr().out
    assert "rate form, sampled: 2,000 random orders (seed 1)" in shown
    assert "Shapley ± s.e." in shown
    assert not (tmp_path / "r" / "attribution.png").exists()
    with (tmp_path / "r" / "attribution.csv").open(encoding="utf-8") as rows:
        errors = [r["std_error_micros"] for r in csv.DictReader(rows) if r["model"] == "shapley"]
    assert all(float(e) > 0 for e in errors)


def test_a_campaign_column_can_be_credited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(
        tmp_path,
        "journey_id,timestamp,kind,campaign,value\nj,0,touch,spring,\nj,60,touch,brand,\n"
        "j,120,conversion,,1.000001\n",
    )
    assert main(["attribute", "--touchpoints", str(source), "--key", "campaign"]) == 0
    shown = capsys.readouterr().out
    assert "| brand | 1.00 (100.0%) | 0.00 (0.0%) |" in shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("journey_id,timestamp,channel,value\nj,0,x,\n", "no column 'kind'"),
        (HEADER + "j,0,touch,x,\nj,1,conversion,,-5\n", "row 2, column 'value': negative: '-5'"),
        (HEADER + "j,0,click,x,\n", "row 1, column 'kind': unknown kind 'click'"),
        (HEADER + "j,0,touch,x,\nj,1,conversion,,ten\n", "row 2, column 'value': not a decimal"),
        (HEADER + "j,yesterday,touch,x,\n", "row 1, column 'timestamp': not seconds or ISO"),
        (HEADER + "j,0,touch,,\n", "row 1, column 'channel': empty"),
        (HEADER + ",0,touch,x,\n", "row 1, column 'journey_id': empty"),
    ],
)
def test_bad_input_is_exit_2_naming_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    source = _write(tmp_path, text)
    assert main(["attribute", "--touchpoints", str(source)]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert str(source) in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--half-life-days", "0"],
        ["--lookback-days", "-1"],
        ["--shapley-value", "rate"],  # every journey converted: no rate to compare
        ["--exact-up-to", "23"],
    ],
)
def test_bad_options_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    source = _write(tmp_path, HEADER + "j,0,touch,x,\nj,1,conversion,,1\n")
    given = ["--touchpoints", str(source), *args] if args else []
    assert main(["attribute", *given]) == 2
    assert capsys.readouterr().err.startswith("rtb attribute: ")


def test_an_event_export_credits_the_clicked_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``rtb export`` writes: billed impressions, their clicks, conversions by click id
    (``auction:imp:bid``). The log has no user key, so each conversion's journey is its own
    impression, and every model gives its value to that impression's campaign."""
    export = tmp_path / "events.csv"
    fields = ["kind", "ts_ms", "auction_id", "imp_id", "bid_id", "bidder", "campaign_id"]
    rows = [
        ["auction", "1000", "a1", "", "", "", ""],
        ["notice_billing", "2000", "a1", "1", "b1", "house", "spring"],
        ["click", "3000", "a1", "1", "b1", "house", "spring"],
        ["notice_billing", "2500", "a2", "1", "b2", "house", "brand"],
        ["notice_billing", "2600", "a3", "1", "b3", "house", "brand"],
        ["click", "3600", "a3", "1", "b3", "house", "brand"],
    ]
    with export.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([*fields, "click", "value_micros"])
        for row in rows:
            writer.writerow([*row, "", ""])
        writer.writerow(["conversion", "9000", "", "", "", "house", "spring", "a1:1:b1", "5000000"])
        writer.writerow(["conversion", "9500", "", "", "", "house", "brand", "a3:1:b3", "2000000"])
    assert main(["attribute", "--events", str(export), "--out", str(tmp_path / "r")]) == 0
    shown = capsys.readouterr().out
    assert "2 conversions worth 7.00" in shown
    assert "Journeys without a conversion: 1." in shown  # a2: billed, never clicked
    credits = _credits(tmp_path / "r" / "attribution.csv")
    for model in {m for m, _ in credits}:
        assert credits[(model, "house/spring")] == 5_000_000
        assert credits[(model, "house/brand")] == 2_000_000


def test_a_file_that_is_no_export_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _write(tmp_path, "journey_id,timestamp\nj,0\n")
    assert main(["attribute", "--events", str(export)]) == 2
    assert "not an event export (no 'kind' column)" in capsys.readouterr().err
    touchpoints = _write(tmp_path, HEADER + ROWS)  # has a kind, but no event time
    assert main(["attribute", "--events", str(touchpoints)]) == 2
    assert "event 4 (conversion), field 'ts_ms': not a number" in capsys.readouterr().err
    export.write_text("kind,ts_ms,click,value_micros\nconversion,5,a:1:b,-3\n", encoding="utf-8")
    assert main(["attribute", "--events", str(export)]) == 2
    error = capsys.readouterr().err
    assert "event 1 (conversion), field 'value_micros': not a whole number ≥ 0: '-3'" in error
