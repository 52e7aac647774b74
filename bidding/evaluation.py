"""How good a probability model is on held-out rows: AUC, log loss, calibration by decile.

Plain numpy/scipy (no scikit-learn dependency for three formulas). Bidding multiplies
probabilities into prices, so calibration matters as much as ranking: a model with a fine
AUC that predicts twice the true CTR overbids by a factor of two.
"""

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

__all__ = [
    "MIN_DECILE_POSITIVES",
    "MIN_DECILE_ROWS",
    "Decile",
    "Evaluation",
    "auc",
    "calibration",
    "evaluate",
    "log_loss",
]

MIN_DECILE_ROWS: Final = 500
MIN_DECILE_POSITIVES: Final = 400
"""A decile has "enough data" to test a 10% calibration bar when sampling noise alone
cannot produce a 10% gap: with k positives the observed rate's relative standard error is
about 1/√k, so 400 positives puts the 95% interval at ±9.8%. (With 20 clicks it is ±44%,
and a perfect model would fail the bar most of the time.)"""

_EPS: Final = 1e-15


def auc(labels: NDArray[Any], scores: NDArray[Any]) -> float:
    """Area under the ROC curve (Mann–Whitney U with mid-ranks for ties); NaN when only
    one class is present."""
    y = np.asarray(labels, dtype=bool)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    u = float(ranks[y].sum()) - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def log_loss(labels: NDArray[Any], probabilities: NDArray[Any]) -> float:
    """Mean negative log-likelihood of the labels (probabilities clipped away from 0, 1)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


@dataclass(frozen=True, slots=True)
class Decile:
    """One equal-count bin of rows ordered by predicted probability."""

    index: int
    rows: int
    positives: int
    predicted: float
    """Mean predicted probability."""
    observed: float
    """Observed rate (positives / rows)."""
    true: float
    """Mean true probability when the data carry it (synthetic), else NaN."""
    enough: bool
    """Whether the bin has enough data to test calibration (see MIN_DECILE_POSITIVES)."""

    @property
    def ratio(self) -> float:
        """predicted / observed (1.0 is perfect; NaN with no positives)."""
        return self.predicted / self.observed if self.positives else math.nan


def calibration(
    labels: NDArray[Any],
    probabilities: NDArray[Any],
    truth: NDArray[Any] | None = None,
    *,
    bins: int = 10,
    min_rows: int = MIN_DECILE_ROWS,
    min_positives: int = MIN_DECILE_POSITIVES,
) -> tuple[Decile, ...]:
    """Rows sorted by prediction and cut into ``bins`` equal-count bins (ties are cut
    arbitrarily but deterministically: a stable sort)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    out = []
    for index, rows in enumerate(np.array_split(order, bins)):
        if len(rows) == 0:
            continue
        positives = int(y[rows].sum())
        out.append(
            Decile(
                index=index,
                rows=len(rows),
                positives=positives,
                predicted=float(p[rows].mean()),
                observed=positives / len(rows),
                true=float(np.mean(truth[rows])) if truth is not None else math.nan,
                enough=len(rows) >= min_rows and positives >= min_positives,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A model's figures on held-out rows, and the oracle's on the same rows."""

    rows: int
    positives: int
    base_rate: float
    mean_predicted: float
    auc: float
    log_loss: float
    oracle_auc: float
    """AUC of the true probabilities (NaN when the data do not carry them)."""
    oracle_log_loss: float
    calibration: tuple[Decile, ...]

    @property
    def worst_enough_decile_error(self) -> float:
        """Largest |predicted / observed − 1| over the deciles with enough data."""
        errors = [abs(d.ratio - 1.0) for d in self.calibration if d.enough]
        return max(errors, default=math.nan)

    def to_json(self) -> dict[str, Any]:
        """Plain data for the metadata file (NaN becomes null)."""
        data = asdict(self)
        data["worst_enough_decile_error"] = self.worst_enough_decile_error
        plain: dict[str, Any] = _nan_to_none(data)
        return plain


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def evaluate(
    labels: NDArray[Any], predicted: NDArray[Any], truth: NDArray[Any] | None = None
) -> Evaluation:
    """All figures for ``predicted`` against ``labels`` (and the oracle ``truth``)."""
    y = np.asarray(labels, dtype=np.float64)
    return Evaluation(
        rows=len(y),
        positives=int(y.sum()),
        base_rate=float(y.mean()) if len(y) else math.nan,
        mean_predicted=float(np.mean(predicted)) if len(y) else math.nan,
        auc=auc(y, predicted),
        log_loss=log_loss(y, predicted),
        oracle_auc=auc(y, truth) if truth is not None else math.nan,
        oracle_log_loss=log_loss(y, truth) if truth is not None else math.nan,
        calibration=calibration(y, predicted, truth),
    )
