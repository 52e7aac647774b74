"""Models trained by the project's own pipeline, for the tests of what loads them: one that
clears the quality bar and one that does not (a one-tree constant CVR model, the case of
issue 14), trained once per test session."""

import dataclasses
import functools
from pathlib import Path

from bidding.models import MODEL_FILES
from bidding.quality import SERVING_BAR
from bidding.train import TrainConfig, TrainResult, synthetic_columns, train, write_model

SHIPPED = TrainConfig(
    rounds=300, max_depth=6, eta=0.1, early_stopping_rounds=30, min_child_weight=50.0,
    reg_lambda=10.0,
)  # fmt: skip
"""The booster parameters the shipped models were trained with (their meta JSON): the
tests of the constant models of issue 14 reproduce them."""


@functools.cache
def _results() -> tuple[TrainResult, TrainResult]:
    # 60,000 impressions: ~950 clicks (a CTR model with an AUC near 0.6), ~40 conversions
    # (the CVR model early-stops at one tree predicting the base rate for everyone).
    columns = {k: v[:60_000] for k, v in synthetic_columns(250_000, seed=11).items()}
    config = dataclasses.replace(SHIPPED, seed=3, rounds=20, threads=2)
    good, refused = train(columns, "click", config), train(columns, "conversion", config)
    assert not SERVING_BAR.problems(good.model.trees, good.held_out)
    assert SERVING_BAR.problems(refused.model.trees, refused.held_out)
    return good, refused


def write_good_ctr(directory: Path) -> Path:
    """A CTR model that clears the bar, with its meta JSON, as ``rtb train`` writes it."""
    return write_model(_results()[0], directory, {"synthetic_rows": 60_000})


def write_refused(directory: Path, kind: str) -> Path:
    """The constant model, as the ``kind`` model file of ``directory`` (written the way
    ``rtb train`` writes, without its check: a file from an older build or elsewhere)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILES[kind]
    _results()[1].model.save(path)
    return path


@functools.cache
def _upsampled() -> TrainResult:
    # The classic mistake: the clicks repeated 50 times to balance the classes, and the model
    # shipped without recalibrating. Its ranking is as good as ever (it clears the bar on its
    # own held-out rows); its pCTR is tens of times too high.
    import numpy as np

    columns = {k: v[:60_000] for k, v in synthetic_columns(250_000, seed=11).items()}
    clicked = np.flatnonzero(columns["click"] == 1)
    rows = np.concatenate([np.arange(60_000), np.repeat(clicked, 50)])
    upsampled = {k: v[rows] for k, v in columns.items()}
    config = dataclasses.replace(SHIPPED, seed=3, rounds=20, threads=2)
    result = train(upsampled, "click", config)
    assert not SERVING_BAR.problems(result.model.trees, result.held_out)
    return result


def write_upsampled_models(directory: Path) -> Path:
    """A deliberately bad model pair for a canary: the upsampled CTR model above beside the
    shipped CVR model, as ``rtb train`` would have written them."""
    import shutil

    from bidding.models import DEFAULT_MODEL_DIR

    write_model(_upsampled(), directory, {"synthetic_rows": 60_000, "upsampled_clicks": 50})
    shutil.copy(DEFAULT_MODEL_DIR / MODEL_FILES["cvr"], directory / MODEL_FILES["cvr"])
    return directory
