"""The compiled path: XGBoost's numbers to 1e-6, a cache that survives bad files and races,
and a fallback to XGBoost whenever a compiler, a library or a build is missing or wrong.

Builds are real (treelite, tl2cgen, the machine's C compiler); the shipped models come from
the shared per-user cache, so only the small models trained here are compiled per run.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from structlog.testing import capture_logs

from bidding.compiled_predict import BuildOptions, cache_key, default_cache_dir
from bidding.features import N_FEATURES, encode_columns
from bidding.models import (
    COMPILED_TOLERANCE,
    DEFAULT_MODEL_DIR,
    FALLBACK_RATES,
    MODEL_FILES,
    ModelHolder,
    XGBoostModel,
    fit,
)
from bidding.train import synthetic_columns

Rows = np.ndarray[tuple[int, int], np.dtype[np.float32]]
ROOT = Path(__file__).resolve().parents[2]


def _rows(n: int, seed: int) -> Rows:
    rng = np.random.default_rng(seed)
    rows = rng.uniform(-1.0, 4_096.0, size=(n, N_FEATURES)).astype(np.float32)
    rows[: n // 2] = rng.integers(0, 12, size=(n // 2, N_FEATURES))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    return rows


def _expected(path: Path, rows: Rows) -> np.ndarray[tuple[int], np.dtype[np.float32]]:
    booster = xgb.Booster(model_file=str(path))
    return np.asarray(booster.inplace_predict(rows, validate_features=False), np.float32)


def _replace(path: Path, content: bytes) -> None:
    """A new file under ``path``, as a copy by hand leaves it (never rewritten in place: a
    loaded library rewritten in place breaks the process that loaded it)."""
    temporary = path.with_name(f"{path.name}.new")
    temporary.write_bytes(content)
    os.replace(temporary, path)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-tree model (seconds to compile, not tens) with NaN-heavy training data, so
    that its default branches matter."""
    rng = np.random.default_rng(42)
    x = rng.normal(size=(3000, N_FEATURES)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = np.nan
    signal = np.nan_to_num(3.0 * (x[:, 2] - x[:, 9]))  # strong: twelve trees all pay
    y = (rng.random(3000) < 1 / (1 + np.exp(-signal))).astype(np.float32)
    params = {"tree_method": "hist", "max_depth": 4, "nthread": 1}
    model = fit(x[:2500], y[:2500], x[2500:], y[2500:], params=params, rounds=12,
                early_stopping_rounds=12, seed=42)  # fmt: skip
    path = tmp_path_factory.mktemp("small") / "ctr.ubj"
    model.save(path)
    return path


@pytest.fixture
def cold(tmp_path: Path) -> BuildOptions:
    """A cache of its own: every build happens again."""
    return BuildOptions(cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("kind", sorted(MODEL_FILES))
def test_shipped_models_are_compiled_and_agree_with_xgboost(kind: str) -> None:
    path = DEFAULT_MODEL_DIR / MODEL_FILES[kind]
    model = XGBoostModel.load(path)
    assert model.scoring_path == "compiled", model.scoring_problem
    for n in (1, 8, 100, 1000):
        rows = _rows(n, seed=n)
        expected = np.clip(_expected(path, rows), 1e-6, 1 - 1e-6)
        np.testing.assert_allclose(model.predict(rows), expected, rtol=0, atol=COMPILED_TOLERANCE)


@pytest.mark.parametrize("kind", sorted(MODEL_FILES))
def test_real_feature_rows_agree_with_xgboost(kind: str) -> None:
    """Rows as training encodes them (and serving, by the train/serve equality tests)."""
    path = DEFAULT_MODEL_DIR / MODEL_FILES[kind]
    rows = encode_columns(synthetic_columns(5_000, seed=5))
    compiled = XGBoostModel.load(path).predict(rows)
    reference = XGBoostModel.load(path, build=None).predict(rows)
    np.testing.assert_allclose(compiled, reference, rtol=0, atol=COMPILED_TOLERANCE)


def test_layouts_types_and_shapes(cold: BuildOptions, small_model: Path) -> None:
    model = XGBoostModel.load(small_model, build=cold)
    assert model.scoring_path == "compiled"
    rows = _rows(40, seed=3)
    whole = model.predict(rows)
    np.testing.assert_array_equal(model.predict(rows[::2]), whole[::2])  # a strided view
    np.testing.assert_array_equal(model.predict(rows.astype(np.float64)), whole)
    unaligned = np.frombuffer(b"\0" + rows.tobytes(), np.float32, rows.size, 1).reshape(rows.shape)
    np.testing.assert_array_equal(model.predict(unaligned), whole)
    assert model.predict(np.zeros((0, N_FEATURES), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, N_FEATURES - 1), np.float32))


def test_a_build_is_cached_by_key_and_loaded_without_a_compiler(
    cold: BuildOptions, small_model: Path
) -> None:
    with capture_logs() as first:
        built = XGBoostModel.load(small_model, build=cold)
    assert [e["event"] for e in first] == ["model_compiled"]
    key = cache_key(bytes(xgb.Booster(model_file=str(small_model)).save_raw("ubj")))
    assert cold.cache_dir is not None
    assert (cold.cache_dir / f"{key}.so").is_file()
    assert not list(cold.cache_dir.glob(".build-*"))  # the build directory is gone
    assert cold.cache_dir.stat().st_mode & 0o077 == 0
    nowhere = BuildOptions(cache_dir=cold.cache_dir, compiler="/nonexistent/cc")
    with capture_logs() as second:
        cached = XGBoostModel.load(small_model, build=nowhere)
    assert second == []
    assert cached.scoring_path == "compiled"
    rows = _rows(30, seed=4)
    np.testing.assert_array_equal(cached.predict(rows), built.predict(rows))


def test_a_json_copy_of_the_model_shares_nothing_it_should_not(
    cold: BuildOptions, small_model: Path, tmp_path: Path
) -> None:
    model = XGBoostModel.load(small_model, build=cold)
    copy = tmp_path / "ctr.json"
    model.save(copy)
    again = XGBoostModel.load(copy, build=cold)
    assert again.scoring_path == "compiled"
    rows = _rows(20, seed=8)
    np.testing.assert_allclose(again.predict(rows), model.predict(rows), atol=COMPILED_TOLERANCE)


def test_a_corrupt_cached_library_is_rebuilt(cold: BuildOptions, small_model: Path) -> None:
    XGBoostModel.load(small_model, build=cold)
    assert cold.cache_dir is not None
    (library,) = cold.cache_dir.glob("*.so")
    _replace(library, b"\x7fELF but not really")
    with capture_logs() as logs:
        model = XGBoostModel.load(small_model, build=cold)
    assert [e["event"] for e in logs] == ["compiled_model_rebuilt", "model_compiled"]
    assert "not a compiled model" in logs[0]["reason"]
    assert model.scoring_path == "compiled"


def test_another_models_library_under_this_key_is_rebuilt(
    cold: BuildOptions, small_model: Path
) -> None:
    """A file copied or renamed by hand: the library says which key it was built for."""
    assert cold.cache_dir is not None
    XGBoostModel.load(small_model, build=cold)
    (own,) = cold.cache_dir.glob("*.so")
    shipped = DEFAULT_MODEL_DIR / MODEL_FILES["cvr"]
    assert XGBoostModel.load(shipped).scoring_path == "compiled"  # in the default cache
    shipped_key = cache_key(bytes(xgb.Booster(model_file=str(shipped)).save_raw("ubj")))
    _replace(own, (default_cache_dir() / f"{shipped_key}.so").read_bytes())
    with capture_logs() as logs:
        model = XGBoostModel.load(small_model, build=cold)
    assert logs[0]["event"] == "compiled_model_rebuilt"
    assert "compiled for another model" in logs[0]["reason"]
    assert model.scoring_path == "compiled"


def test_concurrent_loads_of_one_new_model_build_it_once(
    cold: BuildOptions, small_model: Path
) -> None:
    loaded: list[XGBoostModel] = []
    with capture_logs() as logs:
        threads = [
            threading.Thread(
                target=lambda: loaded.append(XGBoostModel.load(small_model, build=cold))
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [m.scoring_path for m in loaded] == ["compiled"] * 3
    assert [e["event"] for e in logs].count("model_compiled") == 1


def test_concurrent_processes_build_it_once(tmp_path: Path, small_model: Path) -> None:
    """Workers starting together: one compiles, the others wait for its library."""
    script = (
        "import sys; from pathlib import Path; from bidding.models import XGBoostModel; "
        "from bidding.compiled_predict import BuildOptions; "
        "options = BuildOptions(cache_dir=Path(sys.argv[2])); "
        "print(XGBoostModel.load(Path(sys.argv[1]), build=options).scoring_path)"
    )
    cache = tmp_path / "shared"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(small_model), str(cache)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [o.strip().splitlines()[-1] for o in outputs] == ["compiled", "compiled"]
    assert sum(o.count("model_compiled") for o in outputs) == 1


# The fallbacks: each leaves the model on XGBoost's own C call, and says why.


def test_no_compiler_falls_back(cold: BuildOptions, small_model: Path) -> None:
    options = BuildOptions(cache_dir=cold.cache_dir, compiler="/nonexistent/cc")
    with capture_logs() as logs:
        model = XGBoostModel.load(small_model, build=options)
    assert model.scoring_path == "xgboost-c"
    assert model.scoring_problem == "no C compiler: '/nonexistent/cc' not found"
    assert logs[0]["event"] == "compiled_predict_unavailable"
    rows = _rows(10, seed=1)
    np.testing.assert_array_equal(
        model.predict(rows), np.clip(_expected(small_model, rows), 1e-6, 1 - 1e-6)
    )


def test_a_compile_error_falls_back(cold: BuildOptions, small_model: Path) -> None:
    options = BuildOptions(cache_dir=cold.cache_dir, compiler="cc -include /nonexistent.h")
    model = XGBoostModel.load(small_model, build=options)
    assert model.scoring_path == "xgboost-c"
    assert model.scoring_problem is not None
    assert "build failed" in model.scoring_problem
    assert "/nonexistent.h" in model.scoring_problem
    assert cold.cache_dir is not None
    assert not list(cold.cache_dir.glob("*.so"))


def test_a_library_that_disagrees_with_xgboost_is_not_used(
    cold: BuildOptions, small_model: Path
) -> None:
    """-ffinite-math-only lets the compiler assume no NaN, so missing values take the wrong
    branch: what any miscompilation looks like to the check."""
    options = BuildOptions(cache_dir=cold.cache_dir, compiler="cc -ffinite-math-only")
    model = XGBoostModel.load(small_model, build=options)
    assert model.scoring_path == "xgboost-c"
    assert model.scoring_problem is not None
    assert "differs from XGBoost" in model.scoring_problem
    assert cold.cache_dir is not None
    assert not list(cold.cache_dir.glob("*.so"))  # never enters the cache


def test_a_library_that_would_change_the_float_mode_never_loads_here(
    cold: BuildOptions, small_model: Path
) -> None:
    """gcc links -ffast-math libraries with code that sets flush-to-zero for the whole
    process when they load: only the build process ever loads one."""
    options = BuildOptions(cache_dir=cold.cache_dir, compiler="cc -ffast-math")
    model = XGBoostModel.load(small_model, build=options)
    assert model.scoring_path == "xgboost-c"
    assert model.scoring_problem is not None
    assert "flush-to-zero" in model.scoring_problem
    smallest = sys.float_info.min
    assert smallest / 2 > 0  # this process still has subnormal numbers


def test_a_cache_directory_others_can_write_is_refused(tmp_path: Path, small_model: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    model = XGBoostModel.load(small_model, build=BuildOptions(cache_dir=shared))
    assert model.scoring_path == "xgboost-c"
    assert model.scoring_problem == f"cache directory {shared}: writable by another user"


def test_an_unusable_cache_directory_falls_back(tmp_path: Path, small_model: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    model = XGBoostModel.load(small_model, build=BuildOptions(cache_dir=blocker / "cache"))
    assert model.scoring_path == "xgboost-c"
    assert model.scoring_problem is not None
    assert model.scoring_problem.startswith(f"cache directory {blocker / 'cache'}")


def _load_in_a_process(environment: dict[str, str], model: Path) -> dict[str, object]:
    """Load ``model`` with the default options in a fresh interpreter; its path and why."""
    script = (
        "import json, sys; from pathlib import Path; from bidding.models import XGBoostModel; "
        "m = XGBoostModel.load(Path(sys.argv[1])); "
        "print(json.dumps({'path': m.scoring_path, 'problem': m.scoring_problem}))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script, str(model)],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answer: dict[str, object] = json.loads(finished.stdout.strip().splitlines()[-1])
    return answer


def test_cc_pointing_nowhere_falls_back(tmp_path: Path, small_model: Path) -> None:
    """What an operator sees on a machine without a compiler (a cold cache: TMPDIR)."""
    answer = _load_in_a_process({"CC": "/nonexistent/cc", "TMPDIR": str(tmp_path)}, small_model)
    assert answer == {"path": "xgboost-c", "problem": "no C compiler: '/nonexistent/cc' not found"}


def test_treelite_or_tl2cgen_failing_to_import_falls_back(
    tmp_path: Path, small_model: Path
) -> None:
    """A tl2cgen that cannot be imported (here: a broken one ahead on the path)."""
    broken = tmp_path / "site" / "tl2cgen"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('libtl2cgen.so: cannot open')\n")
    answer = _load_in_a_process(
        {"PYTHONPATH": str(tmp_path / "site"), "TMPDIR": str(tmp_path)}, small_model
    )
    assert answer["path"] == "xgboost-c"
    assert "treelite/tl2cgen unavailable: libtl2cgen.so: cannot open" in str(answer["problem"])


def test_the_holder_reports_its_path_and_compiles_before_the_swap(
    cold: BuildOptions, small_model: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "models"
    directory.mkdir()
    shutil.copyfile(small_model, directory / "ctr.ubj")
    shutil.copyfile(DEFAULT_MODEL_DIR / MODEL_FILES["cvr"], directory / "cvr.ubj")
    holder = ModelHolder(directory, FALLBACK_RATES, build=cold)
    assert holder.scoring_path == "compiled"
    assert holder.current.paths == {"ctr": "compiled", "cvr": "compiled"}
    no_build = BuildOptions(cache_dir=cold.cache_dir, compiler="false")
    broken = ModelHolder(directory, FALLBACK_RATES, build=no_build)
    assert broken.current.paths == {"ctr": "compiled", "cvr": "compiled"}  # cached: no build
    without = ModelHolder(directory, FALLBACK_RATES, build=None)
    assert without.scoring_path == "xgboost-c"
    empty = ModelHolder(tmp_path / "none", FALLBACK_RATES, build=cold)
    assert empty.scoring_path == "rules"


def test_one_model_scored_from_several_threads_at_once() -> None:
    """The staging buffers are shared by the threads that score one model."""
    model = XGBoostModel.load(DEFAULT_MODEL_DIR / MODEL_FILES["ctr"])
    assert model.scoring_path == "compiled"
    batches = [_rows(n, seed=n) for n in (3, 8, 64, 300)]
    expected = [model.predict(rows) for rows in batches]
    mismatches: list[int] = []

    def hammer(offset: int) -> None:
        for i in range(200):
            k = (i + offset) % len(batches)
            if not np.array_equal(model.predict(batches[k]), expected[k]):
                mismatches.append(k)

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


def test_a_hot_reload_compiles_the_new_model_before_the_swap(
    cold: BuildOptions, small_model: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "models"
    directory.mkdir()
    shutil.copyfile(small_model, directory / "ctr.ubj")
    holder = ModelHolder(directory, FALLBACK_RATES, build=cold)
    before = holder.current
    assert before.paths["ctr"] == "compiled"
    rng = np.random.default_rng(9)
    x = rng.normal(size=(1000, N_FEATURES)).astype(np.float32)
    y = (rng.random(1000) < 1 / (1 + np.exp(-x[:, 4]))).astype(np.float32)
    params = {"tree_method": "hist", "max_depth": 3, "eta": 0.1, "nthread": 1}
    fit(x[:800], y[:800], x[800:], y[800:], params=params, rounds=12, early_stopping_rounds=12,
        seed=9).save(directory / "ctr.ubj")  # fmt: skip
    with capture_logs() as logs:
        assert holder.reload_if_changed()
    assert [e["event"] for e in logs] == ["model_compiled"]  # built during the reload
    assert holder.current is not before
    assert holder.current.paths["ctr"] == "compiled"
    rows = _rows(10, seed=2)
    expected = np.clip(_expected(directory / "ctr.ubj", rows), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(
        holder.current.predict(rows).pctr, expected, rtol=0, atol=COMPILED_TOLERANCE
    )
