"""``rtb experiment`` end to end on CSV files, and the assignment of keys to variants."""

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from experiments.assignment import variant_of
from experiments.units import read_units

SHARES = [("control", 0.5), ("shaded", 0.5)]


def _write_units(path: Path, lift: float, rows: int = 60_000, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ts", "variant", "impressions", "clicks", "conversions", "spend", "value"])
        for i in range(rows):
            variant = variant_of(f"user-{i}", "exp-1", SHARES)
            ctr = 0.03 * (1 + lift if variant == "shaded" else 1)
            clicked = int(rng.random() < ctr)
            converted = int(clicked and rng.random() < 0.1)
            writer.writerow([1_767_225_600 + i, variant, 1, clicked, converted, "0.0021",
                             "4.50" if converted else "0"])  # fmt: skip


def test_a_real_lift_is_reported_as_a_difference_with_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units.csv"
    _write_units(units, lift=0.3)
    assert main(["experiment", "--input", str(units), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| shaded | 20 |"))
    assert "| different |" in row
    assert (tmp_path / "r" / "report.md").read_text().count("| shaded |") == 2
    assert (tmp_path / "r" / "looks.png").stat().st_size > 10_000
    control = next(line for line in out.splitlines() if line.startswith("| control |"))
    spend_cell = control.split("|")[4].strip()
    n_control = int(control.split("|")[2].strip().replace(",", ""))
    assert spend_cell == f"{n_control * 2_100 / 1_000_000:,.2f}"  # exact: micros, not floats


def test_no_lift_is_no_difference_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    units = tmp_path / "units.csv"
    _write_units(units, lift=0.0, rows=20_000)
    assert main(["experiment", "--input", str(units), "--metric", "ctr"]) == 0
    assert "| no difference found yet |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"clicks": "x"}, "units.csv:3: column 'clicks': 'x' is not a whole number ≥ 0"),
        ({"spend": "-1"}, "units.csv:3: column 'spend': '-1' is negative"),
        ({"value": "abc"}, "units.csv:3: column 'value': 'abc' is not an amount"),
        ({"variant": ""}, "units.csv:3: column 'variant': empty"),
    ],
)
def test_a_bad_cell_is_named_by_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cells: dict[str, str], message: str
) -> None:
    row = {"variant": "control", "impressions": "1", "clicks": "0", "spend": "1", "value": "0"}
    units = tmp_path / "units.csv"
    with units.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(row))
        writer.writeheader()
        writer.writerows([row, {**row, **cells}])
    assert main(["experiment", "--input", str(units)]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_control_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    units = tmp_path / "units.csv"
    _write_units(units, lift=0.0, rows=100)
    assert main(["experiment", "--input", str(units), "--control", "nobody"]) == 2
    err = capsys.readouterr().err
    assert "no units of the control 'nobody' (variants: control, shaded)" in err


def test_assignment_is_stable_follows_the_shares_and_the_salt_reshuffles() -> None:
    keys = [f"user-{i}" for i in range(20_000)]
    first = [variant_of(k, "exp-1", [("a", 0.2), ("b", 0.8)]) for k in keys]
    assert first == [variant_of(k, "exp-1", [("a", 0.2), ("b", 0.8)]) for k in keys]
    assert Counter(first)["a"] / len(keys) == pytest.approx(0.2, abs=0.01)
    other = [variant_of(k, "exp-2", [("a", 0.2), ("b", 0.8)]) for k in keys]
    both_a = sum(x == y == "a" for x, y in zip(first, other, strict=True)) / len(keys)
    assert both_a == pytest.approx(0.04, abs=0.006)  # independent: 0.2 × 0.2
    with pytest.raises(ValueError, match="shares"):
        variant_of("k", "s", [("a", 0.0)])


def test_units_are_taken_in_time_order(tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    units.write_text("variant,ts,clicks\nb,30,1\na,10,0\nc,20,2\n")
    read = read_units(units)
    assert read.variant.tolist() == ["a", "c", "b"]
    assert read.counts["clicks"].tolist() == [0, 2, 1]
