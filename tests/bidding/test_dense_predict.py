"""The direct C API path gives exactly what ``inplace_predict`` gives, or is not used."""

import threading

import numpy as np
import pytest
import xgboost as xgb

from bidding.dense_predict import DensePredictor
from bidding.features import N_FEATURES
from bidding.models import DEFAULT_MODEL_DIR, MODEL_FILES, XGBoostModel


@pytest.fixture(scope="module", params=sorted(MODEL_FILES))
def booster(request: pytest.FixtureRequest) -> xgb.Booster:
    """The shipped CTR and CVR boosters, one thread as in serving."""
    loaded = xgb.Booster(model_file=str(DEFAULT_MODEL_DIR / MODEL_FILES[request.param]))
    loaded.set_param({"nthread": 1})
    return loaded


def _rows(n: int, seed: int) -> np.ndarray[tuple[int, int], np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    rows = rng.uniform(-1.0, 4_096.0, size=(n, N_FEATURES)).astype(np.float32)
    rows[: n // 2] = rng.integers(0, 12, size=(n // 2, N_FEATURES))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    return rows


@pytest.mark.parametrize("n", [1, 7, 64, 65, 1000])
def test_native_equals_inplace_predict(booster: xgb.Booster, n: int) -> None:
    predictor = DensePredictor.for_booster(booster, _rows(16, seed=1))
    assert predictor is not None
    rows = _rows(n, seed=n)
    expected = booster.inplace_predict(rows, validate_features=False)
    native = predictor.predict(rows)
    assert native.dtype == np.float32
    np.testing.assert_array_equal(native, expected)


def test_a_strided_view_is_read_as_its_rows(booster: xgb.Booster) -> None:
    predictor = DensePredictor.for_booster(booster, _rows(16, seed=1))
    assert predictor is not None
    rows = _rows(40, seed=3)
    every_other = rows[::2]  # not C-contiguous
    np.testing.assert_array_equal(predictor.predict(every_other), predictor.predict(rows)[::2])


def test_bad_shapes_are_refused_other_types_converted_and_empty_is_empty(
    booster: xgb.Booster,
) -> None:
    predictor = DensePredictor.for_booster(booster, _rows(16, seed=1))
    assert predictor is not None
    with pytest.raises(ValueError, match="features"):
        predictor.predict(np.zeros((3, N_FEATURES - 1), np.float32))
    with pytest.raises(ValueError, match="features"):
        predictor.predict(np.zeros(N_FEATURES, np.float32))
    rows = _rows(9, seed=4)
    expected = booster.inplace_predict(rows, validate_features=False)
    np.testing.assert_array_equal(predictor.predict(rows.astype(np.float64)), expected)
    unaligned = np.frombuffer(b"\0" + rows.tobytes(), np.float32, rows.size, 1).reshape(rows.shape)
    np.testing.assert_array_equal(predictor.predict(unaligned), expected)
    assert predictor.predict(np.zeros((0, N_FEATURES), np.float32)).shape == (0,)


class _OffByOne(DensePredictor):
    """A native path that disagrees with XGBoost (what a changed C API would look like)."""

    def predict(self, matrix: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        return super().predict(matrix) + np.float32(1e-3)


def test_a_disagreeing_native_path_is_not_used(booster: xgb.Booster) -> None:
    assert _OffByOne.for_booster(booster, _rows(16, seed=1)) is None


def test_models_serve_through_the_native_path_with_the_same_numbers() -> None:
    for name in MODEL_FILES.values():
        model = XGBoostModel.load(DEFAULT_MODEL_DIR / name, build=None)  # not compiled
        assert model.scoring_path == "xgboost-c"
        rows = _rows(50, seed=9)
        booster = xgb.Booster(model_file=str(DEFAULT_MODEL_DIR / name))
        expected = np.clip(booster.inplace_predict(rows, validate_features=False), 1e-6, 1 - 1e-6)
        np.testing.assert_array_equal(model.predict(rows), expected.astype(np.float32))


def test_without_the_native_path_the_wrapper_serves_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = DEFAULT_MODEL_DIR / MODEL_FILES["ctr"]
    native = XGBoostModel.load(path, build=None)
    monkeypatch.setattr(DensePredictor, "for_booster", lambda *_: None)
    wrapped = XGBoostModel.load(path, build=None)
    assert native.scoring_path == "xgboost-c"
    assert wrapped.scoring_path == "xgboost"
    rows = _rows(30, seed=5)
    np.testing.assert_array_equal(wrapped.predict(rows), native.predict(rows))
    np.testing.assert_array_equal(wrapped.predict(rows.astype(np.float64)), native.predict(rows))


def test_loaded_in_one_thread_used_from_several() -> None:
    """As in serving: the model reload loads in a worker thread, requests predict elsewhere."""
    loaded: list[XGBoostModel] = []
    path = DEFAULT_MODEL_DIR / MODEL_FILES["ctr"]
    loader = threading.Thread(target=lambda: loaded.append(XGBoostModel.load(path, build=None)))
    loader.start()
    loader.join()
    model = loaded[0]
    assert model.scoring_path == "xgboost-c"
    rows = _rows(12, seed=6)
    expected = model.predict(rows)
    mismatches: list[int] = []

    def hammer() -> None:
        for _ in range(300):
            if not np.array_equal(model.predict(rows), expected):
                mismatches.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []
