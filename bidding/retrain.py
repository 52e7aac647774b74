"""``rtb retrain``: new CTR and CVR models from the recent log, kept only if at least as good
as the models serving.

Each model trains on its own window of the labelled impressions before the held-out part
(the last ``holdout_days`` UTC days of the log): 7 days for CTR, 30 for CVR (clicks are
plenty, conversions are not), by ``rtb train``'s own code and quality bar. Then the
candidate and the serving model (the file in the model directory) are scored on the same
held-out days, which neither trained on, and the candidate passes the gate only when it
clears the bar and its AUC is at least the serving model's and its log loss at most. A
serving file that is missing or refused (another feature schema, below the bar) is no
obstacle: the candidate then only needs the bar. What passes is written (and promoted
into the model directory on request, atomically, where the exchange's watcher reloads it);
what fails is not, and the report says why. Every step logs a ``retrain_step`` event.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import structlog
from numpy.typing import NDArray

from bidding.evaluation import Evaluation, evaluate
from bidding.features import encode_columns
from bidding.models import ModelError, XGBoostModel
from bidding.train import KIND, Label, TrainConfig, TrainingDataError, TrainResult, train

__all__ = ["DAY_S", "RetrainWindows", "Step", "retrain"]

log = structlog.get_logger("bidding.retrain")

DAY_S: Final = 86_400


@dataclass(frozen=True, slots=True)
class RetrainWindows:
    """Days of log each model trains on, and the most recent days held out for the gate."""

    ctr_days: int = 7
    cvr_days: int = 30
    holdout_days: int = 1

    def days(self, label: Label) -> int:
        return self.ctr_days if label == "click" else self.cvr_days


@dataclass(frozen=True, slots=True)
class Step:
    """One model's retraining: what it trained on, both models' figures on the held-out
    days, and the gate's decision."""

    label: Label
    train_rows: int
    holdout_rows: int
    candidate: Evaluation | None
    serving: Evaluation | None
    serving_problem: str | None
    """Why the serving model could not be compared (None: it was)."""
    problems: tuple[str, ...]
    """Why the candidate did not pass (empty: it passed)."""
    result: TrainResult | None

    @property
    def passed(self) -> bool:
        return not self.problems and self.result is not None

    def line(self) -> str:
        """The step as one line of the report."""
        kind = KIND[self.label]
        head = f"{kind}: trained on {self.train_rows:,} rows, held out {self.holdout_rows:,}"
        figures = []
        if self.candidate is not None:
            figures.append(f"candidate AUC {self.candidate.auc:.4f}, log loss "
                           f"{self.candidate.log_loss:.5f}")  # fmt: skip
        if self.serving is not None:
            figures.append(f"serving AUC {self.serving.auc:.4f}, log loss "
                           f"{self.serving.log_loss:.5f}")  # fmt: skip
        elif self.serving_problem:
            figures.append(f"no serving model to compare ({self.serving_problem})")
        verdict = "PASSED" if self.passed else f"REFUSED: {'; '.join(self.problems)}"
        return f"{head}; {'; '.join(figures)} — {verdict}"


def _rows(columns: dict[str, NDArray[Any]], keep: NDArray[np.bool_]) -> dict[str, NDArray[Any]]:
    return {name: np.asarray(values)[keep] for name, values in columns.items()}


def _serving(models_dir: Path, label: Label) -> tuple[XGBoostModel | None, str | None]:
    path = models_dir / f"{KIND[label]}.ubj"
    if not path.is_file():
        return None, f"no {path}"
    try:
        return XGBoostModel.load(path), None
    except ModelError as exc:
        return None, str(exc)


def _gate(candidate: Evaluation, serving: Evaluation | None) -> list[str]:
    if serving is None:
        return []
    problems = []
    if not candidate.auc >= serving.auc:
        problems.append(
            f"AUC on the held-out days {candidate.auc:.4f} below the serving model's "
            f"{serving.auc:.4f}"
        )
    if not candidate.log_loss <= serving.log_loss:
        problems.append(
            f"log loss on the held-out days {candidate.log_loss:.5f} above the serving "
            f"model's {serving.log_loss:.5f}"
        )
    return problems


def _step(
    columns: dict[str, NDArray[Any]],
    label: Label,
    models_dir: Path,
    config: TrainConfig,
    windows: RetrainWindows,
) -> Step:
    ts = np.asarray(columns["ts"], np.float64)
    usable = ~np.isnan(ts)
    if label == "conversion":
        usable &= np.asarray(columns["click"], np.float64) == 1.0
    if not usable.any():
        raise TrainingDataError(f"no usable rows with a 'ts' for the {KIND[label]} model")
    cut = (math.floor(float(ts[usable].max()) / DAY_S) - windows.holdout_days + 1) * DAY_S
    start = cut - windows.days(label) * DAY_S
    fit = usable & (ts >= start) & (ts < cut)
    held = usable & (ts >= cut)
    model, serving_problem = _serving(models_dir, label)
    n_fit, n_held = int(fit.sum()), int(held.sum())
    try:
        result = train(_rows(columns, fit), label, config)
    except TrainingDataError as exc:
        return Step(label, n_fit, n_held, None, None, serving_problem, (str(exc),), None)
    holdout = _rows(columns, held)
    y = np.asarray(holdout[label], np.float64)
    matrix = encode_columns(holdout)
    candidate = evaluate(y, result.model.predict(matrix))
    serving = evaluate(y, model.predict(matrix)) if model is not None else None
    bar = [f"rtb train's bar: {problem}" for problem in result.problems(config)]
    problems = [*bar, *_gate(candidate, serving)]
    if n_held == 0 or int(y.sum()) in (0, n_held):
        problems.append(f"{n_held:,} held-out rows with {int(y.sum()):,} positives: no verdict")
    return Step(label, n_fit, n_held, candidate, serving, serving_problem, tuple(problems), result)


def retrain(
    columns: dict[str, NDArray[Any]],
    labels: Sequence[Label],
    models_dir: Path,
    config: TrainConfig,
    windows: RetrainWindows = RetrainWindows(),
) -> list[Step]:
    """Train, score and gate each of ``labels`` (module docstring); writes nothing."""
    steps = []
    for label in labels:
        step = _step(columns, label, models_dir, config, windows)
        log.info(
            "retrain_step",
            model=KIND[label],
            train_rows=step.train_rows,
            holdout_rows=step.holdout_rows,
            candidate_auc=step.candidate.auc if step.candidate else None,
            serving_auc=step.serving.auc if step.serving else None,
            passed=step.passed,
            problems=list(step.problems),
        )
        steps.append(step)
    return steps
