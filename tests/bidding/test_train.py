"""The training pipeline and its figures: AUC, log loss, calibration, the time split."""

import dataclasses
import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bidding.evaluation import auc, calibration, evaluate, log_loss
from bidding.features import FEATURE_NAMES, PROFILE_COLUMNS, SCHEMA_VERSION
from bidding.models import XGBoostModel
from bidding.quality import HeldOut, QualityBar
from bidding.synthetic import write_csv
from bidding.train import (
    TrainConfig,
    TrainingDataError,
    synthetic_columns,
    time_split,
    train,
    train_command,
    write_model,
)
from tests.trained_models import SHIPPED


def _brute_force_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_pairwise_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(300) < 0.2
    scores = np.round(rng.random(300) + labels * 0.3, 1)  # rounded: many ties
    assert auc(labels, scores) == pytest.approx(_brute_force_auc(labels, scores), abs=1e-12)


def test_auc_edge_cases() -> None:
    assert auc(np.array([0, 1]), np.array([0.1, 0.9])) == 1.0
    assert auc(np.array([1, 0]), np.array([0.1, 0.9])) == 0.0
    assert math.isnan(auc(np.array([1, 1]), np.array([0.1, 0.9])))


def test_log_loss() -> None:
    assert log_loss(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(math.log(2))
    assert log_loss(np.array([1]), np.array([0.0])) < 40  # clipped, finite


def test_calibration_on_crafted_data() -> None:
    # 10 bins of 1,000 rows: bin i predicts (i+1)% and has exactly 10·(i+1) positives,
    # except bin 9, which has 20% more than predicted.
    predicted = np.repeat(np.arange(1, 11) / 100.0, 1000)
    labels = np.zeros(10_000)
    for i in range(10):
        positives = 10 * (i + 1) if i < 9 else 120
        labels[i * 1000 : i * 1000 + positives] = 1.0
    deciles = calibration(labels, predicted, predicted, min_rows=500, min_positives=50)
    assert [d.rows for d in deciles] == [1000] * 10
    assert [d.positives for d in deciles] == [10 * (i + 1) for i in range(9)] + [120]
    assert deciles[3].predicted == pytest.approx(0.04)
    assert deciles[3].observed == pytest.approx(0.04)
    assert deciles[3].true == pytest.approx(0.04)
    assert deciles[9].ratio == pytest.approx(0.1 / 0.12)
    assert [d.enough for d in deciles] == [False] * 4 + [True] * 6
    figures = evaluate(labels, predicted, predicted)
    assert figures.rows == 10_000
    assert figures.positives == 570
    assert figures.oracle_auc == figures.auc


def test_time_split_trains_on_the_past() -> None:
    ts = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])
    split = time_split(ts, test_fraction=0.3, valid_fraction=0.25)
    assert sorted(ts[split.test]) == [7.0, 8.0, 9.0]
    assert ts[split.train].max() < ts[split.valid].min() <= ts[split.valid].max() < 7.0
    assert len(split.train) + len(split.valid) + len(split.test) == 10


def test_bad_input_is_refused() -> None:
    columns = {"ts": np.arange(200.0), "click": np.full(200, 2.0)}
    with pytest.raises(TrainingDataError, match="labels must be 0 or 1"):
        train(columns, "click", TrainConfig())
    with pytest.raises(TrainingDataError, match="'click': 0 positives in the 126 training rows"):
        train({"click": np.zeros(200)}, "click", TrainConfig())


@pytest.fixture(scope="module")
def small_run() -> dict[str, np.ndarray]:
    return synthetic_columns(250_000, seed=11)


@pytest.fixture(scope="module")
def clicks_run() -> dict[str, np.ndarray]:
    """Enough impressions for a CVR model: ~7,200 clicks and ~400 conversions."""
    return synthetic_columns(500_000, seed=11)


def test_small_synthetic_run_reaches_a_sane_auc(
    small_run: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    config = TrainConfig(seed=11, rounds=100, threads=2)
    result = train(small_run, "click", config)
    e = result.evaluation
    # The oracle knows each user's hidden clickiness, the model only its 30 days of counts.
    assert e.auc > e.oracle_auc - 0.07
    profile_share = sum(result.metadata["gain_shares"].get(name, 0.0) for name in PROFILE_COLUMNS)
    assert profile_share > 0.1, result.metadata["gain_shares"]
    assert e.mean_predicted == pytest.approx(e.base_rate, rel=0.25)
    path = write_model(result, tmp_path, {"synthetic_rows": 250_000})
    meta = json.loads((tmp_path / "ctr.meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION == 2
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["rows"]["test"] == e.rows
    assert meta["metrics"]["oracle_auc"] == pytest.approx(e.oracle_auc)
    assert len(meta["metrics"]["calibration"]) == 10
    assert meta["date_range"]["train_to"] <= meta["date_range"]["test_from"]
    zeros = np.zeros((2, len(FEATURE_NAMES)), np.float32)
    np.testing.assert_array_equal(
        XGBoostModel.load(path, build=None).predict(zeros), result.model.predict(zeros)
    )


def test_cvr_trains_on_clicks_from_a_csv(
    clicks_run: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    csv = tmp_path / "impressions.csv"
    write_csv(clicks_run, csv)
    out = tmp_path / "models"
    # So few conversions need shallow trees, strong shrinkage and a slow rate, or the
    # model stays constant.
    # On so few labels the trees over the serving features (hashed ids as numbers) trail
    # the one-hot logistic regression by ~0.07 AUC: a wider margin lets this one through.
    config = TrainConfig(seed=3, rounds=100, threads=2, max_depth=3, eta=0.05,
                         min_child_weight=5.0, early_stopping_rounds=30, reg_lambda=30.0,
                         baseline_margin=0.1)  # fmt: skip
    assert train_command(input_path=csv, synthetic_rows=None, labels=("conversion",),
                         out_dir=out, config=config) == 0  # fmt: skip
    meta = json.loads((out / "cvr.meta.json").read_text())
    clicks = int(clicks_run["click"].sum())
    assert sum(meta["rows"].values()) == clicks
    assert meta["params"]["eta"] == 0.05
    assert meta["params"]["min_child_weight"] == 5.0
    assert meta["params"]["max_depth"] == 3
    model = XGBoostModel.load(out / "cvr.ubj")  # clears the serving bar too
    assert model.trees == meta["trees"] >= 10
    assert meta["held_out"]["auc"] >= 0.52


def test_a_constant_model_is_refused_and_nothing_is_written(
    small_run: dict[str, np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 60,000 impressions hold ~950 clicks and ~40 conversions: the CVR model early-stops at
    # one tree that predicts the base rate for everyone (AUC 0.500), the case.
    csv = tmp_path / "impressions.csv"
    write_csv({k: v[:60_000] for k, v in small_run.items()}, csv)
    out = tmp_path / "models"
    config = dataclasses.replace(SHIPPED, seed=3, rounds=20, threads=2)
    code = train_command(input_path=csv, synthetic_rows=None, labels=("click", "conversion"),
                         out_dir=out, config=config, out=io.StringIO())  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    assert err.startswith("rtb train: no model written, below the quality bar — cvr: ")
    assert "1 tree, fewer than the minimum 10" in err
    assert "is not below the constant predictor's" in err
    assert "held-out AUC 0.5000 is below the minimum 0.52" in err
    assert "ctr:" not in err  # the CTR model cleared the bar, and is not written either
    assert not out.exists()


def test_held_out_figures_travel_with_the_model(
    small_run: dict[str, np.ndarray], tmp_path: Path
) -> None:
    result = train(small_run, "click", TrainConfig(seed=11, rounds=40, threads=2))
    held = result.held_out
    assert held.rows == result.evaluation.rows
    assert held.log_loss < held.constant_log_loss
    test_rows = time_split(small_run["ts"], 0.3, 0.1).test
    expected_constant = log_loss(
        small_run["click"][test_rows], np.full(len(test_rows), held.train_base_rate)
    )
    assert held.constant_log_loss == pytest.approx(expected_constant, rel=1e-6)
    path = write_model(result, tmp_path, {"synthetic_rows": 250_000})
    meta = json.loads((tmp_path / "ctr.meta.json").read_text())
    assert meta["held_out"] == held.to_json()
    assert meta["quality_bar"] == {"min_trees": 10, "min_auc": 0.52, "baseline_margin": 0.02}
    assert XGBoostModel.load(path, build=None).held_out == held


@pytest.mark.parametrize(
    ("bar", "expected"),
    [
        (QualityBar(min_trees=10_000), "fewer than the minimum 10000"),
        (QualityBar(min_auc=0.99), "is below the minimum 0.99"),
    ],
)
def test_the_bar_is_the_callers(
    small_run: dict[str, np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bar: QualityBar,
    expected: str,
) -> None:
    config = TrainConfig(seed=11, rounds=20, threads=2, bar=bar)
    code = train_command(input_path=None, synthetic_rows=30_000, labels=("click",),
                         out_dir=tmp_path / "m", config=config, out=io.StringIO())  # fmt: skip
    assert code == 1
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_quality_bar_figures() -> None:
    good = HeldOut(rows=1000, positives=50, train_base_rate=0.05, log_loss=0.18,
                   constant_log_loss=0.2, auc=0.6)  # fmt: skip
    assert QualityBar().problems(10, good) == []
    assert QualityBar().problems(9, good) == ["9 trees, fewer than the minimum 10"]
    assert QualityBar().problems(12, None) == []  # an older file: trees only
    flat = HeldOut(rows=1000, positives=0, train_base_rate=0.05, log_loss=0.2,
                   constant_log_loss=0.2, auc=math.nan)  # fmt: skip
    assert QualityBar().problems(40, flat) == [
        "held-out log loss 0.20000 is not below the constant predictor's 0.20000 "
        "(training base rate 5.0000%)",
        "held-out AUC undefined (0 positives in 1,000 rows)",
    ]
    assert HeldOut.from_json(json.dumps(flat.to_json())).positives == 0
    assert math.isnan(HeldOut.from_json(json.dumps(flat.to_json())).auc)
    with pytest.raises(ValueError, match="rtb_held_out: missing"):
        HeldOut.from_json('{"rows": 3}')


def test_train_command_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,click\n1,0\n2\n")
    code = train_command(input_path=bad, synthetic_rows=None, labels=("click",),
                         out_dir=tmp_path, config=TrainConfig())  # fmt: skip
    assert code == 2
