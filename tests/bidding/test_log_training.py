"""``rtb train`` on a declared log: the formats, the split, the refusals, the baseline, and
the model file that scores logs (real XGBoost and scikit-learn, the project's pipeline)."""

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from app.cli import main
from bidding.log_model import LogModel
from bidding.log_schema import LogSchema, load_schema
from bidding.log_table import LogTableError, read_table, time_order
from bidding.models import ModelError, XGBoostModel
from bidding.synthetic_logs import IPINYOU_FIELDS, IPINYOU_SCHEMA, LogSpec, generate_log, write_log
from bidding.train import TrainConfig, TrainingDataError, train, train_command

SCHEMA = LogSchema.from_mapping(IPINYOU_SCHEMA)
Log = dict[str, NDArray[Any]]


@pytest.fixture(scope="module")
def log() -> Log:
    """A real-shaped log: 200,000 impressions at 0.5 % CTR, thousands of IPs, domains,
    urls, slots and cities; clicks from a few fields and their interactions."""
    return generate_log(LogSpec(rows=200_000, ctr=0.005), np.random.default_rng(5))


def _head(log: Log, rows: int) -> Log:
    return {name: values[:rows] for name, values in log.items()}


def test_the_generator_is_real_shaped(log: Log) -> None:
    assert list(log) == [*IPINYOU_FIELDS, "p_click"]
    assert 0.004 < log["click"].mean() < 0.006
    for field in ("IP", "domain", "url", "slotid", "city"):
        assert len(set(log[field].tolist())) > 1_500, field
    assert (log["payprice"] >= log["slotprice"]).all()
    assert (np.diff(time_order(log["timestamp"].tolist(), "timestamp", "log")) >= 0).all()
    again = generate_log(LogSpec(rows=1_000, ctr=0.005), np.random.default_rng(5))
    first = generate_log(LogSpec(rows=1_000, ctr=0.005), np.random.default_rng(5))
    assert all(np.array_equal(again[k], first[k]) for k in again)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_the_three_formats_read_alike(log: Log, tmp_path: Path, suffix: str) -> None:
    head = _head(log, 3_000)
    path = tmp_path / f"log{suffix}"
    write_log(head, path)
    table = read_table(path, SCHEMA)
    assert table.rows == 3_000
    assert table.unused == ()  # payprice is ignored by the schema, p_click is the truth
    for name in SCHEMA.used:
        if name == "timestamp":
            assert table.columns[name].dtype == np.int64
            assert table.columns[name][0] == int(head[name][0])
        elif name in SCHEMA.number_columns:
            np.testing.assert_allclose(table.columns[name], head[name], rtol=1e-11)
        elif name == "usertag":  # the benchmark's "null": missing
            expected = [None if v == "null" else v for v in head[name].tolist()]
            assert table.columns[name].tolist() == expected
        else:
            assert table.columns[name].tolist() == head[name].tolist(), name


def test_columns_are_never_dropped_silently(log: Log, tmp_path: Path) -> None:
    head = _head(log, 2_000)
    path = tmp_path / "log.tsv"
    write_log(head, path)
    with pytest.raises(LogTableError, match=r"declared columns 'bidid', 'os' not in the file"):
        read_table(path, SCHEMA.with_flags(categorical=["bidid", "os"]))
    unused = read_table(path, LogSchema(categorical=("domain",), numeric=("slotprice",)))
    assert "IP" in unused.unused
    assert "click" not in unused.unused
    path.write_text(path.read_text().replace("\t70\t", "\tseventy\t", 1))
    with pytest.raises(LogTableError, match=r"log.tsv:\d+: column 'slotprice': 'seventy' is not"):
        read_table(path, SCHEMA)


def test_time_columns_are_integers_or_iso_dates() -> None:
    assert time_order(["3", "1", "20130606000104828"], "t", "f").tolist() == [
        3, 1, 20130606000104828,
    ]  # fmt: skip
    iso = time_order(["2026-01-02T00:00:00", "2026-01-01"], "t", "f")
    assert iso[0] - iso[1] == 86_400 * 10**9
    with pytest.raises(LogTableError, match="column 't', row 2: 'x' is not an integer"):
        time_order(["1", "x"], "t", "f")
    with pytest.raises(LogTableError, match="row 1: 'soon' is neither an integer nor an ISO"):
        time_order(["soon"], "t", "f")
    with pytest.raises(LogTableError, match="row 2: no time"):
        time_order(["1", None], "t", "f")


def test_the_split_follows_the_time_column_or_the_rows(log: Log) -> None:
    head = _head(log, 40_000)
    shuffled = np.random.default_rng(1).permutation(40_000)
    rows = {name: values[shuffled] for name, values in head.items()}
    config = TrainConfig(rounds=5, threads=2, early_stopping_rounds=5)
    by_time = train(rows, "click", config, SCHEMA)
    stamps = time_order(rows["timestamp"].tolist(), "timestamp", "log")
    order = by_time.metadata["order_range"]
    assert by_time.metadata["split"] == "time"
    assert order["train_to"] <= order["test_from"]
    assert order["test_to"] == stamps.max()
    assert order["test_from"] == np.sort(stamps)[-12_000]  # the latest 30 %
    by_rows = train(rows, "click", config, LogSchema.from_mapping({**IPINYOU_SCHEMA, "time": None}))
    assert by_rows.metadata["split"] == "row order"
    assert by_rows.metadata["order_range"] == {
        "train_from": 0, "train_to": 27_999, "test_from": 28_000, "test_to": 39_999,
    }  # fmt: skip


def test_xgboost_is_at_least_as_good_as_the_baseline(log: Log) -> None:
    result = train(log, "click", TrainConfig(seed=5, threads=2), SCHEMA)
    model, baseline = result.evaluation, result.baseline
    assert model.positives > 200
    assert model.auc >= baseline.auc
    assert model.log_loss <= baseline.log_loss
    assert model.auc < model.oracle_auc  # the truth is out of reach, as it should be
    assert model.mean_predicted == pytest.approx(model.base_rate, rel=0.25)
    assert result.problems(TrainConfig()) == []
    buckets = result.metadata["encoding"]["buckets"]
    assert buckets["weekday"] < buckets["domain"] < buckets["IP"]  # sized to the data
    assert result.metadata["baseline"]["auc"] == baseline.auc


def test_the_written_model_scores_logs_and_the_exchange_refuses_it(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.tsv"
    write_log(_head(log, 60_000), path)
    with path.open() as source:  # write_log keeps to the benchmark's fields: add one
        lines = source.read().splitlines()
    path.write_text("\n".join(f"{line}\t{i or 'bidid'}" for i, line in enumerate(lines)) + "\n")
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(IPINYOU_SCHEMA))
    out = tmp_path / "models"
    argv = [
        "train",
        "--input",
        str(path),
        "--schema",
        str(schema_file),
        "--label",
        "click",
        "--out",
        str(out),
        "--no-progress",
        "--seed",
        "5",
        "--min-child-weight",
        "1",
    ]  # fmt: skip  (a few hundred clicks: small leaves)
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "1 column(s) of" in printed.err
    assert "not in the schema, not used: bidid" in printed.err
    assert "baseline (logistic regression" in printed.out
    meta = json.loads((out / "ctr.meta.json").read_text())
    assert meta["source"]["unused_columns"] == ["bidid"]
    assert meta["split"] == "time"
    model = LogModel.load(out / "ctr.ubj")
    assert model.schema == LogSchema.from_mapping(IPINYOU_SCHEMA)
    later = {name: values[60_000:70_000] for name, values in log.items()}
    predicted = model.predict_columns(later)
    assert predicted.shape == (10_000,)
    assert len(np.unique(predicted)) > 100
    assert float(predicted.mean()) == pytest.approx(meta["held_out"]["train_base_rate"], rel=0.5)
    with pytest.raises(LogTableError, match="no column 'domain'"):
        model.predict_columns({k: v for k, v in later.items() if k != "domain"})
    with pytest.raises(ModelError, match="a model of a declared log schema"):
        XGBoostModel.load(out / "ctr.ubj", build=None)


def test_labels_independent_of_the_features_are_refused(
    log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = {**_head(log, 60_000)}
    noise["click"] = np.random.default_rng(2).permutation(noise["click"])
    out = tmp_path / "models"
    path = tmp_path / "noise.tsv"
    write_log(noise, path)
    code = train_command(input_path=path, synthetic_rows=None, labels=("click",),
                         out_dir=out, config=TrainConfig(seed=5), schema=SCHEMA,
                         out=io.StringIO())  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("rtb train: no model written, below the quality bar — ctr: ")
    assert re.search(r"\b[1-9] trees?, fewer than the minimum 10", err)  # early stopping
    assert "try more rows" in err
    assert not out.exists()


def test_label_both_is_refused_before_anything_without_a_conversion_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.tsv"
    path.write_text("click\tdomain\n0\ta\n")  # too small to train: never read that far
    out = tmp_path / "models"
    code = train_command(input_path=path, synthetic_rows=None, labels=("click", "conversion"),
                         out_dir=out, config=TrainConfig(), schema=SCHEMA)  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "the schema declares no conversion label" in err
    assert "--label click" in err
    assert not out.exists()
    with pytest.raises(TrainingDataError, match="no conversion label"):
        train({"click": np.zeros(200)}, "conversion", TrainConfig(), SCHEMA)


def test_label_both_trains_and_writes_both(log: Log, tmp_path: Path) -> None:
    head = _head(log, 100_000)
    # Conversions after a click: likely for two advertisers, rare for the others.
    rng = np.random.default_rng(3)
    likely = np.isin(head["advertiser"], ["1458", "3358"])
    head["conversion"] = head["click"] * (rng.random(100_000) < np.where(likely, 0.6, 0.05))
    path = tmp_path / "log.parquet"
    write_log(head, path)  # write_log keeps to the benchmark's fields
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path).append_column("conversion", pa.array(head["conversion"]))
    pq.write_table(table, path)
    schema = LogSchema.from_mapping({**IPINYOU_SCHEMA, "conversion": "conversion"})
    out = tmp_path / "models"
    config = TrainConfig(seed=5, min_child_weight=1.0)  # a few hundred clicks: small leaves
    code = train_command(input_path=path, synthetic_rows=None, labels=("click", "conversion"),
                         out_dir=out, config=config, schema=schema, out=io.StringIO())  # fmt: skip
    assert code == 0
    meta = json.loads((out / "cvr.meta.json").read_text())
    assert sum(meta["rows"].values()) == int(head["click"].sum())
    assert meta["held_out"]["auc"] > 0.6
    assert LogModel.load(out / "ctr.ubj").booster.trees >= 10
    assert LogModel.load(out / "cvr.ubj").booster.trees >= 10


def test_rtb_synth_writes_a_log_and_its_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.tsv"
    argv = ["synth", "--shape", "ipinyou", "--rows", "2000", "--seed", "3", "--out", str(path)]
    assert main(argv) == 0
    assert "log.tsv.schema.json" in capsys.readouterr().out
    schema = load_schema(tmp_path / "log.tsv.schema.json")
    assert schema == SCHEMA
    table = read_table(path, schema)
    assert (table.rows, table.unused) == (2_000, ())
