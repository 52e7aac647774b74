"""Training on a Dask cluster: a real two-worker local cluster, reached by its address."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster

from bidding.log_schema import SERVING, LogSchema
from bidding.log_table import LogTableError, read_table
from bidding.models import XGBoostModel
from bidding.synthetic import write_parquet_days
from bidding.train import TrainConfig, synthetic_columns, time_split, train, train_command
from bidding.train_dask import PartSummary, cut_points

ROWS = 200_000
CONFIG = TrainConfig(seed=11, rounds=100, threads=2, progress=False)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("log")
    write_parquet_days(synthetic_columns(ROWS, seed=11), directory)
    return directory


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_two_workers_train_what_one_process_trains(
    parts: Path, cluster: LocalCluster, tmp_path: Path
) -> None:
    assert len(list(parts.rglob("*.parquet"))) == 14  # a part per day
    alone = train(read_table(parts, SERVING).columns, "click", CONFIG)
    out = tmp_path / "models"
    code = train_command(input_path=parts, synthetic_rows=None, labels=("click",), out_dir=out,
                         config=CONFIG, dask_scheduler=cluster.scheduler_address)  # fmt: skip
    assert code == 0
    meta = json.loads((out / "ctr.meta.json").read_text())
    assert meta["source"] == {"input": str(parts), "dask_scheduler": cluster.scheduler_address}
    assert sum(meta["rows"].values()) == ROWS
    for name, rows in alone.metadata["rows"].items():  # the cuts, within a part's quantiles
        assert abs(meta["rows"][name] - rows) <= 0.001 * ROWS, name
    assert abs(meta["metrics"]["auc"] - alone.evaluation.auc) < 0.01
    assert meta["metrics"]["oracle_auc"] == pytest.approx(alone.evaluation.oracle_auc, abs=0.005)
    assert meta["baseline"]["auc"] > 0.6  # fitted on a sample, predicted on the workers
    model = XGBoostModel.load(out / "ctr.ubj")  # the exchange's own loading bar
    assert model.trees == meta["trees"] >= 10


def test_the_cuts_from_part_summaries_split_as_the_exact_sort_does() -> None:
    rng = np.random.default_rng(5)
    days = [rng.uniform(day, day + 1, rng.integers(1_000, 30_000)) for day in range(9)]
    rng.shuffle(days)  # parts in any order
    valid_cut, test_cut = cut_points([PartSummary.of(d) for d in days], 0.3, 0.1)
    everything = np.concatenate(days)
    exact = time_split(everything, 0.3, 0.1)
    assert everything[exact.valid].min() == pytest.approx(valid_cut, abs=0.01)
    assert everything[exact.test].min() == pytest.approx(test_cut, abs=0.01)


def test_a_declared_schema_is_refused_before_any_work(
    parts: Path, cluster: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declared = LogSchema(label="click", time="ts", categorical=("domain",))
    code = train_command(input_path=parts, synthetic_rows=None, labels=("click",),
                         out_dir=tmp_path / "m", config=CONFIG, schema=declared,
                         dask_scheduler=cluster.scheduler_address)  # fmt: skip
    assert code == 2
    assert "--dask-scheduler trains the serving schema only" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_an_unreachable_scheduler_is_named(
    parts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    code = train_command(input_path=parts, synthetic_rows=None, labels=("click",),
                         out_dir=tmp_path / "m", config=CONFIG, dask_scheduler=address)  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("rtb train: ")
    assert address in err


def test_a_directory_without_parts_and_parts_that_disagree(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LogTableError, match=r"a directory with no \.parquet files"):
        read_table(tmp_path / "empty", SERVING)
    log = tmp_path / "log"
    columns = synthetic_columns(2_000, seed=3, days=2.0)
    first, second = write_parquet_days(columns, log)
    table = pq.read_table(second)
    pq.write_table(table.drop_columns(["domain"]), second)
    with pytest.raises(LogTableError, match=r"columns .* differ from .*every part of a log"):
        read_table(log, SERVING)
    assert first.parent.name == "day=2026-01-01"


def test_a_bad_label_in_one_part_is_named_with_its_part(
    cluster: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log"
    parts = write_parquet_days(synthetic_columns(3_000, seed=3, days=3.0), log)
    table = pq.read_table(parts[1])
    clicks = table.column("click").to_numpy().copy()
    clicks[4] = 2.0
    pq.write_table(table.set_column(table.schema.get_field_index("click"), "click",
                                    pa.array(clicks)), parts[1])  # fmt: skip
    code = train_command(input_path=log, synthetic_rows=None, labels=("click",),
                         out_dir=tmp_path / "m", config=CONFIG,
                         dask_scheduler=cluster.scheduler_address)  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"{parts[1]}: column 'click': labels must be 0 or 1 (row 5 has 2.0)" in err
    assert not (tmp_path / "m").exists()
