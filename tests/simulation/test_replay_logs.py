"""Reading replay logs: both forms, money into micros, bad input named by line and field."""

from pathlib import Path

import numpy as np
import pytest

from simulation.replay.logs import LogError, from_arrays, read_log
from simulation.replay.synthetic import LogSpec, generate, write_compact

RAW = Path(__file__).parents[1] / "data" / "ipinyou_raw_sample.tsv"


def write(tmp_path: Path, text: str, name: str = "log.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_compact_form_with_spaces_or_tabs(tmp_path: Path) -> None:
    log = read_log(write(tmp_path, "0 77 0.001\n1\t300\t0.02\n\n0  0.5   0.0005\n"))
    assert log.click.tolist() == [0, 1, 0]
    assert log.price_cpm_micros.tolist() == [77_000_000, 300_000_000, 500_000]
    assert log.cost_micros.tolist() == [77_000, 300_000, 500]  # CPM ÷ 1000, rounded down
    assert log.pctr is not None
    assert log.pctr.tolist() == [0.001, 0.02, 0.0005]
    assert log.total_cost_micros == 377_500


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 77 0.001\n1 300\n", "log.txt:2: 2 fields, the compact form has 3"),
        ("0 77 0.001\n\n1 x 0.2\n", "log.txt:3: market_price: not a number: 'x'"),
        ("0 77 0.001\n2 30 0.2\n", "line 2: click must be 0 or 1"),
        ("0 77 0.001\n0 -3 0.2\n", "line 2: market_price must be a CPM ≥ 0"),
        ("0 77 0.001\n0 3 1.5\n", "line 2: pctr must be in [0, 1]"),
        ("0 77 0.001\n0 3.0000001 0.5\n", "line 2: market_price has more than six decimals"),
        ("0 nan 0.001\n", "line 1: market_price must be a CPM ≥ 0"),
        ("\n\n", "empty log"),
    ],
)
def test_bad_compact_lines_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_log(write(tmp_path, text))


def test_the_raw_form_keeps_the_other_fields() -> None:
    log = read_log(RAW)
    assert len(log) == 16
    assert log.pctr is None  # a raw log has none: a column or a model must give it
    assert int(log.click.sum()) == 2
    assert log.price_cpm_micros[0] == 64_000_000  # payprice 64
    assert {"region", "slotid", "slotprice", "usertag", "advertiser"} <= set(log.columns)
    assert log.columns["advertiser"][0] == "1458"
    with pytest.raises(LogError, match="no pctr column"):
        log.require_pctr()


def test_a_raw_log_with_a_pctr_column(tmp_path: Path) -> None:
    lines = RAW.read_text(encoding="utf-8").splitlines()
    rows = [lines[0] + "\tpctr"] + [
        line + f"\t{0.001 * (i + 1):g}" for i, line in enumerate(lines[1:])
    ]
    log = read_log(write(tmp_path, "\n".join(rows) + "\n", "raw.tsv"))
    assert log.pctr is not None
    assert log.pctr[:3].tolist() == [0.001, 0.002, 0.003]
    assert "pctr" not in log.columns


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h, r: (h.replace("payprice", "paid"), r), "no market price column"),
        (lambda h, r: (h.replace("click", "clicked"), r), "no 'click' in the header"),
        (lambda h, r: (h, [r[0][: r[0].rindex("\t")], *r[1:]]), "raw.tsv:2: 26 fields"),
        (lambda h, r: (h, [r[0].replace("\t64\t", "\tlots\t"), *r[1:]]), "payprice: not a num"),
    ],
)
def test_bad_raw_logs_are_named(tmp_path: Path, edit: object, message: str) -> None:
    lines = RAW.read_text(encoding="utf-8").splitlines()
    header, rows = edit(lines[0], lines[1:])  # type: ignore[operator]
    with pytest.raises(LogError, match=message):
        read_log(write(tmp_path, "\n".join([header, *rows]) + "\n", "raw.tsv"))


def test_a_generated_log_survives_the_compact_file(tmp_path: Path) -> None:
    logs = generate(LogSpec(rows_per_day=500, train_days=1, test_days=1), seed=3)
    path = tmp_path / "test.txt"
    write_compact(logs.test, path)
    back = read_log(path)
    assert np.array_equal(back.click, logs.test.click)
    assert np.array_equal(back.price_cpm_micros, logs.test.price_cpm_micros)
    assert back.pctr is not None
    assert logs.test.pctr is not None
    assert np.allclose(back.pctr, logs.test.pctr, rtol=1e-5)


def test_arrays_are_checked_like_files() -> None:
    with pytest.raises(LogError, match="row 1: click must be 0 or 1"):
        from_arrays(np.array([0, 3]), np.array([1.0, 2.0]), np.array([0.1, 0.1]))
