"""The hot reload refuses a model below the quality bar: the old one keeps serving, a
warning says why, and the refusal is counted."""

import asyncio
import contextlib
import shutil
from pathlib import Path

import numpy as np
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from bidding.features import N_FEATURES
from bidding.models import FALLBACK_RATES, ModelHolder, XGBoostModel
from exchange.metrics import Metrics
from exchange.model_reload import watch_models
from tests.trained_models import write_good_ctr, write_refused

ROWS = np.random.default_rng(5).normal(size=(8, N_FEATURES)).astype(np.float32)


def test_a_model_below_the_bar_is_refused_on_reload(tmp_path: Path) -> None:
    write_good_ctr(tmp_path)
    holder = ModelHolder(tmp_path, FALLBACK_RATES, build=None)
    live = holder.current
    assert isinstance(getattr(live, "ctr", None), XGBoostModel)  # no cvr file: a stand-in
    before = live.predict(ROWS).pctr

    write_refused(tmp_path, "cvr")  # a stand-in already serves: still refused, and said
    assert not holder.reload_if_changed()
    assert holder.current is live
    assert holder.last_error is not None
    assert "cvr.ubj: refused, below the quality bar: 1 tree" in holder.last_error

    shutil.copyfile(tmp_path / "cvr.ubj", tmp_path / "ctr.ubj")  # the trained CTR model
    assert not holder.reload_if_changed()
    assert holder.current is live
    np.testing.assert_array_equal(holder.current.predict(ROWS).pctr, before)
    assert holder.reloads == {"reloaded": 0, "refused": 2, "failed": 0}

    write_good_ctr(tmp_path)
    (tmp_path / "cvr.ubj").unlink()
    assert holder.reload_if_changed()
    assert holder.reloads == {"reloaded": 1, "refused": 2, "failed": 0}


def test_the_watcher_warns_and_counts_a_refused_model(tmp_path: Path) -> None:
    write_good_ctr(tmp_path)
    holder = ModelHolder(tmp_path, FALLBACK_RATES, build=None)
    live = holder.current
    metrics = Metrics()
    metrics.count_model_reloads(lambda: holder.reloads)

    async def run() -> None:
        task = asyncio.create_task(watch_models(holder, 0.01))
        try:
            write_refused(tmp_path, "ctr")
            for _ in range(1000):  # until the watcher saw the change (seconds at most)
                if holder.reloads["refused"]:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # more turns of the watcher: one warning per file
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    with capture_logs() as logs:
        asyncio.run(run())
    assert holder.current is live
    refused = [e for e in logs if e["event"] == "model_reload_refused"]
    assert len(refused) == 1
    assert refused[0]["log_level"] == "warning"
    assert "ctr.ubj: refused, below the quality bar" in refused[0]["error"]
    text = generate_latest(metrics.registry).decode()
    assert 'rtb_model_reloads_total{outcome="refused"} 1.0' in text
    assert 'rtb_model_reloads_total{outcome="reloaded"} 0.0' in text
