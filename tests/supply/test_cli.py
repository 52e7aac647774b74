"""``rtb supply-paths`` end to end: an export in, the table, report, CSV and plot out; bad
input is exit 2 naming the file, row and field."""

import csv
from pathlib import Path

import pytest

from app.cli import main

EXPORT = """\
kind,ts_ms,auction_id,imp_id,outcome,nobid,winners,ivt,schain,hops,schain_complete
auction,1,a1,,bid,,1|b1|2000000|1000000,,pub.example:p1,1,1
auction,2,a2,,nobid,no_bids,,,pub.example:p1,1,1
auction,3,r1,,bid,,1|c1|3000000|2500000,flag:datacenter,pub.example:p1>re.example:r|7,2,1
notice_billing,4,a1,1,,,,,,,
click,5,a1,1,,,,,,,
"""


def test_export_to_table_report_csv_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "events.csv"
    source.write_text(EXPORT, encoding="utf-8")
    out = tmp_path / "report"
    assert main(["supply-paths", "--events", str(source), "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "2 paths, 3 auctions" in shown
    assert (
        "| pub.example:p1 | 1 | 1 | 2 | 50.0 % | 50.0 % | 1 | 1.0000 | 50.0 % | 100.0 % "
        "| 100.0 % | 0.0 % |" in shown
    )
    assert "| pub.example:p1>re.example:r\\|7 | 2 |" in shown  # a `|` is escaped in a cell
    assert (out / "supply_paths.md").read_text(encoding="utf-8").endswith(shown.split("wrote ")[0])
    assert (out / "supply_paths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "supply_paths.csv").open(newline="", encoding="utf-8") as file:
        rows = {row["path"]: row for row in csv.DictReader(file)}
    assert rows["pub.example:p1>re.example:r|7"]["ecpm_micros"] == "2500000"
    assert rows["pub.example:p1>re.example:r|7"]["ivt_share"] == "1.0"


def test_bad_input_is_exit_2_naming_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "events.csv"
    source.write_text(EXPORT.replace("r|7,2,1", "r|7,two,1"), encoding="utf-8")
    assert main(["supply-paths", "--events", str(source)]) == 2
    assert f"{source} row 4: hops 'two'" in capsys.readouterr().err


def test_no_auctions_or_no_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("kind,ts_ms\nclick,1\n", encoding="utf-8")
    assert main(["supply-paths", "--events", str(empty)]) == 2
    assert "no auction events" in capsys.readouterr().err
    assert main(["supply-paths", "--events", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
