"""Model files: load, refuse, fall back, batch predict, and swap atomically on reload."""

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from bidding import models
from bidding.features import N_FEATURES
from bidding.models import (
    COMPILED_TOLERANCE,
    P_MAX,
    P_MIN,
    ConstantModel,
    CtrCvrModels,
    ModelError,
    ModelHolder,
    RuleBasedModel,
    XGBoostModel,
    fit,
    load_models,
)

FALLBACK = RuleBasedModel(avg_ctr=0.01, avg_cvr=0.05)


def _model(seed: int, trees: int = 12) -> XGBoostModel:
    """A small model that keeps all its ``trees`` (eta 0.1: every round still improves),
    so that it clears the serving bar's tree count."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, N_FEATURES)).astype(np.float32)
    y = (rng.random(2000) < 1 / (1 + np.exp(-x[:, 0] - x[:, 5]))).astype(np.float32)
    params = {"tree_method": "hist", "max_depth": 3, "eta": 0.1, "nthread": 1}
    return fit(x[:1500], y[:1500], x[1500:], y[1500:], params=params, rounds=trees,
               early_stopping_rounds=trees, seed=seed)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    _model(1).save(directory / "ctr.ubj")
    _model(2).save(directory / "cvr.ubj")
    return directory


@pytest.fixture
def model_dir(trained: Path, tmp_path: Path) -> Path:
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _rows(n: int, seed: int = 0) -> np.ndarray[tuple[int, int], np.dtype[np.float32]]:
    rows = np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(np.float32)
    rows[::3, 7] = np.nan
    return rows


def test_load_and_predict_probabilities(model_dir: Path) -> None:
    loaded = load_models(model_dir, FALLBACK)
    assert isinstance(loaded, CtrCvrModels)
    assert not loaded.degraded
    assert loaded.problems == ()
    scores = loaded.predict(_rows(50))
    assert scores.pctr.shape == scores.pcvr.shape == (50,)
    assert scores.pctr.dtype == np.float32
    assert ((scores.pctr >= P_MIN) & (scores.pctr <= P_MAX)).all()
    assert not scores.degraded


def test_batched_predict_equals_per_row(model_dir: Path) -> None:
    model = XGBoostModel.load(model_dir / "ctr.ubj")
    rows = _rows(40)
    batched = model.predict(rows)
    one_by_one = np.concatenate([model.predict(rows[i : i + 1]) for i in range(len(rows))])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-6)


def test_json_format_loads_too(model_dir: Path) -> None:
    model = XGBoostModel.load(model_dir / "ctr.ubj")
    model.save(model_dir / "ctr.json")
    again = XGBoostModel.load(model_dir / "ctr.json")
    np.testing.assert_array_equal(model.predict(_rows(5)), again.predict(_rows(5)))


def test_wrong_width_is_an_error(model_dir: Path) -> None:
    model = XGBoostModel.load(model_dir / "ctr.ubj")
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, N_FEATURES - 1), dtype=np.float32))


def test_schema_mismatch_is_refused(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "SCHEMA_VERSION", 3)
    with pytest.raises(ModelError, match="schema version '2', this build needs 3"):
        XGBoostModel.load(model_dir / "ctr.ubj")


def test_feature_names_mismatch_is_refused(model_dir: Path) -> None:
    path = model_dir / "ctr.json"
    XGBoostModel.load(model_dir / "ctr.ubj").save(path)
    document = json.loads(path.read_text())
    attributes = document["learner"]["attributes"]
    names = json.loads(attributes["rtb_feature_names"])
    attributes["rtb_feature_names"] = json.dumps(names[::-1])
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match="feature names differ"):
        XGBoostModel.load(path)


def test_missing_and_corrupt_files_fall_back(model_dir: Path) -> None:
    (model_dir / "cvr.ubj").unlink()
    partial = load_models(model_dir, FALLBACK)
    assert isinstance(partial, CtrCvrModels)
    assert partial.degraded
    assert partial.cvr == ConstantModel(0.05)
    assert "no such model file" in partial.problems[0]
    np.testing.assert_allclose(partial.predict(_rows(3)).pcvr, 0.05)

    (model_dir / "ctr.ubj").write_bytes(b"{not a model")
    nothing = load_models(model_dir, FALLBACK)
    assert isinstance(nothing, RuleBasedModel)
    assert nothing.degraded
    assert any("not a readable XGBoost model" in p for p in nothing.problems)
    scores = nothing.predict(_rows(4))
    np.testing.assert_allclose(scores.pctr, 0.01)
    assert scores.degraded


def test_holder_keeps_the_old_models_when_the_new_file_is_corrupt(model_dir: Path) -> None:
    holder = ModelHolder(model_dir, FALLBACK)
    old = holder.current
    assert not holder.degraded
    assert not holder.reload_if_changed()  # nothing changed
    (model_dir / "ctr.ubj").write_bytes(b"garbage")
    assert not holder.reload_if_changed()
    assert holder.current is old
    assert holder.last_error is not None
    assert "not a readable" in holder.last_error
    assert holder.reload(force=True)
    assert holder.degraded


def test_holder_swaps_on_change(model_dir: Path) -> None:
    holder = ModelHolder(model_dir, FALLBACK)
    before = holder.current.predict(_rows(5)).pctr
    _model(3).save(model_dir / "ctr.ubj")
    assert holder.reload_if_changed()
    after = holder.current.predict(_rows(5)).pctr
    assert not np.array_equal(before, after)


def test_concurrent_predictions_never_fail_during_reloads(model_dir: Path) -> None:
    holder = ModelHolder(model_dir, FALLBACK)
    rows = _rows(20)
    first = holder.current.predict(rows).pctr
    variants = [_model(3), _model(4)]
    allowed = [first, *(v.predict(rows) for v in variants)]
    failures: list[BaseException] = []
    unexpected: list[np.ndarray[tuple[int], np.dtype[np.float32]]] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                got = holder.current.predict(rows).pctr
            except BaseException as exc:  # any failure is the bug under test
                failures.append(exc)
                return
            if not any(np.allclose(got, a, rtol=0, atol=COMPILED_TOLERANCE) for a in allowed):
                unexpected.append(got)

    threads = [threading.Thread(target=serve) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for i in range(12):
            variants[i % 2].save(model_dir / "ctr.ubj")
            holder.reload()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert unexpected == []
