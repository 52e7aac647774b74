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
    """Training knobs. The booster's defaults were chosen for rare clicks on synthetic
    iPinYou-shaped logs (docs/bidding.md: four seeds of 150,000 impressions at 0.5 % CTR);
    the shipped models were trained before, with depth 6, eta 0.1, min_child_weight 50,
    reg_lambda 10, 300 rounds and early stopping after 30 (their meta JSON)."""

    seed: int = 7
    rounds: int = 1000
    max_depth: int = 4
    eta: float = 0.05
    early_stopping_rounds: int = 100
    """Patience on the validation log loss: with a few dozen validation clicks the loss is
    noisy, and a patience of 30 at eta 0.1 stopped at 8–9 trees on half the seeds."""
    min_child_weight: float = 5.0
    """Minimum hessian sum per leaf. A row with a 0.5% CTR weighs about 0.005, so 5 means
    about a thousand impressions (five expected clicks) per leaf."""
    reg_lambda: float = 1.0
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
