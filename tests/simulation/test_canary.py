"""A canary rollout through the day simulation: a deliberately bad model (its clicks
upsampled and never recalibrated) is rolled back by the guards within the day, in every
process, without overspending; the serving models as their own canary are kept all day."""

import shutil
from pathlib import Path

import orjson
import pytest

from app.cli import main
from bidding.canary import CanaryFile
from bidding.models import DEFAULT_MODEL_DIR
from simulation.config import SimConfig
from simulation.engine import SimResult, simulate
from simulation.measure import campaign_figures
from tests.trained_models import write_upsampled_models

GUARDS = {"min_requests": 300}


async def _day(models: Path, name: str) -> SimResult:
    canary = CanaryFile(name=name, share=0.5, models=models, guards=GUARDS)  # type: ignore[arg-type]
    config = SimConfig(
        requests=20_000, campaigns=8, tick_s=30.0, seed=5, progress=False, canary=canary
    )
    return await simulate(config)


def _never_overspent(result: SimResult) -> None:
    for figure in campaign_figures(result):
        assert figure.spent_micros <= figure.budget_micros, figure.id


async def test_a_bad_model_is_rolled_back_within_the_day(tmp_path: Path) -> None:
    result = await _day(write_upsampled_models(tmp_path / "bad"), "upsampled")
    outcome = result.canary
    assert outcome is not None
    assert outcome.states == ("rolled_back", "rolled_back")  # the other process followed
    assert outcome.reason is not None
    assert outcome.reason.split()[0] in {"win_rate", "spend_rate", "bid_rate"}
    assert outcome.rolled_back_s is not None
    assert result.stats.start_s < outcome.rolled_back_s < result.stats.end_s
    canary, control = outcome.arms["canary"], outcome.arms["control"]
    # What the guard saw: the bad model buys far more per request than control.
    assert canary["spend_micros"] / canary["requests"] > (
        1.5 * control["spend_micros"] / control["requests"]
    )
    _never_overspent(result)


def test_the_serving_models_as_their_own_canary_are_kept_all_day(tmp_path: Path) -> None:
    """Through ``rtb simulate --canary``, as an operator would try a canary first."""
    models = tmp_path / "same"
    shutil.copytree(DEFAULT_MODEL_DIR, models)
    canary = tmp_path / "canary.json"
    spec = {"name": "same-models", "share": 0.5, "models": str(models), "guards": GUARDS}
    canary.write_bytes(orjson.dumps(spec))
    out = tmp_path / "report"
    argv = ["simulate", "--requests", "20000", "--campaigns", "8", "--tick", "30", "--seed",
            "5", "--canary", str(canary), "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    report = (out / "report.md").read_text()
    assert "canary same-models: kept all day (active/active)" in report
    assert "campaigns over 100 % of budget: 0" in report


def test_a_bad_canary_file_is_refused_before_the_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = tmp_path / "canary.json"
    canary.write_text('{"name": "c", "share": 2}')
    assert main(["simulate", "--canary", str(canary), "--out", str(tmp_path)]) == 2
    assert "share: Input should be less than or equal to 0.5" in capsys.readouterr().err
