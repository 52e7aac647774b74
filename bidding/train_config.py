"""The knobs of ``rtb train``, apart from the training code: the CLI reads their defaults
to parse its options without importing numpy and xgboost (half a second ``rtb serve``
should not pay)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bidding.quality import SERVING_BAR, QualityBar

if TYPE_CHECKING:
    from bidding.log_encoding import EncoderConfig

__all__ = ["TrainConfig"]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Training knobs; the defaults are what the shipped models use."""

    seed: int = 7
    rounds: int = 300
    max_depth: int = 6
    eta: float = 0.1
    early_stopping_rounds: int = 30
    min_child_weight: float = 50.0
    """Minimum hessian sum per leaf. A row with a 1% CTR weighs about 0.01, so 50 means
    thousands of impressions per leaf: rare clicks need that much to be estimated."""
    reg_lambda: float = 10.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    test_fraction: float = 0.3
    """The latest part of the data, held out for evaluation."""
    valid_fraction: float = 0.1
    """The latest part of the training data, used for early stopping."""
    threads: int = 2
    bar: QualityBar = SERVING_BAR
    """What a model must show on the held-out part to be written (``bidding.quality``)."""
    baseline_margin: float = 0.02
    """How far (AUC points) the held-out AUC may fall below the logistic-regression
    baseline's before the model is refused: about the AUC's sampling noise with a few
    hundred held-out clicks."""
    hash_load: int = 8
    """Buckets per distinct training value of a declared log's categorical columns."""
    smoothing: float = 1.0
    """The prior's weight, in clicks, in a declared log's bucket rates."""
    max_tags: int = 64
    """Indicators kept per tags column (the most frequent tags)."""
    progress: bool = False
    """A progress bar of the boosting rounds on stderr (tqdm)."""

    def encoder(self) -> "EncoderConfig":
        """The feature sizing of a declared log (``bidding.log_encoding``)."""
        from bidding.log_encoding import EncoderConfig

        return EncoderConfig(load=self.hash_load, smoothing=self.smoothing, max_tags=self.max_tags)

    def params(self) -> dict[str, Any]:
        """XGBoost parameters (objective and metric are added by ``models.fit``)."""
        return {
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.eta,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "nthread": self.threads,
        }
