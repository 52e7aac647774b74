"""The logistic-regression baseline every trained model is measured against.

A boosted model that does no better than a well-regularised logistic regression on one-hot
features of the same rows has learnt nothing the simple model would not: with rare clicks
that is the usual way a booster fails (too few rows per leaf, early stopping on noise), and
the published iPinYou baselines are LR. So ``rtb train`` fits one on the same training rows,
picks its L2 strength on the same validation rows (the lowest log loss over ``C_GRID``) and
reports its held-out figures next to the model's; the model is refused when it is worse by
more than a margin (``bidding.train``).

Inputs: categorical codes (one column per feature, any numbers; each distinct value is a
one-hot indicator, values first seen later none) and dense numbers (missing → the median
and a missing indicator, then standardised). scikit-learn (the ``train`` extra) does the
work.
"""

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bidding.evaluation import log_loss

__all__ = ["C_GRID", "Baseline", "BaselineUnavailable", "check_available", "fit_baseline"]

C_GRID: Final = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
"""Inverse L2 strengths tried, weakest regularisation last (scikit-learn's ``C``: the
penalty is ½‖w‖²/C against the summed log loss). The search stops at the first ``C``
whose validation loss is no better than the one before."""


class BaselineUnavailable(RuntimeError):
    """scikit-learn is not installed; the message says how to install it."""


_MISSING: Final = (
    "the logistic-regression baseline needs scikit-learn: pip install 'rtb-exchange[train]'"
)


def check_available() -> None:
    """BaselineUnavailable now, before any training, when scikit-learn is missing."""
    if importlib.util.find_spec("sklearn") is None:
        raise BaselineUnavailable(_MISSING)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A fitted baseline and the ``C`` the validation rows chose."""

    model: Any
    c: float
    valid_log_loss: float

    def predict(self, codes: NDArray[Any], dense: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(label) per row."""
        out: NDArray[np.float64] = self.model.predict_proba(_inputs(codes, dense))[:, 1]
        return out


def _inputs(codes: NDArray[Any], dense: NDArray[np.float64]) -> NDArray[np.float64]:
    """One array for scikit-learn: codes first (NaN, a missing serving feature, as −1)."""
    as_numbers = np.asarray(codes, np.float64)
    return np.hstack([np.where(np.isnan(as_numbers), -1.0, as_numbers), dense])


def fit_baseline(
    codes: NDArray[Any],
    dense: NDArray[np.float64],
    labels: NDArray[Any],
    train: NDArray[np.intp],
    valid: NDArray[np.intp],
    *,
    grid: Sequence[float] = C_GRID,
    seed: int = 0,
) -> Baseline:
    """Fit on ``train`` rows for each ``C`` in ``grid``; keep the best on ``valid``."""
    try:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
    except ImportError:
        raise BaselineUnavailable(
            "the logistic-regression baseline needs scikit-learn: pip install 'rtb-exchange[train]'"
        ) from None
    k = codes.shape[1]
    columns = np.arange(k + dense.shape[1])
    x = _inputs(codes, dense)
    y = np.asarray(labels, np.float64)
    parts: list[tuple[str, Any, NDArray[np.intp]]] = [
        ("onehot", OneHotEncoder(handle_unknown="ignore"), columns[:k])
    ]
    if dense.shape[1]:
        numbers = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        parts.append(("numbers", numbers, columns[k:]))
    prepare = ColumnTransformer(parts, sparse_threshold=1.0)
    features = prepare.fit(x[train])
    x_train, x_valid = features.transform(x[train]), features.transform(x[valid])
    best: Baseline | None = None
    for c in sorted(grid):
        # Each C from scratch: warm starts from the previous C stopped short of the optimum
        # (lbfgs' tolerance), which cost the baseline 0.02–0.04 AUC and mis-chose C.
        model = LogisticRegression(C=c, solver="lbfgs", max_iter=1000, random_state=seed)
        model.fit(x_train, y[train])
        loss = log_loss(y[valid], model.predict_proba(x_valid)[:, 1])
        if best is not None and loss >= best.valid_log_loss:
            break  # past the best C: validation loss rises with C from here
        best = Baseline(Pipeline([("prepare", features), ("model", model)]), c, loss)
    assert best is not None, "an empty grid"
    return best
