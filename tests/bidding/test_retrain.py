"""``rtb retrain`` on a fortnight of synthetic log: the gate keeps a candidate that beats
the serving model on the held-out day, refuses one that does not, and writes only what it
keeps."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from bidding.models import DEFAULT_MODEL_DIR
from bidding.retrain import DAY_S, RetrainWindows, retrain
from bidding.synthetic import write_parquet_days
from bidding.train import TrainConfig, synthetic_columns

CONFIG = TrainConfig(seed=11, threads=2, progress=False)


@pytest.fixture(scope="module")
def fortnight() -> dict[str, np.ndarray]:
    return synthetic_columns(200_000, seed=11, days=14.0)


def _shipped(tmp_path: Path) -> Path:
    models = tmp_path / "serving"
    shutil.copytree(DEFAULT_MODEL_DIR, models)
    return models


def _command(
    fortnight: dict[str, np.ndarray], tmp_path: Path
) -> tuple[Path, Path, Path, list[str]]:
    """The fortnight as a Parquet log, the shipped models, ``--out``, and the command line."""
    log = tmp_path / "log"
    write_parquet_days(fortnight, log)
    models, out = _shipped(tmp_path), tmp_path / "out"
    argv = ["retrain", "--input", str(log), "--models", str(models), "--out", str(out),
            "--label", "click", "--threads", "2", "--seed", "11"]  # fmt: skip
    return log, models, out, argv


def test_a_candidate_of_this_traffic_beats_the_shipped_model_and_passes(
    fortnight: dict[str, np.ndarray], tmp_path: Path
) -> None:
    (step,) = retrain(fortnight, ["click"], _shipped(tmp_path), CONFIG)
    ts = fortnight["ts"]
    last_day = np.floor(ts.max() / DAY_S) * DAY_S
    assert step.holdout_rows == int((ts >= last_day).sum())
    assert step.train_rows == int(((ts >= last_day - 7 * DAY_S) & (ts < last_day)).sum())
    assert step.candidate is not None
    assert step.serving is not None  # the shipped world is another seed's: it knows less
    assert step.candidate.auc > step.serving.auc
    assert step.candidate.log_loss < step.serving.log_loss
    assert step.passed, step.problems
    assert "PASSED" in step.line()


def test_a_weaker_candidate_is_refused_with_its_reasons(
    fortnight: dict[str, np.ndarray], tmp_path: Path
) -> None:
    serving = tmp_path / "models"
    (good,) = retrain(fortnight, ["click"], serving, CONFIG)  # nothing serving: the bar only
    assert good.passed
    assert good.serving_problem == f"no {serving / 'ctr.ubj'}"
    assert good.result is not None
    serving.mkdir()
    good.result.model.save(serving / "ctr.ubj")
    weak = dataclasses.replace(CONFIG, max_depth=1, rounds=12, early_stopping_rounds=12)
    (step,) = retrain(fortnight, ["click"], serving, weak, RetrainWindows(ctr_days=2))
    assert not step.passed
    assert any("below the serving model's" in p for p in step.problems), step.problems
    assert "REFUSED" in step.line()


def test_the_command_writes_and_promotes_only_what_passes(
    fortnight: dict[str, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, models, out, argv = _command(fortnight, tmp_path)
    before = (models / "ctr.ubj").read_bytes()
    assert main(argv) == 0
    assert (out / "ctr.ubj").is_file()
    assert (models / "ctr.ubj").read_bytes() == before  # not promoted without --promote
    report = (out / "retrain.md").read_text()
    assert "ctr: trained on" in report
    assert "PASSED" in report
    assert main([*argv, "--promote"]) == 0
    assert (models / "ctr.ubj").read_bytes() != before
    meta = json.loads((models / "ctr.meta.json").read_text())
    assert meta["source"] == {"input": str(log), "retrain": True}
    assert "wrote" in capsys.readouterr().out
    assert main([*argv[:-4], "--holdout-days", "0"]) == 2


def test_kept_models_become_a_canary_the_exchange_loads(
    fortnight: dict[str, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bidding.canary import Canary, CanaryState
    from bidding.models import FALLBACK_RATES, ModelHolder
    from exchange.canary_watch import load_canary_file

    _, models, out, argv = _command(fortnight, tmp_path)
    before = (models / "ctr.ubj").read_bytes()
    argv += ["--canary", "0.1"]
    assert main(argv) == 0
    assert (models / "ctr.ubj").read_bytes() == before  # a canary is not a promotion
    assert (out / "cvr.ubj").read_bytes() == (models / "cvr.ubj").read_bytes()
    config = load_canary_file(out / "canary.json")
    assert (config.share, config.models) == (0.1, out.resolve())
    canary = Canary.load(config, ModelHolder(models, FALLBACK_RATES))
    assert canary.state is CanaryState.ACTIVE
    assert "RTB_CANARY_FILE=" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*argv, "--promote"])  # one or the other
