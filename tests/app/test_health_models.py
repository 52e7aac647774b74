"""/readyz and /metrics name the code that scores the models, also after a fallback, and
what was refused."""

import tempfile
import time
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from exchange.settings import Settings
from tests.servers import serve
from tests.trained_models import write_good_ctr, write_refused


def test_without_a_compiler_the_exchange_serves_on_xgboost_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # a cache of its own: cold
    with serve(create_app(Settings())) as url, httpx.Client(base_url=url, timeout=5) as client:
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text
    assert ready.status_code == 200
    models = ready.json()["models"]
    assert models["degraded"] is False
    assert models["path"] == "xgboost-c"
    assert models["paths"] == {"ctr": "xgboost-c", "cvr": "xgboost-c"}
    assert models["path_problems"] == ["no C compiler: '/nonexistent/cc' not found"] * 2
    assert 'rtb_model_scoring_path{model="ctr",path="xgboost-c"} 1.0' in metrics
    assert 'path="compiled"' not in metrics


def test_with_the_models_missing_the_path_is_rules(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path)  # no model files there
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        models = client.get("/readyz").json()["models"]
        metrics = client.get("/metrics").text
    assert models["path"] == "rules"
    assert models["paths"] == {"ctr": "rules", "cvr": "rules"}
    assert 'rtb_model_scoring_path{model="cvr",path="rules"} 1.0' in metrics


def test_a_model_below_the_quality_bar_is_refused_at_start_and_on_reload(tmp_path: Path) -> None:
    write_good_ctr(tmp_path)
    write_refused(tmp_path, "cvr")
    settings = Settings(model_dir=tmp_path, model_reload_s=0.05)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        models = client.get("/readyz").json()["models"]
        assert models["degraded"] is True
        assert models["paths"]["cvr"] == "constant"
        assert models["paths"]["ctr"] != "constant"
        [problem] = models["problems"]
        assert problem.startswith(f"{tmp_path / 'cvr.ubj'}: refused, below the quality bar:")
        write_refused(tmp_path, "ctr")  # the live CTR model must stay
        metrics = ""
        for _ in range(500):  # the watcher looks every 50 ms
            metrics = client.get("/metrics").text
            if 'rtb_model_reloads_total{outcome="refused"} 1.0' in metrics:
                break
            time.sleep(0.02)
        assert 'rtb_model_reloads_total{outcome="refused"} 1.0' in metrics
        assert client.get("/readyz").json()["models"]["paths"]["ctr"] != "constant"
